"""The byte-level fast path of HTTP mode: the common request and response proxied as bytes,
without the sans-IO core on either side.

Why. The general path runs ``netlib.http.core`` twice per request, once as a
server and once as a client: parse the request into events, frame it again for
the backend, parse the response into events, frame it again for the client.
Under load that was most of the balancer's CPU (about 220 Python calls per
request). Here a request whose head is complete in the client's buffer is
checked and rewritten in one pass over its bytes, written to a pooled
keep-alive upstream, and the response is relayed from the upstream's
``data_received``: its head rewritten in one pass, its body counted by
Content-Length and passed through as it arrives. No task, no future, no event
object; one timer (the read timeout) per request.

The rules are the server's, never looser. A request takes this path only if
it is plainly fine: one regex over the whole head (the request-line and field
grammar the netlib HTTP server applies, so a bare LF, an obs-fold, a control
character, a bad name or target fails it), HTTP/1.1, exactly one Host of a valid value, at
most one Content-Length of plain digits with the whole body (up to
``REPLAY_LIMIT``) already read, no Transfer-Encoding, no Expect, origin-form
target, within the field-line and field-count limits. Anything else, or a head
not complete yet, goes to the general path, which refuses or proxies it
exactly as before: the byte path only ever *declines*.

Responses likewise: a valid HTTP/1.x head with one Content-Length value (or no
body: HEAD, 204, 304) is relayed here; the field repeated with the same value is
relayed once, as the core path does (RFC 9110 §8.6 lets a recipient accept it);
a status code below 100 is a bad head, not a 1xx; chunked, close-delimited, a 101, a
``Connection`` naming other fields or any head the grammar refuses is handed,
bytes and all, to the core-based exchange (``fast.FastExchange``), which
answers as the general path does (a bad head is a 502). 1xx interim responses
are dropped, as the general path drops them.

Failures keep the general path's rules: before the client saw a byte, the
request is handed to the general path with the failed backend marked as tried
(idempotent requests are retried on another backend; a kept-alive connection
the backend closed as we reused it is retried on the same backend, fresh,
without counting against it); a non-idempotent request already sent gets its
502/504. After the response head went out, the client connection is aborted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING

from netlib.http import core as h11
from netlib.http._framing import _HOST_RE
from netlib.http.core import MAX_FIELD_LINE, MAX_HEADERS, status_line
from netlib.shell import READ_HIGH_WATER

from . import fast
from .forwarding import _PROTECTED, VIA, _forwarded, client_ip
from .upstream import UpstreamError

if TYPE_CHECKING:
    from netlib.shell import Connection

    from .backends import Backend
    from .server import LoadBalancer
    from .upstream import Upstream

access = logging.getLogger("servers.lb.access")

# RFC 9110 §9.2.2: the methods a client may send twice with the same effect.
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"))
# Request bodies up to this size (with a Content-Length) of an idempotent request are
# read whole before sending, so the request can be replayed on another backend.
REPLAY_LIMIT = 64 * 1024
# Decimal digits in a Content-Length the core accepts (it keeps lengths inside int64).
MAX_LENGTH_DIGITS = 18

# The grammar of netlib.http.core (_framing): token, field value, origin-form target.
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_VALUE = rb"[\t\x20-\x7e\x80-\xff]*"
_FIELDS = rb"((?:" + _TOKEN + rb":" + _VALUE + rb"\r\n)*)\r\n"
# A whole request head: request-line, field lines, the empty line (group 3: the fields).
REQUEST_HEAD = re.compile(rb"(" + _TOKEN + rb") (/[\x21\x22\x24-\x7e]*) HTTP/1\.1\r\n" + _FIELDS)
# A whole response head (group 1: the minor version, 2: the status, 3: the fields).
# A status code is 100..599 (RFC 9110 §15): below 100 (000, 099) is no 1xx but a bad head.
RESPONSE_HEAD = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9]{2})(?: " + _VALUE + rb")?\r\n" + _FIELDS)
# The request fields this path reads or rewrites, found in the lower-cased field block;
# each match starts a line (values hold no LF) and ends at its colon.
REQUEST_FIELDS = re.compile(
    rb"^(host|content-length|transfer-encoding|expect|connection|keep-alive|proxy-connection"
    rb"|te|trailer|upgrade|proxy-authenticate|proxy-authorization|x-forwarded-for|forwarded"
    rb"|via|x-forwarded-proto|x-forwarded-host):",
    re.M,
)
RESPONSE_FIELDS = re.compile(
    rb"^(content-length|transfer-encoding|connection|keep-alive|proxy-connection|te|trailer"
    rb"|upgrade|proxy-authenticate|proxy-authorization):",
    re.M,
)
_NONE_TRIED: list[Backend] = []  # (never changed)
_NAME = re.compile(rb"^([^:\r\n]+):", re.M)
_VIA_LINE = b"via: " + VIA + b"\r\n"
_VIA_END = _VIA_LINE + b"\r\n"
_VIA_CLOSE_END = _VIA_LINE + b"connection: close\r\n\r\n"


# Bodiless requests already checked and rewritten, by (client address, head): clients
# send the same head again and again (a benchmark, a poller, a browser's keep-alive).
# The key is every input of the result, so a hit is the same answer computed again.
_REQUESTS: dict[tuple[bytes, bytes], tuple[bytes, int, bytes, bool]] = {}
CACHE_ENTRIES = 1024
CACHED_HEAD = 2048  # bytes: bigger heads are checked every time (the caches stay small)


def parse_request(buf: bytes, ip: bytes) -> tuple[bytes, int, bytes, bool] | None:
    """The request at the start of ``buf`` rewritten for the backend, if this path takes it:
    (bytes to send upstream, bytes of ``buf`` it used, its method, Connection: close);
    None: the general path decides (an incomplete, unusual or invalid request)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None  # incomplete (or no head at all): the core waits or refuses
    key = (buf[: end + 4], ip)
    hit = _REQUESTS.get(key)
    if hit is not None:
        return hit
    p = _parse_request(buf, ip)
    if p is not None and p[1] == end + 4 and end < CACHED_HEAD:  # bodiless, not big: cache it
        if len(_REQUESTS) >= CACHE_ENTRIES:
            _REQUESTS.clear()
        _REQUESTS[key] = p
    return p


