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

from ._events import (
    CLIENT,
    CLOSED,
    DEFAULT_MAX_BODY,
    DONE,
    ERROR,
    IDLE,
    MAX_CHUNK_LINE,
    MAX_FIELD_LINE,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    MAX_LEADING_CRLF,
    MAX_REQUEST_LINE,
    MUST_CLOSE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SERVER,
    SWITCHED_PROTOCOL,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Headers,
    InformationalResponse,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    Request,
    Response,
    _Sentinel,
)
from ._framing import (
    _HOST_RE,
    _REQUEST_LINE,
    _STATUS_LINE,
    _TARGET_RE,
    _TOKEN_RE,
    _authority,
    _check_field_lines,
    _ChunkedReader,
    _CloseReader,
    _encode_headers,
    _framing,
    _LengthReader,
    _lower,
    _parse_headers,
    _Reader,
    _tokens,
    _Writer,
    status_line,
)

__all__ = [
    "CLIENT", "SERVER", "IDLE", "SEND_BODY", "DONE", "MUST_CLOSE", "CLOSED", "ERROR",
    "SWITCHED_PROTOCOL", "NEED_DATA", "PAUSED", "Connection", "ConnectionClosed", "Data",
    "EndOfMessage", "Event", "Headers", "InformationalResponse", "LocalProtocolError",
    "ProtocolError", "RemoteProtocolError", "Request", "Response", "status_line", "valid_status",
    "DEFAULT_MAX_BODY", "MAX_CHUNK_LINE", "MAX_FIELD_LINE", "MAX_HEAD_BYTES", "MAX_HEADERS", "MAX_REQUEST_LINE",
]  # fmt: skip


