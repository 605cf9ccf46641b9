"""The listening side: ``ShellConfig``, ``Server`` (accept, cap, the sweeper of idle
and slow peers, background tasks, graceful shutdown) and the entry points."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ._api import BUFFER, HANDLER, CoroutineHandler, SessionFactory
from ._conn import _Conn

log = logging.getLogger("netlib.shell")


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
    # Seconds in which the peer neither sent a byte nor was sent one before it is closed.
    idle_timeout: float = 300.0
    # How often the sweeper looks for idle peers, missed deadlines and slow senders.
    sweep_interval: float = 0.5
    # Seconds in-flight connections get after SIGINT/SIGTERM before they are aborted.
    shutdown_grace: float = 5.0
    backlog: int = 1024
    reuse_port: bool = False


class Server:
    """A listening socket plus its connections and background tasks. Made by ``start()``."""

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
        self.stopping_event = asyncio.Event()  # what ``Connection.wait_shutdown`` awaits
        self.accepted = 0
        self.refused = 0
        self.timed_out = 0
        self.sweeps = 0  # passes of the sweeper: tests wait on these instead of a clock
        self.tasks: set[asyncio.Task[Any]] = set()  # background tasks (``background``)
        self._server: asyncio.AbstractServer | None = None
        self._shutting_down = False  # ``shutdown`` began (``stop_now`` sets only ``stopping``)
        self._idle = asyncio.Event()
        self._closed = asyncio.Event()
        self.host = config.host
        self.port = 0

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    async def _listen(self) -> None:
        try:
            self._server = await self.loop.create_server(
                lambda: _Conn(self),
                self.config.host,
                self.config.port,
                backlog=self.config.backlog,
                reuse_port=self.config.reuse_port or None,
            )
        except OSError as e:
            raise ListenError(self.config.host, self.config.port, e) from None
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = sockname[0], sockname[1]
        self.background(self._sweep(), "sweeper")
        log.info("listening on %s:%d", self.host, self.port)

    # -- background tasks ----------------------------------------------------------
    def background(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run ``coro`` for the server's lifetime (a cron, a flusher): cancelled once the
        connections are gone at shutdown; a crash is logged, never silent."""
        task = self.loop.create_task(coro, name=name or None)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s crashed", task.get_name(), exc_info=task.exception())

    # -- the sweeper ----------------------------------------------------------------
    async def _sweep(self) -> None:
        """Close peers that were idle too long, missed a deadline or send too slowly.
        (The config is read on every pass: a server may be given a new one.)"""
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            self.sweeps += 1
            now = self.loop.time()
            idle_timeout = self.config.idle_timeout
            for c in list(self.connections):
                if c.conn is not None:
                    self._check(c, now, idle_timeout)

    def _check(self, c: _Conn, now: float, idle_timeout: float) -> None:
        # Paused reading is our own choice, unless the peer is not taking our
        # output (write-paused): then the peer is the idle one.
        stuck = c.write_paused
        if c.received != c.received_seen:
            c.received_seen = c.received
            c.last_activity = now  # the peer sent something since the last look
        if c.wrote:
            c.wrote = False
            if not stuck:
                c.last_activity = now  # the peer is taking what we send
        if c.paused & (HANDLER | BUFFER):
            c.rate_since, c.rate_mark = now, c.received  # not the peer's fault: new window
            return
        if not c.rate_waiting:
            c.rate_since, c.rate_mark = now, c.received  # the handler is not waiting for it
        assert c.conn is not None
        if c.conn.deadline is not None and now > c.conn.deadline:
            c.expire("deadline missed (slow client)")
        elif c.rate_min is not None and now - c.rate_since >= c.rate_window:
            elapsed, got = now - c.rate_since, c.received - c.rate_mark
            if got < c.rate_min * elapsed:
                c.expire(f"sent {got / elapsed:.0f} B/s over {elapsed:.1f}s, "
                         f"below the minimum data rate of {c.rate_min:g} B/s")  # fmt: skip
            else:
                c.rate_since, c.rate_mark = now, c.received
        elif now - c.last_activity > idle_timeout and (stuck or not _exempt(c)):
            if not stuck and c.kernel_draining():
                c.last_activity = now  # our answer is still leaving: the peer reads it
            else:
                c.expire(f"idle for more than {idle_timeout:g}s")

    def admit_waiting(self) -> None:
        """Slots freed: the longest-waiting connections get them, oldest first."""
        while self.waiting and len(self.connections) < self.config.max_connections:
            c = self.waiting.popleft()
            t = c.transport
            if t is None or t.is_closing() or self.stopping:
                continue
            t.resume_reading()
            c.admit(t, c.peer)

    def maybe_idle(self) -> None:
        if not self.connections:
            self._idle.set()

    # -- shutdown ---------------------------------------------------------------------
    def stop_now(self) -> None:
        """Stop at once, from inside a handler (the cache's SHUTDOWN, once its final save
        is on disk): nothing more is accepted or read, every connection is aborted (what it
        had not sent is dropped, so nothing is acknowledged after that save), and
        ``serve_until_signalled`` wakes up to finish with ``shutdown``."""
        self.stopping = True
        self.stopping_event.set()
        if self._server is not None:
            self._server.close()
        while self.waiting:
            t = self.waiting.popleft().transport
            if t is not None:
                t.abort()
        for c in list(self.connections):
            if c.transport is not None:
                c.transport.abort()

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, signal every connection, let them finish within ``grace``
        seconds, abort the rest, then cancel the background tasks."""
        if self._shutting_down:
            await self._closed.wait()
            return
        self._shutting_down = self.stopping = True
        grace = self.config.shutdown_grace if grace is None else grace
        if self._server is not None:
            self._server.close()
        while self.waiting:  # never admitted: nothing in flight, just close them
            t = self.waiting.popleft().transport
            if t is not None:
                t.close()
        log.info("shutting down: %d connection(s) in flight", len(self.connections))
        self.stopping_event.set()
        for c in list(self.connections):
            self._signal(c)
        if self.connections:
            self._idle.clear()
            self.maybe_idle()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        for c in list(self.connections):
            if c.task is not None:
                c.task.cancel()
            if c.transport is not None:
                c.transport.abort()
        await self._stop_tasks()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        self._closed.set()
        log.info("stopped")

    @staticmethod
    def _signal(c: _Conn) -> None:
        """Tell one connection: a session's hook; a coroutine blocked in recv wakes."""
        if c.session is not None:
            try:
                c.session.shutdown()
            except Exception:
                log.exception("session.shutdown crashed")
        else:
            c.wake_reader()

    async def _stop_tasks(self) -> None:
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown(grace=0.5)


