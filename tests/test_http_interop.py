"""Clients nobody here wrote, curl and Python's http.client, against the server:
keep-alive, chunked upload (with Expect: 100-continue), range requests, HEAD."""

import asyncio
import http.client

import pytest
from support import curl

from netlib.http import App, JSONResponse, serve
from netlib.shell import ShellConfig


@pytest.fixture
async def server(tmp_path):
    (tmp_path / "ten.txt").write_bytes(b"0123456789")
    app = App(access_log=False)

    @app.get("/hello")
    def hello(req):
        return "Hello, world!\n"

    @app.put("/upload", stream=True, max_body=2**32)
    async def upload(req):
        size, chunks = 0, 0
        async for chunk in req.stream():
            size, chunks = size + len(chunk), chunks + 1
        return JSONResponse({"bytes": size, "te": req.headers.get("transfer-encoding")})

    app.static("/files", str(tmp_path))
    async with await serve(app, ShellConfig()) as s:
        yield s


async def curl_ok(*args: str) -> tuple[str, str]:
    code, out, err = await curl(*args)
    assert code == 0, err.decode()
    return out.decode(), err.decode()


async def test_curl_keep_alive_reuses_one_connection(server):
    url = f"http://127.0.0.1:{server.port}/hello"
    out, err = await curl_ok("-v", url, url, url)
    assert out == "Hello, world!\n" * 3
    assert server.accepted == 1


async def test_curl_chunked_upload_with_expect_100(server, tmp_path):
    f = tmp_path / "up.bin"
    f.write_bytes(b"z" * 300_000)
    url = f"http://127.0.0.1:{server.port}/upload"
    out, err = await curl_ok("-v", "-T", str(f), "-H", "Transfer-Encoding: chunked",
                          "-H", "Expect: 100-continue", url)  # fmt: skip
    assert out == '{"bytes":300000,"te":"chunked"}'
    assert "100 Continue" in err


async def test_curl_range(server):
    out, _ = await curl_ok("-r", "3-6", f"http://127.0.0.1:{server.port}/files/ten.txt")
    assert out == "3456"
    out, _ = await curl_ok("-w", "%{http_code}", "-o", "/dev/null", "-r", "20-30",
                        f"http://127.0.0.1:{server.port}/files/ten.txt")  # fmt: skip
    assert out == "416"


def _http_client_session(port: int) -> list:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    got = []
    for _ in range(2):
        conn.request("GET", "/hello")
        r = conn.getresponse()
        got.append((r.status, r.read(), r.getheader("content-type")))
    conn.request("PUT", "/upload", body=iter([b"ab", b"cde", b"f" * 70000]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})  # fmt: skip
    r = conn.getresponse()
    got.append((r.status, r.read(), None))
    conn.request("GET", "/files/ten.txt", headers={"Range": "bytes=-4"})
    r = conn.getresponse()
    got.append((r.status, r.read(), r.getheader("content-range")))
    conn.request("HEAD", "/files/ten.txt")
    r = conn.getresponse()
    got.append((r.status, r.read(), r.getheader("content-length")))
    conn.close()
    return got


async def test_http_client_keep_alive_chunked_upload_range_head(server):
    got = await asyncio.to_thread(_http_client_session, server.port)
    assert got == [
        (200, b"Hello, world!\n", "text/plain; charset=utf-8"),
        (200, b"Hello, world!\n", "text/plain; charset=utf-8"),
        (200, b'{"bytes":70005,"te":"chunked"}', None),
        (206, b"6789", "bytes 6-9/10"),
        (200, b"", "10"),
    ]
    assert server.accepted == 1  # all five on one keep-alive connection