def _parse_request(buf: bytes, ip: bytes) -> tuple[bytes, int, bytes, bool] | None:
    m = REQUEST_HEAD.match(buf)
    if m is None:
        return None
    hend = m.end()
    if hend > MAX_FIELD_LINE:  # no line can then be over its limit, nor the head
        return None
    a, b = m.span(3)
    block = buf[a:b]
    if block.count(b"\n") > MAX_HEADERS:
        return None
    hosts = 0
    host = b""
    length: int | None = None
    close = xfh = False
    cuts: list[tuple[int, int]] = []
    seen: dict[bytes, list[bytes]] | None = None
    named: set[bytes] | None = None
    hl = block.lower()
    for f in REQUEST_FIELDS.finditer(hl):
        name = f[1]
        v0 = f.end()
        e = hl.index(b"\r", v0)
        if name == b"host":
            hosts += 1
            host = block[v0:e].strip(b" \t")
        elif name == b"content-length":
            v = block[v0:e].strip(b" \t")
            if length is not None or not v.isdigit() or len(v) > MAX_LENGTH_DIGITS:
                return None  # a list, a duplicate, not a number: the core's rules
            length = int(v)
        elif name == b"x-forwarded-host":
            xfh = True
        elif name in (b"transfer-encoding", b"expect"):
            return None
        else:
            cuts.append((f.start(), e + 2))
            if name == b"connection":
                for t in hl[v0:e].split(b","):
                    t = t.strip(b" \t")
                    if t == b"close":
                        close = True
                    if t and t != b"keep-alive" and t not in _PROTECTED:  # as the full path
                        if named is None:
                            named = set()
                        named.add(t)
            elif name in (b"x-forwarded-for", b"forwarded", b"via"):
                if seen is None:
                    seen = {b"x-forwarded-for": [], b"forwarded": [], b"via": []}
                seen[name].append(block[v0:e].strip(b" \t"))
    if hosts != 1 or not _HOST_RE.fullmatch(host):
        return None  # (a bad Host value: the core's 400)
    used = hend + (length or 0)
    if length:
        if length > REPLAY_LIMIT or len(buf) < used:
            return None  # a large body streams, a partial one is awaited: the general path
    if named:
        for f in _NAME.finditer(hl):
            if f[1] in named:
                cuts.append((f.start(), hl.index(b"\n", f.end()) + 1))
        cuts.sort()
    if seen is None:
        tail = _suffix(ip, host, xfh)
    else:
        tail = _suffix_with(ip, host, xfh, seen)
    if cuts:
        parts = [buf[:a]]
        pos = 0
        for s, e in cuts:
            if s >= pos:
                parts.append(block[pos:s])
                pos = e
        parts.append(block[pos:])
        parts.append(tail)
        parts.append(buf[hend:used])
        out = b"".join(parts)
    else:
        out = b"".join((buf[:b], tail, buf[hend:used]))
    return out, used, m[1], close


