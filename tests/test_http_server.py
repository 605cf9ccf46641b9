"""The HTTP layer on real sockets: routing, JSON, async and streamed handlers, pipelining."""

import asyncio
import json
import logging

import pytest

from netlib.http import App, HTTPClient, HTTPError, JSONResponse, Response, StreamingResponse, serve
from netlib.shell import ShellConfig


def make_app() -> App:
    app = App(max_body=1000)

    @app.get("/hello")
    def hello(req):
        return Response(b"Hello, world!\n")

    @app.post("/echo")
    def echo(req):
        return req.json()

    @app.get("/users/{uid:int}/posts/{slug}")
    async def post(req):
        await asyncio.sleep(0)
        return JSONResponse(
            {"uid": req.params["uid"], "slug": req.params["slug"], "q": req.arg("q")}
        )

    @app.put("/upload", stream=True, max_body=10**9)  # the route allows far over max_body
    async def upload(req):
        n = 0
        async for chunk in req.stream():
            n += len(chunk)
        return {"bytes": n}

    @app.get("/count")
    def count(req):
        async def gen():
            for i in range(3):
                yield f"{i}\n".encode()
                await asyncio.sleep(0)

        return StreamingResponse(gen(), content_type="text/plain")

    @app.get("/teapot")
    def teapot(req):
        raise HTTPError(418, "short and stout")

    @app.get("/crash")
    def crash(req):
        raise RuntimeError("bug")

    @app.get("/circular")
    def circular(req):
        d: dict = {}
        d["self"] = d
        return d  # json.dumps raises ValueError while the response is made

    return app


@pytest.fixture
async def server():
    async with await serve(make_app(), ShellConfig()) as s:
        yield s


async def exchange(server, raw: bytes) -> bytes:
    """Send raw bytes, half-close, read until the server closes."""
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(raw)
    w.write_eof()
    data = await asyncio.wait_for(r.read(), 5)
    w.close()
    return data


async def test_hello_json_echo_and_params(server):
    base = f"http://127.0.0.1:{server.port}"
    async with HTTPClient() as c:
        r = await c.get(base + "/hello")
        assert (r.status, r.body) == (200, b"Hello, world!\n")
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert "date" in r.headers and r.headers["server"] == "syslab"
        r = await c.post(base + "/echo", json={"a": [1, "é"]})
        assert (r.status, r.json()) == (200, {"a": [1, "é"]})
        r = await c.get(base + "/users/42/posts/hi%20there?q=x")
        assert r.json() == {"uid": 42, "slug": "hi there", "q": "x"}
        assert c.opened == 1  # one keep-alive connection served all three


async def test_absolute_form_query_and_percent_encoded_targets_route_by_path(server):
    """RFC 9112 §3.2.2: a server MUST accept the absolute-form (what proxies are sent)."""
    raw = (b"GET http://127.0.0.1/hello HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET HTTP://x:80/users/7/posts/a%20b?q=%20 HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET http://x HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /hel%6co?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")  # fmt: skip
    reply = await exchange(server, raw)
    assert reply.count(b"HTTP/1.1 200 OK") == 3 and reply.count(b"HTTP/1.1 404 ") == 1
    assert b'{"uid":7,"slug":"a b","q":" "}' in reply


async def test_errors_404_405_418_400_500_413(server):
    base = f"http://127.0.0.1:{server.port}"
    async with HTTPClient() as c:
        assert (await c.get(base + "/nope")).status == 404
        r = await c.delete(base + "/hello")
        assert r.status == 405 and r.headers["allow"] == "GET, HEAD"
        assert (await c.get(base + "/teapot")).body == b"short and stout\n"
        assert (await c.post(base + "/echo", body=b"{not json")).status == 400
        assert (await c.get(base + "/crash")).status == 500
        assert (await c.post(base + "/echo", body=b"[" + b"1," * 600 + b"1]")).status == 413
        assert (await c.get(base + "/hello")).status == 200  # still serving


async def test_hostile_input_is_a_client_error_and_odd_results_a_500_not_a_dropped_connection(
    server,
):
    base = f"http://127.0.0.1:{server.port}"
    deep = App(max_body=1_000_000, access_log=False)
    deep.post("/echo")(lambda req: req.json())
    async with await serve(deep, ShellConfig()) as s, HTTPClient() as c:
        r = await c.post(f"http://127.0.0.1:{s.port}/echo", body=b"[" * 200_000 + b"]" * 200_000)
        assert r.status == 400 and b"deep" in r.body  # RecursionError, not a 500
        r = await c.post(f"http://127.0.0.1:{s.port}/echo", body=b'["\\ud800"]')
        assert (r.status, r.body) == (200, b'["\\ud800"]')  # a lone surrogate, escaped back
    async with HTTPClient() as c:
        assert (await c.get(base + "/users/" + "9" * 5000 + "/posts/a")).status == 404
        assert (await c.get(base + "/circular")).status == 500
        assert (await c.get(base + "/hello")).status == 200
        assert c.opened == 1  # the same connection: nothing was dropped


