"""Static files: MIME types, ETag/Last-Modified and 304, Range 206/416, multipart ranges,
precompressed siblings, If-Range, no way out; on asyncio's loop and on uvloop, and with curl."""

import asyncio
import gzip
import os
import re
import shutil
import zlib

import pytest
import uvloop

from netlib.http import App, HTTPClient, serve
from netlib.http.conditional import UNSATISFIABLE, parse_ranges
from netlib.http.static import content_type
from netlib.shell import ShellConfig

DATA = bytes(range(256)) * 1024  # 256 KiB: above SMALL_FILE, so sent by os.sendfile
TEXT = b"hello gzip world\n" * 64
PAST = 1577836800  # 2020-01-01: a Last-Modified old enough to be a strong validator


# Until the suite picks loops in one place (a pytest_asyncio_loop_factories hook), this
# module parametrizes the policy itself; pytest-asyncio 1.x calls that deprecated.
pytestmark = pytest.mark.filterwarnings('ignore:Overriding the "event_loop_policy"')


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request):
    """Every test here runs on both loops: uvloop has no loop.sendfile of its own."""
    return (
        uvloop.EventLoopPolicy() if request.param == "uvloop" else asyncio.DefaultEventLoopPolicy()
    )


@pytest.fixture
async def site(tmp_path):
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "sub" / "a.css").write_text("body{}")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("docs")
    (root / "data.bin").write_bytes(DATA)
    (root / "10.txt").write_bytes(b"0123456789")
    (root / "t.txt").write_bytes(TEXT)
    (root / "t.txt.gz").write_bytes(gzip.compress(TEXT, mtime=0))
    (root / "big.txt").write_bytes(DATA)
    (root / "big.txt.gz").write_bytes(gzip.compress(DATA, mtime=0) + b"\0" * 70_000)  # > SMALL_FILE
    for name in ("10.txt", "data.bin"):
        os.utime(root / name, (PAST, PAST))
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
    ("bytes=0-1,1-4", 206, b"01234", "bytes 0-4/10"),  # overlapping ranges merge into one
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


def parts_of(resp_ctype: str, body: bytes) -> list[tuple[str, bytes]]:
    """(Content-Range, bytes) of each part of a multipart/byteranges body."""
    boundary = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", resp_ctype)[1].encode()
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    out = []
    for chunk in body.split(b"\r\n--" + boundary)[1:-1]:
        head, _, data = chunk.partition(b"\r\n\r\n")
        ranges = re.search(rb"content-range: bytes (\S+)", head)[1].decode()
        out.append((ranges, data))
    return out


@pytest.mark.parametrize("name,content", [("10.txt", b"0123456789"), ("data.bin", DATA)])
async def test_multiple_ranges_are_multipart_byteranges(site, name, content):
    base, c, _ = site
    size = len(content)
    r = await c.get(f"{base}/s/{name}", headers={"range": "bytes=0-1,5-6,-2"})
    assert r.status == 206 and int(r.headers["content-length"]) == len(r.body)
    assert "content-range" not in r.headers
    got = parts_of(r.headers["content-type"], r.body)
    assert got == [(f"0-1/{size}", content[0:2]), (f"5-6/{size}", content[5:7]),
                   (f"{size - 2}-{size - 1}/{size}", content[-2:])]  # fmt: skip
    assert c.opened == 1  # and the connection carried on


async def test_a_range_of_a_large_file_and_head(site):
    base, c, _ = site
    r = await c.get(base + "/s/data.bin", headers={"range": "bytes=1000-200999"})
    assert r.status == 206 and r.body == DATA[1000:201000]
    r = await c.head(base + "/s/data.bin", headers={"range": "bytes=10-19"})
    assert (r.status, r.body, r.headers["content-length"]) == (206, b"", "10")
    r = await c.get(base + "/s/data.bin")
    assert r.body == DATA and c.opened == 1


