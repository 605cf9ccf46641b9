"""Sans-IO server-sent events: encoding for servers, parsing for clients.

The grammar is the HTML Standard's (§9.2.5 "Parsing an event stream"): a stream
of UTF-8 lines ended by CRLF, LF or CR; a line ``field: value`` (one space after
the colon dropped), ``field`` alone (empty value), or ``:comment``; an empty
line dispatches the event gathered so far. Fields: ``event`` (the type,
default ``message``), ``data`` (several lines joined with LF), ``id`` (the last
event id; one containing NUL is ignored; it persists until changed), ``retry``
(reconnection time in ms, ASCII digits only). Unknown fields are ignored.

Limits, so that a hostile or broken server cannot make a client hold unbounded
memory: ``MAX_LINE`` per line and ``MAX_EVENT_BYTES`` per event's data; past
either, ``RemoteProtocolError``. The encoder refuses what a field cannot carry
(a CR or LF in ``event``/``id``, NUL in ``id``) with ``LocalProtocolError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Longest line the parser accepts: a long JSON ``data`` line fits; a stream that
# never sends a line end does not grow a buffer forever.
MAX_LINE = 1024 * 1024
# Largest ``data`` of one event (all its lines), for the same reason.
MAX_EVENT_BYTES = 4 * 1024 * 1024

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class RemoteProtocolError(Exception):
    """The stream broke a limit; the client should drop the connection."""


class LocalProtocolError(ValueError):
    """An event that cannot be written as asked."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True, slots=True)
class Event:
    """One event. ``id`` is the last event id in force when it was dispatched."""

    data: str = ""
    event: str = "message"
    id: str | None = None
    retry: int | None = None  # only for encoding: a parsed retry sets ``Parser.retry``


def _single_line(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise LocalProtocolError(f"an SSE {name} cannot contain CR or LF: {value[:40]!r}")
    return value


def encode(ev: Event) -> bytes:
    """The bytes of one event, ending with the blank line that dispatches it."""
    out = []
    if ev.event != "message":
        out.append(f"event: {_single_line('event', ev.event)}\n")
    if ev.id is not None:
        if "\0" in ev.id:
            raise LocalProtocolError("an SSE id cannot contain NUL")
        out.append(f"id: {_single_line('id', ev.id)}\n")
    if ev.retry is not None:
        if ev.retry < 0:
            raise LocalProtocolError("retry must be >= 0 ms")
        out.append(f"retry: {ev.retry}\n")
    for line in _LINE_END.split(ev.data.encode()):
        out.append(f"data: {line.decode()}\n")
    out.append("\n")
    return "".join(out).encode()


def comment(text: str = "") -> bytes:
    """A comment line plus a blank line: a heartbeat that every client ignores."""
    return b"".join(b":" + (b" " + ln if ln else b"") + b"\n" for ln in _LINE_END.split(text.encode())) + b"\n"


class Parser:
    """The client side: ``receive_data(bytes)``, then ``next_event()`` until ``NEED_DATA``.

    ``last_event_id`` is what an EventSource sends back as ``Last-Event-ID`` when
    it reconnects; ``retry`` the reconnection delay (ms) the server asked for.
    ``comments`` counts comment lines (heartbeats)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._started = False
        self._skip_lf = False  # the last line ended with CR: an LF right after belongs to it
        self._data: list[str] = []
        self._size = 0
        self._type = ""
        self.last_event_id = ""
        self.retry: int | None = None
        self.comments = 0
        self.closed = False

    def receive_data(self, data: bytes) -> None:
        """Feed bytes; ``b""`` means the stream ended (an unfinished event is dropped)."""
        if not data:
            self.closed = True
        self._buf += data

    def next_event(self) -> Event | _NeedData:
        while True:
            line = self._next_line()
            if line is None:
                return NEED_DATA
            ev = self._line(line)
            if ev is not None:
                return ev

    def events(self) -> list[Event]:
        """Every event complete so far."""
        out = []
        while isinstance(ev := self.next_event(), Event):
            out.append(ev)
        return out

    def _next_line(self) -> str | None:
        buf = self._buf
        if not self._started:
            if len(buf) < 3 and _BOM.startswith(bytes(buf)) and not self.closed:
                return None  # maybe the start of a BOM
            if buf.startswith(_BOM):
                del buf[:3]
            self._started = True
        if self._skip_lf and self._pos < len(buf):
            if buf[self._pos] == 0x0A:
                self._pos += 1
            self._skip_lf = False
        m = _LINE_END.search(buf, self._pos)
        if m is None:
            if len(buf) - self._pos > MAX_LINE:
                raise RemoteProtocolError(f"an event-stream line longer than {MAX_LINE} bytes")
            if self._pos > 65536:  # compact now and then, not per line
                del buf[: self._pos]
                self._pos = 0
            return None
        end = m.end()
        if m.group() == b"\r" and end == len(buf) and not self.closed:
            self._skip_lf = True  # "\r" now, maybe "\n" in the next piece
        line = bytes(buf[self._pos : m.start()])
        self._pos = end
        return line.decode("utf-8", "replace")

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._size += len(value) + 1
            if self._size > MAX_EVENT_BYTES:
                raise RemoteProtocolError(f"an event's data is over {MAX_EVENT_BYTES} bytes")
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value)
        return None

    def _dispatch(self) -> Event | None:
        data, kind = self._data, self._type
        self._data, self._size, self._type = [], 0, ""
        if not data:
            return None  # the spec: no data, no event (the type is reset too)
        return Event("\n".join(data), kind or "message", self.last_event_id)
