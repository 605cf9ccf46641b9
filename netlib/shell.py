"""The I/O shell: the one accept loop every syslab server stands on.

Strategy. A server supplies a *handler*; the shell owns the socket. It binds,
accepts, caps the number of connections, times out idle and too-slow peers,
isolates each connection's errors, and on SIGINT/SIGTERM stops accepting and
gives in-flight connections a grace period before it aborts them.

Two handler shapes, because two kinds of server live here:

* a coroutine ``async def handler(conn: Connection)`` that awaits
  ``conn.recv()`` and calls ``conn.write()``: the clear, teachable shape
  (file upload, SSE, chat, proxies);
* a *session factory* ``factory(conn) -> Session`` whose ``data_received(bytes)``
  is called synchronously from the transport: no task, no await per message.
  This is what a hot server (the cache, the HTTP hello route) uses, the way
  uvicorn and Redis itself work: parse what arrived, answer, return.

Both sit on one ``asyncio.Protocol`` (``_Conn``) so the cap, the timeouts and the
shutdown logic exist once. uvloop is used when importable (``run``).

What production servers do differently: SO_REUSEPORT across processes,
accept-rate limiting, TLS. None is needed to learn from this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, cast

from . import _sendfile

log = logging.getLogger("netlib.shell")

# Bytes a coroutine handler may leave unread before the shell stops reading the
# socket (TCP flow control then slows the peer). 256 KiB: a few socket buffers.
READ_HIGH_WATER = 256 * 1024
# Bytes queued for a slow peer before ``drain()`` blocks the writer.
WRITE_HIGH_WATER = 256 * 1024


@dataclass(frozen=True)
class ShellConfig:
    """Every setting of the shell, with its default."""

    host: str = "127.0.0.1"
    port: int = 0
    # Connections served at once. Past it a new connection waits (``max_waiting``)
    # or is refused: it is sent ``refuse_message`` (if any) and closed, and logged.
    max_connections: int = 10_000
    refuse_message: bytes = b""
    # Connections past the cap that may wait (accepted, not read) for a slot instead
    # of being refused; past this many, refusal. 0: refuse at once.
    max_waiting: int = 0
    # Seconds without a single byte from the peer before it is closed.
    idle_timeout: float = 300.0
    # How often the sweeper looks for idle peers and missed deadlines.
    sweep_interval: float = 0.5
    # Seconds in-flight connections get after SIGINT/SIGTERM before they are aborted.
    shutdown_grace: float = 5.0
    backlog: int = 1024
    reuse_port: bool = False


class Session(Protocol):
    """The synchronous handler shape (see the module comment).

    Optional, looked up by name: ``shutdown()`` is called when the server starts
    stopping (close if idle, else finish the current answer), and a true ``busy``
    attribute exempts the connection from the idle timeout (it is answering).
    ``eof_received`` returning True keeps our half open to finish answering.
    ``pause_writing()`` / ``resume_writing()`` are called when the unsent output
    crosses the write high-water mark and drains again (a session may stop
    reading meanwhile, so a peer that never reads cannot grow our memory).
    """

    def data_received(self, data: bytes) -> None: ...
    def eof_received(self) -> bool | None: ...
    def connection_lost(self, exc: BaseException | None) -> None: ...


CoroutineHandler = Callable[["Connection"], Awaitable[None]]
SessionFactory = Callable[["Connection"], Session]


class ConnectionClosed(Exception):
    """The peer went away (or the shell closed it) while the handler used it."""


class PeerLog(logging.LoggerAdapter):
    """Puts the peer address in front of every log line of one connection."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        peer = self.extra["peer"] if self.extra else "?"
        return f"[{peer}] {msg}", kwargs


