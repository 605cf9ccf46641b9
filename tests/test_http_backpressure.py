"""A client that pipelines requests but never reads the answers cannot make the server
buffer them without bound: past the transport's high-water mark the session stops
reading (TCP then pushes back on the client), and it resumes once the client reads.
A client that never reads at all is closed by the idle timeout."""

import asyncio

from netlib.http import App, Response, StreamingResponse, serve
from netlib.shell import WRITE_HIGH_WATER, ShellConfig

BODY = b"x" * 16_000
# 2,000 answers of 16 kB: 32 MB, far beyond what loopback socket buffers hold (a few MB).
N = 2_000
REQUEST = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n"


def make_app() -> App:
    app = App(access_log=False)

    @app.get("/big")
    def big(req):
        return Response(BODY)

    return app


async def until(predicate, seconds: float = 10.0) -> None:
    """Poll a condition of the server's state (there is no event to wait on)."""
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_pipelining_without_reading_pauses_the_server_then_resumes():
    async with await serve(make_app(), ShellConfig()) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(REQUEST * N)
        await until(lambda: any(c.write_paused for c in server.connections))
        (conn,) = server.connections
        assert conn.transport.get_write_buffer_size() <= WRITE_HIGH_WATER + 2 * len(BODY)
        for _ in range(N):  # now the client reads: every answer arrives, whole and in order
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert await r.readexactly(len(BODY)) == BODY
        w.write(REQUEST)  # and the connection still serves
        assert (await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
        w.close()


async def test_a_client_that_never_reads_is_closed_after_the_idle_timeout():
    config = ShellConfig(idle_timeout=0.3, sweep_interval=0.05)
    async with await serve(make_app(), config) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(REQUEST * N)
        await until(lambda: server.timed_out == 1 and not server.connections)
        w.close()


async def test_a_stream_to_a_client_that_stopped_reading_is_closed_and_its_producer_too():
    """A streamed answer is 'our turn to speak' (exempt from the idle timeout) only
    while the client takes it: stuck past the high-water mark, the client is idle."""
    closed = asyncio.Event()
    app = App(access_log=False)

    @app.get("/forever")
    def forever(req):
        async def gen():
            try:
                while True:
                    yield BODY
            finally:
                closed.set()

        return StreamingResponse(gen())

    config = ShellConfig(idle_timeout=0.3, sweep_interval=0.05)
    async with await serve(app, config) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(closed.wait(), 10)
        assert server.timed_out == 1
        w.close()