# Framing fields a 1xx must not carry: it has no body, and a client that believed
# one would take our next response's bytes for it.
_NO_1XX_FIELDS = frozenset((b"content-length", b"content-type", b"transfer-encoding"))


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
        # Of the request being received: 0 when it has no body, None when chunked.
        self.their_content_length: int | None = None
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

    @property
    def unparsed(self) -> bytes:
        """Bytes received and not parsed yet (pipelined requests, the start of a head)."""
        return self._buf

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
        if not buf and not self._eof:
            return NEED_DATA  # between keep-alive requests: the common case
        if self.our_role == SERVER and buf[:2] == b"\r\n":
            for _ in range(MAX_LEADING_CRLF):
                if buf[:2] == b"\r\n":
                    buf = buf[2:]
            self._buf = buf
            self._scan_from = 0  # offsets into the old buffer mean nothing now
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
        if end > MAX_FIELD_LINE:  # only then can one line be too long (most heads are small)
            _check_field_lines(lines)
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
        if nl >= 0 and len(buf) - buf.rfind(b"\n") - 1 > MAX_FIELD_LINE:
            raise RemoteProtocolError("header field line too long", 431)  # still growing
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
        authority = _authority(target)
        if authority is not None and not _HOST_RE.fullmatch(authority):
            raise RemoteProtocolError("invalid authority in the request target")
        headers = _parse_headers(lines)
        f = _framing(headers, is_request=True)
        if f.chunked and version == b"1.0":
            raise RemoteProtocolError("chunked request from an HTTP/1.0 client")
        self.their_http_version = version
        self.their_content_length = None if f.chunked else (f.length or 0)
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
        if version == b"1.1" and f.hosts != 1:  # RFC 9112 §3.2: a MUST, and a smuggling vector
            raise RemoteProtocolError("an HTTP/1.1 request needs exactly one Host header")
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
        if status < 100:  # RFC 9110 §15: 100..599; a 0xx is not an interim response
            raise RemoteProtocolError("malformed status line")
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

    def assume_request(self, method: bytes) -> None:
        """A complete body-less HTTP/1.1 request the caller parsed itself (the server's fast
        path, ``_fast.simple_head``): the state becomes what its Request and EndOfMessage
        would have left, so the response goes out through ``send`` as usual."""
        if self.our_role != SERVER or self.our_state != IDLE or self.their_state != IDLE:
            raise LocalProtocolError(f"no request expected in state {self.their_state}")
        self.their_http_version = b"1.1"
        self.their_content_length = 0
        self.they_are_waiting_for_100_continue = False
        self._method = method
        self.their_state = DONE

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
            return self._end(event.headers)  # type: ignore[attr-defined]
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

    def send_counted(self, n: int) -> None:
        """Account ``n`` body bytes the caller writes to the socket itself (``os.sendfile``).

        The body must be framed by Content-Length; the core still refuses one byte too many
        and, at EndOfMessage, one byte too few."""
        self._need_writer().count(n)

    def send_message(self, head: Request | Response, body: bytes = b"") -> bytes:
        """Head, body and end in one call: the hot path of small responses."""
        if type(head) is Response:
            out = self._send_response(head)
        else:
            out = self.send(head)
        if body:
            out += self._writer.data(body)  # type: ignore[union-attr]
        return out + self._end([])

    def _end(self, trailers: Headers) -> bytes:
        out = self._need_writer().end(trailers)
        self._writer = None
        self.our_state = DONE
        self._maybe_next_cycle()
        return out

    def _need_writer(self) -> _Writer:
        if self._writer is None or self.our_state != SEND_BODY:
            raise LocalProtocolError(f"no message being sent (state {self.our_state})")
        return self._writer

    def _send_request(self, ev: Request) -> bytes:
        if self.our_role != CLIENT or self.our_state != IDLE:
            raise LocalProtocolError(f"cannot send a request in state {self.our_state}")
        if not _TOKEN_RE.fullmatch(ev.method) or not _TARGET_RE.fullmatch(ev.target):
            raise LocalProtocolError(f"invalid method or target: {ev.method!r} {ev.target!r}")
        f = _framing(_lower(ev.headers), is_request=False)
        if f.chunked:
            self._writer = _Writer("chunked")
        else:
            self._writer = _Writer("length", f.length or 0)
        if f.close:
            self._keep_alive = False
        self._method = ev.method
        head = b"%s %s HTTP/1.1\r\n%s\r\n" % (ev.method, ev.target, _encode_headers(ev.headers))
        self.our_state = SEND_BODY  # only once the head is known to be valid
        return head

    def _send_informational(self, ev: InformationalResponse) -> bytes:
        if (
            self.our_role != SERVER
            or self.our_state != IDLE
            or not valid_status(ev.status_code)
            or not 100 <= ev.status_code < 200
        ):
            raise LocalProtocolError("bad informational response")
        for name, _ in ev.headers:  # RFC 9110 §15.2: a 1xx ends at its empty line
            if name.lower() in _NO_1XX_FIELDS:
                raise LocalProtocolError(f"a {ev.status_code} response cannot carry {name!r}")
        self.they_are_waiting_for_100_continue = False
        if ev.status_code == 101:
            self.our_state = self.their_state = SWITCHED_PROTOCOL
        return status_line(ev.status_code) + _encode_headers(ev.headers) + b"\r\n"

    def _send_response(self, ev: Response) -> bytes:
        if self.our_role != SERVER or self.our_state != IDLE:
            raise LocalProtocolError(f"cannot send a response in state {self.our_state}")
        if not valid_status(ev.status_code):
            raise LocalProtocolError(f"status {ev.status_code!r} is not a code in 100..599")
        if ev.status_code < 200:  # a 1xx has no body: InformationalResponse, not Response
            raise LocalProtocolError(f"{ev.status_code} must be sent as InformationalResponse")
        self.they_are_waiting_for_100_continue = False
        if self.their_state == ERROR:
            self._keep_alive = False
        extra = self._frame_response(ev.status_code, ev.headers)
        headers = ev.headers + extra if extra else ev.headers
        head = status_line(ev.status_code) + _encode_headers(headers)
        self.our_state = SEND_BODY  # only once the head is known to be valid
        return head + b"\r\n"

    def _frame_response(self, status: int, headers: Headers) -> Headers:
        """Choose our body framing; the headers it needs added (RFC 9112 §6.1-6.3)."""
        length = None
        chunked = has_close = False
        for name, value in headers:
            n = name.lower()
            if n == b"content-length":
                if not value.isdigit():
                    raise LocalProtocolError(f"bad Content-Length {value!r}")
                if length is not None and int(value) != length:  # the peer could not frame it
                    raise LocalProtocolError(f"conflicting Content-Length {length} and {value!r}")
                length = int(value)
            elif n == b"transfer-encoding":
                chunked = True
            elif n == b"connection" and b"close" in _tokens(value):
                has_close = True
        if length is not None and chunked:  # RFC 9112 §6.2: a sender MUST NOT send both
            raise LocalProtocolError("Content-Length with Transfer-Encoding")
        extra: Headers = []
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
        return extra

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


def valid_status(status: object) -> bool:
    """A status code we may send: an int (``HTTPStatus`` too, not a bool or a str) in
    100..599, RFC 9110 §15 ("values outside the range 100..599 are invalid")."""
    return isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599