class Connection:
    """One accepted connection, as a handler sees it."""

    def __init__(self, proto: _Conn, peer: str) -> None:
        self._proto = proto
        self.peer = peer
        self.log = PeerLog(log, {"peer": peer})
        # Absolute loop time by which the handler wants progress (e.g. an HTTP
        # request head must be complete); None = only the idle timeout applies.
        self.deadline: float | None = None

    # -- writing -------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue bytes for the peer; never blocks. Pair with ``drain()``."""
        t = self._proto.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def write_eof(self) -> None:
        """Half-close: send what is queued, then FIN; reading goes on (lingering close)."""
        t = self._proto.transport
        if t is not None and not t.is_closing() and t.can_write_eof():
            try:
                t.write_eof()
            except OSError:  # the peer is already gone (ENOTCONN): nothing to half-close
                t.abort()

    def writelines(self, chunks: list[bytes]) -> None:
        t = self._proto.transport
        if t is not None and not t.is_closing():
            t.writelines(chunks)

    async def drain(self) -> None:
        """Wait until the peer has taken enough of what was written."""
        await self._proto.wait_writable()

    async def send_all(self, data: bytes) -> None:
        self.write(data)
        await self.drain()

    async def sendfile(self, fd: int, offset: int, count: int) -> None:
        """Send ``count`` bytes of the open file ``fd`` from ``offset``, after what was written:
        ``os.sendfile`` where the socket allows it (zero copy), else blocks (``netlib._sendfile``)."""
        t = self._proto.transport
        if t is None:
            raise ConnectionClosed("connection closed")
        await _sendfile.sendfile(t, self.drain, fd, offset, count)

    def write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the peer (slow-client detection)."""
        t = self._proto.transport
        return t.get_write_buffer_size() if t is not None else 0

    # -- reading (coroutine handlers) ---------------------------------------
    async def recv(self, max_bytes: int = 65536) -> bytes:
        """Some bytes from the peer, at most ``max_bytes``; ``b""`` at EOF."""
        return await self._proto.recv(max_bytes)

    def pause_reading(self) -> None:
        self._proto.pause_reading()

    def resume_reading(self) -> None:
        self._proto.resume_reading()

    # -- lifetime ------------------------------------------------------------
    def touch(self) -> None:
        """Count as activity now (the idle timeout restarts), e.g. after a long answer."""
        self._proto.last_activity = self._proto.server.loop.time()

    def set_deadline(self, seconds_from_now: float | None) -> None:
        """Close the connection unless ``clear`` happens within that many seconds."""
        if seconds_from_now is None:
            self.deadline = None
        else:
            self.deadline = asyncio.get_running_loop().time() + seconds_from_now

    def close(self) -> None:
        """Close after what was written has been sent."""
        t = self._proto.transport
        if t is not None:
            t.close()

    def abort(self) -> None:
        """Close now, dropping what is queued (RST)."""
        t = self._proto.transport
        if t is not None:
            t.abort()

    @property
    def closed(self) -> bool:
        t = self._proto.transport
        return t is None or t.is_closing()

    @property
    def stopping(self) -> bool:
        """True once the server is shutting down: finish the current message, then close."""
        return self._proto.server.stopping

    @property
    def sockname(self) -> tuple[Any, ...]:
        t = self._proto.transport
        return t.get_extra_info("sockname") if t is not None else ()


class _Conn(asyncio.Protocol):
    """The one protocol object behind every connection (both handler shapes)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.conn: Connection | None = None
        self.session: Session | None = None
        self.task: asyncio.Task[None] | None = None
        self.last_activity = 0.0
        self._buf: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._reading_paused = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._write_waiter: asyncio.Future[None] | None = None
        self._lost = False
        self.peer = ""  # set while waiting for a slot

    # -- asyncio.Protocol ----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is not an asyncio.Transport subclass, but has its methods.
        self.transport = transport = cast(asyncio.Transport, transport)
        srv = self.server
        peer = transport.get_extra_info("peername")
        peer_s = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if len(srv.connections) >= srv.config.max_connections or srv.stopping:
            if not srv.stopping and len(srv.waiting) < srv.config.max_waiting:
                transport.pause_reading()  # not a byte is read until it gets a slot
                self.peer = peer_s
                srv.waiting.append(self)
                log.info("[%s] waiting: cap of %d reached", peer_s, srv.config.max_connections)
                return
            why = (
                "shutting down" if srv.stopping else f"cap of {srv.config.max_connections} reached"
            )
            log.warning("[%s] refused: %s", peer_s, why)
            srv.refused += 1
            if srv.config.refuse_message:
                transport.write(srv.config.refuse_message)
            transport.close()
            self._lost = True
            return
        self._admit(transport, peer_s)

    def _admit(self, transport: asyncio.Transport, peer_s: str) -> None:
        """Give this connection a slot: options, the Connection, the handler."""
        srv = self.server
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.last_activity = srv.loop.time()
        self.conn = Connection(self, peer_s)
        srv.connections.add(self)
        srv.accepted += 1
        self.conn.log.debug("connected")
        try:
            if srv.session_factory is not None:
                self.session = srv.session_factory(self.conn)
            else:
                assert srv.handler is not None
                self.task = srv.loop.create_task(self._run_handler(srv.handler))
        except Exception:
            self.conn.log.exception("handler failed to start")
            transport.abort()

    async def _run_handler(self, handler: CoroutineHandler) -> None:
        assert self.conn is not None
        try:
            await handler(self.conn)
        except (ConnectionClosed, ConnectionError):
            self.conn.log.debug("peer went away")
        except asyncio.CancelledError:
            self.conn.log.debug("handler cancelled")
        except Exception:
            # Per-connection error isolation: log it, drop this peer, keep serving.
            self.conn.log.exception("handler crashed")
            if self.transport is not None:
                self.transport.abort()
            return
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.server.loop.time()
        if self.session is not None:
            try:
                self.session.data_received(data)
            except Exception:
                assert self.conn is not None
                self.conn.log.exception("session crashed")
                if self.transport is not None:
                    self.transport.abort()
            return
        self._buf.append(data)
        self._buffered += len(data)
        if self._buffered > READ_HIGH_WATER:
            self.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self._eof = True
        if self.session is not None:
            # A session returning True keeps our half open (it still has answers to send).
            return self.session.eof_received()
        self._wake_reader()
        return True  # keep our half open: the handler may still answer

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._eof = True
        if self.conn is None and self in self.server.waiting:
            self.server.waiting.remove(self)  # gave up while waiting for a slot
        self.server.connections.discard(self)
        self.server._admit_waiting()
        self.server._maybe_idle()
        if self.conn is not None:
            self.conn.log.debug("disconnected%s", f": {exc}" if exc else "")
        if self.session is not None:
            try:
                self.session.connection_lost(exc)
            except Exception:
                log.exception("session.connection_lost crashed")
        self._wake_reader()
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_exception(ConnectionClosed())
            self._write_waiter.exception()  # retrieved: nobody may be waiting any more
        self.transport = None

    def pause_writing(self) -> None:
        self._write_paused = True
        hook = getattr(self.session, "pause_writing", None)
        if hook is not None:
            hook()

    def resume_writing(self) -> None:
        self._write_paused = False
        self.last_activity = self.server.loop.time()  # the peer took our bytes: alive
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)
        hook = getattr(self.session, "resume_writing", None)
        if hook is not None:
            hook()

    # -- used by Connection --------------------------------------------------
    async def wait_writable(self) -> None:
        if self.transport is None:
            raise ConnectionClosed()
        if not self._write_paused:
            return
        self._write_waiter = self.server.loop.create_future()
        try:
            await self._write_waiter
        finally:
            self._write_waiter = None

    async def recv(self, max_bytes: int) -> bytes:
        while not self._buf:
            if self._eof:
                return b""
            self._read_waiter = self.server.loop.create_future()
            try:
                await self._read_waiter
            finally:
                self._read_waiter = None
        data = self._buf.popleft()
        if len(data) > max_bytes:
            self._buf.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        self._buffered -= len(data)
        if self._reading_paused and self._buffered <= READ_HIGH_WATER // 2:
            self.resume_reading()
        return data

    def _wake_reader(self) -> None:
        w = self._read_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def pause_reading(self) -> None:
        if self.transport is not None and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
            self.last_activity = self.server.loop.time()

    def expire(self, why: str) -> None:
        assert self.conn is not None
        self.conn.log.info("closing: %s", why)
        self.server.timed_out += 1
        if self.transport is not None:
            self.transport.abort()


