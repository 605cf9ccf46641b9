"""Every refusal on a real socket: the exact status line, ``Connection: close``, the
connection closed, and the server still serving the next client (and one already
connected before the bad one)."""

import asyncio

import pytest

from netlib.http import App, Response, serve
from netlib.http import core as http11
from netlib.shell import ShellConfig

BIG = 100_000  # the streamed route's own body limit (the App's is 1000)

CASES = [
    ("CL and TE together", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("conflicting duplicate CL", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    ("TE other than chunked", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("TE chunked twice in one field", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE xchunked", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    ("space before colon (RFC 9112 §5.1)", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n\r\nab", 400),
    ("header name not a token", b"GET /hello HTTP/1.1\r\nHost: x\r\nX@Y: 1\r\n\r\n", 400),
    ("CL negative", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\nab", 400),
    ("CL hex", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x2\r\n\r\nab", 400),
    ("chunk-size line too long", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;" + b"e" * 2000 + b"\r\nab\r\n0\r\n\r\n", 400),
    ("fragment in the target", b"GET /hello#top HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("TE chunked not last", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
    ("obs-fold", b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tmore\r\n\r\n", 400),
    ("bare LF", b"GET /hello HTTP/1.1\nHost: x\n\n", 400),
    ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nnope\r\n", 400),
    ("chunk size with sign", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk size overflow", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
    ("request line too long (414)", b"GET /" + b"a" * (http11.MAX_REQUEST_LINE + 10) + b" HTTP/1.1\r\n\r\n", 414),
    ("header section too large (431)", b"GET /hello HTTP/1.1\r\n" + b"X-Big: " + b"b" * http11.MAX_HEAD_BYTES + b"\r\n\r\n", 431),
    ("too many headers (431)", b"GET /hello HTTP/1.1\r\n" + b"X: 1\r\n" * (http11.MAX_HEADERS + 5) + b"\r\n", 431),
    ("body too large for a streamed route (413)", b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (BIG + 1), 413),
    ("chunked body past a streamed route's limit (413)", b"PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % (BIG + 1) + b"x" * (BIG + 1) + b"\r\n0\r\n\r\n", 413),
    ("one field line over 8 KiB (431)", b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * http11.MAX_FIELD_LINE + b"\r\n\r\n", 431),
    ("one 40 KB field (431)", b"GET /hello HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 40_000 + b"\r\n\r\n", 431),
    ("head over 32 KiB in short fields (431)", b"GET /hello HTTP/1.1\r\nHost: x\r\n" + b"X-F: " + b"f" * 4000 + b"\r\n" * 1 + b"".join(b"X-%d: " % i + b"f" * 4000 + b"\r\n" for i in range(8)) + b"\r\n", 431),
    ("body too large for a buffered route (413)", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", 413),
    ("HTTP/1.1 without Host", b"GET /hello HTTP/1.1\r\n\r\n", 400),
    ("two Host headers", b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
]  # fmt: skip


@pytest.fixture
async def server():
    app = App(max_body=1000, access_log=False)

    @app.get("/hello")
    def hello(req):
        return Response(b"hi\n")

    @app.put("/up", stream=True, max_body=BIG)
    async def up(req):
        n = 0
        async for chunk in req.stream():
            n += len(chunk)
        return Response(b"%d\n" % n)

    @app.post("/echo")
    def echo(req):
        return Response(req.body)

    async with await serve(app, ShellConfig()) as s:
        yield s


async def get_hello(port: int, reader=None, writer=None) -> bytes:
    """GET /hello on the given connection, or on a new one (then closed)."""
    own = reader is None
    if own:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    body = await reader.readexactly(3)
    if own:
        writer.close()
    return head + body


@pytest.mark.parametrize("name,raw,status", CASES, ids=[c[0] for c in CASES])
async def test_refusal_status_then_close_and_others_unharmed(server, name, raw, status):
    bystander = await asyncio.open_connection("127.0.0.1", server.port)
    assert (await get_hello(server.port, *bystander)).endswith(b"hi\n")
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(raw)
    reply = await asyncio.wait_for(r.read(), 5)  # read to EOF: the server closes
    line, _, rest = reply.partition(b"\r\n")
    reason = http11.status_line(status).rstrip(b"\r\n")
    assert line == reason
    assert b"\r\nconnection: close\r\n" in b"\r\n" + rest
    w.close()
    assert (await get_hello(server.port)).endswith(b"hi\n")  # a new client is served
    assert (await get_hello(server.port, *bystander)).endswith(b"hi\n")  # and an old one
    bystander[1].close()


async def test_smuggling_attempt_does_not_reach_a_second_request(server):
    """The classic CL.TE shape: were TE honoured, "GET /hello" would be a 2nd request."""
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")  # fmt: skip
    reply = await asyncio.wait_for(r.read(), 5)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert reply.count(b"HTTP/1.1") == 1
    w.close()


async def test_a_big_body_for_a_missing_route_is_not_read_to_the_end(server):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n" + b"x" * 100)
    reply = await asyncio.wait_for(r.read(), 5)  # answered and closed without the 50 kB
    assert reply.startswith(b"HTTP/1.1 404 Not Found\r\n") and b"connection: close" in reply
    w.close()
    assert (await get_hello(server.port)).endswith(b"hi\n")
