"""Hundreds of idle streamed responses held at once by one process, with fd
accounting: every socket is open while the streams last, and the process is back
to its baseline of file descriptors once the clients leave (no producer, socket
or task left behind). ``bench/http --streams 10000`` holds ten thousand."""

import asyncio
import os

from support import until

from netlib.http import App, StreamingResponse, TCPKeepAlive, serve
from netlib.shell import ShellConfig

STREAMS = 500


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_500_idle_streams_then_every_fd_is_returned():
    open_producers = 0
    closed = 0
    hold = asyncio.Event()  # never set: the streams stay silent until the clients go

    async def feed():
        nonlocal open_producers, closed
        open_producers += 1
        try:
            yield b"ready\n"
            await hold.wait()
        finally:
            open_producers -= 1
            closed += 1

    app = App(access_log=False)
    app.add("GET", "/idle", lambda req: StreamingResponse(feed(), keepalive=TCPKeepAlive()))
    async with await serve(app, ShellConfig(backlog=STREAMS)) as server:
        baseline = open_fds()
        clients = []
        for _ in range(STREAMS // 100):
            batch = await asyncio.gather(
                *(asyncio.open_connection("127.0.0.1", server.port) for _ in range(100))
            )
            for _, w in batch:
                w.write(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.gather(*(asyncio.wait_for(r.readuntil(b"ready\n"), 20) for r, _ in batch))
            clients += batch
        assert open_producers == STREAMS and len(server.connections) == STREAMS
        assert open_fds() >= baseline + 2 * STREAMS  # both ends live in this process
        for _, w in clients:
            w.close()
        await asyncio.gather(*(w.wait_closed() for _, w in clients), return_exceptions=True)
        await until(lambda: closed == STREAMS and not server.connections, 20)
        await until(lambda: open_fds() == baseline, 20)
        assert open_producers == 0 and server.timed_out == 0
