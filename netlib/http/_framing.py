"""HTTP/1.1 framing, sans-IO: the grammar, header parsing and encoding, and the body
readers and writer (RFC 9112 §5-7). Used by ``netlib.http.core.Connection``.

Every function here works on bytes already received and either returns a
result, asks for more (``NEED_DATA``) or raises ``RemoteProtocolError`` with the
status to answer. Regexes do the per-line work in C; nothing loops per byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

from ._events import (
    MAX_CHUNK_LINE,
    MAX_CHUNK_SIZE_DIGITS,
    MAX_CONTENT_LENGTH_DIGITS,
    MAX_FIELD_LINE,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    NEED_DATA,
    Data,
    EndOfMessage,
    Event,
    Headers,
    LocalProtocolError,
    RemoteProtocolError,
    _Sentinel,
)


class Source(Protocol):
    """What a body reader needs of the connection: its unparsed bytes and EOF flag."""

    _buf: bytes
    _eof: bool

    def _check_size(self, n: int) -> None: ...


# -- grammar (RFC 9110 §5.6.2 token, §5.5 field-value) -------------------------
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_HEADER = re.compile(rb"(" + _TOKEN + rb"):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*")
# The target is visible ASCII except "#": a fragment is never part of a request
# target (RFC 9112 §3.2), and routing one to a handler would let "/a#b" and "/a" differ.
_TARGET = rb"[\x21\x22\x24-\x7e]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") (" + _TARGET + rb") HTTP/(\d)\.(\d)")
_TARGET_RE = re.compile(_TARGET)  # what we send is held to what we accept
# A Host value (RFC 9110 §7.2: uri-host [":" port], RFC 3986 §3.2.2): an IP literal in
# brackets or a reg-name (unreserved, pct-encoded, sub-delims; maybe empty), then digits
# of a port. Anything else is a 400 (RFC 9112 §3.2: "a Host header field with an invalid
# field value"), as nginx answers: a space, "/", "@", "\\" in a Host poison whatever
# later builds a URL, a cache key or a virtual host's path from it.
_HOST = (
    rb"(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|(?:[0-9A-Za-z._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)"
    rb"(?::[0-9]*)?"
)
_HOST_RE = re.compile(_HOST)
# An absolute-form target's authority is the request's Host (RFC 9112 §3.2.2: the Host
# field is then ignored), held to the same grammar; userinfo ("user@") is refused too
# (RFC 9110 §4.2.4: "treat its presence as an error"). ``_authority`` finds it as
# ``messages.split_target`` finds the path: after the first "://" before any "?", up
# to "/" or "?".
_ABSOLUTE = re.compile(rb"(?:(?!://)[^?])*://([^/?]*)")


def _authority(target: bytes) -> bytes | None:
    """The authority of an absolute-form target; None for any other form."""
    if target[:1] == b"/":
        return None
    m = _ABSOLUTE.match(target)
    return None if m is None else m[1]
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_DIGITS = re.compile(rb"\d+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)(?:[ \t]*;.*)?", re.S)  # BWS only before an extension
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection", b"expect", b"host"))

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
    hosts: int = 0  # Host header fields seen (RFC 9112 §3.2: exactly one in HTTP/1.1)


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
            # A list, not _tokens' set: "chunked, chunked" is chunking twice (RFC 9112 §6.1).
            te.extend(t.strip() for t in value.lower().split(b","))
        elif name == b"connection":
            toks = _tokens(value)
            f.close |= b"close" in toks
            f.keep_alive |= b"keep-alive" in toks
        elif name == b"host":
            f.hosts += 1
            if is_request and not _HOST_RE.fullmatch(value):
                raise RemoteProtocolError("invalid Host header")
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

    def count(self, n: int) -> None:
        """``n`` body bytes the caller writes itself (``os.sendfile``): only a counted body allows it."""
        if self.drop:
            raise LocalProtocolError("this response has no body (HEAD, 204, 304)")
        if self.mode != "length":
            raise LocalProtocolError("only a Content-Length body can be written around the core")
        self.left -= n
        if self.left < 0:
            raise LocalProtocolError("body longer than Content-Length")

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


def _check_field_lines(lines: list[bytes]) -> None:
    """431 for a field line over ``MAX_FIELD_LINE`` (the request line has its own 414)."""
    for i in range(1, len(lines)):
        if len(lines[i]) > MAX_FIELD_LINE:
            raise RemoteProtocolError("header field line too long", 431)


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

    def read(self, c: Source) -> Event | _Sentinel:
        raise NotImplementedError


def _short(c: Source) -> _Sentinel:
    if c._eof:
        raise RemoteProtocolError("connection closed inside a message body")
    return NEED_DATA


class _LengthReader(_Reader):
    __slots__ = ("left",)

    def __init__(self, length: int) -> None:
        self.left = length

    def read(self, c: Source) -> Event | _Sentinel:
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

    def read(self, c: Source) -> Event | _Sentinel:
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

    def read(self, c: Source) -> Event | _Sentinel:
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

    def _size_line(self, c: Source, buf: bytes) -> bool:
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

    def _trailers(self, c: Source, buf: bytes) -> Event | _Sentinel:
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
        lines = [b"", *buf[:end].split(b"\r\n")]
        _check_field_lines(lines)
        return EndOfMessage(_parse_headers(lines))


def _lower(headers: Headers) -> Headers:
    return [(n.lower(), v) for n, v in headers]
