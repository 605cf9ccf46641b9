"""What a handler sees of one connection: ``Connection`` (write, drain, recv, the
deadline, rate and keepalive policies, hand-over, the shutdown signal) and
``Session``, the base class of the synchronous handler shape, with every hook the
shell calls declared and given its default.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import _sendfile

if TYPE_CHECKING:
    from ._conn import _Conn

log = logging.getLogger("netlib.shell")

# Bytes a handler may leave unread before the shell stops reading the socket
# (TCP flow control then slows the peer). 256 KiB: a few socket buffers.
READ_HIGH_WATER = 256 * 1024
# Bytes queued for a slow peer before ``drain()`` blocks the writer and reading stops.
WRITE_HIGH_WATER = 256 * 1024

# Reasons reading is paused (bit flags; see ``_conn``'s module comment).
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

    async def sendfile(self, fd: int, offset: int, count: int) -> None:
        """Send ``count`` bytes of the open file ``fd`` from ``offset``, after what was written:
        ``os.sendfile`` where the socket allows it (zero copy), else blocks (``_sendfile``)."""
        t = self._proto.transport
        if t is None:
            raise ConnectionClosed("connection closed")
        await _sendfile.sendfile(t, self.drain, fd, offset, count, self.touch)

    def write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the peer (slow-client detection)."""
        t = self._proto.transport
        return t.get_write_buffer_size() if t is not None else 0

    def set_write_high_water(self, high: int) -> None:
        """Unsent bytes past which the shell stops reading (``WRITE_HIGH_WATER`` by default):
        a handler that bounds a peer's output itself (Redis's output buffer limits, which
        disconnect) raises it above its own limit, so that its limit is the one that acts."""
        t = self._proto.transport
        if t is not None and not t.is_closing():
            t.set_write_buffer_limits(high=max(high, WRITE_HIGH_WATER))

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
