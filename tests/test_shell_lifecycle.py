"""The shell's lifecycle API: hand-over in place, the shutdown signal (echo lets an
idle peer go at once), typed sessions, background tasks.
Every wait is on an event or a condition; nothing asserts on a clock."""

import asyncio
import os
import signal
import socket

from support import until

from netlib.shell import (
    Connection,
    Server,
    Session,
    ShellConfig,
    serve_until_signalled,
    start,
)
from servers.echo.server import echo


async def read_all(r: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(r.read(), 10)


# -- hand-over ---------------------------------------------------------------------------
class Upper(Session):
    """The protocol handed to: upper-cases what it gets."""

    def data_received(self, data: bytes) -> None:
        self.conn.write(data.upper())

    def eof_received(self) -> bool:
        self.conn.close()
        return True


async def test_a_coroutine_hands_over_to_a_session_with_the_bytes_it_read_past_its_line():
    async def greeter(conn: Connection):
        buf = b""
        while b"\n" not in buf:
            buf += await conn.recv()
        line, _, rest = buf.partition(b"\n")
        conn.write(b"switching from " + line + b"\n")
        conn.hand_over(Upper(conn), rest)

    async with await start(greeter, ShellConfig()) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"hello\nabc")  # "abc" rides in the same packet as the line
        assert await r.readline() == b"switching from hello\n"
        assert await r.readexactly(3) == b"ABC"
        w.write(b"def")
        w.write_eof()
        assert await read_all(r) == b"DEF"
        w.close()


async def test_a_session_hands_over_to_a_coroutine_with_eof_already_seen():
    class Switch(Session):
        def __init__(self, conn):
            super().__init__(conn)
            self.buf = b""

        def data_received(self, data):
            self.buf += data
            if b"\n" in self.buf:
                _, _, rest = self.buf.partition(b"\n")
                self.conn.hand_over(echo, rest)

        def eof_received(self):
            return True  # keep our half open

    async with await start(session_factory=Switch) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"go\nxyz")
            s.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := await asyncio.to_thread(s.recv, 100):
                got += chunk
        assert got == b"xyz"  # echoed, then closed because the peer had half-closed


async def test_a_factory_that_returns_no_session_hurts_only_that_connection(caplog):
    made = []

    def factory(conn):
        made.append(conn)
        return Upper(conn) if len(made) > 1 else object()

    async with await start(session_factory=factory) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            assert await read_all(r) == b""
        except ConnectionResetError:
            pass  # aborted: closed either way
        w.close()
        assert "must return a netlib.shell.Session" in caplog.text
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"ok")
        assert await r.readexactly(2) == b"OK"
        w.close()


# -- shutdown ----------------------------------------------------------------------------
async def test_an_idle_echo_peer_is_closed_cleanly_at_shutdown_not_held_for_the_grace():
    server = await start(echo, ShellConfig())
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"ping")
    assert await r.readexactly(4) == b"ping"  # now idle, like a forgotten nc
    # A grace of an hour: only a prompt close lets shutdown return within the timeout.
    await asyncio.wait_for(server.shutdown(grace=3600), 10)
    assert await read_all(r) == b""  # a FIN, not an RST
    w.close()


async def test_a_coroutine_hears_the_shutdown_and_says_goodbye():
    async def chat(conn: Connection):
        conn.write(b"welcome\n")
        await conn.wait_shutdown()
        conn.write(b"server going away\n")  # as a WebSocket sends close 1001

    server = await start(chat, ShellConfig())
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    assert await r.readline() == b"welcome\n"
    await asyncio.wait_for(server.shutdown(grace=3600), 10)
    assert await read_all(r) == b"server going away\n"
    w.close()


async def test_a_session_hears_the_shutdown_through_its_hook():
    class Polite(Session):
        def data_received(self, data):
            pass

        def shutdown(self):
            self.conn.write(b"bye\n")
            self.conn.close()

    server = await start(session_factory=Polite)
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    await until(lambda: len(server.connections) == 1)
    await asyncio.wait_for(server.shutdown(grace=3600), 10)
    assert await read_all(r) == b"bye\n"
    w.close()


async def test_background_tasks_run_for_the_servers_life_and_a_crash_is_logged(caplog):
    ticks = 0
    stopped = asyncio.Event()

    async def cron():
        nonlocal ticks
        try:
            while True:
                ticks += 1
                await asyncio.sleep(0.01)  # the cron's own period
        finally:
            stopped.set()

    async def broken():
        raise RuntimeError("cron bug")

    server = await start(echo, ShellConfig())
    server.background(cron(), "cron")
    server.background(broken(), "broken")
    await until(lambda: ticks >= 3)
    await until(lambda: "background task broken crashed" in caplog.text)
    await server.shutdown()
    assert stopped.is_set() and not server.tasks


async def test_the_cache_cron_is_a_background_task_of_its_server():
    from servers.cache.server import serve, shell_config

    server, state = await serve(shell_config("127.0.0.1", 0))
    assert "cron" in {t.get_name() for t in server.tasks}
    await server.shutdown()
    assert not server.tasks


async def test_the_echo_server_process_lets_an_idle_nc_go_at_sigterm(launch):
    """The real process: an idle peer gets a clean FIN at SIGTERM, not the grace period
    and then an RST."""
    child = launch("servers.echo")
    r, w = await asyncio.open_connection("127.0.0.1", child.port)
    w.write(b"hello\n")
    assert await asyncio.wait_for(r.readline(), 5) == b"hello\n"
    assert await asyncio.to_thread(child.stop) == 0
    assert await asyncio.wait_for(r.read(), 5) == b""
    assert "stopped" in child.output()
    w.close()


# -- stopping from inside, and a signal the server refuses ---------------------------------
async def test_stop_now_from_a_handler_aborts_everyone_and_ends_serve_until_signalled():
    """The cache's SHUTDOWN: once it saved, nothing more may be read or answered."""
    servers: list[Server] = []
    stopped: list[str] = []

    class Stopper(Session):
        def data_received(self, data: bytes) -> None:
            if data.startswith(b"stop"):
                servers[0].stop_now()
                self.conn.write(b"never sent")  # (the transport is aborted: dropped)
            else:
                self.conn.write(b"ok\n")

    async def on_stop() -> None:
        stopped.append("closed")

    server = await start(config=ShellConfig(), session_factory=Stopper)
    servers.append(server)
    serving = asyncio.ensure_future(serve_until_signalled(server, on_stop))
    r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
    r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
    w2.write(b"x")
    assert await asyncio.wait_for(r2.readline(), 10) == b"ok\n"
    w1.write(b"stop")
    await asyncio.wait_for(serving, 10)
    assert stopped == ["closed"]
    for r in (r1, r2):
        try:
            assert await read_all(r) == b""
        except ConnectionResetError:
            pass
    for w in (w1, w2):
        w.close()


async def test_a_signal_the_server_refuses_keeps_it_serving():
    """``on_signal`` False (the cache whose final save failed): still serving; True stops."""
    answers = [False, True]
    seen: list[int] = []

    def on_signal(sig: int) -> bool:
        seen.append(sig)
        return answers[len(seen) - 1]

    server = await start(echo, ShellConfig())
    serving = asyncio.ensure_future(serve_until_signalled(server, on_signal=on_signal))
    await asyncio.sleep(0)  # (the handlers are installed once it runs)
    os.kill(os.getpid(), signal.SIGTERM)
    await until(lambda: len(seen) == 1)
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"still here\n")
    assert await asyncio.wait_for(r.readline(), 10) == b"still here\n"
    w.close()
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(serving, 10)
    assert seen == [signal.SIGTERM, signal.SIGTERM]
