"""Sans-IO WebSocket opening handshake (RFC 6455 §4): the checks and the headers,
for both sides; the HTTP messages themselves are netlib.http's.

Server (§4.2.1): a GET over HTTP/1.1 with ``Upgrade: websocket``, ``Connection:
Upgrade``, ``Sec-WebSocket-Version: 13`` (else 426 naming the version we speak,
§4.4) and a ``Sec-WebSocket-Key`` that is 16 bytes in base64. The answer is
``101`` with ``Sec-WebSocket-Accept: base64(SHA-1(key + GUID))``, the chosen
subprotocol (one the client offered, §4.2.2: the server's order of preference)
and the accepted extensions.

Client (§4.1): a fresh random key; the answer must be 101 with the right
``Sec-WebSocket-Accept``, and name no subprotocol or extension it did not offer.

Headers go in and out as ``[(name, value)]`` byte pairs with lower-case names,
the form netlib.http's core uses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from . import deflate as pmd

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # §1.3: fixed by the RFC
VERSION = "13"
RawHeaders = list[tuple[bytes, bytes]]


class HandshakeError(Exception):
    """The handshake cannot complete: ``status`` is the HTTP answer (server side),
    ``headers`` any headers that answer must carry."""

    def __init__(self, status: int, detail: str, headers: RawHeaders | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or []


def accept_key(key: str | bytes) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (§4.2.2 step 5.4)."""
    k = key.encode("ascii") if isinstance(key, str) else key
    return base64.b64encode(hashlib.sha1(k.strip() + GUID).digest()).decode("ascii")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def _all(headers: RawHeaders, name: bytes) -> list[str]:
    return [v.decode("latin-1") for n, v in headers if n == name]


def _tokens(headers: RawHeaders, name: bytes) -> list[str]:
    return [t.strip().lower() for v in _all(headers, name) for t in v.split(",") if t.strip()]


@dataclass(frozen=True)
class Accepted:
    """What the server agreed to: the 101's extra headers and what they put in force."""

    headers: RawHeaders
    subprotocol: str | None
    deflate: pmd.DeflateParams | None


def check_request(method: str, headers: RawHeaders) -> str:
    """Server side: the client's key if this request is a WebSocket opening, else
    ``HandshakeError`` with the status to answer."""
    if method != "GET":
        raise HandshakeError(405, "a WebSocket opens with GET", [(b"allow", b"GET")])
    if "websocket" not in _tokens(headers, b"upgrade"):
        raise HandshakeError(426, "this resource needs Upgrade: websocket",
                             [(b"upgrade", b"websocket"), (b"connection", b"upgrade")])  # fmt: skip
    if "upgrade" not in _tokens(headers, b"connection"):
        raise HandshakeError(400, "Connection: Upgrade is missing")
    versions = _tokens(headers, b"sec-websocket-version")
    if versions != [VERSION]:
        raise HandshakeError(426, "unsupported Sec-WebSocket-Version",
                             [(b"sec-websocket-version", VERSION.encode())])  # fmt: skip
    keys = _all(headers, b"sec-websocket-key")
    if len(keys) != 1:
        raise HandshakeError(400, "one Sec-WebSocket-Key is needed")
    try:
        raw = base64.b64decode(keys[0].strip(), validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 16:
        raise HandshakeError(400, "Sec-WebSocket-Key is not 16 bytes in base64")
    return keys[0].strip()


def choose_subprotocol(headers: RawHeaders, supported: list[str]) -> str | None:
    """The first of ``supported`` (our preference) that the client offered."""
    offered = {t for v in _all(headers, b"sec-websocket-protocol") for t in
               (s.strip() for s in v.split(",")) if t}  # fmt: skip
    return next((p for p in supported if p in offered), None)


def accept(headers: RawHeaders, *, subprotocols: list[str] | None = None,
           deflate: pmd.DeflateParams | None = pmd.DeflateParams()) -> Accepted:  # fmt: skip
    """Server side: check the request's headers and build the 101's extra headers.
    ``deflate``: what we ask for if the client offers compression (None: refuse it)."""
    key = check_request("GET", headers)
    out: RawHeaders = [(b"sec-websocket-accept", accept_key(key).encode())]
    proto = choose_subprotocol(headers, subprotocols or [])
    if proto is not None:
        out.append((b"sec-websocket-protocol", proto.encode()))
    agreed = None
    if deflate is not None:
        found = pmd.accept_offer(_all(headers, b"sec-websocket-extensions"), deflate)
        if found is not None:
            agreed, answer = found
            out.append((b"sec-websocket-extensions", answer.encode()))
    return Accepted(out, proto, agreed)


def client_headers(host: str, key: str, *, subprotocols: list[str] | None = None,
                   deflate: pmd.DeflateParams | list[pmd.DeflateParams] | None = None,
                   extra: RawHeaders | None = None) -> RawHeaders:  # fmt: skip
    """Client side: the opening request's headers (the request line is the caller's)."""
    out: RawHeaders = [
        (b"host", host.encode()),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", key.encode()),
        (b"sec-websocket-version", VERSION.encode()),
    ]
    if subprotocols:
        out.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
    if deflate is not None:
        out.append((b"sec-websocket-extensions", pmd.offer_header(deflate).encode()))
    return out + (extra or [])


def check_response(status: int, headers: RawHeaders, key: str, *,
                   subprotocols: list[str] | None = None,
                   deflate: pmd.DeflateParams | list[pmd.DeflateParams] | None = None) -> Accepted:  # fmt: skip
    """Client side: the server's answer is a valid 101 for our request, else
    ``HandshakeError`` (its status the server's)."""
    if status != 101:
        raise HandshakeError(status, f"server answered {status}, not 101")
    if "websocket" not in _tokens(headers, b"upgrade"):
        raise HandshakeError(status, "101 without Upgrade: websocket")
    if "upgrade" not in _tokens(headers, b"connection"):
        raise HandshakeError(status, "101 without Connection: Upgrade")
    if _all(headers, b"sec-websocket-accept") != [accept_key(key)]:
        raise HandshakeError(status, "wrong Sec-WebSocket-Accept")
    protos = _all(headers, b"sec-websocket-protocol")
    proto = protos[0].strip() if protos else None
    if proto is not None and (len(protos) > 1 or proto not in (subprotocols or [])):
        raise HandshakeError(status, f"server chose a subprotocol we did not offer: {proto!r}")
    exts = _all(headers, b"sec-websocket-extensions")
    agreed = None
    if exts:
        if not deflate:
            raise HandshakeError(status, "server answered extensions we did not offer")
        try:
            agreed = pmd.check_answer(exts, deflate)
        except pmd.NegotiationError as e:
            raise HandshakeError(status, str(e)) from None
    return Accepted([], proto, agreed)
