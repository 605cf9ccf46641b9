"""The server's fast path (``netlib.http._fast``) against the core it short-cuts.

Sans-IO: every head ``simple_head`` takes, the core takes with the same method,
target and fields; every head the core refuses, ``simple_head`` leaves to it;
``plain_head`` produces the core's bytes. On real sockets (both loops): a server
with the fast path answers every request, pipelined or split byte by byte,
exactly as the same server answering everything through the core.
"""

import asyncio
import contextlib
import gzip
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from email.utils import formatdate
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlib.http import App, HTTPError, JSONResponse, Response, StreamingResponse, serve
from netlib.http import core as h11
from netlib.http._fast import Tail, imf_date, plain_head, simple_head
from netlib.http.server import HTTPSession
from netlib.shell import ShellConfig

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def core_request(raw: bytes) -> tuple[bytes, bytes, list] | str:
    """What the core makes of one whole body-less request: its fields, or the refusal."""
    c = h11.Connection(h11.SERVER)
    c.receive_data(raw)
    try:
        ev = c.next_event()
        if ev is h11.NEED_DATA:
            return "need data"
        end = c.next_event()
    except h11.RemoteProtocolError as e:
        return f"refused {e.status}"
    assert type(end) is h11.EndOfMessage or type(end) is h11.Data
    return ev.method, ev.target, ev.headers


def fast_request(raw: bytes):
    return simple_head(raw)


