"""clients/sse: an asyncio EventSource, on netlib.http's core and netlib.sse's parser.

``await EventStream.open(host, port, last_event_id=...)`` sends the GET (with
``Last-Event-ID`` when given, as a browser does when it reconnects), checks the
answer is a 200 ``text/event-stream``, and ``await stream.next()`` hands out
events (comments are counted in ``stream.parser.comments``). It does not
reconnect by itself: the caller decides, with ``stream.parser.last_event_id``.
Used by the tests of servers/sse and by bench/sse (10,000 of them at once).
"""

from __future__ import annotations

import asyncio
from collections import deque

from netlib.http import core as h11
from netlib.sse import Event, Parser

READ = 65536


class StreamError(Exception):
    """Not an event stream, or it ended."""


class EventStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h = h11.Connection(h11.CLIENT, max_body=None)
        self.parser = Parser()
        self.pending: deque[Event] = deque()
        self.head: h11.Response | None = None
        self.ended = False

    @classmethod
    async def open(cls, host: str, port: int, path: str = "/events",
                   last_event_id: str | None = None, timeout: float = 10.0) -> EventStream:  # fmt: skip
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        s = cls(reader, writer)
        headers = [(b"host", f"{host}:{port}".encode()), (b"accept", b"text/event-stream")]
        if last_event_id is not None:
            headers.append((b"last-event-id", last_event_id.encode()))
        writer.write(s.h.send_message(h11.Request(b"GET", path.encode(), headers)))
        try:
            await asyncio.wait_for(s._read_head(), timeout)
        except BaseException:
            s.close()
            raise
        return s

    async def _read_head(self) -> None:
        while self.head is None:
            ev = self.h.next_event()
            if ev is h11.NEED_DATA:
                data = await self.reader.read(READ)
                if not data:
                    raise StreamError("closed before the response head")
                self.h.receive_data(data)
            elif isinstance(ev, h11.Response):
                self.head = ev
        ctype = dict(self.head.headers).get(b"content-type", b"")
        if self.head.status_code != 200 or not ctype.startswith(b"text/event-stream"):
            raise StreamError(f"not an event stream: {self.head.status_code} {ctype!r}")

    async def next(self, timeout: float | None = 10.0) -> Event:
        """The next event; ``StreamError`` when the stream ends first."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Event:
        while not self.pending:
            try:
                ev = self.h.next_event()
            except h11.RemoteProtocolError as e:  # cut mid-chunk
                self.ended = True
                raise StreamError(f"the stream broke: {e}") from None
            if isinstance(ev, h11.Data):
                self.parser.receive_data(ev.data)
                self.pending.extend(self.parser.events())
            elif ev is h11.NEED_DATA:
                data = await self.reader.read(READ)
                self.h.receive_data(data)
                if not data:
                    self.ended = True
            else:  # EndOfMessage or ConnectionClosed
                self.ended = True
                raise StreamError("the stream ended")
        return self.pending.popleft()

    def close(self) -> None:
        self.writer.close()

    async def aclose(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass
