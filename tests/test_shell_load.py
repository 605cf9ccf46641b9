"""The shell under load: 1,000 idle keep-alive peers fill the cap, the next one is
refused with a 503, a slowloris client trickling a request head is cut by the head
deadline while the idle ones are untouched, a normal client is then served, and
finally the idle timeout (shortened then) closes all 1,000. Nothing here reads a
clock: the test counts connections and timeouts, and every wait is on a condition."""

import asyncio
import dataclasses

from netlib.http import App, Response, serve
from netlib.shell import ShellConfig

IDLE = 1000
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


async def wait_until(cond, seconds=10.0):
    async with asyncio.timeout(seconds):  # a hang fails the test instead of stalling it
        while not cond():
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

    # The idle timeout is far away while the idle peers must stay (a slow machine
    # cannot make them expire early); it is shortened once they should go.
    cfg = ShellConfig(max_connections=IDLE + 1, refuse_message=BUSY, idle_timeout=600.0,
                      sweep_interval=0.05, backlog=2048)  # fmt: skip
    async with await serve(app, cfg) as server:
        port = server.port
        idle = []
        for _ in range(IDLE // 100):
            idle += await asyncio.gather(
                *(asyncio.open_connection("127.0.0.1", port) for _ in range(100))
            )
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
        assert server.timed_out == 1  # the trickler only: the idle peers are all still here
        assert len(server.connections) == IDLE

        # its slot is free again: a normal client is served
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(r.read(), 5)).endswith(b"\r\n\r\nhi\n")
        w.close()

        # and the idle timeout closes all the idle ones
        server.config = dataclasses.replace(cfg, idle_timeout=0.5)
        closed = await asyncio.gather(*(closed_by_server(rd, 15) for rd, _ in idle))
        assert all(closed)
        await wait_until(lambda: not server.connections)
        assert server.timed_out == IDLE + 1
        for _, wr in idle:
            wr.close()