H = b"host: x\r\n"
# (head, does the fast path take it?)
HEADS = [
    (b"GET / HTTP/1.1\r\n" + H + b"\r\n", True),
    (b"HEAD /a?b=c HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nHost:x\r\nA:\r\nB:   \t \r\nC: \tv  w\t \r\n\r\n", True),
    (b"GET / HTTP/1.1\r\n" + H + b"Connection: keep-alive\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\n" + H + b"X: caf\xc3\xa9 \x80\xff\r\n\r\n", True),  # obs-text
    (b"GET http://x/p HTTP/1.1\r\n" + H + b"\r\n", True),  # absolute form
    (b"GET / HTTP/1.1\r\nHOST: x\r\nConnection: Keep-Alive\r\nX-Host: y\r\nxhost: z\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nX: host: y\r\nHost: x\r\nY: connection: close\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nX: a\r\nX-Content-Length: 5\r\nHost: x\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: x\r\nCONTENT-LENGTH: 0\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nX: a\r\nhost: x\r\nHost: x\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\n" + H + b"Connection: keep-alive, Upgrade\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\n\r\n", False),  # no Host: 400
    (b"GET / HTTP/1.1\r\n" + H + H + b"\r\n", False),  # two Hosts: 400
    (b"POST / HTTP/1.1\r\n" + H + b"\r\n", False),
    (b"get / HTTP/1.1\r\n" + H + b"\r\n", False),
    (b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello", False),
    (b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\n" + H + b"Expect: nonsense\r\n\r\n", False),  # 417
    (b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n folded\r\n\r\n", False),  # obs-fold: 400
    (b"GET / HTTP/1.1\r\n" + H + b"X : a\r\n\r\n", False),  # space before the colon
    (b"GET / HTTP/1.1\r\n" + H + b"X: a\nY: b\r\n\r\n", False),  # bare LF
    (b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", False),  # bare CR
    (b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", False),  # NUL
    (b"GET / HTTP/1.1\r\n" + H + b"X: a\x7fb\r\n\r\n", False),  # DEL
    (b"GET / HTTP/1.1\r\n" + H + b"X\x01: a\r\n\r\n", False),
    (b"GET /a#b HTTP/1.1\r\n" + H + b"\r\n", False),  # a fragment: 400
    (b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", False),
    (b"GET  / HTTP/1.1\r\n" + H + b"\r\n", False),
    (b"GET / HTTP/1.2\r\n" + H + b"\r\n", False),
    (b"GET / HTTP/2.0\r\n" + H + b"\r\n", False),  # 505
    (b"\r\nGET / HTTP/1.1\r\n" + H + b"\r\n", False),  # leading empty line: the core's
    (b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 8200 + b"\r\n\r\n", False),  # 431
    (b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 8170 + b"\r\n\r\n", False),  # > 8 KiB head
    (b"GET / HTTP/1.1\r\n" + H + b"".join(b"x%d: 1\r\n" % i for i in range(100)) + b"\r\n", False),
    (b"GET / HTTP/1.1\r\n" + H + b"".join(b"x%d: 1\r\n" % i for i in range(99)) + b"\r\n", True),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", False),  # 414
    (b"GET / HTTP/1.1\r\n" + H + b"X: " + b"b" * 40000 + b"\r\n\r\n", False),
]


@pytest.mark.parametrize(("raw", "fast"), HEADS, ids=[str(i) for i in range(len(HEADS))])
def test_simple_head_takes_only_what_the_core_takes_alike(raw, fast):
    got = fast_request(raw)
    assert (got is not None) == fast
    if got is not None:
        assert got == core_request(raw)


field_names = st.sampled_from([b"host", b"Host", b"x-a", b"connection", b"content-length",
                               b"expect", b"transfer-encoding", b"a b", b"", b"x\x00"])  # fmt: skip
field_values = st.binary(max_size=12) | st.sampled_from(
    [b"keep-alive", b"close", b"0", b"chunked", b" v ", b"\tv", b"a\r\n b"]
)


@st.composite
def heads(draw):
    method = draw(st.sampled_from([b"GET", b"HEAD", b"POST", b"GE T"]))
    target = draw(st.sampled_from([b"/", b"/a?b", b"/#", b"*", b"/\x80"]))
    version = draw(st.sampled_from([b"1.1", b"1.0", b"1.1 "]))
    lines = draw(st.lists(st.tuples(field_names, field_values), max_size=5))
    head = b"%s %s HTTP/%s\r\n" % (method, target, version)
    head += b"".join(b"%s:%s\r\n" % nv for nv in lines)
    return head + b"\r\n"


@SETTINGS
@given(heads())
def test_generated_heads_the_fast_path_takes_are_the_cores_too(raw):
    got = fast_request(raw)
    if got is not None:
        assert got == core_request(raw)


@SETTINGS
@given(st.binary(max_size=60))
def test_random_field_lines_are_read_as_the_core_reads_them(line):
    raw = b"GET / HTTP/1.1\r\nhost: x\r\n" + line.replace(b"\r\n\r\n", b"") + b"\r\n\r\n"
    got = fast_request(raw)
    if got is not None:
        assert got == core_request(raw)


RESPONSES = [
    (200, [(b"content-type", b"text/plain; charset=utf-8")], b"Hello, world!\n"),
    (404, [(b"x-a", b"1"), (b"x-a", b"2")], b"nope\n"),
    (201, [], b""),
    (299, [(b"etag", b'"1-2"')], b"x"),
]


@pytest.mark.parametrize(("status", "headers", "body"), RESPONSES)
@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_plain_head_and_tail_are_the_cores_bytes(status, headers, body, method):
    tail = Tail(b"syslab")
    c = h11.Connection(h11.SERVER)
    c.receive_data(b"%s / HTTP/1.1\r\nhost: x\r\n\r\n" % method)
    c.next_event(), c.next_event()
    date = tail.get()  # first: a second boundary between the two is then harmless
    full = headers + [(b"content-length", b"%d" % len(body)), (b"date", imf_date(tail.second)),
                      (b"server", b"syslab")]  # fmt: skip
    want = c.send_message(h11.Response(status, full), body)
    got = plain_head(status, headers) + b"content-length: %d\r\n" % len(body) + date
    assert got + (b"" if method == b"HEAD" else body) == want


@pytest.mark.parametrize(
    ("status", "headers"),
    [(204, []), (304, []), (101, []), (200, [(b"content-length", b"3")]),
     (200, [(b"Transfer-Encoding", b"chunked")]), (200, [(b"connection", b"close")]),
     (200, [(b"x", b"a\r\nb")]), (200, [(b"bad name", b"v")]), ("200", [])],
)  # fmt: skip
def test_plain_head_leaves_to_the_core_what_needs_framing_or_is_refused(status, headers):
    assert plain_head(status, headers) is None


def test_the_date_tail_follows_the_clock_forward_and_back(monkeypatch):
    now = [1700000000.5]
    monkeypatch.setattr(time, "time", lambda: now[0])
    tail = Tail(b"syslab")
    first = tail.get()
    assert b"date: " + imf_date(1700000000) + b"\r\nserver: syslab\r\n\r\n" == first
    now[0] = 1700000000.999
    assert tail.get() is first  # the same second: not formatted again
    now[0] = 1700000001.0
    assert imf_date(1700000001) in tail.get()
    now[0] = 1699999990.25  # the clock stepped back
    assert imf_date(1699999990) in tail.get()


def test_imf_date_is_emails_format():
    for t in (0, 784111777, 1700000000, 1709251199, 4102444800):
        assert imf_date(t) == formatdate(t, usegmt=True).encode()
    assert not Tail(b"a\r\nb").ok and Tail(b"syslab").ok


# -- on real sockets: fast path vs core path, same bytes ------------------------------
def make_app(tmp_path) -> App:
    app = App(access_log=False, max_body=100)
    (tmp_path / "small.txt").write_bytes(b"small file\n")
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 400)  # > SMALL_FILE: sendfile
    (tmp_path / "page.html").write_bytes(b"<p>page</p>\n" * 20)
    (tmp_path / "page.html.gz").write_bytes(gzip.compress(b"<p>page</p>\n" * 20, mtime=0))
    (tmp_path / "dir").mkdir(exist_ok=True)
    (tmp_path / "dir" / "index.html").write_bytes(b"<p>index</p>\n")
    app.static("/s", str(tmp_path))

    @app.get("/hello")
    def hello(req):
        return Response(b"Hello, world!\n")

    @app.get("/json")
    def as_json(req):
        return {"path": req.path, "q": req.arg("q"), "ua": req.headers.get("user-agent")}

    @app.get("/items/{n:int}")
    def item(req):
        n = req.params.pop("n")  # a handler may change its own params
        return {"n": n, "left": req.params, "host": req.headers["host"]}

    @app.get("/text")
    def text(req):
        return "text\n"

    @app.get("/none")
    def none(req):
        return None

    @app.get("/teapot")
    def teapot(req):
        raise HTTPError(418, "short and stout")

    @app.get("/crash")
    def crash(req):
        raise RuntimeError("bug")

    @app.get("/bad-header")
    def bad_header(req):
        return Response(b"x", headers=[(b"x-evil", b"a\r\nb")])

    @app.get("/own-length")
    def own_length(req):
        return Response(b"abc", headers=[(b"content-length", b"3")])

    @app.get("/closing")
    def closing(req):
        return Response(b"bye\n", headers=[(b"connection", b"close")])

    @app.get("/async")
    async def in_task(req):
        await asyncio.sleep(0)
        return JSONResponse({"async": True})

    @app.post("/echo")
    def echo(req):
        return Response(req.body)

    return app


def G(path: bytes, extra: bytes = b"", method: bytes = b"GET") -> bytes:
    return b"%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (method, path, extra)


# Every kind of request, each answered with keep-alive so the next one follows.
KEEP_ALIVE = [
    G(b"/hello"), G(b"/hello", method=b"HEAD"), G(b"/json?q=1", b"User-Agent: t/1\r\n"),
    G(b"/text"), G(b"/none"), G(b"/teapot"), G(b"/crash"), G(b"/bad-header"),
    G(b"/own-length"), G(b"/async"), G(b"/missing"), G(b"/hello", method=b"DELETE"),
    G(b"/s/small.txt"), G(b"/s/small.txt", method=b"HEAD"), G(b"/s/big.bin"),
    G(b"/s/big.bin", b"Range: bytes=0-9,20-29\r\n"), G(b"/s"), G(b"/s/big.bin", method=b"HEAD"),
    G(b"/s/big.bin", b"Range: bytes=100-\r\n"), G(b"/s/small.txt", b"Range: bytes=2-4\r\n"),
    G(b"/s/small.txt", b"If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n"),
    G(b"/s/small.txt", b"Range: bytes=99-\r\n"), G(b"/s/nothing-here"),
    G(b"/s/small.txt", b"If-None-Match: *\r\n"), G(b"/s/small.txt", b"if-range: x\r\n"),
    G(b"/s/small.txt", b"If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
    G(b"/s/small.txt", b"IF-NONE-MATCH: *\r\n"), G(b"/s/small.txt", b"RANGE: bytes=0-0\r\n"),
    G(b"/s/small.txt", b"Accept-Encoding: gzip\r\n"), G(b"/s/page.html"),
    G(b"/s/page.html", b"Accept-Encoding: gzip\r\n"), G(b"/s/page.html", b"Accept-Encoding: br\r\n"),
    G(b"/s/page.html", b"Accept-Encoding: gzip\r\n", b"HEAD"), G(b"/s/dir/"), G(b"/s/dir"),
    G(b"/s/dir/", method=b"HEAD"), G(b"/s/small.txt?x=1"), G(b"/s/sm%61ll.txt"),
    G(b"/items/7"), G(b"/items/7?a=b", b"User-Agent: u\r\n"), G(b"/items/x"),
    G(b"/s/small.txt", method=b"POST"),
    G(b"/hello", b"Content-Length: 0\r\n"), G(b"/echo", b"Content-Length: 5\r\n", b"POST") + b"12345",
    G(b"/echo", b"Transfer-Encoding: chunked\r\n", b"POST") + b"3\r\nabc\r\n0\r\n\r\n",
    G(b"/hello", b"Connection: keep-alive\r\n"),
    b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    G(b"/echo", b"Expect: 100-continue\r\nContent-Length: 2\r\n", b"POST") + b"hi",
    b"\r\n" + G(b"/hello"),
]  # fmt: skip
# Requests after which the server closes: each ends a sequence.
LAST = [
    G(b"/hello", b"Connection: close\r\n"), b"GET /hello HTTP/1.0\r\n\r\n", G(b"/closing"),
    G(b"/hello", b"X: a\r\n folded\r\n"), G(b"/hello", b"Content-Length: 1\r\nContent-Length: 2\r\n"),
    G(b"/hello", b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"),
    b"GET /hello HTTP/1.1\r\n\r\n", G(b"/hello", b"X: a\x00\r\n"),
    G(b"/hello", b"X: " + b"a" * 9000 + b"\r\n"), G(b"/echo", b"Content-Length: 500\r\n", b"POST"),
    b"GET / HTTP/2.0\r\n\r\n",
]  # fmt: skip

_DATE = re.compile(rb"date: [^\r]*\r\n")
_BOUNDARY = re.compile(rb"[0-9a-f]{20}")


async def conversation(port: int, raw: bytes, bytewise: bool = False) -> bytes:
    """Send ``raw`` (whole or one byte per write), half-close, read until the server closes."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    if bytewise:
        for i in range(len(raw)):
            w.write(raw[i : i + 1])
            await w.drain()
    else:
        w.write(raw)
    w.write_eof()
    data = await asyncio.wait_for(r.read(), 10)
    w.close()
    return _BOUNDARY.sub(b"B", _DATE.sub(b"date: D\r\n", data))


class CoreOnly(HTTPSession):
    fast_path = False


class Checked(HTTPSession):
    """The fast path's session, asserting at every read that ``fast_ready`` (the
    preconditions are known to hold) is never stale: every change that breaks one
    of them clears it."""

    def data_received(self, data: bytes) -> None:
        assert not self.fast_ready or self._fast_allowed()
        super().data_received(data)


@contextlib.asynccontextmanager
async def fast_and_core(
    make: Callable[[Any], App],
    tmp_path,
    fast_session: type = Checked,
    core_session: type = CoreOnly,
) -> AsyncIterator[tuple[int, int]]:
    """The same app twice: with the fast path (its invariant checked at every read), and
    with every request through the core; their ports."""
    fast_app = make(tmp_path)
    fast = await serve(fast_app, ShellConfig())
    fast.session_factory = lambda c: fast_session(c, fast_app)
    app = make(tmp_path)
    slow = await serve(app, ShellConfig())
    slow.session_factory = lambda c: core_session(c, app)
    async with fast, slow:
        yield fast.port, slow.port


@pytest.fixture
async def servers(tmp_path):
    async with fast_and_core(make_app, tmp_path) as ports:
        yield ports


async def same_answers(servers, raw: bytes, bytewise: bool = False) -> bytes:
    fast_port, slow_port = servers
    got = await conversation(fast_port, raw, bytewise)
    assert got == await conversation(slow_port, raw, bytewise)
    return got


async def test_every_kind_of_request_pipelined_gets_the_cores_answers(servers):
    for last in LAST:
        got = await same_answers(servers, b"".join(KEEP_ALIVE) + last + G(b"/hello"))
        # One answer each (and a 100 Continue), the closing one's too; never the /hello after.
        assert len(re.findall(rb"HTTP/1.1 \d{3} ", got)) == len(KEEP_ALIVE) + 2
        statuses = set(re.findall(rb"HTTP/1.1 (\d{3}) ", got))
        assert {b"100", b"200", b"204", b"206", b"301", b"304", b"404", b"405", b"416"} <= statuses


async def test_each_request_alone_and_split_byte_by_byte(servers):
    for raw in [*KEEP_ALIVE, *LAST]:
        whole = await same_answers(servers, raw)
        assert await same_answers(servers, raw, bytewise=True) == whole


async def test_answers_come_in_order_and_nothing_is_answered_after_a_close(servers):
    raw = (G(b"/hello") + G(b"/echo", b"Content-Length: 3\r\n", b"POST") + b"abc" + G(b"/async")
           + G(b"/s/big.bin") + G(b"/text", method=b"HEAD") + G(b"/hello", b"Connection: close\r\n")
           + G(b"/json"))  # fmt: skip
    got = await same_answers(servers, raw)
    statuses = re.findall(rb"HTTP/1.1 (\d+)", got)
    assert statuses == [b"200"] * 6
    assert got.index(b"Hello") < got.index(b"abc") < got.index(b'{"async":true}')
    assert got.count(b"Hello, world!\n") == 2 and b'"path"' not in got
    assert got.endswith(b"connection: close\r\n\r\nHello, world!\n")
    assert b"content-length: 5\r\n" in got  # HEAD /text: the length of the body not sent


async def test_http10_and_keep_alive_semantics(servers):
    got = await same_answers(servers, b"GET /hello HTTP/1.0\r\n\r\n" + G(b"/hello"))
    assert got.count(b"Hello") == 1 and b"connection: close" in got
    got = await same_answers(servers, b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                             + G(b"/hello"))  # fmt: skip
    assert got.count(b"Hello") == 2 and b"connection: keep-alive" in got


async def test_many_pipelined_fast_requests_in_reads_of_every_size(servers):
    raw = (G(b"/hello") + G(b"/s/small.txt")) * 300
    fast_port, _ = servers
    r, w = await asyncio.open_connection("127.0.0.1", fast_port)
    for i in range(0, len(raw), 777):  # cuts land anywhere in a head
        w.write(raw[i : i + 777])
        await w.drain()
    w.write_eof()
    data = await asyncio.wait_for(r.read(), 10)
    w.close()
    assert data.count(b"HTTP/1.1 200 OK") == 600
    assert data.count(b"Hello, world!\n") == 300 and data.count(b"small file\n") == 300


# -- run_eagerly: a coroutine started in the caller, carried on by a task if it waits --
async def test_run_eagerly_finishes_inline_or_carries_on_in_a_task():
    from netlib.http._streams import run_eagerly

    log: list = []

    async def quick():
        log.append("quick")

    assert run_eagerly(quick(), lambda: log.append("then")) is None
    assert log == ["quick"]  # no task, and ``then`` is the caller's business

    async def waits():
        loop = asyncio.get_running_loop()
        f = loop.create_future()
        loop.call_soon(f.set_result, 5)
        log.append(await f)
        await asyncio.sleep(0)
        g = loop.create_future()
        loop.call_soon(g.set_exception, ValueError("v"))
        with pytest.raises(ValueError):
            await g
        log.append("done")

    task = run_eagerly(waits(), lambda: log.append("then"))
    await task
    assert log == ["quick", 5, "done", "then"]


async def test_run_eagerly_passes_a_cancellation_in():
    from netlib.http._streams import run_eagerly

    log: list = []

    async def forever():
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            log.append("finally")

    task = run_eagerly(forever(), lambda: log.append("then"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["finally"]


async def test_pipelined_files_sent_inline_or_from_a_task_all_arrive_in_order(servers):
    """Many files: the first fits the socket at once (no task), later ones find it full
    (4 MB against a small receive buffer: a task waits), and the hello after them comes."""
    big = bytes(range(256)) * 400
    raw = (G(b"/s/big.bin") + G(b"/s/big.bin", method=b"HEAD")) * 40 + G(b"/hello")
    for port in servers:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        r, w = await asyncio.open_connection(sock=sock)
        w.write(raw)
        w.write_eof()
        data = await asyncio.wait_for(r.read(), 20)
        w.close()
        assert data.count(big) == 40 and data.count(b"HTTP/1.1 200 OK") == 81
        assert data.endswith(b"Hello, world!\n")


async def test_cached_files_and_routes_follow_the_disk_and_the_router(servers, tmp_path):
    """The fast path's memories (route per target, small file per path) are the core's
    answers still: a file changed on disk after the cache's TTL, a route added later."""
    first = await same_answers(servers, G(b"/s/small.txt") * 3)
    assert first.count(b"small file\n") == 3
    (tmp_path / "small.txt").write_bytes(b"changed!!!!\n")  # same size, new mtime
    await asyncio.sleep(1.1)  # the static cache's CACHE_SECONDS
    got = await same_answers(servers, G(b"/s/small.txt") * 3)
    assert got.count(b"changed!!!!\n") == 3


async def test_a_route_added_after_requests_is_seen():
    app = App(access_log=False)

    @app.get("/a/{x}")
    def a(req):
        return "pattern\n"

    async with await serve(app, ShellConfig()) as server:
        assert b"pattern" in await conversation(server.port, G(b"/a/lit") + G(b"/a/lit"))

        @app.get("/a/lit")
        def lit(req):
            return "literal\n"

        got = await conversation(server.port, G(b"/a/lit") + G(b"/a/lit"))
        assert got.count(b"literal\n") == 2 and b"pattern" not in got


# -- what the fast path remembers between requests ------------------------------------
def changing_app(tmp_path) -> App:
    """Handlers that return one shared Response and change it between requests: the
    encoded head remembered on it must follow every change."""
    app = App(access_log=False)
    shared = Response(b"one\n")
    count = [0]

    @app.get("/shared")
    def same_object(req):
        count[0] += 1
        n = count[0]
        if n == 2:
            shared.headers.append((b"x-added", b"1"))  # in place: same list, new content
        elif n == 3:
            shared.headers[-1] = (b"x-added", b"2")
        elif n == 4:
            shared.status = 201
        elif n == 5:
            shared.body = b"longer body\n"
        elif n == 6:
            shared.headers = [(b"content-type", b"text/x")]  # a new list, equal or not
        elif n == 7:
            shared.headers.append((b"content-length", b"12"))  # now the core frames it
        elif n == 8:
            del shared.headers[-1]
        elif n == 9:
            shared.body = bytearray(b"mutable\n")
        elif n == 10:
            shared.body[0:1] = b"M"  # type: ignore[index]
        elif n == 11:
            shared.body.extend(b"more\n")  # type: ignore[attr-defined]
        elif n == 12:
            shared.headers.append((b"x-ba", bytearray(b"v1")))  # unhashable value
        elif n == 13:
            shared.headers[-1][1][1:2] = b"2"
        elif n == 14:
            shared.status, shared.body, shared.headers = 200, b"one\n", []
        return shared

    @app.get("/fresh")
    def fresh(req):
        return Response(b"fresh\n", headers=[(b"x-n", str(count[0]).encode())])

    return app


async def test_a_remembered_head_follows_every_change_of_a_shared_response(tmp_path):
    """GET and HEAD, keep-alive and HTTP/1.0, pipelined and one request per write: a
    response object returned again after any change of its status, headers (a new list
    or the same one changed in place, a header the core must frame, an unhashable
    value) or body (another object, a bytearray changed in place) is sent as the core
    sends it."""
    requests = [G(b"/shared"), G(b"/shared", method=b"HEAD"), G(b"/fresh")] * 6 + [
        b"GET /shared HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        G(b"/shared", b"Connection: keep-alive\r\n"), G(b"/shared"),
        G(b"/shared", b"Connection: close\r\n"),
    ]  # fmt: skip
    for whole in (True, False):
        async with fast_and_core(changing_app, tmp_path) as (fast_port, core_port):
            answers = []
            for port in (fast_port, core_port):
                if whole:
                    answers.append(await conversation(port, b"".join(requests)))
                    continue
                r, w = await asyncio.open_connection("127.0.0.1", port)
                got = b""
                for raw in requests:  # one read each: the answer comes before the next
                    w.write(raw)
                    got += await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
                    length = re.search(rb"content-length: (\d+)", got.rsplit(b"HTTP/1.", 1)[1])
                    if length and b"HEAD" not in raw:
                        got += await asyncio.wait_for(r.readexactly(int(length[1])), 10)
                w.close()
                answers.append(_DATE.sub(b"date: D\r\n", got))
            fast, core = answers
            assert fast == core
            assert fast.count(b"x-added: 2") >= 2 and b"HTTP/1.1 201 Created" in fast
            assert b"longer body\n" in fast and b"Mutable\nmore\n" in fast
            assert b"x-ba: v2" in fast and b"content-length: 12\r\n" in fast


HELD: dict[str, asyncio.Event] = {}


def held_app(tmp_path) -> App:
    """A sync route whose streamed answer waits (``HELD["release"]``) for the next request."""
    app = make_app(tmp_path)

    @app.get("/held")
    def held(req):
        async def body():
            yield b"first,"
            await HELD["release"].wait()
            yield b"then"

        return StreamingResponse(body())

    return app


class Releasing(Checked):
    def data_received(self, data: bytes) -> None:
        streaming = self.owned
        super().data_received(data)
        if streaming:  # a read while the stream is under way: it may go on
            HELD["release"].set()


class ReleasingCore(CoreOnly):
    def data_received(self, data: bytes) -> None:
        streaming = self.owned
        super().data_received(data)
        if streaming:
            HELD["release"].set()


async def test_a_request_that_arrives_while_an_answer_streams_waits_for_it(tmp_path):
    """A fast-parsed request the core answers from a task (a stream): the next request,
    in a read of its own while the stream is under way, is the core's until it is done,
    and the fast path takes over again after (``fast_ready`` is cleared, then set)."""
    got = []
    async with fast_and_core(held_app, tmp_path, Releasing, ReleasingCore) as ports:
        for port in ports:
            HELD["release"] = asyncio.Event()
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(G(b"/held"))
            head = await asyncio.wait_for(r.readuntil(b"first,\r\n"), 10)
            w.write(G(b"/hello"))
            rest = await asyncio.wait_for(r.readuntil(b"Hello, world!\n"), 10)
            w.write(G(b"/hello") + G(b"/hello", b"Connection: close\r\n"))
            rest += await asyncio.wait_for(r.read(), 10)
            w.close()
            got.append(_DATE.sub(b"date: D\r\n", head + rest))
    assert got[0] == got[1]
    assert got[0].count(b"Hello, world!\n") == 3 and got[0].index(b"then") < got[0].index(b"Hello")
