"""The server's fast path, sans-IO: a plain request head parsed in one pass, and a plain
response encoded from cached pieces. Used by ``netlib.http.server``.

Strategy. Most requests a server sees are a complete ``GET`` or ``HEAD`` with
no body, already whole in the buffer. ``scan_head`` checks such a head with
one regex ``match`` from its first byte (request line and every field line, with
the core's own grammar from ``_framing``), which also finds where the head ends
and judges the fields the fast path must judge (exactly one Host, of a valid value; Content-Length,
Transfer-Encoding, Expect and Connection, in any case, only as
``Connection: keep-alive``) by a lookahead on each line's name; the fields
themselves are parsed only when a handler reads them (``fields_of``). The
server then skips the core's event machinery for that request. It never refuses anything itself: whatever is not plainly
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
compares them). ``response_wire`` adds the Content-Length and remembers the
result on the Response itself, for a handler that returns one object again and
again, checked against what it was made of on every use.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ._events import MAX_FIELD_LINE, MAX_HEADERS, MAX_REQUEST_LINE, Headers, LocalProtocolError
from ._framing import _TOKEN, _encode_headers, status_line

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
_FIELDS = re.compile(_LINE)
# To validate a line, OWS, value, OWS is just any run of field-value bytes: stripped of
# its OWS on both ends, such a run starts and ends with a visible byte or is empty, which
# is ``_VALUE``. One repeat of a character class is the cheapest thing ``re`` runs.
_ANY_VALUE = rb":[\t\x20-\x7e\x80-\xff]*\r\n"
# The fields the fast path must judge, by name in any case: a line of one of these is
# not an ordinary line. Of them, only one Host line and ``Connection: keep-alive`` (a
# no-op in HTTP/1.1) may appear; anything else about framing is the core's.
_JUDGED = rb"(?!(?i:host|content-length|transfer-encoding|expect|connection):)"
_KEEP_ALIVE = rb"(?i:connection):[ \t]*(?i:keep-alive)[ \t]*\r\n"
_ORDINARY = rb"(?:" + _JUDGED + _TOKEN + _ANY_VALUE + rb"|" + _KEEP_ALIVE + rb")*+"
# A Host value the fast path takes: a subset of ``_framing._HOST`` (no pct-encoding),
# character classes only (a repeated group costs ``re`` several times as much).
_FAST_HOST = (
    rb"(?:[0-9A-Za-z._~!$&'()*+,;=-]*+|\[[0-9A-Za-z:._~!$&'()*+,;=-]+\])(?::[0-9]*+)?"
)
# The target: origin-form, or another form whose authority, if it is absolute-form, is a
# valid Host (``_framing._authority``, which the core refuses otherwise).
_TC = rb"[\x21\x22\x24-\x7e]*"  # (``_TARGET``'s bytes, none or more)
_TQ = rb"[\x21\x22\x24-\x3e\x40-\x7e]"  # (a target's byte but "?")
_FAST_TARGET = (
    rb"/" + _TC + rb"|(?:(?!://)" + _TQ + rb")+(?:\?" + _TC + rb"|://" + _FAST_HOST
    + rb"(?:[/?]" + _TC + rb")?)?"
)  # fmt: skip
# A whole plain head: request line, ordinary lines, the one Host, ordinary lines, the
# empty line. ``match`` from a head's first byte finds its end too: no value or target
# holds a CR or LF and no field line starts with one, so the first empty line ends it.
# Group 3 is the field lines with the request line's ``\n`` in front (``fields_of``
# skips it). The repeats are possessive: a line matches one way or not at all.
_PLAIN = re.compile(
    rb"(GET|HEAD) (" + _FAST_TARGET + rb") HTTP/1\.1\r(\n" + _ORDINARY + rb"(?i:host):[ \t]*" + _FAST_HOST
    + rb"[ \t]*\r\n" + _ORDINARY + rb")\r\n"
)  # fmt: skip
# ``_PLAIN.match(buf, pos, pos + SPAN)``: a head longer than MAX_SIMPLE_HEAD cannot match.
SPAN = MAX_SIMPLE_HEAD + 4
plain_match = _PLAIN.match


def scan_head(buf: bytes, start: int) -> tuple[bytes, bytes, bytes, int] | None:
    """(method, target, field block, end) of the head at ``buf[start:]`` if it is a whole
    plain body-less GET/HEAD (``end``: just past its empty line); None: ask the core
    (another kind of request, or not all there yet). One regex pass validates every
    line and the fields the fast path judges; the fields themselves are parsed only if
    someone asks (``fields_of``). The server's loop inlines this."""
    m = plain_match(buf, start, start + SPAN)
    if m is None:
        return None
    method, target, block = m.groups()
    # (a field line is at least 4 bytes: under that many, no need to count them)
    if len(block) > 4 * MAX_HEADERS and block.count(b"\n") > MAX_HEADERS + 1:
        return None
    return method, target, block, m.end()


