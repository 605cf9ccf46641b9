"""Long-lived streamed responses and streamed request bodies on real sockets.

A slow reader blocks its producer; a client that leaves stops it (its ``finally``
runs); a silent stream is closed by the idle timeout unless a keep-alive policy
(heartbeat or TCP keepalive) keeps it; at shutdown a stream can send last words.
Request bodies: the App's small default limit, and a route that allows gigabytes.
Events are counted; nothing asserts on a clock."""

import asyncio
import socket

import pytest
from support import closed_by_server, until

from netlib.http import App, Heartbeat, StreamingResponse, TCPKeepAlive, serve
from netlib.shell import WRITE_HIGH_WATER, ShellConfig

CHUNK = b"z" * 65536
TOTAL_CHUNKS = 1024  # 64 MiB if nobody held the producer back


class Producer:
    """A stream's producer that records what happened to it."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = asyncio.Event()
        self.release = asyncio.Event()

    async def fast(self):
        try:
            for _ in range(TOTAL_CHUNKS):
                self.produced += 1
                yield CHUNK
        finally:
            self.closed.set()

    async def silent(self, first: bytes = b"ready\n"):
        try:
            yield first
            await self.release.wait()  # an SSE feed with nothing to say
            yield b"released\n"
        finally:
            self.closed.set()


def get(path: str) -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode()


async def test_a_slow_reader_blocks_the_producer_then_gets_every_byte():
    p = Producer()
    app = App(access_log=False)
    app.add("GET", "/fast", lambda req: StreamingResponse(p.fast()))
    async with await serve(app, ShellConfig()) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(get("/fast"))
        await until(lambda: any(c.write_paused for c in server.connections))
        (conn,) = server.connections
        held = p.produced
        # The producer waits in drain(): what it made is what the buffers hold.
        assert held < TOTAL_CHUNKS // 4
        assert conn.transport.get_write_buffer_size() <= WRITE_HIGH_WATER + 2 * len(CHUNK)
        await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        got = 0
        while got < TOTAL_CHUNKS * len(CHUNK):
            size = int(await asyncio.wait_for(r.readline(), 5), 16)
            got += len(await r.readexactly(size + 2)) - 2
        assert p.produced == TOTAL_CHUNKS and p.closed.is_set()
        w.close()


LEAVING = {
    # producer, keep-alive policy, how the client leaves
    "busy, plain": ("busy", None, "close"),
    "busy, heartbeat": ("busy", Heartbeat(0.05, lambda: b""), "close"),
    # silent: the heartbeat's write finds the client gone
    "silent, heartbeat, RST": ("silent", Heartbeat(0.02, lambda: b": ping\n\n"), "abort"),
    # silent, and TCP keepalive sends no bytes: the client's FIN is the only news
    "silent, TCP keepalive, FIN": ("silent", TCPKeepAlive(), "close"),
}


@pytest.mark.parametrize("case", LEAVING.values(), ids=LEAVING.keys())
async def test_a_client_leaving_a_stream_stops_its_producer(case):
    kind, keepalive, how = case
    p = Producer()

    async def busy():
        try:
            yield b"ready\n"
            while True:
                p.produced += 1
                yield b"data: x\n\n"
                await asyncio.sleep(0.001)  # a producer's pace
        finally:
            p.closed.set()

    feed = busy() if kind == "busy" else p.silent()
    app = App(access_log=False)
    app.add("GET", "/s", lambda req: StreamingResponse(feed, keepalive=keepalive))
    async with await serve(app, ShellConfig()) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(get("/s"))
        await r.readuntil(b"ready\n")
        if isinstance(keepalive, Heartbeat) and kind == "silent":
            await r.readuntil(b": ping\n\n")  # heartbeats flow while the producer is silent
        if how == "abort":
            w.transport.abort()  # vanish: an RST, no goodbye
        else:
            w.close()
        await asyncio.wait_for(p.closed.wait(), 10)
        await until(lambda: not server.connections)


async def test_a_silent_stream_without_a_policy_is_closed_by_the_idle_timeout_but_one_with_a_policy_is_kept():
    plain, beat, kernel = Producer(), Producer(), Producer()
    app = App(access_log=False)
    app.add("GET", "/plain", lambda req: StreamingResponse(plain.silent()))
    app.add("GET", "/beat", lambda req: StreamingResponse(
        beat.silent(), keepalive=Heartbeat(0.05, lambda: b": ping\n\n")))  # fmt: skip
    app.add("GET", "/kernel", lambda req: StreamingResponse(kernel.silent(),
                                                            keepalive=TCPKeepAlive()))  # fmt: skip
    cfg = ShellConfig(idle_timeout=0.3, sweep_interval=0.05)
    async with await serve(app, cfg) as server:
        clients = {}
        for path in ("/beat", "/kernel", "/plain"):  # the kept ones started first
            r, w = await asyncio.open_connection("127.0.0.1", server.port)
            w.write(get(path))
            await r.readuntil(b"ready\n")
            clients[path] = (r, w)
        # The plain one is cut by the idle timeout, and its producer closed...
        assert await closed_by_server(clients["/plain"][0])
        await asyncio.wait_for(plain.closed.wait(), 5)
        assert server.timed_out == 1
        # ...while the others, silent for longer, are still served.
        beat.release.set()
        kernel.release.set()
        for path in ("/beat", "/kernel"):
            r, w = clients[path]
            assert (await asyncio.wait_for(r.readuntil(b"released\n"), 5)).endswith(b"released\n")
            await asyncio.wait_for(r.readuntil(b"0\r\n\r\n"), 5)  # the body's end
            w.close()
        assert server.timed_out == 1


async def test_at_shutdown_a_stream_sends_its_last_event_and_ends_cleanly():
    p = Producer()
    app = App(access_log=False)
    app.add("GET", "/sse", lambda req: StreamingResponse(
        p.silent(), content_type="text/event-stream",
        on_shutdown=lambda: b"event: bye\ndata: restarting\n\n"))  # fmt: skip
    server = await serve(app, ShellConfig())
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(get("/sse"))
    await r.readuntil(b"ready\n")
    await asyncio.wait_for(server.shutdown(grace=3600), 10)
    rest = await asyncio.wait_for(r.read(), 5)
    assert b"event: bye\ndata: restarting\n\n" in rest and rest.endswith(b"\r\n0\r\n\r\n")
    assert p.closed.is_set()
    w.close()


# -- request bodies ------------------------------------------------------------------------
def upload_app() -> App:
    app = App(max_body=1000, access_log=False)

    async def count(req):
        n = 0
        async for chunk in req.stream():
            n += len(chunk)
        return {"bytes": n}

    app.add("PUT", "/small", count, stream=True)
    app.add("PUT", "/huge", count, stream=True, max_body=8 * 1024**3)
    return app


async def test_a_streamed_body_has_the_apps_small_limit_unless_the_route_allows_gigabytes():
    async with await serve(upload_app(), ShellConfig()) as server:
        head = b"PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\nExpect: 100-continue\r\n\r\n"
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(head % b"/small")
        assert (await asyncio.wait_for(r.readline(), 5)).startswith(b"HTTP/1.1 413 ")
        w.close()
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(head % b"/huge")  # 5 GB announced: the route takes it, chunk by chunk
        assert await asyncio.wait_for(r.readline(), 5) == b"HTTP/1.1 100 Continue\r\n"
        w.close()
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        body = b"y" * 3_000_000
        w.write(b"PUT /huge HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))  # fmt: skip
        reply = await asyncio.wait_for(r.readuntil(b"}"), 10)
        assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(b'{"bytes":3000000}')
        w.close()


async def test_a_chunked_body_past_the_default_limit_is_413_mid_stream():
    async with await serve(upload_app(), ShellConfig()) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"PUT /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(5):
            w.write(b"190\r\n" + b"a" * 400 + b"\r\n")  # 2,000 bytes in all
        reply = await asyncio.wait_for(r.read(), 5)
        assert reply.startswith(b"HTTP/1.1 413 ")
        w.close()


async def test_a_long_poll_hears_the_shutdown_and_answers_at_once():
    waiting = asyncio.Event()
    app = App(access_log=False)

    @app.get("/poll")
    async def poll(req):
        waiting.set()
        await req.wait_shutdown()  # nothing else will ever happen to this poll
        return "server going away\n"

    server = await serve(app, ShellConfig())
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(get("/poll"))
    await asyncio.wait_for(waiting.wait(), 5)
    await asyncio.wait_for(server.shutdown(grace=3600), 10)
    reply = await asyncio.wait_for(r.read(), 5)
    assert reply.startswith(b"HTTP/1.1 200 OK") and b"connection: close\r\n" in reply
    assert reply.endswith(b"server going away\n")
    w.close()


async def test_a_big_file_to_a_slow_but_reading_client_is_not_idle(tmp_path):
    """os.sendfile bypasses the transport: each piece the socket takes still counts
    as activity, so a download slower than the idle timeout is not cut."""
    data = bytes(range(256)) * (64 * 1024)  # 16 MiB
    (tmp_path / "big.bin").write_bytes(data)
    app = App(access_log=False)
    app.static("/files", str(tmp_path))
    # The idle timeout is short, yet the reader never pauses for that long even on a
    # busy machine; the whole download takes longer than it.
    cfg = ShellConfig(idle_timeout=1.0, sweep_interval=0.02)
    async with await serve(app, cfg) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port, limit=1 << 16)
        w.transport.set_write_buffer_limits(0)
        w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        w.write(get("/files/big.bin"))
        await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        got = b""
        seen = server.sweeps
        while len(got) < len(data):
            got += await asyncio.wait_for(r.read(65536), 5)
            await asyncio.sleep(0.005)  # the slow reader's pace, on purpose
        assert got == data
        assert server.sweeps - seen > 1.0 / 0.02  # it took longer than the idle timeout
        assert server.timed_out == 0
        w.close()
