"""Handlers that change a Response after making it: a str body set later, no body, a
status outside 200..599 (1000, 600, 99, a 1xx, "200"). ``Response`` promises a str body
is encoded as UTF-8 and that an unsendable status is answered 500 and logged; checked
with curl and a raw socket, on the fast path (first request of a read), the core path
(pipelined after another) and for an async handler. Before, a str body crashed the
session (no answer at all) and status 1000 went on the wire as ``HTTP/1.1 1000``.
Framing a handler set itself: a dict assigned to ``resp.headers`` crashed the session; a
Content-Length that is not the body's was sent beside ours (two different values: the
client cuts or waits), and a Transfer-Encoding beside ours (the client reads the plain
body as chunks). Now the first is read, the others are a logged 500 (the core refuses
conflicting framing too)."""

import asyncio
import http
import logging
import shutil
import socket
import subprocess

import pytest

from netlib.http import App, JSONResponse, Response, StreamingResponse, serve
from netlib.shell import ShellConfig

SERVER_ERROR = b"HTTP/1.1 500 Internal Server Error\r\n"


def make_app() -> App:
    app = App(access_log=False)

    def later(**changes):
        def handler(req):
            resp = Response(b"made")
            for name, value in changes.items():
                setattr(resp, name, value)
            return resp

        return handler

    app.get("/str")(later(body="héllo"))
    app.get("/none")(later(body=None))
    app.get("/set-1000")(later(status=1000))
    app.get("/httpstatus")(later(status=http.HTTPStatus.CREATED))
    for status in (1000, 600, 99, 101, -1, "200", True):
        app.get(f"/status/{status}")(lambda req, s=status: Response(b"x", status=s))

    app.get("/headers-dict")(later(headers={"x-a": "b"}))
    own = {"wrong-length": "5", "right-length": "2", "chunked": None}
    for name, value in own.items():
        headers = {"content-length": value} if value else {"transfer-encoding": "chunked"}
        app.get(f"/own/{name}")(lambda req, h=headers: Response(b"xx", headers=h))

    @app.get("/json-str")
    def json_str(req):
        resp = JSONResponse({"a": 1})
        resp.body = '{"b":"é"}'
        return resp

    @app.get("/async-str")
    async def async_str(req):
        resp = Response(b"")
        resp.body = "async é"
        return resp

    @app.get("/stream-1000")
    def stream_1000(req):
        async def feed():
            yield b"never sent"

        return StreamingResponse(feed(), status=1000)

    return app


@pytest.fixture
async def port():
    async with await serve(make_app(), ShellConfig(port=0)) as server:
        yield server.port


def exchange(port: int, wire: bytes) -> bytes:
    """Send ``wire``, read until the server closes (every request says close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(wire)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def get(path: str, close: bool = True) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(), extra)


async def fetch(port: int, *paths: str) -> bytes:
    """The paths pipelined in one write (the last closes): fast path then core path."""
    wire = b"".join(get(p, close=False) for p in paths[:-1]) + get(paths[-1])
    return await asyncio.to_thread(exchange, port, wire)


@pytest.mark.parametrize("path", ["/str", "/json-str", "/async-str"])
async def test_a_str_body_set_later_is_sent_as_utf8(port, path):
    want = {"/str": "héllo", "/json-str": '{"b":"é"}', "/async-str": "async é"}[path].encode()
    got = await fetch(port, path)
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"\r\n\r\n" + want)
    assert b"content-length: %d\r\n" % len(want) in got
    # pipelined behind another answer (the core frames it, not the fast path)
    got = await fetch(port, "/httpstatus", path)
    assert got.startswith(b"HTTP/1.1 201 Created\r\n") and got.endswith(b"\r\n\r\n" + want)


BAD = ["/none", "/set-1000", "/stream-1000", "/own/wrong-length", "/own/chunked"] + [
    f"/status/{s}" for s in (1000, 600, 99, 101, -1, "200", True)
]


@pytest.mark.parametrize("path", BAD)
async def test_an_unsendable_response_is_a_logged_500(port, path, caplog):
    with caplog.at_level(logging.ERROR):
        got = await fetch(port, path)
        assert got.startswith(SERVER_ERROR), got
        got = await fetch(port, "/httpstatus", path, "/str")  # the connection lives on
    assert got.startswith(b"HTTP/1.1 201 Created\r\n")
    assert SERVER_ERROR in got and got.endswith(b"h\xc3\xa9llo")
    assert b" 1000" not in got and b"HTTP/1.1 600" not in got
    assert any("handler's response refused" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
async def test_curl_sees_a_500_for_status_1000_and_the_str_body(port):
    def curl(path: str) -> str:
        return subprocess.run(
            ["curl", "-s", "-w", " %{http_code}", f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout  # fmt: skip

    assert await asyncio.to_thread(curl, "/set-1000") == "internal server error\n 500"
    assert await asyncio.to_thread(curl, "/str") == "héllo 200"


async def test_headers_set_later_and_a_right_own_length_are_sent_once(port):
    got = await fetch(port, "/headers-dict")
    assert got.startswith(b"HTTP/1.1 200 OK\r\nx-a: b\r\n") and got.endswith(b"\r\n\r\nmade")
    got = await fetch(port, "/httpstatus", "/own/right-length")
    last = got[got.rindex(b"HTTP/1.1") :]
    assert last.startswith(b"HTTP/1.1 200 OK\r\n") and last.count(b"content-length") == 1
    assert last.endswith(b"\r\n\r\nxx")