def _answering(c: _Conn) -> bool:
    """A session that says it is ``busy`` (answering: a stream, a long poll) is not idle:
    it is the server's turn to speak, not the peer's."""
    return bool(getattr(c.session, "busy", False))


class Server:
    """A listening socket plus its connections. Made by ``start()``."""

    def __init__(
        self,
        config: ShellConfig,
        handler: CoroutineHandler | None = None,
        session_factory: SessionFactory | None = None,
    ) -> None:
        if (handler is None) == (session_factory is None):
            raise ValueError("give exactly one of handler or session_factory")
        self.config = config
        self.handler = handler
        self.session_factory = session_factory
        self.loop = asyncio.get_running_loop()
        self.connections: set[_Conn] = set()
        self.waiting: deque[_Conn] = deque()  # past the cap, waiting for a slot (FIFO)
        self.stopping = False
        self.accepted = 0
        self.refused = 0
        self.timed_out = 0
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._closed = asyncio.Event()
        self.host = config.host
        self.port = 0

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    async def _listen(self) -> None:
        self._server = await self.loop.create_server(
            lambda: _Conn(self),
            self.config.host,
            self.config.port,
            backlog=self.config.backlog,
            reuse_port=self.config.reuse_port or None,
        )
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = sockname[0], sockname[1]
        self._sweeper = self.loop.create_task(self._sweep())
        log.info("listening on %s:%d", self.host, self.port)

    async def _sweep(self) -> None:
        """Close peers that were idle too long or missed their deadline."""
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.sweep_interval)
            now = self.loop.time()
            for c in list(self.connections):
                # Paused reading is our own choice, unless the peer is not taking our
                # output (write-paused): then the peer is the idle one.
                stuck = c._write_paused
                if c.conn is None or (c._reading_paused and not stuck):
                    continue
                if c.conn.deadline is not None and now > c.conn.deadline:
                    c.expire("deadline missed (slow client)")
                elif now - c.last_activity > cfg.idle_timeout and (stuck or not _answering(c)):
                    c.expire(f"idle for more than {cfg.idle_timeout:g}s")

    def _admit_waiting(self) -> None:
        """Slots freed: the longest-waiting connections get them, oldest first."""
        while self.waiting and len(self.connections) < self.config.max_connections:
            c = self.waiting.popleft()
            t = c.transport
            if t is None or t.is_closing() or self.stopping:
                continue
            t.resume_reading()
            c._admit(t, c.peer)

    def _maybe_idle(self) -> None:
        if not self.connections:
            self._idle.set()

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, let connections finish within ``grace`` seconds, abort the rest."""
        if self.stopping:
            await self._closed.wait()
            return
        self.stopping = True
        grace = self.config.shutdown_grace if grace is None else grace
        if self._server is not None:
            self._server.close()
        while self.waiting:  # never admitted: nothing in flight, just close them
            t = self.waiting.popleft().transport
            if t is not None:
                t.close()
        log.info("shutting down: %d connection(s) in flight", len(self.connections))
        # Sessions hear about it through conn.stopping; idle keep-alive peers are
        # closed now since they have nothing in flight.
        for c in list(self.connections):
            hook = getattr(c.session, "shutdown", None)
            if hook is not None:
                hook()
        if self.connections:
            self._idle.clear()
            self._maybe_idle()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        for c in list(self.connections):
            if c.task is not None:
                c.task.cancel()
            if c.transport is not None:
                c.transport.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        self._closed.set()
        log.info("stopped")

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown(grace=0.5)


async def start(
    handler: CoroutineHandler | None = None,
    config: ShellConfig | None = None,
    *,
    session_factory: SessionFactory | None = None,
) -> Server:
    """Bind and start accepting; returns once listening (``server.port`` is real)."""
    server = Server(config or ShellConfig(), handler, session_factory)
    await server._listen()
    return server


async def serve_until_signalled(
    server: Server, on_stop: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("signal received")
    await server.shutdown()
    if on_stop is not None:
        await on_stop()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a runtime dependency
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a server's async main on the best loop available (the ``bin/`` entry)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main())
