"""One accepted connection: the handler's view (``Connection``), the session base
class (``Session``) and the protocol object behind both (``_Conn``).

Backpressure is one mechanism: reading from the socket is paused while *any*
reason holds, and resumed when none does. The reasons are

* ``HANDLER``: the handler asked (``conn.pause_reading()``), e.g. HTTP while a
  task owns the connection and unparsed input passed ``READ_HIGH_WATER``;
* ``BUFFER``: a coroutine handler left ``READ_HIGH_WATER`` bytes unread;
* ``WRITE``: the peer is not taking our output (the transport passed
  ``WRITE_HIGH_WATER``): a peer that sends but never reads cannot grow our
  memory, whatever the handler shape. ``drain()`` waits for the same condition.

A pause that is our own choice (HANDLER, BUFFER) exempts the connection from
the idle and data-rate checks; WRITE does not: then the peer is the idle one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ._server import Server

log = logging.getLogger("netlib.shell")

# Bytes a handler may leave unread before the shell stops reading the socket
# (TCP flow control then slows the peer). 256 KiB: a few socket buffers.
READ_HIGH_WATER = 256 * 1024
# Bytes queued for a slow peer before ``drain()`` blocks the writer and reading stops.
WRITE_HIGH_WATER = 256 * 1024

# Reasons reading is paused (bit flags; see the module comment).
HANDLER, BUFFER, WRITE = 1, 2, 4


class ConnectionClosed(Exception):
    """The peer went away (or the shell closed it) while the handler used it."""


class PeerLog(logging.LoggerAdapter):
    """Puts the peer address in front of every log line of one connection."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        peer = self.extra["peer"] if self.extra else "?"
        return f"[{peer}] {msg}", kwargs


class Session:
    """Base of the synchronous handler shape: override ``data_received`` and what else
    you need. Every hook the shell calls is declared here with its default."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def data_received(self, data: bytes) -> None:
        raise NotImplementedError

    def eof_received(self) -> bool | None:
        """The peer half-closed. Return True to keep our half open (answers still owed)."""
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection is gone (either side closed it, or it was aborted)."""

    def pause_writing(self) -> None:
        """The peer stopped taking our output; the shell has already paused reading."""

    def resume_writing(self) -> None:
        """The peer drained our output; reading resumes (unless paused for another reason)."""

    def shutdown(self) -> None:
        """The server is stopping. Default: close now (a session is idle between calls).
        A session with work in flight finishes it, then closes."""
        self.conn.close()

    def busy(self) -> bool:
        """True while it is our turn to speak (a handler computes an answer): the idle
        timeout then leaves the connection alone."""
        return False


