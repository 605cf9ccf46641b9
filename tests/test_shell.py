"""The I/O shell: port 0, echo across fragments, cap, idle timeout, isolation, shutdown."""

import asyncio
import logging
import socket

import pytest

from netlib.shell import Connection, Session, ShellConfig, start
from servers.echo.server import echo

_opened: list[asyncio.StreamWriter] = []


@pytest.fixture(autouse=True)
async def _close_clients():
    """Close every client a test opened: an unclosed StreamWriter warns from the GC, and
    Python code run by the GC inside pytest's ast.parse can crash it (CPython gh-106905)."""
    yield
    while _opened:
        _opened.pop().close()


async def _open(server):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    _opened.append(w)
    return r, w


async def _closed_by_server(reader) -> bool:
    """EOF or RST: either way the server closed us (abort() sends RST)."""
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True


async def test_start_returns_once_listening_on_a_real_port():
    async with await start(echo, ShellConfig(port=0)) as server:
        assert server.port > 0
        r, w = await _open(server)
        for piece in (b"a", b"bc", b"d" * 100_000):
            w.write(piece)
        w.write_eof()
        got = await r.read()
        assert got == b"abc" + b"d" * 100_000
        w.close()


async def test_connection_cap_refuses_with_message_and_keeps_serving():
    cfg = ShellConfig(max_connections=2, refuse_message=b"busy\r\n")
    async with await start(echo, cfg) as server:
        a = await _open(server)
        b = await _open(server)
        a[1].write(b"x")
        assert await a[0].readexactly(1) == b"x"  # both accepted ones work
        b[1].write(b"y")
        assert await b[0].readexactly(1) == b"y"
        r, w = await _open(server)
        assert await r.read() == b"busy\r\n"  # third is refused, then closed
        assert server.refused == 1
        a[1].close()
        await a[1].wait_closed()
        # a slot frees up: a new client is served again
        for _ in range(100):
            if len(server.connections) < 2:
                break
            await asyncio.sleep(0.01)
        r, w = await _open(server)
        w.write(b"z")
        assert await r.readexactly(1) == b"z"


async def test_idle_peer_is_closed_after_the_timeout():
    cfg = ShellConfig(idle_timeout=0.3, sweep_interval=0.05)
    async with await start(echo, cfg) as server:
        r, w = await _open(server)
        assert await _closed_by_server(r)
        assert server.timed_out == 1


async def test_a_peer_that_keeps_sending_is_not_idle_though_never_answered():
    """Each read counts as activity (seen by the sweeper: no clock read per read)."""

    class Silent(Session):
        def data_received(self, data: bytes) -> None:
            pass  # reads, never answers

    cfg = ShellConfig(idle_timeout=0.3, sweep_interval=0.05)
    async with await start(session_factory=Silent, config=cfg) as server:
        r, w = await _open(server)
        start_sweeps = server.sweeps
        while server.sweeps < start_sweeps + 24:  # 1.2 s: four idle timeouts
            w.write(b"x")
            await w.drain()
            seen = server.sweeps
            while server.sweeps < seen + 2:  # a byte every other sweep
                await asyncio.sleep(0.01)
        assert server.timed_out == 0
        assert await _closed_by_server(r) and server.timed_out == 1  # now silent: cut


async def read_line(conn: Connection) -> bytes | None:
    """Bytes up to and with a newline; None if the peer closed first."""
    buf = b""
    while b"\n" not in buf:
        chunk = await conn.recv()
        if not chunk:
            return None
        buf += chunk
    return buf


async def test_deadline_closes_a_trickling_peer():
    async def wants_a_line_within(conn: Connection):
        conn.set_deadline(0.3)
        if await read_line(conn) is not None:
            conn.set_deadline(None)
            conn.write(b"ok\n")

    cfg = ShellConfig(idle_timeout=10, sweep_interval=0.05)
    async with await start(wants_a_line_within, cfg) as server:
        r, w = await _open(server)

        async def trickle():
            for _ in range(100):
                w.write(b"x")
                await asyncio.sleep(0.05)  # the slow client, on purpose

        t = asyncio.create_task(trickle())
        assert await _closed_by_server(r)
        t.cancel()
        assert server.timed_out == 1


async def test_a_crashing_handler_hurts_only_its_own_connection():
    async def handler(conn: Connection):
        data = await conn.recv()
        if data.startswith(b"boom"):
            raise RuntimeError("handler bug")
        conn.write(data)

    async with await start(handler, ShellConfig()) as server:
        r1, w1 = await _open(server)
        w1.write(b"boom")
        assert await _closed_by_server(r1)
        r2, w2 = await _open(server)
        w2.write(b"fine")
        assert await r2.readexactly(4) == b"fine"


