"""A sans-IO HTTP/1.1 core for both roles (RFC 9110/9112), modelled on h11.

Strategy. A ``Connection(role)`` is fed bytes with ``receive_data(b)`` and hands
back events from ``next_event()``: ``Request``/``Response``/``InformationalResponse``
(a message head), ``Data`` (a piece of body), ``EndOfMessage`` and
``ConnectionClosed``, or the sentinels ``NEED_DATA`` (feed me more) and ``PAUSED``
(the peer is ahead of us: answer first). ``send(event)`` turns our events into
bytes. No socket, no event loop: the server, the client and the tests drive the
same object, so the fuzz test exercises exactly what the server runs.

Bodies stream: a ``Data`` event carries what has arrived, never the whole body,
so a 1 GB upload costs one socket buffer of memory. Framing follows RFC 9112 §6:
Content-Length, chunked, or (responses only) until close. Anything that could
let two parsers disagree about where a message ends (request smuggling) is
refused: Content-Length together with Transfer-Encoding, differing duplicate
Content-Lengths, a Transfer-Encoding other than ``chunked``, obsolete line
folding, bare LF, malformed chunk sizes. A refusal is a ``RemoteProtocolError``
carrying the status to answer with; the connection is then unusable for reading.

The common case is made cheap on purpose: a small GET arriving in one piece is
found with one ``find(b"\\r\\n\\r\\n")``, split once, and each header line is
checked by one compiled regex. No per-byte Python loop exists anywhere.

Differences from h11: a new request/response cycle starts automatically once
both sides are done (no ``start_next_cycle()``), and HEAD response bodies given
to ``send`` are dropped, so a handler never special-cases HEAD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus

# -- limits: each refusal answers with the status named beside it --------------
# Longest request line (method, target, version). 8 KiB is nginx's
# large_client_header_buffers line size; longer targets get 414.
MAX_REQUEST_LINE = 8 * 1024
# Whole head (request line + headers). 64 KiB is generous for cookies and
# tokens yet bounds memory per connection before a message is even known; 431.
MAX_HEAD_BYTES = 64 * 1024
# Header fields per message: Apache's LimitRequestFields default; 431.
MAX_HEADERS = 100
# A chunk-size line with extensions. Real ones are a few bytes; 400 beyond.
MAX_CHUNK_LINE = 1024
# Hex digits in a chunk size: 16 fits any 64-bit length; more is an attack.
MAX_CHUNK_SIZE_DIGITS = 16
# Decimal digits in Content-Length: 18 keeps it inside int64 (no bignum games).
MAX_CONTENT_LENGTH_DIGITS = 18
# Default body limit per message (413). A Connection can be given another one
# (the 1 GB upload server raises it); streaming means the limit is policy, not memory.
DEFAULT_MAX_BODY = 64 * 1024 * 1024
# Empty lines tolerated before a request line (RFC 9112 §2.2 says ignore "at least one").
MAX_LEADING_CRLF = 8

CLIENT, SERVER = "client", "server"
# States of each side of one request/response cycle.
IDLE, SEND_BODY, DONE, MUST_CLOSE, CLOSED, ERROR, SWITCHED_PROTOCOL = (
    "IDLE", "SEND_BODY", "DONE", "MUST_CLOSE", "CLOSED", "ERROR", "SWITCHED_PROTOCOL",
)  # fmt: skip

Headers = list[tuple[bytes, bytes]]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA = _Sentinel("NEED_DATA")
PAUSED = _Sentinel("PAUSED")


class ProtocolError(Exception):
    """Base of the two errors; ``status`` is the HTTP status to answer with."""

    def __init__(self, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.status = status


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol: answer ``status`` and close."""


class LocalProtocolError(ProtocolError):
    """We tried to send something invalid (a bug in the caller)."""


# -- events --------------------------------------------------------------------
class Event:
    __slots__ = ()


@dataclass(slots=True)
class Request(Event):
    method: bytes
    target: bytes
    headers: Headers = field(default_factory=list)  # names lower-cased when received
    http_version: bytes = b"1.1"


@dataclass(slots=True)
class InformationalResponse(Event):
    status_code: int  # 1xx
    headers: Headers = field(default_factory=list)
    reason: bytes = b""