def _exempt(c: _Conn) -> bool:
    """Not idle although silent: a session says it is ``busy`` (computing an answer:
    our turn to speak), or the kernel probes the peer (TCP keepalive)."""
    return c.keepalive or (c.session is not None and c.session.busy())


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
    server: Server,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    *,
    on_signal: Callable[[int], bool] | None = None,
) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully.

    ``on_signal(signum)``, when given, runs first and decides: False keeps serving (the
    cache, whose final save failed: Redis then goes on too). The wait also ends when the
    server was stopped from inside (``Server.stop_now``: the cache's SHUTDOWN)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def signalled(sig: int) -> None:
        try:
            if on_signal is None or on_signal(sig):
                stop.set()
        except Exception:  # keep serving: a stop that failed half way must not lose data
            log.exception("signal %d: the stop failed; still serving", sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signalled, sig)
    waits = [
        asyncio.ensure_future(stop.wait()),
        asyncio.ensure_future(server.stopping_event.wait()),
    ]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("signal received" if stop.is_set() else "stopped from inside")
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


class ListenError(OSError):
    """The address cannot be bound: in use (and by whom, when /proc tells), not ours, unknown."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        reason = (cause.strerror or str(cause)).split(": ")[-1].lower()
        if cause.errno == errno.EADDRINUSE:
            reason = "address already in use" + port_holder(port)
        super().__init__(cause.errno, f"cannot listen on {host}:{port}: {reason}")


def port_holder(port: int) -> str:
    """`` (held by NAME, pid N)`` for the process listening on TCP ``port``, when /proc says."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc") if inodes else []):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                with open(f"/proc/{pid}/comm") as f:
                    return f" (held by {f.read().strip()}, pid {pid})"
        except OSError:
            continue
    return ""


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a server's async main on the best loop available (the ``bin/`` entry).

    An address that cannot be bound (in use, not ours) is one line on stderr
    and exit status 1, not a traceback: it is the user's to fix.
    """
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(main())
    except ListenError as e:
        print(f"error: {e.strerror}", file=sys.stderr)
        raise SystemExit(1) from None
