"""netlib.http.HTTPClient: keep-alive reuse, retry on a connection the server closed
while idle, streamed bodies both ways, close-delimited and Connection: close replies."""

import asyncio

import pytest
from support import until

from netlib.http import App, HTTPClient, StreamingResponse, serve
from netlib.shell import ShellConfig, start


@pytest.fixture
async def server():
    app = App(access_log=False)

    @app.get("/n/{i:int}")
    def n(req):
        return {"i": req.params["i"]}

    @app.get("/big")
    def big(req):
        return StreamingResponse(b"x" * 10_000 for _ in range(100))

    @app.get("/bye")
    def bye(req):
        from netlib.http import Response

        return Response(b"bye", headers={"connection": "close"})

    cfg = ShellConfig(idle_timeout=0.3, sweep_interval=0.05)
    async with await serve(app, cfg) as s:
        yield s


async def test_reuses_connections_and_retries_a_stale_one(server):
    base = f"http://127.0.0.1:{server.port}"
    async with HTTPClient() as c:
        for i in range(5):
            assert (await c.get(f"{base}/n/{i}")).json() == {"i": i}
        assert c.opened == 1
        await until(lambda: not server.connections)  # server's idle timeout closed it
        assert (await c.get(f"{base}/n/9")).json() == {"i": 9}  # stale one noticed, retried
        assert c.opened == 2


async def test_concurrent_requests_open_parallel_connections(server):
    base = f"http://127.0.0.1:{server.port}"
    async with HTTPClient() as c:
        rs = await asyncio.gather(*(c.get(f"{base}/n/{i}") for i in range(6)))
        assert [r.json()["i"] for r in rs] == list(range(6))
        before = c.opened
        await asyncio.gather(*(c.get(f"{base}/n/{i}") for i in range(6)))
        assert c.opened == before  # the idle pool served the second wave


async def test_streamed_response_and_early_close(server):
    base = f"http://127.0.0.1:{server.port}"
    async with HTTPClient() as c:
        r = await c.get(base + "/big", stream=True)
        total = 0
        async for chunk in r.stream():
            total += len(chunk)
        assert total == 1_000_000
        r = await c.get(base + "/big", stream=True)
        async for _ in r.stream():
            break  # abandon the body: that connection cannot be reused
        r.close()
        assert (await c.get(base + "/n/1")).status == 200
        assert c.opened == 2


async def test_connection_close_reply_is_not_pooled(server):
    base = f"http://127.0.0.1:{server.port}"
    async with HTTPClient() as c:
        assert (await c.get(base + "/bye")).body == b"bye"
        assert (await c.get(base + "/n/2")).status == 200
        assert c.opened == 2


async def test_close_delimited_response_from_a_raw_server():
    async def old_server(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            data += await conn.recv()
        conn.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")

    async with await start(old_server, ShellConfig()) as s:
        async with HTTPClient() as c:
            r = await c.get(f"http://127.0.0.1:{s.port}/")
            assert (r.status, r.http_version, r.body) == (200, "1.0", b"until the end")
            r = await c.get(f"http://127.0.0.1:{s.port}/")
            assert c.opened == 2


async def test_server_closing_without_answer_is_an_error_on_a_fresh_connection():
    async def rude(conn):
        await conn.recv()

    async with await start(rude, ShellConfig()) as s:
        async with HTTPClient() as c:
            with pytest.raises(ConnectionError):
                await c.get(f"http://127.0.0.1:{s.port}/")


async def test_a_url_with_spaces_or_non_ascii_is_percent_encoded_not_sent_raw():
    """A raw space in the request line would be a malformed (or split) request."""
    app = App(access_log=False)

    @app.get("/p/{name}")
    def p(req):
        return {"name": req.params["name"], "q": req.arg("q"), "target": req.target.decode()}

    async with await serve(app, ShellConfig()) as s, HTTPClient() as c:
        r = await c.get(f"http://127.0.0.1:{s.port}/p/a bé%21?q=x y")
        assert r.status == 200
        assert r.json() == {"name": "a bé!", "q": "x y", "target": "/p/a%20b%C3%A9%21?q=x%20y"}


def test_the_core_refuses_to_send_an_invalid_request_target():
    from netlib.http import core as h11

    for target in (b"/a b", b"/a\r\nX: y", b"", b"/\x80"):
        c = h11.Connection(h11.CLIENT)
        with pytest.raises(h11.LocalProtocolError):
            c.send(h11.Request(b"GET", target, [(b"host", b"x")]))
        assert c.our_state == h11.IDLE