_SUFFIXES: dict[tuple[bytes, bytes, bool], bytes] = {}


def _suffix(ip: bytes, host: bytes, xfh: bool) -> bytes:
    """The fields this hop appends, with the empty line: cached (same client, same Host)."""
    key = (ip, host, xfh)
    tail = _SUFFIXES.get(key)
    if tail is None:
        tail = _suffix_with(ip, host, xfh, {b"x-forwarded-for": [], b"forwarded": [], b"via": []})
        if len(_SUFFIXES) > 4096:
            _SUFFIXES.clear()
        _SUFFIXES[key] = tail
    return tail


def _suffix_with(ip: bytes, host: bytes, xfh: bool, seen: dict[bytes, list[bytes]]) -> bytes:
    """As ``forwarding.request_headers`` appends them, in the same order."""
    lines = [b"x-forwarded-for: " + b", ".join([*seen[b"x-forwarded-for"], ip]),
             b"x-forwarded-proto: http"]  # fmt: skip
    if host and not xfh:
        lines.append(b"x-forwarded-host: " + host)
    lines.append(b"forwarded: " + b", ".join([*seen[b"forwarded"], _forwarded(ip, host)]))
    lines.append(b"via: " + b", ".join([*seen[b"via"], VIA]))
    return b"\r\n".join(lines) + b"\r\n\r\n"


# Response heads already checked, by their bytes (a backend repeats itself: only Date
# changes, once a second): (status, Content-Length or None, the backend closes, the head
# rewritten, without its Via and empty line).
_RESPONSES: dict[bytes, tuple[int, int | None, bool, bytes]] = {}


def parse_response(head: bytes) -> tuple[int, int | None, bool, bytes] | None:
    """A whole response head (through its empty line) checked and rewritten for the client;
    None: the core-based exchange decides (a bad head, chunked, a 101, fields to drop that
    ``Connection`` names, over the limits)."""
    m = RESPONSE_HEAD.fullmatch(head)
    if m is None or len(head) > MAX_FIELD_LINE:
        return None
    status = int(m[2])
    if status == 101:
        return None
    a, b = m.span(3)
    block = head[a:b]
    if block.count(b"\n") > MAX_HEADERS:
        return None
    length: int | None = None
    has_close = has_keep_alive = False
    cuts: list[tuple[int, int]] = []
    hl = block.lower()
    for f in RESPONSE_FIELDS.finditer(hl):
        name = f[1]
        v0 = f.end()
        e = hl.index(b"\r", v0)
        if name == b"content-length":
            v = block[v0:e].strip(b" \t")
            if not v.isdigit() or len(v) > MAX_LENGTH_DIGITS:
                return None  # a list, or not a number: the core decides
            if length is None:
                length = int(v)
                continue
            if int(v) != length:
                return None  # conflicting: the core refuses it (a 502)
            # the same value again: one instance is relayed, as the core path does
        elif name == b"transfer-encoding":
            return None  # chunked (or worse): the core reads it
        elif name == b"connection":
            for t in hl[v0:e].split(b","):
                t = t.strip(b" \t")
                if t == b"close":
                    has_close = True
                elif t == b"keep-alive":
                    has_keep_alive = True
                elif t:
                    return None  # it names fields to drop: the general rewrite
        cuts.append((f.start(), e + 2))
    parts = [status_line(status)]
    pos = 0
    for s, e in cuts:
        parts.append(block[pos:s])
        pos = e
    parts.append(block[pos:])
    close = has_close or (m[1] == b"0" and not has_keep_alive)  # as the core decides
    result = (status, length, close, b"".join(parts))
    if status >= 200 and len(head) <= CACHED_HEAD:
        if len(_RESPONSES) >= CACHE_ENTRIES:
            _RESPONSES.clear()
        _RESPONSES[head] = result
    return result


