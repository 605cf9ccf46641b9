"""Attacks on the server's fast path (``netlib.http._fastpath``): what a hostile client
or an unlucky moment (a second boundary, a shutdown) does to a request the fast path
took, compared with the same server answering through the core (``CoreOnly``).
Each test here failed before the fix beside it.
"""

import asyncio
import logging
import os
import re
import time
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_http_fastpath import CoreOnly, G, core_request

from netlib.http import App, Response, serve
from netlib.http._fast import simple_head
from netlib.http.conditional import precondition_failed
from netlib.http.server import HTTPSession
from netlib.shell import ShellConfig

SESSIONS = [HTTPSession, CoreOnly]


async def served(app: App, session: type):
    server = await serve(app, ShellConfig())
    server.session_factory = lambda c: session(c, app)
    return server


def _dates(raw: bytes) -> list[int]:
    return [int(parsedate_to_datetime(d.decode()).timestamp())
            for d in re.findall(rb"date: ([^\r]*)\r\n", raw)]  # fmt: skip


def slow_app() -> App:
    app = App(access_log=False)

    @app.get("/slow")
    def slow(req):  # a sync handler that runs into the next second (a busy one: a real wait)
        start = int(time.time())
        while int(time.time()) == start:
            time.sleep(0.01)
        return Response(b"%d" % int(time.time()))

    @app.get("/quick")
    def quick(req):
        return Response(b"%d" % int(time.time()))

    return app


@pytest.mark.parametrize("session", SESSIONS)
async def test_the_date_is_taken_when_the_answer_is_made_not_before_the_handler(session):
    """RFC 9110 §6.6.1: Date is when the message was made. A sync handler that runs into
    the next second, and the pipelined request after it, must not carry the Date of the
    moment the read arrived (the fast path formatted its Date once per read)."""
    async with await served(slow_app(), session) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(G(b"/slow") + G(b"/quick") + G(b"/quick", b"Connection: close\r\n"))
        got = await asyncio.wait_for(r.read(), 10)
        w.close()
        bodies = [int(b) for b in re.findall(rb"\r\n\r\n(\d+)", got)]
        assert len(bodies) == 3
        # Each Date is no earlier than the second its handler finished in.
        assert all(d >= b for d, b in zip(_dates(got), bodies, strict=True)), got


@pytest.mark.parametrize("session", SESSIONS)
async def test_a_shutdown_while_a_large_file_is_sent_closes_the_connection_after_it(
    session, tmp_path
):
    """The server starts stopping while a file too big for one ``os.sendfile`` goes to a
    client that does not read yet: the file is finished, then the connection is closed
    (the core's ``close_after_this``), not left open until the grace period runs out. The
    fast path had sent the file without the core knowing of the request, so the core's
    "this is the last response" fell on no response at all."""
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 32768)  # 8 MiB
    app = App(access_log=False)
    app.static("/s", str(tmp_path))
    server = await served(app, session)
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(G(b"/s/big.bin"))
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200 OK")
    while not any(s.owned for c in server.connections if (s := c.session) is not None):
        await asyncio.sleep(0.01)  # polling: until the file's sender waits for the socket
    stopper = asyncio.create_task(server.shutdown(grace=60))
    body = await asyncio.wait_for(r.readexactly(8 * 1024 * 1024), 10)
    assert body == bytes(range(256)) * 32768
    assert await asyncio.wait_for(r.read(), 10) == b""  # closed right after the file
    await asyncio.wait_for(stopper, 10)
    w.close()


def _logged(caplog) -> list[str]:
    return [r.getMessage().split('"', 1)[1] for r in caplog.records
            if r.name == "netlib.http.access"]  # fmt: skip


@pytest.mark.parametrize("session", SESSIONS)
async def test_a_head_of_a_large_file_is_in_the_access_log(session, tmp_path, caplog):
    """HEAD of a file too large for the core's one write (a whole file and one range) is
    logged like any request: the fast path answered it and logged nothing, so a client
    could probe large files without a trace."""
    caplog.set_level(logging.INFO, logger="netlib.http.access")
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 400)  # > FILE_BLOCK
    app = App()
    app.static("/s", str(tmp_path))
    async with await served(app, session) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(G(b"/s/big.bin", method=b"HEAD")
                + G(b"/s/big.bin", b"Range: bytes=0-70000\r\n", b"HEAD")
                + G(b"/s/big.bin", b"Connection: close\r\n", b"HEAD"))  # fmt: skip
        got = await asyncio.wait_for(r.read(), 10)
        w.close()
    assert got.count(b"HTTP/1.1 ") == 3
    lines = [re.sub(r" [0-9.]+ms$", "", line) for line in _logged(caplog)]
    assert lines == ['HEAD /s/big.bin HTTP/1.1" 200 0', 'HEAD /s/big.bin HTTP/1.1" 206 0',
                     'HEAD /s/big.bin HTTP/1.1" 200 0']  # fmt: skip


