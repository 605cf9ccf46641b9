"""The asyncio face of a WebSocket, the same for server and client: ``WebSocket``.

The I/O side feeds it (``feed``, ``feed_eof``, ``connection_lost``) from the
transport's callbacks: parsing, pong replies and close echoes happen right there,
synchronously, with no reader task per connection (10,000 idle sockets cost
10,000 small objects, not 10,000 tasks). Whole messages wait in a queue for the
user, who sees::

    async for msg in ws:            # str (text) or bytes (binary); ends at close
        await ws.send(msg)
    await ws.close(1000, "bye")     # the close handshake, bounded by close_timeout

Past ``max_queue`` unread messages reading pauses (TCP pushes back on the peer).
Keepalive: a peer silent for ``ping_interval`` s is pinged (a busy one is not:
its bytes prove it alive); no pong within ``ping_timeout`` s ends the connection
with 1011. ``ended_by`` tells how it ended, for logs and
disconnect events: ``"peer"`` (the peer's close; code in ``close_code``),
``"local"`` (our close), ``"shutdown"`` (server stopping, 1001), ``"ping_timeout"``,
``"protocol_error"`` (the peer broke the protocol; the code we sent),
``"reset"`` (TCP reset) or ``"eof"`` (TCP closed without a close frame).

The transport is a ``Link``: the shell's ``Connection`` on the server, the
client's protocol in ``clients/websocket``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Protocol

from netlib.shell import ConnectionClosed as _ShellClosed

from .core import NEED_DATA, SERVER, CloseReceived, Connection, Message, Pong, State
from .frames import GOING_AWAY, INTERNAL_ERROR, NORMAL, ProtocolError

log = logging.getLogger("netlib.websocket")


class Link(Protocol):
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def write_buffer_size(self) -> int: ...


class ConnectionClosed(Exception):
    """The WebSocket is closed: ``code`` and ``reason`` of the close (1006: none came)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class WebSocket:
    """One open WebSocket (after the handshake), either role."""

    def __init__(self, link: Link, core: Connection, *, subprotocol: str | None = None,
                 ping_interval: float | None = 20.0, ping_timeout: float = 20.0,
                 close_timeout: float = 5.0, max_queue: int = 64,
                 request: Any = None) -> None:  # fmt: skip
        self.link = link
        self.core = core
        self.subprotocol = subprotocol
        self.request = request  # the opening HTTP request (server side)
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.close_timeout = close_timeout
        self.max_queue = max_queue
        self.loop = asyncio.get_running_loop()
        self.opened_at = time.time()
        self.close_code: int | None = None
        self.close_reason = ""
        self.ended_by: str | None = None
        self.latency: float | None = None  # last keepalive round trip, seconds
        self.keepalives = 0  # keepalive pings answered
        self._queue: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._lost = self.loop.create_future()  # the TCP connection is gone
        self._close_got = self.loop.create_future()  # the peer's close arrived
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._ping_seq = 0
        self._failure: bytes | None = None  # our close for a failure, held (see ``feed``)
        self._timer: asyncio.TimerHandle | None = None
        self._last_rx = self.loop.time()  # when the peer last sent anything
        if ping_interval:
            self._timer = self.loop.call_later(ping_interval, self._keepalive)

    # -- fed by the transport ---------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._last_rx = self.loop.time()
        self.core.receive_data(data)
        self._process()

    def _process(self) -> None:
        """Turn what the core holds into events, until it needs data or the queue is
        full: past ``max_queue`` the rest stays in the core's buffer (and the socket
        stops being read), so the queue never holds more than ``max_queue`` messages."""
        core = self.core
        while len(self._queue) < self.max_queue:
            try:
                ev = core.next_event()
            except ProtocolError as e:
                log.info("closing %s: %s", self._peer(), e)
                self._end("protocol_error", e.code, e.reason)
                if self._queue:  # answers to what came before the bad frame go first
                    self._failure = core.data_to_send()
                    self.link.pause_reading()
                    self.loop.call_later(self.close_timeout, self._flush_failure)
                else:
                    self._write(core.data_to_send())
                    self.link.close()
                return
            if ev is NEED_DATA:
                break
            if type(ev) is Message:
                self._queue.append(ev.data)
                if len(self._queue) >= self.max_queue and not self._paused:
                    self._paused = True
                    self.link.pause_reading()
                self._wake()
            elif type(ev) is Pong:
                self._on_pong(ev.payload)
            elif type(ev) is CloseReceived:
                self._on_close(ev)
        self._write(core.data_to_send())

    def feed_eof(self) -> None:
        self.feed(b"")

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.ended_by is None:
            self._end("reset" if isinstance(exc, ConnectionResetError) else "eof", 1006, "")
        if not self._lost.done():
            self._lost.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
        for fut, _ in self._pings.values():
            if not fut.done():
                fut.set_exception(ConnectionClosed(self.close_code or 1006))
                fut.exception()  # retrieved: a keepalive ping has no awaiter
        self._pings.clear()
        self._wake()

    def _on_close(self, ev: CloseReceived) -> None:
        if not self._close_got.done():
            self._close_got.set_result(None)
        if not ev.clean:  # EOF before any close frame
            if self.ended_by is None:
                self._end("eof", 1006, "")
            self.link.close()
            return
        if self.ended_by is None:
            self._end("peer", ev.code, ev.reason)
        self._write(self.core.data_to_send())
        if self.core.role is SERVER:
            self.link.close()  # §7.1.1: the server closes the TCP connection first
        else:
            self.loop.call_later(self.close_timeout, self._abort_if_open)
        self._wake()

    def _end(self, how: str, code: int, reason: str) -> None:
        self.ended_by, self.close_code, self.close_reason = how, code, reason
        self._wake()

    def _write(self, data: bytes) -> None:
        if data:
            self.link.write(data)

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _peer(self) -> str:
        return getattr(self.link, "peer", "peer")

    # -- the user's side ----------------------------------------------------------
    @property
    def buffered_amount(self) -> int:
        """Bytes sent but not yet taken by the peer (a broadcaster drops a slow reader)."""
        return self.link.write_buffer_size()

    @property
    def closed(self) -> bool:
        return self.core.state is not State.OPEN

    async def recv(self) -> str | bytes:
        """The next message; ``ConnectionClosed`` once the connection is closed and
        every message received before the close was handed out."""
        while not self._queue:
            if self._failure is not None:
                self._flush_failure()
            if self.ended_by is not None or self._lost.done():
                raise ConnectionClosed(self.close_code or 1006, self.close_reason)
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        msg = self._queue.popleft()
        if self._paused and len(self._queue) <= self.max_queue // 2:
            self._paused = False
            self._process()  # what arrived while the queue was full comes first
            if not self._paused:
                self.link.resume_reading()
        return msg

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, data: str | bytes, fragment: int | None = None) -> None:
        """Send one message (``str``: text, ``bytes``: binary), then wait while the
        peer is slow to take it (the write buffer's high-water mark)."""
        if self._failure is not None and not self._lost.done():
            self.link.write(self.core.encode_message(data, fragment))  # ahead of the close
            return
        if self.core.state is not State.OPEN or self._lost.done():
            raise ConnectionClosed(self.close_code or 1006, self.close_reason)
        self.link.write(self.core.send_message(data, fragment))
        await self._drain()

    def _flush_failure(self) -> None:
        if self._failure is not None:
            self._write(self._failure)
            self._failure = None
            self.link.close()

    def send_nowait(self, data: str | bytes) -> bool:
        """Queue a message without waiting (a broadcast to many); False if closed."""
        if self.core.state is not State.OPEN or self._lost.done():
            return False
        self.link.write(self.core.send_message(data))
        return True

    async def _drain(self) -> None:
        try:
            await self.link.drain()
        except (_ShellClosed, ConnectionError):
            raise ConnectionClosed(self.close_code or 1006, self.close_reason) from None

    async def ping(self, payload: bytes | None = None) -> float:
        """Send a ping; returns the round trip in seconds once its pong arrives."""
        fut = self._send_ping(payload)
        return await fut

    def _send_ping(self, payload: bytes | None = None) -> asyncio.Future[float]:
        if self.core.state is not State.OPEN or self._lost.done():
            raise ConnectionClosed(self.close_code or 1006, self.close_reason)
        if payload is None:
            self._ping_seq += 1
            payload = b"%d" % self._ping_seq
        fut: asyncio.Future[float] = self.loop.create_future()
        self._pings[payload] = (fut, time.perf_counter())
        self.link.write(self.core.send_ping(payload))
        return fut

    def _on_pong(self, payload: bytes) -> None:
        """A pong answers its ping and every earlier one (§5.5.3 lets a peer skip some)."""
        if payload not in self._pings:
            return  # unsolicited (a heartbeat): allowed, ignored
        now = time.perf_counter()
        for key in list(self._pings):
            fut, sent = self._pings.pop(key)
            if not fut.done():
                fut.set_result(now - sent)
            if key == payload:
                break

    def _keepalive(self) -> None:
        self._timer = None
        if self.ended_by is not None or self.core.state is not State.OPEN:
            return
        assert self.ping_interval
        quiet = self.loop.time() - self._last_rx
        if quiet < self.ping_interval:  # the peer spoke lately: alive, no ping needed
            self._timer = self.loop.call_later(self.ping_interval - quiet, self._keepalive)
            return
        fut = self._send_ping()
        deadline = self.loop.call_later(self.ping_timeout, self._ping_timed_out)

        def answered(f: asyncio.Future[float]) -> None:
            deadline.cancel()
            if not f.cancelled() and f.exception() is None:
                self.latency = f.result()
                self.keepalives += 1
                if self.ping_interval and self.ended_by is None:
                    self._timer = self.loop.call_later(self.ping_interval, self._keepalive)

        fut.add_done_callback(answered)

    def _ping_timed_out(self) -> None:
        if self.ended_by is not None:
            return
        log.info("closing %s: no pong within %.1fs", self._peer(), self.ping_timeout)
        self._end("ping_timeout", INTERNAL_ERROR, "keepalive ping timeout")
        self._write(self.core.send_close(INTERNAL_ERROR, "keepalive ping timeout"))
        self.link.close()
        self.loop.call_later(self.close_timeout, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self._lost.done():
            self.link.abort()

    async def close(self, code: int = NORMAL, reason: str = "", *, how: str = "local") -> None:
        """The close handshake: send our close, wait (``close_timeout``) for the peer's,
        then end TCP (server first; a client waits for the server to do it)."""
        if self.core.close_sent is None and not self._lost.done():
            if self.ended_by is None:
                self._end(how, code, reason)
            self._write(self.core.send_close(code, reason))
            try:
                await self._drain()
            except ConnectionClosed:
                pass
        await self._finish()

    async def _finish(self) -> None:
        if self._lost.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._close_got), self.close_timeout)
        except TimeoutError:
            log.info("%s sent no close within %.1fs", self._peer(), self.close_timeout)
        if self.core.role is SERVER:
            self.link.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), self.close_timeout)
        except TimeoutError:
            self.link.abort()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._lost)

    def going_away(self) -> asyncio.Task[None]:
        """The server is stopping: close with 1001 (in a task; returns it)."""
        return self.loop.create_task(self.close(GOING_AWAY, "server shutting down", how="shutdown"))