@dataclass(slots=True)
class Response(Event):
    status_code: int
    headers: Headers = field(default_factory=list)
    reason: bytes = b""
    http_version: bytes = b"1.1"


@dataclass(slots=True)
class Data(Event):
    data: bytes


@dataclass(slots=True)
class EndOfMessage(Event):
    headers: Headers = field(default_factory=list)  # trailers


@dataclass(slots=True)
class ConnectionClosed(Event):
    pass


# -- grammar (RFC 9110 §5.6.2 token, §5.5 field-value) -------------------------
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_HEADER = re.compile(rb"(" + _TOKEN + rb"):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*")
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/(\d)\.(\d)")
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_DIGITS = re.compile(rb"\d+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;.*)?", re.S)
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection", b"expect"))

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


def status_line(status: int) -> bytes:
    """``HTTP/1.1 200 OK\\r\\n``, cached per status (the hot path sends few kinds)."""
    line = _STATUS_LINES.get(status)
    if line is None:
        line = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))
        _STATUS_LINES[status] = line
    return line


_STATUS_LINES: dict[int, bytes] = {}


def _tokens(value: bytes) -> set[bytes]:
    return {t.strip() for t in value.lower().split(b",")}


@dataclass(slots=True)
class _Framing:
    """What a head says about its body and the connection."""

    length: int | None = None  # Content-Length
    chunked: bool = False
    close: bool = False  # Connection: close
    keep_alive: bool = False  # Connection: keep-alive (HTTP/1.0)
    expect_continue: bool = False


def _framing(headers: Headers, is_request: bool) -> _Framing:
    """Read the framing headers, refusing every ambiguous shape with 400."""
    f = _Framing()
    te: list[bytes] = []
    for name, value in headers:
        if name not in _FRAMING:
            continue
        if name == b"content-length":
            for v in value.split(b","):
                v = v.strip()
                if not _DIGITS.fullmatch(v) or len(v) > MAX_CONTENT_LENGTH_DIGITS:
                    raise RemoteProtocolError("bad Content-Length")
                if f.length is not None and f.length != int(v):
                    raise RemoteProtocolError("conflicting Content-Length headers")
                f.length = int(v)
        elif name == b"transfer-encoding":
            te.extend(_tokens(value))
        elif name == b"connection":
            toks = _tokens(value)
            f.close |= b"close" in toks
            f.keep_alive |= b"keep-alive" in toks
        elif is_request and name == b"expect":
            if value.lower() != b"100-continue":
                raise RemoteProtocolError("unsupported Expect", 417)
            f.expect_continue = True
    if te:
        if f.length is not None:
            raise RemoteProtocolError("both Content-Length and Transfer-Encoding")
        if te != [b"chunked"]:
            raise RemoteProtocolError("Transfer-Encoding other than chunked")
        f.chunked = True
    return f


class _Writer:
    """Frames our body: Content-Length (counted), chunked, or until close."""

    __slots__ = ("mode", "left", "drop")

    def __init__(self, mode: str, length: int = 0, drop: bool = False) -> None:
        self.mode, self.left, self.drop = mode, length, drop

    def data(self, data: bytes) -> bytes:
        if self.drop or not data:
            return b""
        if self.mode == "length":
            self.left -= len(data)
            if self.left < 0:
                raise LocalProtocolError("body longer than Content-Length")
            return data
        if self.mode == "chunked":
            return b"%x\r\n%s\r\n" % (len(data), data)
        return data

    def end(self, trailers: Headers) -> bytes:
        if self.drop:
            return b""
        if self.mode == "length":
            if self.left:
                raise LocalProtocolError(f"body {self.left} bytes short of Content-Length")
            return b""
        if self.mode == "chunked":
            return b"0\r\n" + _encode_headers(trailers) + b"\r\n"
        return b""


