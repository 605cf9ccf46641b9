"""N6: the balancer's byte-level fast path (``servers.lb.rawpath``): every decision it makes.

Two halves. ``parse_request`` is checked against the core: what it declines is
exactly what is unusual or invalid (the general path then answers as before),
and what it sends upstream carries the same fields the general path's rewrite
sends. Then raw sockets through a running balancer: pipelining, a head split
across reads, HEAD, 204/304, ``Connection: close`` from either side, 1xx,
chunked and close-delimited responses (handed to the core), a bad response
head, a backend closing mid-response or before answering, timeouts with
retries, and the in-flight accounting afterwards.

The odd backend behaviours come from ``odd_backend``: a real TCP server in the
test's loop that answers each request path with fixed bytes, since no real
server can be told to break a response in the middle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator

import pytest
from lb_support import backends, running_lb, spec, url
from support import converse, read_until

from netlib.http import HTTPClient
from netlib.http import core as h11
from servers.lb.config import BackendSpec
from servers.lb.forwarding import request_headers
from servers.lb.rawpath import parse_request, parse_response

pytestmark = pytest.mark.exercise("N6")

IP = b"10.0.0.9"


def core_parse(raw: bytes) -> h11.Request:
    c = h11.Connection(h11.SERVER, max_body=None)
    c.receive_data(raw)
    ev = c.next_event()
    assert type(ev) is h11.Request, ev
    return ev  # type: ignore[return-value]


def as_general_path(raw: bytes) -> list[tuple[bytes, bytes]]:
    """The headers the general path sends upstream for ``raw``."""
    return request_headers(core_parse(raw).headers, IP.decode() + ":1234", chunked=False)


# -- parse_request: what it takes, and what it sends ---------------------------------------
TAKEN = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /a?b=c HTTP/1.1\r\nhost: example.com:8080\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
    b"HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"DELETE /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"OPTIONS /x HTTP/1.1\r\nHost:   spaced  \r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n"
    b"Forwarded: for=1.2.3.4\r\nVia: 1.0 other\r\nX-Forwarded-Proto: https\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Host: orig\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secret, Host, X-Forwarded-For\r\n"
    b"X-Secret: 1\r\nx-secret: 2\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\n"
    b"Proxy-Authorization: b\r\nProxy-Connection: k\r\nTrailer: t\r\nX-Kept: yes\r\n\r\n",
]  # fmt: skip


@pytest.mark.parametrize("raw", TAKEN)
def test_what_it_sends_upstream_is_what_the_general_path_sends(raw):
    p = parse_request(raw + b"GET /next HTTP/1.1\r\n", IP)
    assert p is not None
    out, used, method, close = p
    assert used == len(raw) and method == raw.split(b" ")[0]
    assert close == (b"connection: close" in raw.lower())
    sent = core_parse(out)  # the backend can parse it, and sees the same fields
    assert sent.method == method and sent.target == raw.split(b" ")[1]
    assert sent.headers == as_general_path(raw)
    body = raw.partition(b"\r\n\r\n")[2]
    assert out.endswith(b"\r\n\r\n" + body)


DECLINED = {
    "incomplete head": b"GET / HTTP/1.1\r\nHost: x\r\n",
    "incomplete body": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello",
    "body over the replay limit": b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n",
    "HTTP/1.0": b"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
    "HTTP/2.0": b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    "absolute-form": b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "asterisk-form": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "no Host": b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
    "two Hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "CL and TE": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunked": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate CL": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
    "CL list": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\na",
    "CL not a number": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na",
    "CL too many digits": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0000000000000000001\r\n\r\na",
    "Expect": b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\na",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tTransfer-Encoding: chunked\r\n\r\n",
    "bare LF": b"GET / HTTP/1.1\nHost: x\n\n",
    "bare LF in a field": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n\r\n",
    "CR in a value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n",
    "NUL in a value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\x002\r\n\r\n",
    "space before the colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "bad name": b"GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n",
    "fragment in the target": b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n",
    "leading empty line": b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "lower-case version": b"GET / http/1.1\r\nHost: x\r\n\r\n",
    "head over 8 KiB": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 8200 + b"\r\n\r\n",
    "101 fields": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: 1\r\n" * 100 + b"\r\n",
}  # fmt: skip


@pytest.mark.parametrize("raw", DECLINED.values(), ids=DECLINED.keys())
def test_anything_unusual_is_declined(raw):
    assert parse_request(raw, IP) is None


def test_the_field_count_limit_is_the_cores():
    ok = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: 1\r\n" * 99 + b"\r\n"  # 100 fields
    assert parse_request(ok, IP) is not None
    core_parse(ok)


# -- through a running balancer ------------------------------------------------------
ODD = {
    b"/204": b"HTTP/1.1 204 No Content\r\nX-Odd: 204\r\n\r\n",
    b"/304": b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 9\r\n\r\n",
    b"/close": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    b"/http10": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"/1xx": b"HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n",
    b"/eof": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close",
    b"/named": b"HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok",
    b"/bad": b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 2\r\n\r\nok",
    b"/broken": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
    b"/extra": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK",
    b"/drop": b"",
    b"/000": b"HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok",
    b"/099": b"HTTP/1.1 099 Low\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"/twice": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok",
    b"/list": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
    b"/conflict": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
}  # fmt: skip
LONG_BODY = bytes(range(256)) * 300  # 75 KiB
ODD[b"/long"] = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(LONG_BODY), LONG_BODY)
SEEN: dict[int, list[bytes]] = {}  # port -> request heads an odd backend received
CLOSES = (b"/close", b"/http10", b"/eof", b"/broken", b"/drop", b"/extra")


@contextlib.asynccontextmanager
async def odd_backend(name: str = "odd", hang: bool = False) -> AsyncIterator[BackendSpec]:
    """Answers each request by its path with the bytes in ``ODD`` (split in two writes);
    any other path gets ``200 hello from NAME``; ``/hang`` never answers if ``hang``."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(head)
                m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if m:
                    await reader.readexactly(int(m[1]))
                path = head.split(b" ")[1]
                if path == b"/hang" and hang:
                    await asyncio.sleep(30)
                body = f"hello from {name}".encode()
                out = ODD.get(path, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                              % (len(body), body))  # fmt: skip
                if head.startswith(b"HEAD ") and path not in ODD:
                    out = out[: out.index(b"\r\n\r\n") + 4]
                for i in range(0, len(out), 8000) if path == b"/long" else (0,):
                    piece = out[i : i + 8000] if path == b"/long" else out
                    writer.write(piece[:20])
                    await writer.drain()
                    await asyncio.sleep(0.01)  # the head (and /long's body) in several reads
                    writer.write(piece[20:])
                    await writer.drain()
                if path in CLOSES:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        SEEN[port] = seen
        yield BackendSpec("127.0.0.1", port)
    finally:
        server.close()


