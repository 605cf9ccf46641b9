"""The server's fast path, sans-IO: a plain request head parsed in one pass, and a plain
response encoded from cached pieces. Used by ``netlib.http.server``.

Strategy. Most requests a server sees are a complete ``GET`` or ``HEAD`` with
no body, already whole in the buffer. ``simple_head`` checks such a head with
one anchored regex (request line and every field line, with the core's own
grammar from ``_framing``), extracts the fields with one ``findall``, and
looks at the framing fields; the server then skips the core's event machinery
for that request. It never refuses anything itself: whatever is not plainly
fine (another method or version, a head over one field line's limit, a bad
or folded line, Content-Length, Transfer-Encoding, Expect, a Connection other
than ``keep-alive``, not exactly one Host, leading empty lines) returns None and
goes to the core, which refuses exactly what it always refused. So the core's
limits and smuggling checks stay the one authority; the fast path can only be
too timid, never too lenient.

``plain_head`` is the other half: the head of a ``Response`` whose headers
need no framing decision (no Content-Length, Transfer-Encoding or Connection of
the handler's own, a status with a body), built from a per-header-list cache
of encoded bytes and a Date/Server tail formatted once a second. Its bytes are
exactly what the core's ``send_message`` produces for the same response (a test
compares them).
"""

from __future__ import annotations

import re
import time
from typing import Any

from ._events import MAX_FIELD_LINE, MAX_HEADERS, MAX_REQUEST_LINE, Headers, LocalProtocolError
from ._framing import _TARGET, _TOKEN, _encode_headers, status_line

# The whole head fits one field line's limit, so no line in it can be too long
# and the request line is under its own limit: the core's 414/431 cannot apply.
MAX_SIMPLE_HEAD = MAX_FIELD_LINE
assert MAX_SIMPLE_HEAD <= MAX_REQUEST_LINE

# A field line in the core's grammar (``_framing._HEADER``: token, colon, OWS, value,
# OWS), written greedily: the value starts and ends with a visible character, so no
# lazy ``*?`` has to try every position (several times faster in ``re``). The same
# name and value come out; a test compares the two on every line the fuzzer makes.
_VCHAR = rb"[\x21-\x7e\x80-\xff]"
_VALUE = rb"(?:" + _VCHAR + rb"(?:[\t\x20-\x7e\x80-\xff]*" + _VCHAR + rb")?)?"
_LINE = rb"(" + _TOKEN + rb"):[ \t]*(" + _VALUE + rb")[ \t]*\r\n"
# Request line and field lines, anchored at both ends by fullmatch. No group inside
# the repetition: ``re`` saves and restores captures per repeat, which costs more
# than matching the lines again with ``findall``.
_ANY_LINE = _TOKEN + rb":[ \t]*" + _VALUE + rb"[ \t]*\r\n"
_SIMPLE = re.compile(rb"(GET|HEAD) (" + _TARGET + rb") HTTP/1\.1\r\n((?:" + _ANY_LINE + rb")*)\r\n")
_FIELDS = re.compile(_LINE)
# Fields that decide framing or need the core's judgement: their presence sends the
# request to the core (``host`` is counted here, ``connection: keep-alive`` is a no-op
# in HTTP/1.1).
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"expect", b"connection",
                      b"host"))  # fmt: skip


def simple_head(buf: bytes, start: int, end: int) -> tuple[bytes, bytes, Headers] | None:
    """(method, target, headers) of the head ``buf[start:end]`` (``end`` is where its
    ``\\r\\n\\r\\n`` starts), if it is a plain body-less GET/HEAD; None: ask the core."""
    if end - start > MAX_SIMPLE_HEAD:
        return None
    m = _SIMPLE.fullmatch(buf, start, end + 4)
    if m is None:
        return None
    block = m[3]
    headers = [(n.lower(), v) for n, v in _FIELDS.findall(block)] if block else []
    if len(headers) > MAX_HEADERS:
        return None
    hosts = 0
    for name, value in headers:
        if name in _FRAMING:
            if name == b"host":
                hosts += 1
            elif name != b"connection" or value.lower() != b"keep-alive":
                return None
    if hosts != 1:
        return None
    return m[1], m[2], headers


# Header names a handler's response may not carry on the fast path: the core decides
# (a length of its own is checked, chunked is framed, close ends the connection).
_SELF_FRAMED = frozenset((b"content-length", b"transfer-encoding", b"connection"))
# Encoded header blocks remembered; past it the cache is emptied (a server answers
# with few distinct header lists: one per route or per static file).
HEAD_CACHE = 512
_heads: dict[tuple[int, tuple[tuple[bytes, bytes], ...]], bytes | None] = {}
_MISSING: Any = object()  # (a sentinel for _heads.get: None is a cached "no")


def plain_head(status: int, headers: Headers) -> bytes | None:
    """Status line and ``headers`` encoded, or None if the core must frame this response
    (a 1xx, 204 or 304, a framing header of the handler's own, a value it would refuse)."""
    key = (status, tuple(headers))
    try:
        return _heads[key]
    except KeyError:
        pass
    out: bytes | None = None
    if type(status) is int and status >= 200 and status not in (204, 304):
        if not any(n.lower() in _SELF_FRAMED for n, _ in headers):
            try:
                out = status_line(status) + _encode_headers(headers)
            except (LocalProtocolError, TypeError):
                out = None
    if len(_heads) >= HEAD_CACHE:
        _heads.clear()
    _heads[key] = out
    return out


_DAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct",
           b"Nov", b"Dec")  # fmt: skip


def imf_date(seconds: float) -> bytes:
    """RFC 9110 §5.6.7 IMF-fixdate, ``Sun, 06 Nov 1994 08:49:37 GMT`` (no locale, no
    ``email.utils``: that one imports ``socket``)."""
    t = time.gmtime(seconds)
    return b"%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min,
        t.tm_sec,
    )  # fmt: skip


class Tail:
    """``date: ...\\r\\nserver: ...\\r\\n\\r\\n``, formatted once a second; ``ok`` is
    False if the core would refuse the Server value (then every response takes its path)."""

    __slots__ = ("server", "second", "value", "ok")

    def __init__(self, server: bytes) -> None:
        self.server = server
        self.second = 0
        self.value = b""
        try:
            _encode_headers([(b"server", server)])
            self.ok = True
        except (LocalProtocolError, TypeError):
            self.ok = False

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            date = imf_date(now)
            self.value = b"date: %s\r\nserver: %s\r\n\r\n" % (date, self.server)
            self.second = now
        return self.value
