"""The asyncio transport under ``AsyncConnection``: an ``asyncio.Protocol``.

Why not asyncio streams: with a StreamReader every read is a future, a task
wake-up and a copy out of the stream's bytearray, per read, and a ``SELECT 1``
round trip measured ~1.6x slower than over a blocking socket. Here the
loop's ``data_received`` callback feeds ``ClientProtocol`` directly and, in
*push* mode (ordinary commands), also drives its events into the command's
``ResultBuilder``: the awaiting task wakes up once, when the response is
complete (or failed).

*Pull* mode is for streams: the callback only buffers bytes and wakes a
waiting reader, who parses events at its own pace; past ``PAUSE_BYTES``
unparsed bytes the transport stops reading (TCP flow control pushes back on
the server) until the reader catches up.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .errors import (
    ConnectionLostError,
    DatabaseError,
    InterfaceError,
    MySQLError,
    OperationalError,
)
from .protocol import NEED_DATA, ClientProtocol
from .responses import OkPacket
from .result import ResultBuilder

# A stream stops reading from the socket with this much unparsed data buffered
# (a few receive windows: enough to keep rows flowing, bounded memory).
PAUSE_BYTES = 4 * 1024 * 1024


class Login:
    """The consumer for the connection phase: done at the first OkPacket."""

    complete = False

    def feed(self, ev: Any) -> bool:
        return isinstance(ev, OkPacket)

    def absorb(self, exc: BaseException) -> bool:
        return False


class Pipeline:
    """The consumer for ``n`` pipelined responses: rows affected, first server error."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.affected = 0
        self.error: BaseException | None = None
        self._builder = ResultBuilder()

    @property
    def complete(self) -> bool:
        return self.left == 0

    def feed(self, ev: Any) -> bool:
        if self._builder.feed(ev):
            self.affected += sum(r.affected_rows for r in self._builder.result.all())
            self._next()
        return self.complete

    def absorb(self, exc: BaseException) -> bool:
        if not isinstance(exc, DatabaseError):
            return False
        self.error = self.error or exc
        self._next()
        return True

    def _next(self) -> None:
        self.left -= 1
        self._builder = ResultBuilder()


class Wire(asyncio.Protocol):
    def __init__(self, proto: ClientProtocol) -> None:
        self.proto = proto
        self.transport: asyncio.Transport | None = None
        # The loop, asked once: asyncio.get_running_loop() costs a getpid() system
        # call on Python 3.11 (~0.7us here, ~4% of a SELECT 1's client time).
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lost: MySQLError | None = None
        self._waiter: asyncio.Future[Any] | None = None
        self._consumer: Any = None  # push mode when set
        self._login = False
        self._paused = False
        self._closing = False

    # -- loop callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.proto.receive_data(data)
        if self._consumer is not None:
            self._pump()
            return
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)
        if self.proto.buffered > PAUSE_BYTES and self.transport and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._closing:  # we closed it: later use is an InterfaceError
            return
        why = f": {exc!r}" if exc else ": the server closed the connection"
        self.lost = ConnectionLostError("connection lost" + why)
        self._fail(self.lost)

    # -- push mode -------------------------------------------------------------------------

    def _pump(self) -> None:
        consumer, proto, login = self._consumer, self.proto, self._login
        while True:
            try:
                ev = proto.next_event()
            except MySQLError as e:
                # A server error ends one response; a pipeline absorbs it and goes on.
                if proto.broken or not consumer.absorb(e):
                    self._consumer = None
                    if proto.broken:
                        self.close()
                    self._fail(e)
                    return
                done = consumer.complete
            else:
                if login:
                    out = proto.data_to_send()
                    if out and self.transport is not None:
                        self.transport.write(out)
                if ev is NEED_DATA:
                    return
                done = consumer.feed(ev)
            if done:
                self._consumer = None
                self._done(consumer)
                return

    def _done(self, value: Any) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(value)

    def _fail(self, exc: BaseException) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_exception(exc)

    async def command(self, data: bytes, consumer: Any, timeout: float | None) -> Any:
        """Write ``data``; return ``consumer`` once it has the whole response."""
        if self.transport is None:
            self._check_open()
        fut = self._loop.create_future()  # type: ignore[union-attr]
        self._waiter, self._consumer = fut, consumer
        self._login = not data
        if data:
            self.transport.write(data)  # type: ignore[union-attr]
        elif self.proto.buffered:  # the greeting may have arrived before we asked
            self._pump()
        try:
            if timeout is None:
                return await fut
            return await self._wait(fut, timeout)
        except asyncio.CancelledError:
            self.close()  # the response is half read: this connection cannot be reused
            raise
        finally:
            self._waiter = self._consumer = None

    # -- pull mode ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self._check_open()
        assert self.transport is not None
        self.transport.write(data)

    async def next_event(self, timeout: float | None) -> Any:
        """The next protocol event, reading as needed (streams)."""
        while True:
            try:
                ev = self.proto.next_event()
            except MySQLError:
                if self.proto.broken:
                    self.close()
                raise
            if ev is not NEED_DATA:
                return ev
            if self._paused and self.transport is not None:
                self._paused = False
                self.transport.resume_reading()
            self._check_open()
            fut = self._loop.create_future()  # type: ignore[union-attr]
            self._waiter = fut
            try:
                await self._wait(fut, timeout)
            finally:
                self._waiter = None

    # -- shared ----------------------------------------------------------------------------------

    async def _wait(self, fut: asyncio.Future[Any], timeout: float | None) -> Any:
        try:
            if timeout is None:
                return await fut
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            self.close()
            raise OperationalError("timed out waiting for the server") from None
        except asyncio.CancelledError:
            self.close()  # the response is half read: this connection cannot be reused
            raise

    def _check_open(self) -> None:
        if self.lost is not None:
            raise self.lost
        if self.transport is None:
            raise InterfaceError("connection is closed")

    def close(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.close()
            self.transport = None