def _encode_headers(headers: Headers) -> bytes:
    """``name: value\r\n`` lines; refuses names that are not tokens and values with CR, LF, NUL.

    Checked on the joined block (a few C-level scans) rather than per header:
    each line must contribute exactly one CR and one LF, and names are checked
    once and remembered, since a server sends the same few names all day.
    """
    out = b"".join([b"%s: %s\r\n" % h for h in headers])
    n = len(headers)
    if out.count(b"\n") != n or out.count(b"\r") != n or b"\0" in out:
        raise LocalProtocolError(f"CR, LF or NUL in a header: {headers!r}")
    for name, _ in headers:
        if name not in _GOOD_NAMES:
            if not _TOKEN_RE.fullmatch(name):
                raise LocalProtocolError(f"invalid header name {name!r}")
            if len(_GOOD_NAMES) < 1000:  # bounded: names are few, values are not cached
                _GOOD_NAMES.add(name)
    return out


_TOKEN_RE = re.compile(_TOKEN)
_GOOD_NAMES: set[bytes] = set()


class Connection:
    """One HTTP/1.1 connection, seen from ``role`` (CLIENT or SERVER)."""

    def __init__(self, role: str, max_body: int | None = DEFAULT_MAX_BODY) -> None:
        if role not in (CLIENT, SERVER):
            raise ValueError(role)
        self.our_role = role
        self.their_role = SERVER if role == CLIENT else CLIENT
        self.max_body = max_body
        self.our_state = IDLE
        self.their_state = IDLE
        self.their_http_version: bytes | None = None
        self.their_content_length: int | None = None  # of the request being received
        self.they_are_waiting_for_100_continue = False
        self._buf = b""
        self._eof = False
        self._scan_from = 0
        self._reader: _Reader | None = None
        self._writer: _Writer | None = None
        self._method = b""  # the request method of this cycle (HEAD has no response body)
        self._keep_alive = True
        self.cycles = 0  # completed request/response cycles

    # -- receiving -----------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed its side."""
        if data:
            # bytes, not bytearray: the common case (one whole request) is then never copied.
            self._buf = self._buf + data if self._buf else data
        else:
            self._eof = True

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes not parsed yet and whether EOF was seen (after a 101 protocol switch)."""
        return self._buf, self._eof

    def next_event(self) -> Event | _Sentinel:
        """The next event from the peer, NEED_DATA or PAUSED; may raise RemoteProtocolError."""
        try:
            state = self.their_state
            if state == SEND_BODY:
                return self._read_body()
            if state == IDLE:
                if self.our_role == CLIENT and self.our_state == IDLE:
                    return ConnectionClosed() if self._eof and not self._buf else PAUSED
                return self._read_head()
            if state == ERROR:
                raise RemoteProtocolError("connection already failed")
            if state == CLOSED or (state == MUST_CLOSE and self._eof):
                self.their_state = CLOSED
                return ConnectionClosed()
            return PAUSED
        except RemoteProtocolError:
            self.their_state = ERROR
            self._keep_alive = False
            raise

    def _read_head(self) -> Event | _Sentinel:
        buf = self._buf
        if self.our_role == SERVER and buf[:2] == b"\r\n":
            for _ in range(MAX_LEADING_CRLF):
                if buf[:2] == b"\r\n":
                    buf = buf[2:]
            self._buf = buf
        end = buf.find(b"\r\n\r\n", self._scan_from)
        if end < 0:
            if self._eof:
                if buf:
                    raise RemoteProtocolError("connection closed inside a message head")
                self.their_state = CLOSED
                return ConnectionClosed()
            self._check_partial_head(buf)
            self._scan_from = max(0, len(buf) - 3)
            return NEED_DATA
        if end + 4 > MAX_HEAD_BYTES:
            raise RemoteProtocolError("header section too large", 431)
        self._buf = buf[end + 4 :]
        self._scan_from = 0
        lines = buf[:end].split(b"\r\n")
        if self.our_role == SERVER:
            return self._request_head(lines)
        return self._response_head(lines)

    def _check_partial_head(self, buf: bytes) -> None:
        """Refuse a head that can already be seen to be too long or malformed."""
        if len(buf) > MAX_HEAD_BYTES:
            raise RemoteProtocolError("header section too large", 431)
        nl = buf.find(b"\n")
        if self.our_role == SERVER and (nl if nl >= 0 else len(buf)) > MAX_REQUEST_LINE:
            raise RemoteProtocolError("request line too long", 414)
        crlf = buf.count(b"\r\n")
        if nl >= 0 and buf.count(b"\n") != crlf:
            raise RemoteProtocolError("bare LF in message head")
        if crlf > MAX_HEADERS + 1:
            raise RemoteProtocolError("too many header fields", 431)

    def _request_head(self, lines: list[bytes]) -> Event:
        line = lines[0]
        if len(line) > MAX_REQUEST_LINE:
            raise RemoteProtocolError("request line too long", 414)
        m = _REQUEST_LINE.fullmatch(line)
        if m is None:
            raise RemoteProtocolError("malformed request line")
        method, target, major, minor = m.groups()
        if major != b"1" or minor not in (b"0", b"1"):
            raise RemoteProtocolError("HTTP version not supported", 505)
        version = b"1.1" if minor == b"1" else b"1.0"
        headers = _parse_headers(lines)
        f = _framing(headers, is_request=True)
        if f.chunked and version == b"1.0":
            raise RemoteProtocolError("chunked request from an HTTP/1.0 client")
        self.their_http_version = version
        self.their_content_length = f.length
        self._method = method
        if f.close or (version == b"1.0" and not f.keep_alive):
            self._keep_alive = False
        if f.chunked:
            self._reader = _ChunkedReader()
        else:
            self._check_size(f.length or 0)
            self._reader = _LengthReader(f.length or 0)
        self.they_are_waiting_for_100_continue = (
            f.expect_continue and version == b"1.1" and (f.chunked or bool(f.length))
        )
        self.their_state = SEND_BODY
        return Request(method, target, headers, version)

    def _response_head(self, lines: list[bytes]) -> Event:
        m = _STATUS_LINE.fullmatch(lines[0])
        if m is None:
            raise RemoteProtocolError("malformed status line")
        major, minor, code, reason = m.groups()
        if major != b"1":
            raise RemoteProtocolError("HTTP version not supported", 505)
        status = int(code)
        headers = _parse_headers(lines)
        if status < 200:
            if status == 101:
                self.our_state = self.their_state = SWITCHED_PROTOCOL
            return InformationalResponse(status, headers, reason or b"")
        f = _framing(headers, is_request=False)
        version = b"1.1" if minor == b"1" else b"1.0"
        self.their_http_version = version
        if f.close or (version == b"1.0" and not f.keep_alive):
            self._keep_alive = False
        reader: _Reader
        if self._method == b"HEAD" or status in (204, 304):
            reader = _LengthReader(0)
        elif f.chunked:
            reader = _ChunkedReader()
        elif f.length is not None:
            self._check_size(f.length)
            reader = _LengthReader(f.length)
        else:
            reader = _CloseReader()
            self._keep_alive = False
        self._reader = reader
        self.their_state = SEND_BODY
        return Response(status, headers, reason or b"", version)

    def _check_size(self, n: int) -> None:
        if self.max_body is not None and n > self.max_body:
            raise RemoteProtocolError(f"body over {self.max_body} bytes", 413)

    def _read_body(self) -> Event | _Sentinel:
        ev = self._reader.read(self)  # type: ignore[union-attr]
        if type(ev) is EndOfMessage:
            self.their_state = DONE
            self._reader = None
            self._maybe_next_cycle()
        elif type(ev) is Data:
            self.they_are_waiting_for_100_continue = False
        return ev

    # -- sending -------------------------------------------------------------
    def send(self, event: Event) -> bytes:
        """The bytes for ``event``; raises LocalProtocolError on misuse."""
        t = type(event)
        if t is Data:
            return self._need_writer().data(event.data)  # type: ignore[attr-defined]
        if t is EndOfMessage:
            out = self._need_writer().end(event.headers)  # type: ignore[attr-defined]
            self._writer = None
            self.our_state = DONE
            self._maybe_next_cycle()
            return out
        if t is Response:
            return self._send_response(event)  # type: ignore[arg-type]
        if t is Request:
            return self._send_request(event)  # type: ignore[arg-type]
        if t is InformationalResponse:
            return self._send_informational(event)  # type: ignore[arg-type]
        if t is ConnectionClosed:
            self.our_state = CLOSED
            return b""
        raise LocalProtocolError(f"cannot send {event!r}")

    def send_message(self, head: Request | Response, body: bytes = b"") -> bytes:
        """Head, body and end in one call: the hot path of small responses."""
        out = self.send(head)
        if body:
            out += self._need_writer().data(body)
        return out + self.send(EndOfMessage())

    def _need_writer(self) -> _Writer:
        if self._writer is None or self.our_state != SEND_BODY:
            raise LocalProtocolError(f"no message being sent (state {self.our_state})")
        return self._writer

    def _send_request(self, ev: Request) -> bytes:
        if self.our_role != CLIENT or self.our_state != IDLE:
            raise LocalProtocolError(f"cannot send a request in state {self.our_state}")
        f = _framing(_lower(ev.headers), is_request=False)
        if f.chunked:
            self._writer = _Writer("chunked")
        else:
            self._writer = _Writer("length", f.length or 0)
        if f.close:
            self._keep_alive = False
        self._method = ev.method
        self.our_state = SEND_BODY
        head = b"%s %s HTTP/1.1\r\n" % (ev.method, ev.target)
        return head + _encode_headers(ev.headers) + b"\r\n"

    def _send_informational(self, ev: InformationalResponse) -> bytes:
        if self.our_role != SERVER or self.our_state != IDLE or not 100 <= ev.status_code < 200:
            raise LocalProtocolError("bad informational response")
        self.they_are_waiting_for_100_continue = False
        if ev.status_code == 101:
            self.our_state = self.their_state = SWITCHED_PROTOCOL
        return status_line(ev.status_code) + _encode_headers(ev.headers) + b"\r\n"

    def _send_response(self, ev: Response) -> bytes:
        if self.our_role != SERVER or self.our_state != IDLE:
            raise LocalProtocolError(f"cannot send a response in state {self.our_state}")
        self.they_are_waiting_for_100_continue = False
        status = ev.status_code
        headers = ev.headers
        length = None
        chunked = has_close = False
        for name, value in headers:
            n = name.lower()
            if n == b"content-length":
                length = int(value)
            elif n == b"transfer-encoding":
                chunked = True
            elif n == b"connection" and b"close" in _tokens(value):
                has_close = True
        extra: Headers = []
        if self.their_state == ERROR:
            self._keep_alive = False
        if self._method == b"HEAD" or status in (204, 304) or status < 200:
            self._writer = _Writer("length", 0, drop=True)
        elif length is not None:
            self._writer = _Writer("length", length)
        elif chunked or self.their_http_version != b"1.0":
            self._writer = _Writer("chunked")
            if not chunked:
                extra.append((b"transfer-encoding", b"chunked"))
        else:  # an HTTP/1.0 peer and no length: the end of the body is the close
            self._writer = _Writer("close")
            self._keep_alive = False
        if has_close:
            self._keep_alive = False
        elif not self._keep_alive:
            extra.append((b"connection", b"close"))
        elif self.their_http_version == b"1.0":
            extra.append((b"connection", b"keep-alive"))
        self.our_state = SEND_BODY
        return (
            status_line(status) + _encode_headers(headers + extra if extra else headers) + b"\r\n"
        )

    def close_after_this(self) -> None:
        """Make the current (or next) response the last one (``Connection: close``)."""
        self._keep_alive = False

    @property
    def keep_alive(self) -> bool:
        return self._keep_alive

    # -- cycles --------------------------------------------------------------
    def _maybe_next_cycle(self) -> None:
        if self.our_state != DONE or self.their_state != DONE:
            return
        self.cycles += 1
        if self._keep_alive:
            self.our_state = self.their_state = IDLE
            self._method = b""
        else:
            self.our_state = self.their_state = MUST_CLOSE


def _parse_headers(lines: list[bytes]) -> Headers:
    """Header lines (after the first) into (lower-cased name, value) pairs."""
    if len(lines) > MAX_HEADERS + 1:
        raise RemoteProtocolError("too many header fields", 431)
    headers = []
    match = _HEADER.fullmatch
    for i in range(1, len(lines)):
        line = lines[i]
        m = match(line)
        if m is None:
            if line[:1] in (b" ", b"\t"):
                raise RemoteProtocolError("obsolete line folding")
            raise RemoteProtocolError("malformed header line")
        headers.append((m[1].lower(), m[2]))
    return headers


class _Reader:
    """Frames the peer's body; ``read`` returns Data, EndOfMessage or NEED_DATA."""

    __slots__ = ()

    def read(self, c: Connection) -> Event | _Sentinel:
        raise NotImplementedError


def _short(c: Connection) -> _Sentinel:
    if c._eof:
        raise RemoteProtocolError("connection closed inside a message body")
    return NEED_DATA


class _LengthReader(_Reader):
    __slots__ = ("left",)

    def __init__(self, length: int) -> None:
        self.left = length

    def read(self, c: Connection) -> Event | _Sentinel:
        left = self.left
        if left == 0:
            return EndOfMessage()
        buf = c._buf
        if not buf:
            return _short(c)
        if len(buf) <= left:
            c._buf = b""
            self.left = left - len(buf)
            return Data(buf)
        c._buf = buf[left:]
        self.left = 0
        return Data(buf[:left])


class _CloseReader(_Reader):
    """A response without length: the body is everything until the server closes."""

    __slots__ = ()

    def read(self, c: Connection) -> Event | _Sentinel:
        if c._buf:
            data, c._buf = c._buf, b""
            return Data(data)
        return EndOfMessage() if c._eof else NEED_DATA


class _ChunkedReader(_Reader):
    """RFC 9112 §7.1: hex size line, data, CRLF, ..., a zero size, trailers, CRLF."""

    __slots__ = ("state", "left", "total")

    def __init__(self) -> None:
        self.state = "size"
        self.left = 0
        self.total = 0

    def read(self, c: Connection) -> Event | _Sentinel:
        while True:
            buf = c._buf
            if self.state == "data":
                if not buf:
                    return _short(c)
                n = min(self.left, len(buf))
                self.left -= n
                if self.left == 0:
                    self.state = "crlf"
                c._buf = buf[n:]
                return Data(buf[:n] if n < len(buf) else buf)
            if self.state == "crlf":
                if len(buf) < 2:
                    if buf not in (b"", b"\r"):
                        raise RemoteProtocolError("chunk data not followed by CRLF")
                    return _short(c)
                if buf[:2] != b"\r\n":
                    raise RemoteProtocolError("chunk data not followed by CRLF")
                c._buf = buf[2:]
                self.state = "size"
            elif self.state == "size":
                if not self._size_line(c, buf):
                    return _short(c)
            else:
                return self._trailers(c, buf)

    def _size_line(self, c: Connection, buf: bytes) -> bool:
        i = buf.find(b"\r\n")
        if i < 0:
            if len(buf) > MAX_CHUNK_LINE or b"\n" in buf:
                raise RemoteProtocolError("bad chunk size line")
            return False
        line = buf[:i]
        m = _CHUNK_SIZE.fullmatch(line)
        if (
            m is None or i > MAX_CHUNK_LINE or len(m[1]) > MAX_CHUNK_SIZE_DIGITS
            or b"\n" in line or b"\r" in line
        ):  # fmt: skip
            raise RemoteProtocolError("invalid chunk size")
        size = int(m[1], 16)
        c._buf = buf[i + 2 :]
        if size == 0:
            self.state = "trailers"
            return True
        self.total += size
        c._check_size(self.total)
        self.left, self.state = size, "data"
        return True

    def _trailers(self, c: Connection, buf: bytes) -> Event | _Sentinel:
        if buf[:2] == b"\r\n":
            c._buf = buf[2:]
            return EndOfMessage()
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD_BYTES:
                raise RemoteProtocolError("trailer section too large", 431)
            if buf.count(b"\n") != buf.count(b"\r\n"):
                raise RemoteProtocolError("bare LF in trailers")
            return _short(c)
        if end + 4 > MAX_HEAD_BYTES:
            raise RemoteProtocolError("trailer section too large", 431)
        c._buf = buf[end + 4 :]
        return EndOfMessage(_parse_headers([b"", *buf[:end].split(b"\r\n")]))


def _lower(headers: Headers) -> Headers:
    return [(n.lower(), v) for n, v in headers]