async def exchange(port: int, raw: bytes, until: bytes, n: int = 1,
                   timeout: float = 5) -> tuple[bytes, bool]:  # fmt: skip
    """Send ``raw`` on a new connection; what came back once ``until`` was seen ``n`` times
    (or at EOF), and whether the connection then closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        got = b""
        while got.count(until) < n:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                return got, True
            got += chunk
        try:
            more = await asyncio.wait_for(reader.read(1), 0.3)
            closed = more == b""
        except TimeoutError:
            closed = False
        except ConnectionError:
            closed = True
        return got, closed
    finally:
        writer.close()


def get(path: str, *extra: str, method: str = "GET") -> bytes:
    fields = "".join(f"{e}\r\n" for e in extra)
    return f"{method} {path} HTTP/1.1\r\nHost: t\r\n{fields}\r\n".encode()


def idle_in_flight(lb) -> bool:
    return all(b.active == 0 for b in lb.backends)


@pytest.fixture(scope="module")
def two():
    with backends("a", "b") as children:
        yield children


async def test_pipelined_requests_mixing_both_paths_come_back_in_order(two):
    async with running_lb([spec(c) for c in two]) as lb:
        # A chunked body takes the general path; the request after the close is never answered.
        chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunked += b"5\r\nhello\r\n0\r\n\r\n"
        raw = get("/whoami") * 2 + chunked + get("/whoami") + get("/", "Connection: close")
        raw += get("/never")
        got = await converse(lb.server.port, raw)
    answers = got.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert len(answers) == 5  # the request after the close never got one
    bodies = [a.partition(b"\r\n\r\n")[2] for a in answers]
    # Round robin; the echo went to a.
    assert bodies == [b"hello from a\n", b"hello from b\n", b"hello", b"hello from b\n",
                      b"hello from a\n"]  # fmt: skip
    assert [b"connection: close" in a.lower() for a in answers] == [False] * 4 + [True]
    assert idle_in_flight(lb)


async def test_a_head_split_across_reads(two):
    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        await client.get(url(lb, "/"))  # an upstream in the pool: the byte path's case
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.server.port)
        for piece in (b"GET /whoami HT", b"TP/1.1\r\nHo", b"st: x\r\n", b"\r\n"):
            writer.write(piece)
            await asyncio.sleep(0.05)
        got = await read_until(reader, b"hello from a\n")
        writer.write(get("/whoami"))  # and the next one, whole, on the same connection
        got2 = await read_until(reader, b"hello from a\n")
        writer.close()
    assert got.startswith(b"HTTP/1.1 200 OK") and got2.startswith(b"HTTP/1.1 200 OK")


async def test_head_has_no_body_and_the_connection_goes_on(two):
    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        await client.get(url(lb, "/"))
        got, closed = await exchange(lb.server.port, get("/whoami", method="HEAD") + get("/whoami"),
                                     b"hello from a\n")  # fmt: skip
        assert lb.byte_path == 2
    first, _, rest = got.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK") and b"content-length: 13" in first.lower()
    assert rest.startswith(b"HTTP/1.1 200 OK") and not closed  # no body between the two


@pytest.mark.parametrize("path", [b"/204", b"/304"])
async def test_204_and_304_have_no_body(path):
    async with odd_backend() as odd, running_lb([odd]) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled
        got, closed = await exchange(lb.server.port, get(path.decode()) + get("/x"),
                                     b"hello from odd")  # fmt: skip
        b = next(iter(lb.backends))
        assert lb.byte_path == 2
        assert b.opened == 1  # the upstream was kept alive: the 304's CL was not a body
    status = b"204 No Content" if path == b"/204" else b"304 Not Modified"
    first, _, rest = got.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 " + status) and b"via: 1.1 syslab-lb" in first
    assert rest.startswith(b"HTTP/1.1 200 OK") and not closed


async def test_connection_close_from_the_client(two):
    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        await client.get(url(lb, "/"))
        got, closed = await exchange(lb.server.port, get("/whoami", "Connection: close"),
                                     b"hello from a\n")  # fmt: skip
        assert closed and b"\r\nconnection: close\r\n" in got.lower() and lb.byte_path == 1
        b = next(iter(lb.backends))
        assert len(b.idle) == 1 and b.opened == 1  # the upstream stays pooled
        assert idle_in_flight(lb)


@pytest.mark.parametrize("path", [b"/close", b"/http10"])
async def test_connection_close_from_the_backend(path):
    async with odd_backend() as odd, running_lb([odd]) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled
        got, closed = await exchange(lb.server.port, get("/x") + get(path.decode()) + get("/x"),
                                     b"200 OK", 3)  # fmt: skip
        assert lb.byte_path == 2  # the third found no idle upstream: the general path
        got += (await exchange(lb.server.port, get("/x"), b"hello from odd"))[0]
        b = next(iter(lb.backends))
        assert b.opened == 2 and b.failures == 0  # a new upstream after the closing answer
    assert got.count(b"HTTP/1.1 200 OK\r\n") == 4 and not closed
    assert b"connection: close" not in got.lower()  # the client connection goes on


async def test_interim_responses_are_dropped(two):
    async with odd_backend() as odd, running_lb([odd]) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled
        got, _ = await exchange(lb.server.port, get("/x") + get("/1xx"), b"200 OK", 2)
        assert lb.byte_path == 2
    assert b"103" not in got and got.count(b"HTTP/1.1 200 OK") == 2


@pytest.mark.parametrize("path,body", [(b"/chunked", b"ok!!!"), (b"/eof", b"until the close"),
                                       (b"/named", b"ok")])  # fmt: skip
async def test_responses_the_byte_path_hands_to_the_core(path, body):
    async with odd_backend() as odd, running_lb([odd]) as lb, HTTPClient() as client:
        await client.get(url(lb, "/x"))  # pooled: the byte path sends, then hands over
        r = await client.get(url(lb, path.decode()))
        assert r.status == 200 and r.body == body and "x-hop" not in r.headers
        assert r.headers["via"] == "1.1 syslab-lb"
        assert (await client.get(url(lb, "/x"))).body == b"hello from odd"  # and it goes on
        assert next(iter(lb.backends)).failures == 0 and idle_in_flight(lb)
        assert lb.byte_path == (1 if path == b"/eof" else 2)  # (/eof closed its upstream)


async def test_a_bad_response_head_is_a_502_and_counts_against_the_backend():
    async with odd_backend() as odd, running_lb([odd]) as lb, HTTPClient() as client:
        await client.get(url(lb, "/x"))
        r = await client.get(url(lb, "/bad"))
        assert r.status == 502 and b"bad response" in r.body and lb.byte_path == 1
        b = next(iter(lb.backends))
        assert b.failures >= 1 and idle_in_flight(lb)


async def test_a_backend_closing_mid_response_aborts_the_client():
    async with odd_backend() as odd, running_lb([odd]) as lb, HTTPClient() as client:
        await client.get(url(lb, "/x"))
        got, closed = await exchange(lb.server.port, get("/broken") + get("/x"), b"never")
        b = next(iter(lb.backends))
        assert b.failures == 1 and idle_in_flight(lb) and lb.byte_path == 1
    assert closed and got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"only ten b")
    assert b"hello" not in got  # the pipelined request after it was never answered


async def test_bytes_after_a_response_retire_the_upstream():
    async with odd_backend() as odd, running_lb([odd]) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled
        got, closed = await exchange(lb.server.port, get("/extra") + get("/x"), b"hello from odd")
        b = next(iter(lb.backends))
        assert b.opened == 2  # the connection that sent JUNK was not reused
    assert b"JUNK" not in got and not closed


async def test_a_get_on_a_pooled_connection_the_backend_drops_is_retried_there_fresh():
    async with odd_backend() as odd, running_lb([odd]) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled
        got, closed = await exchange(lb.server.port, get("/drop") + get("/x"), b"HTTP/1.1", 2)
        b = next(iter(lb.backends))
        # /drop: the backend closes without answering, every time: first on the pooled
        # connection (stale: tried again on a fresh one, not counted), then on the fresh one
        # (counted; no other backend: 502). The client connection goes on.
        assert got.startswith(b"HTTP/1.1 502 Bad Gateway") and b"hello from odd" in got
        assert b.failures == 1 and b.opened == 3 and idle_in_flight(lb) and not closed


async def test_a_post_sent_on_the_byte_path_is_never_sent_twice():
    async with odd_backend("p") as odd, odd_backend("q") as other, \
            running_lb([odd, other], max_fails=100) as lb, HTTPClient() as client:  # fmt: skip
        assert (await client.get(url(lb, "/x"))).body == b"hello from p"
        assert (await client.get(url(lb, "/x"))).body == b"hello from q"
        n_other = len(SEEN[other.port])
        r = await client.post(url(lb, "/drop"), body=b"once")  # p's turn, pooled: byte path
        assert r.status == 502 and b"closed the connection" in r.body
        assert len(SEEN[other.port]) == n_other
        assert (await client.get(url(lb, "/x"))).status == 200  # the client connection is fine
        assert idle_in_flight(lb)


async def test_a_timed_out_get_on_the_byte_path_is_retried_on_another_backend():
    async with odd_backend("p", hang=True) as slow, odd_backend("q") as ok, \
            running_lb([slow, ok], read_timeout=0.4, max_fails=100) as lb, \
            HTTPClient() as client:  # fmt: skip
        await client.get(url(lb, "/x"))
        await client.get(url(lb, "/x"))  # both pooled; p's turn again
        r = await client.get(url(lb, "/hang"))
        assert r.status == 200 and r.body == b"hello from q"
        p = next(b for b in lb.backends if b.port == slow.port)
        assert p.failures == 1 and idle_in_flight(lb)


async def test_forwarded_fields_on_the_byte_path(two):
    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        await client.get(url(lb, "/"))
        got, _ = await exchange(lb.server.port, get("/headers", "X-Forwarded-For: 1.2.3.4",
                                                    "Connection: X-Secret", "X-Secret: s"),
                                b"}")  # fmt: skip
    seen = json.loads(got.partition(b"\r\n\r\n")[2])
    assert seen["x-forwarded-for"] == ["1.2.3.4, 127.0.0.1"] and "x-secret" not in seen
    assert seen["via"] == ["1.1 syslab-lb"] and seen["x-forwarded-host"] == ["t"]


FALLBACKS = {
    "HTTP/1.0": (b"GET /whoami HTTP/1.0\r\nHost: x\r\n\r\n", True),
    "absolute-form": (b"GET http://x/whoami HTTP/1.1\r\nHost: x\r\n\r\n", False),
    "head over 8 KiB": (b"GET /whoami HTTP/1.1\r\nHost: x\r\n"
                        + b"X-Big: " + b"b" * 5000 + b"\r\n" + b"X-Big2: " + b"b" * 5000
                        + b"\r\n\r\n", False),  # fmt: skip
    "CL list": (b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nhi", False),
}  # fmt: skip


@pytest.mark.parametrize("raw,closes", FALLBACKS.values(), ids=FALLBACKS.keys())
async def test_valid_requests_it_declines_are_proxied_by_the_general_path(two, raw, closes):
    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        await client.get(url(lb, "/"))  # an idle upstream: only the request decides
        body = b"hi" if b"/echo" in raw else b"hello from a\n"
        got, closed = await exchange(lb.server.port, raw, body)
        assert lb.byte_path == 0
    assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"\r\n\r\n" + body)
    assert closed == closes  # an HTTP/1.0 client without keep-alive: closed after


async def test_least_connections_counts_byte_path_requests_in_flight(two):
    async with running_lb([spec(c) for c in two], algorithm="leastconn") as lb, \
            HTTPClient() as client, HTTPClient() as other:  # fmt: skip
        await asyncio.gather(client.get(url(lb, "/")), other.get(url(lb, "/")))  # both pooled
        byte_path = lb.byte_path
        slow = asyncio.create_task(client.get(url(lb, "/slow?ms=800")))
        await asyncio.sleep(0.2)
        busy = [b for b in lb.backends if b.active == 1]
        assert len(busy) == 1 and lb.byte_path == byte_path + 1
        names = [(await other.get(url(lb, "/whoami"))).headers["x-backend"] for _ in range(4)]
        assert len(set(names)) == 1  # all to the idle one
        assert (await slow).status == 200
        assert lb.byte_path == byte_path + 5 and idle_in_flight(lb)


async def test_a_request_body_on_the_byte_path(two):
    body = bytes(range(256)) * 4
    put = b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + body
    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        await client.get(url(lb, "/"))
        got, closed = await exchange(lb.server.port, put + get("/whoami"), b"hello from a\n")
        assert lb.byte_path == 2 and idle_in_flight(lb) and not closed
    assert got.startswith(b"HTTP/1.1 200 OK") and (b"\r\n\r\n" + body + b"HTTP/1.1 200") in got


async def test_a_long_body_relayed_over_many_reads():
    async with odd_backend() as odd, running_lb([odd]) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled
        got, closed = await exchange(lb.server.port, get("/long") + get("/x"), b"hello from odd")
        assert lb.byte_path == 2 and idle_in_flight(lb) and not closed
    assert got.count(b"HTTP/1.1 200 OK") == 2 and LONG_BODY + b"HTTP/1.1 200 OK" in got


# -- status codes below 100, a Content-Length repeated: both paths alike --------------------
# (each case once through the general path, the upstream fresh, and once on the byte path,
# the upstream pooled by a first request)


@pytest.mark.parametrize("path", [b"/000", b"/099"])
@pytest.mark.parametrize("pooled", [False, True])
async def test_a_status_below_100_is_a_bad_response_not_an_interim_one(path, pooled):
    """RFC 9110 §15: a status code is 100..599. 000 or 099 is a malformed head (a 502 at
    once), not a 1xx to drop and wait past (it waited for the read timeout: a 504)."""
    async with odd_backend() as odd, running_lb([odd], read_timeout=5) as lb:
        if pooled:
            await exchange(lb.server.port, get("/x"), b"hello from odd")
        got, _ = await exchange(lb.server.port, get(path.decode()), b"\n", timeout=3)
        assert got.startswith(b"HTTP/1.1 502 Bad Gateway\r\n") and b"bad response" in got
        assert lb.byte_path == (1 if pooled else 0)  # which path met it
        assert next(iter(lb.backends)).failures == 1 and idle_in_flight(lb)


@pytest.mark.parametrize("path", [b"/twice", b"/list"])
@pytest.mark.parametrize("pooled", [False, True])
async def test_a_content_length_repeated_with_one_value_is_relayed_once(path, pooled):
    """RFC 9110 §8.6 / RFC 9112 §6.3: the same decimal value repeated may be accepted as one
    (we do) and is then forwarded as one instance: never two Content-Length fields."""
    async with odd_backend() as odd, running_lb([odd]) as lb:
        if pooled:
            await exchange(lb.server.port, get("/x"), b"hello from odd")
        got, closed = await exchange(lb.server.port, get(path.decode()) + get("/x"),
                                     b"hello from odd")  # fmt: skip
        head, _, rest = got.partition(b"\r\n\r\n")
        assert head.lower().count(b"content-length") == 1 and b"content-length: 2" in head.lower()
        assert rest.startswith(b"okHTTP/1.1 200 OK") and not closed  # framed by it, and on
        assert (lb.byte_path > 0) == pooled  # which path met it


@pytest.mark.parametrize("pooled", [False, True])
async def test_conflicting_content_lengths_are_a_502(pooled):
    async with odd_backend() as odd, running_lb([odd]) as lb:
        if pooled:
            await exchange(lb.server.port, get("/x"), b"hello from odd")
        got, _ = await exchange(lb.server.port, get("/conflict"), b"\n")
        assert got.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


def test_parse_response_on_status_codes_and_repeated_lengths():
    assert parse_response(b"HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\n") is None
    assert parse_response(b"HTTP/1.1 099 Low\r\n\r\n") is None
    assert parse_response(b"HTTP/1.1 100 Continue\r\n\r\n") is not None
    r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\ncontent-length:2\r\n\r\n")
    assert r == (200, 2, False, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\n")
    assert parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n") is None
