"""The minimum data rate of a request head and body (as nginx's client_body_timeout
and Kestrel's MinRequestBodyDataRate): a client slower than ``App.min_data_rate``
over ``App.min_rate_window`` is cut with a log line, although it is never idle and
the head and body timeouts are far away; a fast client never is. Slow and fast
uploads are raw sockets; fast ones are curl's."""

import asyncio
import logging

import pytest
from support import curl

from netlib.http import App, serve
from netlib.shell import ShellConfig

RATE = 2000  # bytes/s the server asks for
WINDOW = 0.3


def make_app() -> App:
    app = App(max_body=1_000_000, head_timeout=600, body_timeout=600,
              min_data_rate=RATE, min_rate_window=WINDOW, access_log=False)  # fmt: skip

    @app.post("/buffered")
    def buffered(req):
        return {"bytes": len(req.body)}

    @app.put("/streamed", stream=True, max_body=10**9)
    async def streamed(req):
        n = 0
        async for chunk in req.stream():
            n += len(chunk)
        return {"bytes": n}

    return app


@pytest.fixture
async def server(caplog):
    caplog.set_level(logging.INFO, logger="netlib.shell")
    cfg = ShellConfig(idle_timeout=600, sweep_interval=0.05)
    async with await serve(make_app(), cfg) as s:
        yield s


async def test_a_head_trickled_below_the_rate_is_cut_with_a_log_line(server, caplog):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)

    async def trickle():  # ~100 B/s, never idle for even 20 ms
        for b in b"GET /buffered HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 5000:
            w.write(bytes([b]))
            await asyncio.sleep(0.01)  # the slow client's pace, on purpose

    t = asyncio.create_task(trickle())
    try:
        assert await asyncio.wait_for(r.read(), 10) == b""
    except ConnectionResetError:
        pass  # abort(): closed either way
    t.cancel()
    w.close()
    assert server.timed_out == 1
    assert f"below the minimum data rate of {RATE} B/s" in caplog.text


@pytest.mark.parametrize("head", [
    b"POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n",
    b"PUT /streamed HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n",  # the handler reads
], ids=["buffered", "streamed"])  # fmt: skip
async def test_a_body_sent_below_the_rate_is_cut_with_a_log_line(server, caplog, head):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(head)

    async def trickle():  # ~1000 B/s in 10-byte pieces: half the rate asked for
        for _ in range(2000):
            w.write(b"b" * 10)
            await asyncio.sleep(0.01)  # the slow client's pace, on purpose

    t = asyncio.create_task(trickle())
    try:
        assert await asyncio.wait_for(r.read(), 10) == b""
    except ConnectionResetError:
        pass
    t.cancel()
    w.close()
    assert server.timed_out == 1
    assert f"below the minimum data rate of {RATE} B/s" in caplog.text


@pytest.mark.parametrize("path,method", [("/buffered", "POST"), ("/streamed", "PUT")])
async def test_a_fast_upload_is_never_cut(server, tmp_path, path, method):
    size = 900_000 if path == "/buffered" else 8_000_000
    body = tmp_path / "body"
    body.write_bytes(b"f" * size)
    # --limit-rate keeps it slower than loopback allows (so it spans many sweeps) yet
    # far above the minimum rate.
    code, out, _ = await curl("-X", method, "--limit-rate", "8M", "--data-binary", f"@{body}",
                           f"http://127.0.0.1:{server.port}{path}")  # fmt: skip
    assert code == 0 and out == b'{"bytes":%d}' % size
    assert server.timed_out == 0


async def test_a_keep_alive_peer_between_requests_is_not_held_to_the_rate(server):
    """Between requests it is the idle timeout's business, not the rate's."""
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
    await asyncio.wait_for(r.readuntil(b'{"bytes":2}'), 5)
    seen = server.sweeps  # the peer is quiet now: let the sweeper look many times
    async with asyncio.timeout(10):
        while server.sweeps < seen + int(3 * WINDOW / 0.05):
            await asyncio.sleep(0.01)  # polling the sweep count
    assert server.timed_out == 0
    w.write(b"POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nk")
    await asyncio.wait_for(r.readuntil(b'{"bytes":1}'), 5)
    w.close()


async def test_a_streaming_handler_busy_with_what_it_has_does_not_make_its_client_slow(caplog):
    """The rate counts only while the handler waits for bytes: a client whose whole
    body is already here, or who waits for our 100 Continue, is not the slow one."""
    cfg = ShellConfig(idle_timeout=600, sweep_interval=0.05)
    app = App(min_data_rate=RATE, min_rate_window=WINDOW, access_log=False)
    server_ref = []

    async def many_sweeps():
        seen = server_ref[0].sweeps
        while server_ref[0].sweeps < seen + int(4 * WINDOW / 0.05):
            await asyncio.sleep(0.01)  # polling the sweep count: "a long while" in sweeps

    @app.put("/ponder", stream=True)
    async def ponder(req):
        n = 0
        async for chunk in req.stream():
            if n == 0:
                await many_sweeps()  # a slow step after the first piece
            n += len(chunk)
        return {"bytes": n}

    @app.put("/late", stream=True)
    async def late(req):
        await many_sweeps()  # slow before reading at all: the client waits for 100
        n = 0
        async for chunk in req.stream():
            n += len(chunk)
        return {"bytes": n}

    async with await serve(app, cfg) as server:
        server_ref.append(server)
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"PUT /ponder HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabcdef")
        assert (await asyncio.wait_for(r.readuntil(b"}"), 10)).endswith(b'{"bytes":6}')
        w.write(
            b"PUT /late HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        assert (
            await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10) == b"HTTP/1.1 100 Continue\r\n\r\n"
        )
        w.write(b"xyz")
        assert (await asyncio.wait_for(r.readuntil(b"}"), 10)).endswith(b'{"bytes":3}')
        w.close()
        assert server.timed_out == 0