CoroutineHandler = Callable[["Connection"], Awaitable[None]]
SessionFactory = Callable[["Connection"], Session]


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
        p = self._proto
        t = p.transport
        if t is not None and not t.is_closing():
            t.write(data)
            p.wrote = True

    def writelines(self, chunks: list[bytes]) -> None:
        p = self._proto
        t = p.transport
        if t is not None and not t.is_closing():
            t.writelines(chunks)
            p.wrote = True

    def write_eof(self) -> None:
        """Half-close: send what is queued, then FIN; reading goes on (lingering close)."""
        t = self._proto.transport
        if t is not None and not t.is_closing() and t.can_write_eof():
            try:
                t.write_eof()
            except OSError:  # the peer is already gone (ENOTCONN): nothing to half-close
                t.abort()

    async def drain(self) -> None:
        """Wait until the peer has taken enough of what was written."""
        await self._proto.wait_writable()

    async def send_all(self, data: bytes) -> None:
        self.write(data)
        await self.drain()

    def write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the peer (slow-client detection)."""
        t = self._proto.transport
        return t.get_write_buffer_size() if t is not None else 0

    # -- reading (coroutine handlers) ---------------------------------------
    async def recv(self, max_bytes: int = 65536, *, or_shutdown: bool = False) -> bytes:
        """Some bytes from the peer, at most ``max_bytes``; ``b""`` at EOF, and with
        ``or_shutdown`` also when the server stops while nothing is buffered (an idle
        echo or chat peer then ends at once instead of holding shutdown)."""
        return await self._proto.recv(max_bytes, or_shutdown)

    def pause_reading(self) -> None:
        self._proto.pause(HANDLER)

    def resume_reading(self) -> None:
        self._proto.resume(HANDLER)

    # -- lifetime ------------------------------------------------------------
    def touch(self) -> None:
        """Count as activity now (the idle timeout restarts), e.g. after a long answer."""
        self._proto.last_activity = self._proto.server.loop.time()

    def set_deadline(self, seconds_from_now: float | None) -> None:
        """Close the connection unless ``clear`` happens within that many seconds."""
        if seconds_from_now is None:
            self.deadline = None
        else:
            self.deadline = self._proto.server.loop.time() + seconds_from_now

    def require_rate(self, min_bytes_per_s: float | None, window: float = 5.0) -> None:
        """Close the peer (with a log line) if, over any ``window`` seconds in which we
        are reading, it sends fewer than ``min_bytes_per_s * window`` bytes; None stops
        the check. Meant for while a request head or body is being received."""
        self._proto.require_rate(min_bytes_per_s, window)

    def waiting_for_peer(self, waiting: bool) -> None:
        """Whether the handler is waiting for the peer's bytes now. The minimum rate
        only counts while it is: a handler busy with what it has (or yet to send a
        ``100 Continue``) is not the peer's slowness. True once ``require_rate``."""
        self._proto.rate_waiting = waiting

    def tcp_keepalive(self, idle: int | None = 60, interval: int = 10, count: int = 6) -> None:
        """Let the kernel probe a silent peer (SO_KEEPALIVE: first probe after ``idle`` s,
        then every ``interval`` s, dead after ``count`` unanswered) and exempt this
        connection from the idle timeout: a silent stream whose reader is alive is
        kept, one whose reader vanished is reset by the kernel. ``idle=None`` ends
        the exemption (the stream is over)."""
        if idle is None:
            self._proto.keepalive = False
        else:
            self._proto.tcp_keepalive(idle, interval, count)

    def hand_over(self, to: Session | CoroutineHandler, initial: bytes = b"",
                  eof: bool = False) -> None:  # fmt: skip
        """Give this connection to another session or coroutine handler (a protocol
        switch), with ``initial``: bytes already read that belong to the new owner.
        ``eof``: the peer has already half-closed. The caller must not touch the
        connection's input afterwards."""
        self._proto.hand_over(to, initial, eof)

    async def wait_shutdown(self) -> None:
        """Returns once the server starts stopping (a WebSocket then sends close 1001,
        an SSE stream its last event), then finish within the grace period."""
        await self._proto.server.stopping_event.wait()

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
        self.wrote = False  # written since the sweeper last looked: counts as activity
        self.paused = 0  # reasons reading is paused (HANDLER | BUFFER | WRITE)
        self.keepalive = False  # the kernel probes the peer: exempt from the idle timeout
        self.received = 0  # bytes from the peer, for the minimum data rate
        self.rate_min: float | None = None
        self.rate_window = 0.0
        self.rate_since = 0.0
        self.rate_mark = 0
        self.rate_waiting = True  # see Connection.waiting_for_peer
        self._buf: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._read_waiter: asyncio.Future[None] | None = None
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
        self.admit(transport, peer_s)

    def admit(self, transport: asyncio.Transport, peer_s: str) -> None:
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
                self.session = _checked(srv.session_factory(self.conn))
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
            if self.transport is not None and self.task is asyncio.current_task():
                self.transport.abort()
            return
        if self.transport is not None and self.task is asyncio.current_task():
            self.transport.close()  # (not if it handed the connection over)

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.server.loop.time()
        self.received += len(data)
        session = self.session
        if session is not None:
            try:
                session.data_received(data)
            except Exception:
                self._session_crashed()
            return
        self._buf.append(data)
        self._buffered += len(data)
        if self._buffered > READ_HIGH_WATER:
            self.pause(BUFFER)
        self._wake_reader()

    def _session_crashed(self) -> None:
        assert self.conn is not None
        self.conn.log.exception("session crashed")
        if self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool | None:
        self._eof = True
        if self.session is not None:
            # A session returning True keeps our half open (it still has answers to send).
            try:
                return self.session.eof_received()
            except Exception:
                self._session_crashed()
                return None
        self._wake_reader()
        return True  # keep our half open: the handler may still answer

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._eof = True
        srv = self.server
        if self.conn is None and self in srv.waiting:
            srv.waiting.remove(self)  # gave up while waiting for a slot
        srv.connections.discard(self)
        srv.admit_waiting()
        srv.maybe_idle()
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
        self.pause(WRITE)
        if self.session is not None:
            self.session.pause_writing()

    def resume_writing(self) -> None:
        self.last_activity = self.server.loop.time()  # the peer took our bytes: alive
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)
        self.resume(WRITE)
        if self.session is not None:
            self.session.resume_writing()

    # -- backpressure: one set of reasons ------------------------------------
    def pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        t = self.transport
        if not self.paused and t is not None and not t.is_closing():
            t.resume_reading()
            self.last_activity = self.server.loop.time()

    @property
    def write_paused(self) -> bool:
        return bool(self.paused & WRITE)

    async def wait_writable(self) -> None:
        if self.transport is None:
            raise ConnectionClosed()
        if not self.paused & WRITE:
            return
        self._write_waiter = self.server.loop.create_future()
        try:
            await self._write_waiter
        finally:
            self._write_waiter = None

    async def recv(self, max_bytes: int, or_shutdown: bool = False) -> bytes:
        while not self._buf:
            if self._eof or (or_shutdown and self.server.stopping):
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
        if self._buffered <= READ_HIGH_WATER // 2:
            self.resume(BUFFER)
        return data

    def wake_reader(self) -> None:
        self._wake_reader()

    def _wake_reader(self) -> None:
        w = self._read_waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- policies --------------------------------------------------------------
    def require_rate(self, min_bytes_per_s: float | None, window: float) -> None:
        if min_bytes_per_s is None or min_bytes_per_s <= 0:
            self.rate_min = None
            return
        if self.rate_min is None:  # a new window starts now
            self.rate_since, self.rate_mark = self.server.loop.time(), self.received
            self.rate_waiting = True
        self.rate_min, self.rate_window = min_bytes_per_s, window

    def tcp_keepalive(self, idle: int, interval: int, count: int) -> None:
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return
        with contextlib.suppress(OSError, AttributeError):  # options are Linux/BSD names
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)
        self.keepalive = True

    def expire(self, why: str) -> None:
        assert self.conn is not None
        self.conn.log.info("closing: %s", why)
        self.server.timed_out += 1
        if self.transport is not None:
            self.transport.abort()

    # -- protocol switch ---------------------------------------------------------
    def hand_over(self, to: Session | CoroutineHandler, initial: bytes, eof: bool) -> None:
        assert self.conn is not None
        if self.transport is None:
            return
        conn = self.conn
        conn.deadline = None
        self.rate_min = None
        self.keepalive = False
        self.resume(HANDLER | BUFFER)  # the old owner's pauses are not the new one's
        pending = initial + b"".join(self._buf)  # unread by the old owner: the new one's
        self._buf.clear()
        self._buffered = 0
        eof = eof or self._eof
        conn.log.debug("handed over to %r", to)
        if isinstance(to, Session):
            self.session, self.task = to, None
            try:
                if pending:
                    to.data_received(pending)
                if eof and not to.eof_received() and self.transport is not None:
                    self.transport.close()
            except Exception:
                self._session_crashed()
            return
        if not inspect.iscoroutinefunction(to):
            raise TypeError(f"hand_over needs a Session or an async function, not {to!r}")
        self.session = None
        if pending:
            self._buf.append(pending)
            self._buffered = len(pending)
        self._eof = eof
        self.task = self.server.loop.create_task(self._run_handler(to))


def _checked(session: object) -> Session:
    if not isinstance(session, Session):
        raise TypeError(f"a session factory must return a netlib.shell.Session, not {session!r}")
    return session
