"""Static files: MIME types, ETag/Last-Modified and 304, Range 206/416, no way out."""

import asyncio
import os

import pytest

from netlib.http import App, HTTPClient, serve
from netlib.http.conditional import UNSATISFIABLE, parse_ranges
from netlib.http.static import content_type
from netlib.shell import ShellConfig


@pytest.fixture
async def site(tmp_path):
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "sub" / "a.css").write_text("body{}")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("docs")
    (root / "data.bin").write_bytes(bytes(range(256)) * 1024)  # 256 KiB: streamed in blocks
    (root / "10.txt").write_bytes(b"0123456789")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "link-out.txt")
    os.symlink(root / "10.txt", root / "link-in.txt")
    app = App(access_log=False)
    app.static("/s", str(root))
    async with await serve(app, ShellConfig()) as server:
        async with HTTPClient() as client:
            yield f"http://127.0.0.1:{server.port}", client, server


async def test_types_and_bodies(site):
    base, c, _ = site
    r = await c.get(base + "/s/")
    assert (r.status, r.body) == (200, b"<h1>home</h1>")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    r = await c.get(base + "/s/sub/a.css")
    assert r.headers["content-type"] == "text/css; charset=utf-8"
    r = await c.get(base + "/s/data.bin")
    assert r.body == bytes(range(256)) * 1024 and r.headers["content-length"] == "262144"
    assert r.headers["content-type"] == "application/octet-stream"
    r = await c.get(base + "/s/link-in.txt")  # a symlink that stays inside is fine
    assert r.body == b"0123456789"
    r = await c.head(base + "/s/data.bin")
    assert r.body == b"" and r.headers["content-length"] == "262144"
    assert c.opened == 1
    assert content_type("x.js") == "application/javascript; charset=utf-8"
    assert content_type("x.png") == "image/png" and content_type("x.m3u8").startswith(
        "application/vnd"
    )


async def test_etag_and_last_modified_give_304(site):
    base, c, _ = site
    r = await c.get(base + "/s/10.txt")
    etag, lm = r.headers["etag"], r.headers["last-modified"]
    r2 = await c.get(base + "/s/10.txt", headers={"if-none-match": etag})
    assert (r2.status, r2.body) == (304, b"") and r2.headers["etag"] == etag
    assert "content-type" not in r2.headers and "content-length" not in r2.headers
    r3 = await c.get(base + "/s/10.txt", headers={"if-none-match": f'"other", W/{etag}'})
    assert r3.status == 304
    r4 = await c.get(base + "/s/10.txt", headers={"if-modified-since": lm})
    assert r4.status == 304
    r5 = await c.get(
        base + "/s/10.txt", headers={"if-modified-since": "Thu, 01 Jan 1970 00:00:00 GMT"}
    )
    assert r5.status == 200 and r5.body == b"0123456789"
    r6 = await c.get(
        base + "/s/10.txt", headers={"if-none-match": '"nope"', "if-modified-since": lm}
    )
    assert r6.status == 200  # If-None-Match wins over If-Modified-Since


@pytest.mark.parametrize("spec,status,body,content_range", [
    ("bytes=2-5", 206, b"2345", "bytes 2-5/10"),
    ("bytes=7-", 206, b"789", "bytes 7-9/10"),
    ("bytes=-3", 206, b"789", "bytes 7-9/10"),
    ("bytes=5-100", 206, b"56789", "bytes 5-9/10"),
    ("bytes=10-", 416, None, "bytes */10"),
    ("bytes=-0", 416, None, "bytes */10"),
    ("items=0-1", 200, b"0123456789", None),
    ("bytes=5-2", 200, b"0123456789", None),
])  # fmt: skip
async def test_single_range(site, spec, status, body, content_range):
    base, c, _ = site
    r = await c.get(base + "/s/10.txt", headers={"range": spec})
    assert r.status == status
    if body is not None:
        assert r.body == body
    assert r.headers.get("content-range") == content_range


async def test_if_range_with_a_stale_etag_gets_the_whole_file(site):
    base, c, _ = site
    r = await c.get(base + "/s/10.txt", headers={"range": "bytes=0-1", "if-range": '"stale"'})
    assert r.status == 200 and r.body == b"0123456789"


async def test_big_range_is_streamed(site):
    base, c, _ = site
    r = await c.get(base + "/s/data.bin", headers={"range": "bytes=1000-200999"})
    assert r.status == 206 and r.body == (bytes(range(256)) * 1024)[1000:201000]


@pytest.mark.parametrize("target", [
    b"/s/../secret.txt", b"/s/%2e%2e/secret.txt", b"/s/%2E%2E/secret.txt", b"/s/sub/../../secret.txt",
    b"/s/sub/%2e%2e%2f%2e%2e%2fsecret.txt", b"/s/..%2fsecret.txt", b"/s//etc/passwd",
    b"/s/%2fetc%2fpasswd", b"/s/link-out.txt", b"/s/..\\secret.txt", b"/s/%00", b"/s/nope.txt",
    b"/s/sub/./a.css",
])  # fmt: skip
async def test_no_way_out_of_the_directory(site, target):
    base, _, server = site
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    reply = await asyncio.wait_for(r.read(), 5)
    assert reply.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"secret" not in reply and b"root:" not in reply
    w.close()


async def test_a_directory_without_its_slash_is_redirected(site):
    """As nginx does: served without the redirect, relative links in the index would break."""
    base, c, _ = site
    for path, location in [("/s/docs?x=1", "/s/docs/?x=1"), ("/s", "/s/"), ("/s/docs%20", None)]:
        r = await c.get(base + path)
        if location is None:
            assert r.status == 404  # not a directory: nothing to redirect to
        else:
            assert (r.status, r.headers["location"]) == (301, location)
    r = await c.head(base + "/s")
    assert r.status == 301 and r.headers["location"] == "/s/"
    r = await c.get(base + "/s/docs/")
    assert (r.status, r.body) == (200, b"docs")
    r = await c.get(base + "/s/docs/index.html")
    assert (r.status, r.body) == (200, b"docs")


def test_parse_range_table():
    assert parse_ranges("bytes=0-0", 1) == [(0, 0)]
    assert parse_ranges("bytes=-5", 3) == [(0, 2)]
    assert parse_ranges("bytes=0-", 0) == UNSATISFIABLE
    assert parse_ranges("bytes=a-b", 10) is None
    assert parse_ranges("bytes=-", 10) is None


def test_resolution_cache_follows_the_injected_clock(tmp_path):
    from netlib.http import HTTPError, Request
    from netlib.http.static import CACHE_SECONDS, StaticFiles

    (tmp_path / "f.txt").write_bytes(b"one")
    now = [0.0]
    files = StaticFiles(tmp_path, clock=lambda: now[0])
    req = Request("GET", b"/f.txt", [], "1.1", "peer")
    req.params = {"path": "f.txt"}
    assert files(req).body == b"one"
    (tmp_path / "f.txt").write_bytes(b"three")
    assert files(req).body == b"one"  # within CACHE_SECONDS the cached file is reused
    now[0] += CACHE_SECONDS
    assert files(req).body == b"three"
    (tmp_path / "f.txt").unlink()
    now[0] += CACHE_SECONDS
    with pytest.raises(HTTPError):
        files(req)