async def test_shutdown_waits_for_in_flight_then_aborts_the_rest():
    release = asyncio.Event()
    working = asyncio.Event()

    async def slow(conn: Connection):
        await conn.recv()
        working.set()
        if (await conn.recv(or_shutdown=True)) == b"never":
            return
        await release.wait()
        conn.write(b"done")

    server = await start(slow, ShellConfig())
    r, w = await _open(server)
    w.write(b"go")
    await asyncio.wait_for(working.wait(), 5)
    stopper = asyncio.create_task(server.shutdown(grace=3600))
    await asyncio.wait_for(server.stopping_event.wait(), 5)
    assert not stopper.done()  # waiting for the in-flight one
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)  # no longer accepting
    release.set()
    assert await r.read() == b"done"
    await asyncio.wait_for(stopper, 5)

    # A handler that ignores the signal is aborted once the grace period is over.
    working.clear()
    release.clear()
    server = await start(slow, ShellConfig())
    r, w = await _open(server)
    w.write(b"go")
    await asyncio.wait_for(working.wait(), 5)
    await asyncio.wait_for(server.shutdown(grace=0.1), 5)
    assert await _closed_by_server(r)
    assert not server.connections


async def test_session_factory_shape_answers_synchronously():
    class Upper(Session):
        def data_received(self, data):
            self.conn.write(data.upper())

        def eof_received(self):
            self.conn.close()

    async with await start(session_factory=Upper) as server:
        r, w = await _open(server)
        w.write(b"abc")
        w.write_eof()
        assert await r.read() == b"ABC"


async def test_past_the_cap_connections_wait_for_a_slot_then_are_served():
    cfg = ShellConfig(max_connections=1, max_waiting=1, refuse_message=b"busy\r\n")
    async with await start(echo, cfg) as server:
        ra, wa = await _open(server)
        wa.write(b"a")
        assert await ra.readexactly(1) == b"a"
        rb, wb = await _open(server)
        wb.write(b"b")  # accepted by the kernel, not read: it waits
        while len(server.waiting) != 1:
            await asyncio.sleep(0.01)  # polling: until the shell has queued it
        rc, wc = await _open(server)
        assert await asyncio.wait_for(rc.read(), 5) == b"busy\r\n"  # queue full: refused
        assert server.refused == 1
        wc.close()
        wa.close()  # a slot frees up: the waiting one gets it
        assert await asyncio.wait_for(rb.readexactly(1), 5) == b"b"
        assert not server.waiting and server.accepted == 2
        wb.close()


# -- minimum data rate -------------------------------------------------------------------
async def line_within_rate(conn: Connection):
    conn.require_rate(2000, window=0.3)
    line = await read_line(conn)
    if line is not None:
        conn.require_rate(None)
        conn.write(b"got %d\n" % len(line))


async def test_a_sender_below_the_minimum_rate_is_cut_with_a_log_line(caplog):
    caplog.set_level(logging.INFO, logger="netlib.shell")
    cfg = ShellConfig(idle_timeout=600, sweep_interval=0.05)
    async with await start(line_within_rate, cfg) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)

        async def trickle():  # 100 B/s: never idle, far below 2000 B/s
            for _ in range(1000):
                w.write(b"x")
                await asyncio.sleep(0.01)  # the slow client's pace, on purpose

        t = asyncio.create_task(trickle())
        assert await _closed_by_server(r)
        t.cancel()
        w.close()
        assert server.timed_out == 1
        assert "below the minimum data rate of 2000 B/s" in caplog.text


def _fast_sender(port: int, total: int) -> bytes:
    """A blocking client in a thread: writes as fast as the kernel takes it."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        block = b"y" * 65536
        for _ in range(total // len(block)):
            s.sendall(block)
        s.sendall(b"\n")
        return s.recv(100)


async def test_a_fast_sender_is_never_cut_by_the_rate_check():
    cfg = ShellConfig(idle_timeout=600, sweep_interval=0.01)
    async with await start(line_within_rate, cfg) as server:
        total = 64 * 1024 * 256  # 16 MiB: many windows' worth of sweeps
        got = await asyncio.to_thread(_fast_sender, server.port, total)
        assert got == b"got %d\n" % (total + 1)
        assert server.timed_out == 0
