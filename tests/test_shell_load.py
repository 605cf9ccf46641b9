"""The shell under load: 1,000 idle keep-alive peers fill the cap, the next one is
refused with a 503, a slowloris client trickling a request head is cut by the head
deadline while the idle ones are untouched, a normal client is then served, and
finally the idle timeout closes all 1,000."""

import asyncio
import time

from netlib.http import App, Response, serve
from netlib.shell import ShellConfig

IDLE = 1000
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


async def wait_until(cond, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)  # polling a condition, not sleeping for an effect


async def closed_by_server(reader, seconds=10.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) in (b"",)
    except ConnectionResetError:
        return True


async def test_thousand_idle_peers_cap_slowloris_and_idle_timeout():
    app = App(head_timeout=0.5, access_log=False)

    @app.get("/hello")
    def hello(req):
        return Response(b"hi\n")

    cfg = ShellConfig(max_connections=IDLE + 1, refuse_message=BUSY, idle_timeout=4.0,
                      sweep_interval=0.05, backlog=2048)  # fmt: skip
    async with await serve(app, cfg) as server:
        port = server.port
        idle = []
        for _ in range(IDLE // 100):
            idle += await asyncio.gather(
                *(asyncio.open_connection("127.0.0.1", port) for _ in range(100))
            )
        t0 = time.monotonic()
        await wait_until(lambda: len(server.connections) == IDLE)

        # the slowloris: one byte every 20 ms of a head that never ends
        r_slow, w_slow = await asyncio.open_connection("127.0.0.1", port)
        await wait_until(lambda: len(server.connections) == IDLE + 1)

        async def trickle():
            for b in b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 500:
                w_slow.write(bytes([b]))
                await asyncio.sleep(0.02)  # the slow client's pace, on purpose

        trickler = asyncio.create_task(trickle())

        # the cap: one more is refused with the message and closed
        r, w = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(r.read(), 5) == BUSY
        assert server.refused == 1
        w.close()

        # the head deadline cuts the trickler although it is never idle
        assert await closed_by_server(r_slow, 5)
        trickler.cancel()
        w_slow.close()
        assert server.timed_out == 1
        assert time.monotonic() - t0 < cfg.idle_timeout  # idle peers still connected
        assert len(server.connections) == IDLE

        # its slot is free again: a normal client is served
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(r.read(), 5)).endswith(b"\r\n\r\nhi\n")
        w.close()

        # and the idle timeout closes all the idle ones
        closed = await asyncio.gather(*(closed_by_server(rd, 15) for rd, _ in idle))
        assert all(closed)
        await wait_until(lambda: not server.connections)
        assert server.timed_out == IDLE + 1
        for _, wr in idle:
            wr.close()