# Read timeouts on the byte path: instead of a timer per request (a TimerHandle made and
# cancelled each time: several microseconds), the requests in flight are swept every
# SWEEP seconds while there are any. A timeout then fires up to SWEEP late.
SWEEP = 0.05
_NEVER = float("inf")


def _sweep_soon(lb: LoadBalancer, loop: asyncio.AbstractEventLoop) -> None:
    if not lb.byte_sweeping:
        lb.byte_sweeping = True
        loop.call_later(SWEEP, _sweep, lb, loop)


def _sweep(lb: LoadBalancer, loop: asyncio.AbstractEventLoop) -> None:
    lb.byte_sweeping = False
    inflight = lb.byte_inflight
    now = loop.time()
    for s in [s for s in inflight if s.rx_deadline <= now]:
        s._raw_timed_out()
    if inflight:
        _sweep_soon(lb, loop)


class RawPath:
    """The byte path's half of ``ProxySession`` (a mixin: the session is the exchange, so a
    request allocates no object of its own). Attributes are set by ``_raw_init``."""

    # provided by ProxySession
    conn: Connection
    lb: LoadBalancer
    h: h11.Connection
    owned: bool
    eof: bool

    def _raw_init(self, peer: str) -> None:
        self.raw = b""  # client bytes after the request in flight (pipelined), not parsed yet
        self.rx_busy = False  # a request is on the byte path
        self.rx_paused = False  # we paused the client: too much pipelined input
        self.rx_req = b""  # that request as the client sent it (for a hand-over)
        self.rx_method = b""
        self.rx_close = False  # the client connection ends with this response
        self.rx_backend: Backend | None = None
        self.rx_up: Upstream | None = None
        self.rx_deadline = 0.0  # loop time by which the response must have come (read timeout)
        self.rx_mark = 0  # the upstream's byte count when we sent: none since = stale
        self.rx_sent = False  # the response head went to the client
        self.rx_left = 0  # response body bytes still to relay
        self.rx_rbuf = b""  # a response head not complete yet
        self.rx_reuse = True  # the upstream may go back to the pool
        self.rx_status = 0
        self.rx_started = 0.0
        self.rx_ip = client_ip(peer).encode()
        self._loop = asyncio.get_running_loop()

    # -- the client side ---------------------------------------------------------------------
    def _raw_start(self, buf: bytes) -> bool:
        """Proxy the request at the start of ``buf`` on the byte path (True), or decline."""
        lb = self.lb
        if lb.balancer.name == "consistent":  # the hash key reads parsed headers
            return False
        p = parse_request(buf, self.rx_ip)
        if p is None:
            return False
        out, used, method, close = p
        backend = lb.choose("", _NONE_TRIED)
        if backend is None:
            return False  # the general path answers 502
        conn = self.conn
        if conn.deadline is not None:
            conn.set_deadline(None)
        self.owned = True
        up = backend.take_idle()
        if up is None:  # a connect is an await: the general path, on the backend chosen
            self._to_core(buf, first=backend)
            return True
        lb.byte_path += 1
        self.rx_busy = True
        self.rx_req = buf[:used]
        self.raw = buf[used:]
        self.rx_method = method
        self.rx_close = close
        self.rx_backend = backend
        self.rx_up = up
        self.rx_sent = False
        self.rx_rbuf = b""
        self.rx_reuse = True
        if lb.cfg.access_log:
            self.rx_started = time.perf_counter()
        up.idle = False
        up.raw = self
        self.rx_mark = up.received
        self.rx_deadline = self._loop.time() + lb.cfg.read_timeout
        inflight = lb.byte_inflight
        if not inflight:
            _sweep_soon(lb, self._loop)
        inflight.add(self)
        up.transport.write(out)  # type: ignore[union-attr]  # usable(): open
        return True

    def _to_core(self, buf: bytes, first: Backend | None = None,
                 tried: list[Backend] | None = None, last: tuple[int, str] | None = None,
                 consume: bool = False) -> h11.Request | None:  # fmt: skip
        """Hand the request in ``buf`` (and what follows) to the core; spawn the general path
        on it unless ``consume``: then it is read whole and returned (an exchange adopts it)."""
        h = self.h
        h.receive_data(buf)
        ev = h.next_event()  # it passed a stricter check than the core's: a Request
        if type(ev) is not h11.Request:
            raise AssertionError(f"the core read {ev!r} where the byte path saw a request")
        if consume:
            while type(h.next_event()) is h11.Data:
                pass
            return ev  # type: ignore[return-value]
        self.spawn(ev, first=first, tried=tried, last=last)  # type: ignore[arg-type,attr-defined]
        return None

    def _raw_next(self) -> None:
        """The byte-path request finished: take the client's next one."""
        rest = self.raw
        if self.rx_paused:
            self.rx_paused = False
            self.conn.resume_reading()
        if rest:
            self.raw = b""
            if self._raw_start(rest):
                return
            self.h.receive_data(rest)
            self._process()  # type: ignore[attr-defined]
        elif self.eof:
            self._process()  # type: ignore[attr-defined]

    # -- the upstream side: called by ``Upstream`` ---------------------------------------
    def raw_data(self, data: bytes) -> None:
        if self.rx_sent:  # relaying the body
            left = self.rx_left
            n = len(data)
            if n < left:
                self.rx_left = left - n
                self.conn.write(data)
                if self.rx_deadline != _NEVER:  # (not while the client holds us up)
                    self.rx_deadline = self._loop.time() + self.lb.cfg.read_timeout
                return
            if n > left:  # bytes after the response: this connection is not to be trusted
                self.rx_reuse = False
                data = data[:left]
            self.conn.write(data)
            self._raw_done()
            return
        buf = self.rx_rbuf + data if self.rx_rbuf else data
        self.rx_rbuf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) < MAX_FIELD_LINE and buf.count(b"\n") == buf.count(b"\r\n"):
                    self.rx_rbuf = buf  # the head is still arriving
                else:  # too long, or a bare LF: the core refuses it now (a 502), not at the timeout
                    self._raw_adopt(buf)
                return
            start = end + 4
            head = _RESPONSES.get(buf[:start])
            if head is None:
                head = parse_response(buf[:start])
                if head is None:
                    self._raw_adopt(buf)  # the core's answer (a 502 for a bad head)
                    return
            status, length, close, mid = head
            if status >= 200:
                break
            buf = buf[start:]  # a 1xx: dropped, as the general path drops it
            if not buf:
                return
        if self.rx_method == b"HEAD" or status in (204, 304):
            length = 0
        elif length is None:
            self._raw_adopt(buf)  # delimited by the close: the core knows how
            return
        self.rx_reuse = not close
        client_close = self.rx_close = (self.rx_close or self.conn.stopping
                                        or not self.h.keep_alive)  # fmt: skip
        have = len(buf) - start
        if have > length:
            self.rx_reuse = False  # bytes after the response: not to be trusted
            have = length
        self.rx_sent = True
        self.rx_status = status
        end_of_head = _VIA_CLOSE_END if client_close else _VIA_END
        if have:
            self.conn.write(b"".join((mid, end_of_head, buf[start : start + have])))
        else:
            self.conn.write(mid + end_of_head)
        if have == length:
            self._raw_done()
        else:
            self.rx_left = length - have

    def raw_hold(self, held: bool) -> None:
        """The client stopped (or resumed) taking our output: no read timeout meanwhile."""
        self.rx_deadline = _NEVER if held else self._loop.time() + self.lb.cfg.read_timeout

    def raw_closed(self) -> None:
        """The backend closed (or reset) the connection in the middle of our exchange."""
        self._raw_failed(UpstreamError("backend closed the connection before answering", True))

    def _raw_timed_out(self) -> None:
        timeout = self.lb.cfg.read_timeout
        self._raw_failed(UpstreamError(f"no answer within {timeout:g}s", True, True))

    # -- ends ---------------------------------------------------------------------------------
    def _raw_detach(self) -> Upstream:
        self.lb.byte_inflight.discard(self)
        up = self.rx_up
        assert up is not None
        up.raw = None
        self.rx_up = None
        self.rx_busy = False
        return up

    def _raw_done(self) -> None:
        up = self._raw_detach()
        b = self.rx_backend
        assert b is not None
        if self.rx_reuse:
            up.idle = True
            b.give_back(up)
        else:
            up.close()
        lb = self.lb
        lb.done(b)
        if lb.cfg.access_log:
            ms = (time.perf_counter() - self.rx_started) * 1000
            target = self.rx_req.split(b" ", 2)[1]
            access.info('%s "%s %s" %d %.1fms', self.conn.peer, self.rx_method.decode(),
                        target.decode("latin-1"), self.rx_status, ms)  # fmt: skip
        if self.rx_close or not self.h.keep_alive:
            self.conn.close()  # owned stays set: nothing more is read
            return
        self.owned = False  # (no touch(): the answer written counts as activity)
        if self.raw or self.eof or self.rx_paused:
            self._raw_next()

    def _raw_failed(self, e: UpstreamError) -> None:
        up = self._raw_detach()
        up.close()
        b = self.rx_backend
        assert b is not None
        lb = self.lb
        if self.rx_sent:
            b.failed(f"response broken off: {e}")
            lb.done(b)
            self.conn.abort()
            return
        buf, self.raw = self.rx_req + self.raw, b""
        idempotent = self.rx_method in IDEMPOTENT
        if idempotent and not e.timeout and up.received == self.rx_mark:
            # A kept-alive connection closed by the backend as we reused it: not its fault;
            # the general path tries it again on a fresh connection.
            self._to_core(buf, first=b)
            return
        b.failed(str(e))
        lb.done(b)
        last = (504 if e.timeout else 502, f"backend {b.name}: {e}")
        if idempotent:
            self._to_core(buf, tried=[b], last=last)
            return
        # It was sent and may have been acted on: never twice. The general path's answer.
        req = self._to_core(buf, consume=True)
        self.spawn(req, tried=[b, b], last=last)  # type: ignore[attr-defined]

    def _raw_adopt(self, buf: bytes) -> None:
        """A response this path does not relay: the core-based exchange takes it over."""
        up = self._raw_detach()
        b = self.rx_backend
        assert b is not None
        req_bytes, self.raw = self.rx_req + self.raw, b""
        req = self._to_core(req_bytes, consume=True)
        assert req is not None
        uh = up.h  # the upstream's core learns what we sent (its bytes are not sent again)
        uh.send(h11.Request(req.method, b"/", [(b"host", b"-")]))
        uh.send(h11.EndOfMessage())
        uh.receive_data(buf)
        bodiless = self.h.their_content_length == 0
        fast.FastExchange(self, req, b, up, mark=self.rx_mark, replayable=bodiless)  # type: ignore[arg-type]

    def raw_client_gone(self) -> None:
        up = self._raw_detach()
        up.close()
        assert self.rx_backend is not None
        self.lb.done(self.rx_backend)

    def raw_pipelined(self, data: bytes) -> None:
        """Client bytes while a request is on the byte path: its next requests wait."""
        self.raw = self.raw + data if self.raw else data
        if len(self.raw) > READ_HIGH_WATER and not self.rx_paused:
            self.rx_paused = True
            self.conn.pause_reading()