async def test_streamed_upload_and_streamed_response(server):
    base = f"http://127.0.0.1:{server.port}"

    async def body():
        for _ in range(50):
            yield b"x" * 10_000

    async with HTTPClient() as c:
        r = await c.put(base + "/upload", body=body())
        assert r.json() == {"bytes": 500_000}  # far over max_body: streamed, not buffered
        r = await c.get(base + "/count")
        assert r.body == b"0\n1\n2\n" and r.headers["transfer-encoding"] == "chunked"
        assert c.opened == 1


async def test_pipelined_requests_are_answered_in_order(server):
    reqs = (
        b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n[1,2,3]"
        b"GET /users/7/posts/a HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = await exchange(server, reqs)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 5
    i1, i2, i3 = data.index(b"Hello"), data.index(b"[1,2,3]"), data.index(b'"uid":7')
    assert i1 < i2 < i3 < data.index(b"2\r\n0\n\r\n2\r\n1\n\r\n")
    assert data.endswith(b"connection: close\r\n\r\n") or b"content-length: 14" in data[-200:]
    assert not data.endswith(b"Hello, world!\n")  # HEAD: no body


async def test_http10_client_gets_close_and_body(server):
    data = await exchange(server, b"GET /count HTTP/1.0\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"connection: close" in head and b"transfer-encoding" not in head
    assert body == b"0\n1\n2\n"


async def test_http10_keep_alive_and_connection_close_are_honoured_in_a_pipeline(server):
    data = await exchange(server, b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                  b"GET /hello HTTP/1.0\r\n\r\n"
                                  b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")  # fmt: skip
    first, second = data.split(b"Hello, world!\n")[:2]
    assert b"connection: keep-alive" in first and b"connection: close" in second
    assert data.count(b"HTTP/1.1 200") == 2  # nothing answered after the close
    data = await exchange(server, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                  b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")  # fmt: skip
    assert data.count(b"HTTP/1.1 200") == 1 and b"connection: close" in data


async def test_a_bad_request_inside_a_pipeline_is_answered_in_order_then_closed(server):
    data = await exchange(server, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                                  b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                                  b"GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                                  b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")  # fmt: skip
    assert data.index(b"404") < data.index(b"200 OK") < data.index(b"400 Bad Request")
    assert data.count(b"HTTP/1.1 ") == 3  # the request after the refusal is never read


async def test_expect_100_continue(server):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert await r.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    w.write(b"{}")
    head = await r.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert await r.readexactly(2) == b"{}"
    # a request refused on its head gets the final status instead of 100
    w.write(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    rest = await asyncio.wait_for(r.read(), 5)
    assert rest.startswith(b"HTTP/1.1 404 Not Found") and b"connection: close" in rest
    w.close()


async def test_json_helpers_round_trip(server):
    async with HTTPClient() as c:
        r = await c.post(f"http://127.0.0.1:{server.port}/echo", json={"k": [None, True, 1.5]})
        assert json.loads(r.body) == {"k": [None, True, 1.5]}
        assert r.headers["content-type"] == "application/json"


async def test_trickled_body_is_cut_by_the_body_timeout():
    app = App(body_timeout=0.3, access_log=False)

    @app.post("/echo")
    def echo(req):
        return Response(req.body)

    cfg = ShellConfig(idle_timeout=10, sweep_interval=0.05)
    async with await serve(app, cfg) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")

        async def trickle():
            for _ in range(100):
                w.write(b"x")
                await asyncio.sleep(0.02)  # the slow client's pace, on purpose

        t = asyncio.create_task(trickle())
        try:
            assert await asyncio.wait_for(r.read(), 5) == b""
        except ConnectionResetError:
            pass  # abort() is an RST: closed either way
        t.cancel()
        w.close()
        assert server.timed_out == 1
        data = await exchange(
            server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
        )
        assert data.endswith(b"\r\n\r\nok")  # a prompt client is unaffected


async def test_a_stalled_streamed_upload_is_closed_by_the_idle_timeout():
    """While a streaming handler waits for body bytes it is the client's turn: the
    'answering' exemption from the idle timeout must not cover it (slowloris)."""
    cfg = ShellConfig(idle_timeout=0.3, sweep_interval=0.05)
    async with await serve(make_app(), cfg) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        try:
            assert await asyncio.wait_for(r.read(), 5) == b""
        except ConnectionResetError:
            pass  # abort() is an RST: closed either way
        assert server.timed_out == 1
        w.close()


async def test_graceful_shutdown_finishes_in_flight_and_closes_idle(caplog):
    caplog.set_level(logging.INFO, logger="netlib.http.access")
    release = asyncio.Event()
    app = App()

    @app.get("/slow")
    async def slow(req):
        await release.wait()
        return "done\n"

    @app.get("/quick")
    def quick(req):
        return "quick\n"

    server = await serve(app, ShellConfig())
    idle_r, idle_w = await asyncio.open_connection("127.0.0.1", server.port)
    idle_w.write(b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
    await idle_r.readuntil(b"quick\n")  # now an idle keep-alive connection
    busy_r, busy_w = await asyncio.open_connection("127.0.0.1", server.port)
    busy_w.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    while not any(s.task for c in server.connections if (s := c.session) is not None):
        await asyncio.sleep(0.01)  # polling: until the slow handler is running
    stopper = asyncio.create_task(server.shutdown(grace=5))
    assert await asyncio.wait_for(idle_r.read(), 5) == b""  # idle: closed at once
    assert not stopper.done()
    release.set()
    reply = await asyncio.wait_for(busy_r.read(), 5)
    assert reply.startswith(b"HTTP/1.1 200 OK") and b"connection: close\r\n" in reply
    assert reply.endswith(b"done\n")
    await asyncio.wait_for(stopper, 5)
    idle_w.close()
    busy_w.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "netlib.http.access"]
    assert any(
        line.startswith("127.0.0.1:") and '"GET /slow HTTP/1.1" 200 5' in line for line in lines
    )


async def test_a_bad_response_from_a_handler_becomes_500_not_a_broken_connection():
    app = App(access_log=False)

    @app.get("/inject")
    def inject(req):
        return Response(b"x", headers={"x-user": "a\r\nSet-Cookie: evil=1"})

    @app.get("/weird")
    async def weird(req):
        return 42

    @app.get("/ok")
    def ok(req):
        return "ok"

    async with await serve(app, ShellConfig()) as server:
        async with HTTPClient() as c:
            base = f"http://127.0.0.1:{server.port}"
            r = await c.get(base + "/inject")
            assert r.status == 500 and "set-cookie" not in r.headers
            assert (await c.get(base + "/weird")).status == 500
            assert (await c.get(base + "/ok")).body == b"ok"
            assert c.opened == 1


async def test_a_client_leaving_a_stream_closes_the_producer_promptly():
    closed = asyncio.Event()
    started = asyncio.Event()
    app = App(access_log=False)

    @app.get("/events")
    def events(req):
        async def feed():
            try:
                started.set()
                while True:
                    yield b"data: tick\n\n"
                    await asyncio.sleep(0.01)  # a producer's pace
            finally:
                closed.set()  # an SSE feed would unsubscribe here

        return StreamingResponse(feed(), content_type="text/event-stream")

    async with await serve(app, ShellConfig()) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        await r.readuntil(b"data: tick")
        w.close()
        await asyncio.wait_for(closed.wait(), 5)
        assert started.is_set()


async def test_a_long_stream_outlives_the_idle_timeout():
    app = App(access_log=False)

    @app.get("/ticks")
    def ticks(req):
        async def feed():
            for i in range(12):
                yield f"tick {i}\n".encode()
                await asyncio.sleep(0.05)  # 0.6 s in all, twice the idle timeout

        return StreamingResponse(feed(), content_type="text/plain")

    cfg = ShellConfig(idle_timeout=0.3, sweep_interval=0.02)
    async with await serve(app, cfg) as server:
        async with HTTPClient() as c:
            r = await c.get(f"http://127.0.0.1:{server.port}/ticks")
            assert r.body.count(b"tick") == 12
        assert server.timed_out == 0


async def test_client_leaving_mid_upload_cancels_the_handler_quietly(caplog):
    got_some = asyncio.Event()
    ended = asyncio.Event()
    app = App(access_log=False)

    @app.put("/up", stream=True)
    async def up(req):
        try:
            async for _ in req.stream():
                got_some.set()
        finally:
            ended.set()
        return "never"

    async with await serve(app, ShellConfig()) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
        await asyncio.wait_for(got_some.wait(), 5)
        w.close()
        await asyncio.wait_for(ended.wait(), 5)
        assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]
        async with HTTPClient() as c:  # and the server carries on
            assert (await c.put(f"http://127.0.0.1:{server.port}/up", body=b"ok")).status == 200