async def test_if_range_with_an_etag_and_with_a_date(site):
    base, c, _ = site
    for name in ("10.txt", "data.bin"):
        r = await c.head(f"{base}/s/{name}")
        etag, lm = r.headers["etag"], r.headers["last-modified"]
        for validator, status in [(etag, 206), (lm, 206), ('"stale"', 200), (f"W/{etag}", 200),
                                  ("Thu, 02 Jan 2020 00:00:00 GMT", 200)]:  # fmt: skip
            r = await c.get(
                f"{base}/s/{name}", headers={"range": "bytes=2-4", "if-range": validator}
            )
            assert r.status == status, (name, validator)
            assert r.body == (b"234" if name == "10.txt" else DATA[2:5]) or status == 200


@pytest.mark.parametrize("name,plain", [("t.txt", TEXT), ("big.txt", DATA)])
async def test_a_gz_sibling_is_sent_to_clients_that_take_gzip(site, tmp_path, name, plain):
    base, c, _ = site
    packed = (tmp_path / "www" / (name + ".gz")).read_bytes()
    r = await c.get(f"{base}/s/{name}", headers={"accept-encoding": "gzip, br"})
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert r.body == packed and r.headers["content-length"] == str(len(packed))
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert zlib.decompressobj(wbits=31).decompress(r.body) == plain
    gz_tag = r.headers["etag"]
    for ae in (None, "gzip;q=0", "br"):
        r2 = await c.get(f"{base}/s/{name}", headers={"accept-encoding": ae} if ae else {})
        assert r2.body == plain and "content-encoding" not in r2.headers
        assert r2.headers["vary"] == "Accept-Encoding" and r2.headers["etag"] != gz_tag
    r3 = await c.get(
        f"{base}/s/{name}", headers={"accept-encoding": "gzip", "if-none-match": gz_tag}
    )
    assert r3.status == 304 and r3.headers["vary"] == "Accept-Encoding"
    r4 = await c.get(f"{base}/s/{name}", headers={"if-none-match": gz_tag})
    assert r4.status == 200 and r4.body == plain  # the identity file is another representation
    r5 = await c.get(f"{base}/s/{name}", headers={"accept-encoding": "gzip", "range": "bytes=0-9"})
    assert r5.status == 206 and r5.body == packed[:10]
    r6 = await c.get(base + "/s/10.txt", headers={"accept-encoding": "gzip"})
    assert "vary" not in r6.headers and "content-encoding" not in r6.headers


async def curl(*args: str) -> tuple[str, bytes]:
    """Run curl (not blocking the loop the server runs on): (headers, body)."""
    assert shutil.which("curl"), "curl is missing: apt-get install curl"
    p = await asyncio.create_subprocess_exec(
        "curl", "-s", "-D", "-", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(p.communicate(), 20)
    assert p.returncode == 0
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode("latin-1").lower(), body


async def test_curl_ranges_compressed_and_if_range(site, tmp_path):
    base, c, _ = site
    head, body = await curl("-r", "0-1,5-9", base + "/s/10.txt")
    ctype = re.search(r"content-type: (.*)\r", head)[1]
    assert head.startswith("http/1.1 206")
    assert parts_of(ctype.replace("multipart/byteranges; boundary=", "multipart/byteranges; boundary="),
                    body) == [("0-1/10", b"01"), ("5-9/10", b"56789")]  # fmt: skip
    head, body = await curl("--compressed", base + "/s/t.txt")
    assert "content-encoding: gzip" in head and body == TEXT  # curl unpacked it
    head, body = await curl("-r", "100-199", base + "/s/data.bin")
    assert head.startswith("http/1.1 206") and body == DATA[100:200]
    etag = (await c.head(base + "/s/data.bin")).headers["etag"]
    for validator, expect in [(etag, DATA[:4]), ('"old"', DATA),
                              ("Wed, 01 Jan 2020 00:00:00 GMT", DATA[:4]),
                              ("Wed, 01 Jan 2020 00:00:01 GMT", DATA)]:  # fmt: skip
        head, body = await curl("-r", "0-3", "-H", f"If-Range: {validator}", base + "/s/data.bin")
        assert body == expect, validator
