"""What a proxy changes in the headers it passes on (RFC 9110 §7.6, RFC 7239).

Hop-by-hop fields describe one connection, not the message, and must not be
forwarded: ``Connection`` and every field it names, ``Keep-Alive``,
``Proxy-Connection``, ``TE``, ``Trailer``, ``Transfer-Encoding`` (each hop
frames the body itself), ``Upgrade``, and the ``Proxy-Authenticate`` /
``Proxy-Authorization`` pair. ``Expect`` is answered here (the proxy sends
``100 Continue`` itself when it starts reading the body), so it goes too.

The client's address is added twice, in the de facto ``X-Forwarded-For``
(appended to whatever earlier proxies wrote) and in the standard
``Forwarded: for=...;host=...;proto=http`` (RFC 7239), plus
``X-Forwarded-Proto``, ``X-Forwarded-Host`` and ``Via``. A production proxy
would also decide whether to trust what the client sent in those fields; this
one appends, as nginx's ``$proxy_add_x_forwarded_for`` does.
"""

from __future__ import annotations

import functools
import re

from netlib.http.core import Headers

HOP_BY_HOP = frozenset((
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"proxy-authenticate", b"proxy-authorization",
))  # fmt: skip
_REQUEST_DROP = HOP_BY_HOP | {b"expect"}
# Never removed because ``Connection`` names them: "Connection: X-Forwarded-For" is a
# known trick to strip what a proxy adds, and the framing fields are not the client's to drop.
_PROTECTED = frozenset((b"host", b"content-length", b"x-forwarded-for", b"forwarded",
                        b"x-forwarded-proto", b"x-forwarded-host", b"via"))
VIA = b"1.1 syslab-lb"
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _named_by_connection(headers: Headers) -> frozenset[bytes]:
    named = [v for n, v in headers if n == b"connection"]
    if not named:
        return frozenset()
    return frozenset(t.strip().lower() for v in named for t in v.split(b",")) - _PROTECTED


def _strip(headers: Headers, drop: frozenset[bytes]) -> Headers:
    out = [(n, v) for n, v in headers if n not in drop]
    if len(out) == len(headers):  # no hop-by-hop field at all, so no Connection naming others
        return out
    named = _named_by_connection(headers)
    return [(n, v) for n, v in out if n not in named] if named else out


def client_ip(peer: str) -> str:
    """``127.0.0.1:5555`` -> ``127.0.0.1``; ``::1:5555`` -> ``::1``."""
    return peer.rpartition(":")[0] or peer


def _forwarded_node(ip: str) -> bytes:
    node = f'"[{ip}]"' if ":" in ip else ip  # RFC 7239 §6: an IPv6 address is quoted in brackets
    return node.encode()


def _quoted(value: bytes) -> bytes:
    if _TOKEN.fullmatch(value):
        return value
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


# Fields the proxy rewrites (appends to) rather than passes through.
_REWRITTEN = frozenset((b"x-forwarded-for", b"forwarded", b"via", b"x-forwarded-proto"))


@functools.lru_cache(maxsize=1024)
def _forwarded(ip: bytes, host: bytes) -> bytes:
    """This hop's ``Forwarded`` element (cached: a client sends the same Host every time)."""
    node = b"for=" + _forwarded_node(ip.decode())
    if host:
        node += b";host=" + _quoted(host)
    return node + b";proto=http"


def request_headers(headers: Headers, peer: str, chunked: bool) -> Headers:
    """The headers to send upstream for a request from ``peer`` (one pass: the hot path)."""
    named = _named_by_connection(headers)
    out: Headers = []
    seen: dict[bytes, list[bytes]] = {b"x-forwarded-for": [], b"forwarded": [], b"via": []}
    host = b""
    has_xfh = False
    for n, v in headers:
        if n in _REQUEST_DROP or n in named:
            continue
        if n in _REWRITTEN:
            if n != b"x-forwarded-proto":
                seen[n].append(v)
            continue
        if n == b"host":
            host = v
        elif n == b"x-forwarded-host":
            has_xfh = True
        out.append((n, v))
    ip = client_ip(peer).encode()
    out.append((b"x-forwarded-for", b", ".join([*seen[b"x-forwarded-for"], ip])))
    out.append((b"x-forwarded-proto", b"http"))
    if host and not has_xfh:
        out.append((b"x-forwarded-host", host))
    out.append((b"forwarded", b", ".join([*seen[b"forwarded"], _forwarded(ip, host)])))
    out.append((b"via", b", ".join([*seen[b"via"], VIA])))
    if chunked:
        out.append((b"transfer-encoding", b"chunked"))
    return out


def response_headers(headers: Headers) -> Headers:
    """The backend's response headers as the client gets them (the core re-frames the body)."""
    out: Headers = []
    length = False
    for n, v in _strip(headers, HOP_BY_HOP):
        if n == b"content-length":
            # Repeated ("2, 2", or the field twice), the core read it as one length (its
            # values agree, else it refused the response): RFC 9110 §8.6 lets a recipient
            # accept that, and then it forwards one instance of the number.
            if length:
                continue
            length = True
            v = v.split(b",")[0].strip()
        out.append((n, v))
    out.append((b"via", VIA))
    return out


def header(headers: Headers, name: bytes) -> bytes | None:
    for n, v in headers:
        if n == name:
            return v
    return None