# -- Host values (RFC 9112 §3.2: an invalid one is a 400, as nginx answers) -----------
BAD_HOSTS = [b"a b", b"a/b", b"evil.com/x", b"a@b", b"a\\b", b"a\tb", b"x:80:81", b"x:8a",
             b"[::1", b"a%zz", b"caf\xc3\xa9", b'"x"', b"<x>", b"a?b", b"a#b"]  # fmt: skip
GOOD_HOSTS = [b"", b"x", b"x:8080", b"x:", b"127.0.0.1:80", b"[::1]:443", b"[v1.fe]",
              b"a-b.c_d~e", b"a%41b", b"a!$&'()*+,;=b", b"EXAMPLE.com"]  # fmt: skip


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_an_invalid_host_is_refused_by_the_core_and_left_to_it_by_the_fast_path(host):
    raw = b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host
    assert core_request(raw) == "refused 400"
    assert simple_head(raw) is None
    assert core_request(b"GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % host) == "refused 400"


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_a_valid_host_is_taken_by_the_core_and_the_fast_path_alike(host):
    raw = b"GET / HTTP/1.1\r\nHost: \t%s \r\n\r\n" % host
    assert core_request(raw) != "refused 400"
    # (the fast path may leave a rarer one to the core: a pct-encoded host)
    assert (simple_head(raw) is None) == (b"%" in host)
    if b"%" not in host:
        assert simple_head(raw) == core_request(raw)


@pytest.mark.parametrize("session", SESSIONS)
async def test_a_request_with_an_invalid_host_gets_400_and_no_handler_sees_it(session):
    seen = []
    app = App(access_log=False)

    @app.get("/where")
    def where(req):
        seen.append(req.headers["host"])
        return Response(b"https://%s/next\n" % req.headers["host"].encode("latin-1"))

    async with await served(app, session) as server:
        for host in (b"evil.com/phish?", b"a b", b"x@evil"):
            r, w = await asyncio.open_connection("127.0.0.1", server.port)
            w.write(G(b"/where", b"", b"GET").replace(b"Host: t", b"Host: " + host) + G(b"/where"))
            got = await asyncio.wait_for(r.read(), 10)
            w.close()
            assert got.startswith(b"HTTP/1.1 400 Bad Request\r\n"), got
            assert got.count(b"HTTP/1.1") == 1 and b"connection: close" in got
    assert seen == []


# -- If-Match and If-Unmodified-Since on static files (RFC 9110 §13.1.1, §13.1.4) ------
def static_app(tmp_path) -> App:
    (tmp_path / "small.txt").write_bytes(b"small file\n")
    os.utime(tmp_path / "small.txt", (1_000_000_000, 1_000_000_000))  # 2001-09-09
    app = App(access_log=False)
    app.static("/s", str(tmp_path))
    return app


PAST, FUTURE = "Thu, 01 Jan 1970 00:00:00 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"


@pytest.mark.parametrize("session", SESSIONS)
async def test_failed_preconditions_on_a_static_file_are_412_not_the_cached_200(
    session, tmp_path
):
    """nginx answers a failed If-Match or If-Unmodified-Since with 412; a conditional
    PUT-after-GET client relies on it. Every request after the first is one the small
    file cache (the fast path's plain answer) must not take."""
    async with await served(static_app(tmp_path), session) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(G(b"/s/small.txt"))
        first = await asyncio.wait_for(r.readuntil(b"small file\n"), 10)
        etag = re.search(rb"etag: ([^\r]*)", first)[1].decode()
        weak = "W/" + etag
        cases = [  # (header lines, status)
            (f"If-Match: {etag}", 200), ('If-Match: "nope"', 412), ("If-Match: *", 200),
            (f'If-Match: "a", {etag}', 200), (f"If-Match: {weak}", 412),
            (f"If-Unmodified-Since: {PAST}", 412), (f"If-Unmodified-Since: {FUTURE}", 200),
            ("If-Unmodified-Since: yesterday", 200),
            (f"If-Match: {etag}\r\nIf-Unmodified-Since: {PAST}", 200),  # If-Match wins
            ('If-Match: "nope"\r\nRange: bytes=0-1', 412),
            (f"If-Match: {etag}\r\nRange: bytes=0-1", 206),
            (f"If-Match: {etag}\r\nIf-None-Match: {etag}", 304),
        ]  # fmt: skip
        for lines, status in cases:
            w.write(G(b"/s/small.txt", lines.encode() + b"\r\n"))
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 %d " % status), (lines, head)
            n = int(re.search(rb"content-length: (\d+)", head)[1]) if status != 304 else 0
            await asyncio.wait_for(r.readexactly(n), 10)
        w.close()


@pytest.mark.parametrize(
    ("if_match", "ius", "etag", "failed"),
    [
        (None, None, '"1"', False), ('"1"', None, '"1"', False), ('"2"', None, '"1"', True),
        ("*", None, '"1"', False), ('W/"1"', None, '"1"', True), ('"1"', None, 'W/"1"', True),
        (' "0" ,"1" ', None, '"1"', False), (None, PAST, '"1"', True),
        (None, FUTURE, '"1"', False), (None, "garbage", '"1"', False),
        ('"1"', PAST, '"1"', False), ('"2"', FUTURE, '"1"', True),
    ],
)  # fmt: skip
def test_precondition_failed_table(if_match, ius, etag, failed):
    assert precondition_failed(if_match, ius, etag, 1_000_000_000) is failed


# -- a mutable body changed by the next pipelined request's handler -------------------
def growing_app(tmp_path=None) -> App:
    """A handler answering with a module-level buffer it appends to on every call (a
    bytearray: ``to_response`` and Response keep it as it is)."""
    app = App(access_log=False)
    log = bytearray()

    @app.get("/grow")
    def grow(req):
        log.extend(b"%d;" % len(log))
        return Response(log)

    @app.get("/view")
    def view(req):
        log.extend(b"v")
        return Response(memoryview(log))

    return app


@pytest.mark.parametrize("session", SESSIONS)
async def test_a_body_changed_in_place_by_the_next_handler_does_not_desync(session):
    """The answers to pipelined requests are joined after all of them are handled: a
    bytearray body the next handler grows was sent with its old Content-Length and its
    new bytes, so the client read the rest as the start of the next response."""
    async with await served(growing_app(), session) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(G(b"/grow") * 3 + G(b"/view") + G(b"/grow", b"Connection: close\r\n"))
        got = await asyncio.wait_for(r.read(), 10)
        w.close()
    bodies = []
    rest = got
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n"), (head, got)
        n = int(re.search(rb"content-length: (\d+)", head)[1])
        bodies.append(rest[:n])
        rest = rest[n:]
    assert bodies == [b"0;", b"0;2;", b"0;2;4;", b"0;2;4;v", b"0;2;4;v7;"]


# -- absolute-form targets: the authority is the Host (RFC 9112 §3.2.2) -----------------
BAD_AUTHORITIES = [b"http://a@b/p", b"http://user:pw@h/", b"http://a\\b/", b"http://a%zz/",
                   b"http://[::1/", b"http://h:8x/", b"x/y://ev@il/p", b"http://\"h\"/"]  # fmt: skip
GOOD_TARGETS = [b"http://h/p", b"http://h", b"http://h?q=1", b"https://h:8443/p?q",
                b"http://[::1]:8080/p", b"*", b"/a://b@c", b"a?b://c@d"]  # fmt: skip


@pytest.mark.parametrize("target", BAD_AUTHORITIES)
def test_an_absolute_target_with_a_bad_authority_is_refused_by_both(target):
    raw = b"GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % target
    assert core_request(raw) == "refused 400"
    assert simple_head(raw) is None


@pytest.mark.parametrize("target", GOOD_TARGETS)
def test_other_targets_are_taken_alike(target):
    raw = b"GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % target
    assert simple_head(raw) == core_request(raw)


target_pieces = st.lists(st.sampled_from([b"http", b"://", b"/", b"?", b"@", b"h", b":", b"8",
                                          b"[", b"]", b"%4", b"1", b"*", b"\\"]),
                         min_size=1, max_size=8)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(target_pieces)
def test_generated_targets_the_fast_path_takes_are_the_cores_too(pieces):
    raw = b"GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % b"".join(pieces)
    got = simple_head(raw)
    if got is not None:
        assert got == core_request(raw)


@pytest.mark.parametrize("session", SESSIONS)
async def test_a_handler_sees_the_absolute_targets_authority_as_the_host(session):
    app = App(access_log=False)

    @app.get("/where")
    def where(req):
        return Response(b"%s|%d" % (req.headers["host"].encode(),
                                    sum(n == b"host" for n, _ in req.raw_headers)))  # fmt: skip

    async with await served(app, session) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"GET http://front.example:81/where HTTP/1.1\r\nHost: evil\r\n\r\n"
                + b"GET /where HTTP/1.1\r\nHost: plain\r\n\r\n"
                + b"GET http://u@front/where HTTP/1.1\r\nHost: evil\r\n\r\n")  # fmt: skip
        got = await asyncio.wait_for(r.read(), 10)
        w.close()
    bodies = re.findall(rb"\r\n\r\n([^\r]*?)(?=HTTP/1.1|$)", got)
    assert bodies[:2] == [b"front.example:81|1", b"plain|1"], got
    assert got.count(b"HTTP/1.1 400 Bad Request") == 1 and b"evil" not in got
