"""The protocol object behind every accepted connection (``_Conn``), whichever
handler shape serves it: admission under the cap, reading, backpressure, the
hand-over from one handler to another.

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
import fcntl
import inspect
import socket
import struct
import termios
from collections import deque
from typing import TYPE_CHECKING, cast

from ._api import (
    BUFFER,
    HANDLER,
    READ_HIGH_WATER,
    WRITE,
    WRITE_HIGH_WATER,
    Connection,
    ConnectionClosed,
    CoroutineHandler,
    Session,
    log,
)

if TYPE_CHECKING:
    from ._server import Server


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
        self.received_seen = 0  # ``received`` when the sweeper last looked: more is activity
        self.rate_min: float | None = None
        self.rate_window = 0.0
        self.rate_since = 0.0
        self.rate_mark = 0
        self.rate_waiting = True  # see Connection.waiting_for_peer
        self.outq = 0  # the kernel's unacknowledged bytes when the sweeper last looked
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
        # (no clock read per read: the sweeper sees ``received`` move, as it sees ``wrote``)
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

    def kernel_draining(self) -> bool:
        """True if the kernel's send queue (sent, not yet acknowledged) changed since the
        last look: the peer is still taking a response we finished writing (a big file
        handed to sendfile sits in socket buffers for a while), so it is not idle."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        try:
            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")  # type: ignore[union-attr]
        except (OSError, AttributeError, ValueError):  # no socket, or not Linux
            return False
        queued = struct.unpack("i", raw)[0]
        changed, self.outq = queued != self.outq, queued
        return queued > 0 and changed

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