def fields_of(block: bytes) -> Headers:
    """The (lower-case name, value) pairs of a field block ``scan_head`` accepted."""
    return [(n.lower(), v) for n, v in _FIELDS.findall(block, 1)]


def simple_head(buf: bytes, start: int = 0) -> tuple[bytes, bytes, Headers] | None:
    """``scan_head`` with the fields parsed: (method, target, headers) or None."""
    head = scan_head(buf, start)
    if head is None:
        return None
    return head[0], head[1], fields_of(head[2])


# Header names a handler's response may not carry on the fast path: the core decides
# (a length of its own is checked, chunked is framed, close ends the connection).
_SELF_FRAMED = frozenset((b"content-length", b"transfer-encoding", b"connection"))
# Encoded header blocks remembered; past it the cache is emptied (a server answers
# with few distinct header lists: one per route or per static file).
HEAD_CACHE = 512
_heads: dict[tuple[int, tuple[tuple[bytes, bytes], ...]], bytes | None] = {}


def plain_head(status: int, headers: Headers) -> bytes | None:
    """Status line and ``headers`` encoded, or None if the core must frame this response
    (a 1xx, 204 or 304, a framing header of the handler's own, a value it would refuse,
    or one it cannot remember: a mutable one such as a bytearray)."""
    try:
        key = (status, tuple(headers))
        return _heads[key]
    except KeyError:
        pass
    except TypeError:  # unhashable: not remembered here, nor on the Response
        return None
    out: bytes | None = None
    if type(status) is int and 200 <= status <= 599 and status not in (204, 304):
        if not any(n.lower() in _SELF_FRAMED for n, _ in headers):
            try:
                out = status_line(status) + _encode_headers(headers)
            except (LocalProtocolError, TypeError):
                out = None
    if len(_heads) >= HEAD_CACHE:
        _heads.clear()
    _heads[key] = out
    return out


def response_wire(resp: Any) -> bytes | None:
    """A plain ``Response``'s status line, headers and Content-Length (the Date/Server
    tail and the body follow), or None if the core must frame it. Remembered on the
    response (``_wire``) with what it was made of: a handler that returns the same
    object again (a constant answer) gets it after three identity checks and one list
    comparison, and one that changed its status, headers or body gets a new one."""
    status, headers, body = resp.status, resp.headers, resp.body
    if type(body) is not bytes and not isinstance(body, bytearray | memoryview):
        return None  # a str set after construction, or no body at all: the core decides
    if type(headers) is not list:
        return None  # (a dict set after construction: the core reads it, or refuses)
    encoded = plain_head(status, headers)
    if encoded is None:
        return None
    wire = encoded + b"content-length: %d\r\n" % len(body)
    if type(body) is bytes:  # (a bytearray may change under the same identity)
        resp._wire = (body, status, list(headers), wire)
    return wire


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
    """``date: ...\r\nserver: ...\r\n\r\n``, formatted once a second; ``ok`` is
    False if the core would refuse the Server value (then every response takes its path).
    ``value`` is good while ``since <= time.time() < until`` (the fast path checks that
    inline, a call less per read; a clock stepped back is a new second too)."""

    __slots__ = ("server", "second", "value", "ok", "since", "until")

    def __init__(self, server: bytes) -> None:
        self.server = server
        self.second = 0
        self.value = b""
        self.since = self.until = 0.0
        try:
            _encode_headers([(b"server", server)])
            self.ok = True
        except (LocalProtocolError, TypeError):
            self.ok = False

    def get(self) -> bytes:
        now = time.time()
        if not self.since <= now < self.until:
            self.refresh(now)
        return self.value

    def refresh(self, now: float) -> None:
        second = int(now)
        self.value = b"date: %s\r\nserver: %s\r\n\r\n" % (imf_date(second), self.server)
        self.second, self.since, self.until = second, float(second), float(second + 1)
