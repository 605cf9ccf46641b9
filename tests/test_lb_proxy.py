"""N6: the HTTP reverse proxy: headers, streaming, keep-alive upstreams, 502/504,
retries, smuggling refusals and the admin endpoint, against real backend processes."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time

import pytest
from lb_support import backend, backends, running_lb, spec, url, who
from support import converse, read_until, until

from harness.procs import free_port
from netlib.http import HTTPClient
from servers.lb.config import BackendSpec

pytestmark = pytest.mark.exercise("N6")


@pytest.fixture(scope="module")
def two():
    with backends("a", "b") as children:
        yield children


async def test_forwarded_headers_added_and_hop_by_hop_removed(two):
    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        r = await client.get(url(lb, "/headers"), headers={
            "X-Forwarded-For": "203.0.113.7", "Connection": "keep-alive, X-Secret",
            "X-Secret": "1", "Keep-Alive": "timeout=5", "TE": "trailers",
            "Proxy-Authorization": "Basic eA==", "X-Kept": "yes",
        })  # fmt: skip
    seen = r.json()
    assert seen["x-forwarded-for"] == ["203.0.113.7, 127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["forwarded"] == [f'for=127.0.0.1;host="127.0.0.1:{lb.server.port}";proto=http']
    assert seen["x-kept"] == ["yes"] and seen["via"] == ["1.1 syslab-lb"]
    for hop in ("x-secret", "keep-alive", "te", "proxy-authorization", "connection"):
        assert hop not in seen, hop
    assert r.headers["via"] == "1.1 syslab-lb"


async def test_connection_header_cannot_strip_what_the_proxy_adds(two):
    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        r = await client.get(url(lb, "/headers"),
                             headers={"Connection": "X-Forwarded-For, Host"})  # fmt: skip
    assert r.json()["x-forwarded-for"] == ["127.0.0.1"]


async def test_bodies_stream_both_ways(two):
    size, n = 64 * 1024, 64  # 4 MiB each way, chunked upstream and down

    async def upload():
        for _ in range(n):
            yield b"x" * size

    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        r = await client.put(url(lb, "/upload"), body=upload())
        assert r.status == 200 and r.json()["bytes"] == size * n
        r = await client.get(url(lb, f"/stream?chunks={n}&size={size}"), stream=True)
        got = 0
        async for chunk in r.stream():
            got += len(chunk)
        assert got == size * n
        r = await client.post(url(lb, "/echo"), body=b"hello body")
        assert r.body == b"hello body"


async def test_upstream_connections_are_kept_alive_and_reused(two):
    async with running_lb([spec(c) for c in two]) as lb, HTTPClient() as client:
        await who(client, lb, 40)
        assert [b.opened for b in lb.backends] == [1, 1]
        assert [b.requests for b in lb.backends] == [20, 20]


async def test_no_backend_listening_is_a_502_with_a_short_body():
    dead = BackendSpec("127.0.0.1", free_port())
    async with running_lb([dead]) as lb, HTTPClient() as client:
        r = await client.get(url(lb, "/"))
        assert r.status == 502
        assert b"connect failed" in r.body and len(r.body) < 200
        assert r.headers["content-type"].startswith("text/plain")
        r = await client.get(url(lb, "/"))  # the client connection is still usable
        assert r.status == 502


async def test_a_hanging_backend_is_timed_out_with_504():
    with backend("hang", "--hang") as hang:
        async with running_lb([spec(hang)], read_timeout=0.5) as lb, HTTPClient() as client:
            t0 = time.monotonic()
            r = await client.get(url(lb, "/"))
            took = time.monotonic() - t0
    assert r.status == 504 and b"no answer within 0.5s" in r.body
    assert 0.4 < took < 3


async def test_idempotent_request_is_retried_on_another_backend_and_post_is_not(two):
    with backend("hang", "--hang") as hang:
        specs = [spec(hang), spec(two[0])]
        async with running_lb(specs, read_timeout=0.5, max_fails=100) as lb, \
                HTTPClient() as client:  # fmt: skip
            r = await client.get(url(lb, "/"))  # round robin: the hanging one first
            assert r.status == 200 and r.headers["x-backend"] == "a"
            r = await client.put(url(lb, "/echo"), body=b"same twice")  # idempotent, small body
            assert r.status == 200 and r.body == b"same twice"
            before = (await client.get(f"http://127.0.0.1:{two[0].port}/count")).json()
            r = await client.post(url(lb, "/echo"), body=b"once only")  # hang's turn
            assert r.status == 504
            after = (await client.get(f"http://127.0.0.1:{two[0].port}/count")).json()
    assert after.get("POST", 0) == before.get("POST", 0)  # never sent to the healthy one


async def test_a_post_that_was_never_sent_goes_to_another_backend(two):
    dead = BackendSpec("127.0.0.1", free_port())
    async with running_lb([dead, spec(two[1])]) as lb, HTTPClient() as client:
        r = await client.post(url(lb, "/echo"), body=b"nothing was sent")
        assert r.status == 200 and r.headers["x-backend"] == "b"


async def test_passive_health_takes_a_failing_backend_out_for_the_cooldown(two):
    dead = BackendSpec("127.0.0.1", free_port())
    async with running_lb([dead, spec(two[0])], max_fails=2, cooldown=0.6) as lb, \
            HTTPClient() as client:  # fmt: skip
        seen = await who(client, lb, 10)  # every request succeeds (retried)
        assert set(seen) == {"a"}
        dead_b = next(b for b in lb.backends if b.port == dead.port)
        assert dead_b.failures == 2 and dead_b.state() == "cooldown"
        await until(lambda: dead_b.state() == "up", timeout=5, what="cooldown over")
        await who(client, lb, 2)
        assert dead_b.failures >= 3  # tried again after the cooldown (and failed again)


# The smuggling vectors of netlib's own refusal table, through the proxy.
SMUGGLING = [
    ("CL and TE together", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /count HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("conflicting duplicate CL", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 5\r\n\r\nabcde"),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tTransfer-Encoding: chunked\r\n\r\n"),
    ("TE other than chunked", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    ("bare LF", b"GET / HTTP/1.1\nHost: x\n\n"),
    ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"),
]  # fmt: skip


@pytest.mark.parametrize("why,raw", SMUGGLING, ids=[c[0] for c in SMUGGLING])
async def test_smuggling_is_refused_by_the_proxy_as_by_the_server(two, why, raw):
    async with running_lb([spec(two[0])]) as lb, HTTPClient() as client:
        direct = await converse(two[0].port, raw)  # the netlib HTTP server's answer
        before = (await client.get(f"http://127.0.0.1:{two[0].port}/count")).json()
        via = await converse(lb.server.port, raw)
        after = (await client.get(f"http://127.0.0.1:{two[0].port}/count")).json()
        assert via.split(b"\r\n")[0] == direct.split(b"\r\n")[0] == b"HTTP/1.1 400 Bad Request"
        assert b"connection: close" in via.lower()
        assert after == before  # no request reached the backend whole
        if why == "bad chunk size":  # a chunked body streams: its head went, the bad chunk not
            assert lb.backends.backends[spec(two[0]).name].idle == []  # that connection closed
        else:
            assert all(b.requests == 0 for b in lb.backends)  # refused before any backend
        assert set(await who(client, lb, 2)) == {"a"}  # and the proxy serves the next client


async def test_expect_100_continue_is_answered_by_the_proxy(two):
    async with running_lb([spec(two[0])]) as lb:
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.server.port)
        writer.write(b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert await read_until(reader, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hello")
        got = await read_until(reader, b"hello")
        writer.close()
    assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"\r\n\r\nhello")


async def test_pipelined_requests_come_back_in_order(two):
    async with running_lb([spec(c) for c in two]) as lb:
        raw = b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n" * 3 + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        got = await converse(lb.server.port, raw)
    assert got.count(b"HTTP/1.1 200 OK") == 4
    assert re.findall(rb"hello from (\w)", got) == [b"a", b"b", b"a", b"b"]


async def test_admin_status_is_on_its_own_port(two):
    async with running_lb([spec(c) for c in two]) as lb, HTTPClient() as client:
        await who(client, lb, 4)
        r = await client.get(f"http://127.0.0.1:{lb.admin.port}/_lb/status")
        st = r.json()
        assert st["mode"] == "http" and st["algorithm"] == "roundrobin"
        assert [(b["state"], b["healthy"], b["requests"], b["failures"], b["active"])
                for b in st["backends"]] == [("up", True, 2, 0, 0)] * 2  # fmt: skip
        r = await client.get(url(lb, "/_lb/status"))  # the proxy port proxies it
        assert r.status == 404 and r.headers["via"] == "1.1 syslab-lb"  # a backend's 404


async def test_curl_through_the_proxy(two):
    async with running_lb([spec(two[1])]) as lb:
        out = await asyncio.to_thread(subprocess.run, [
            "curl", "-s", "-D", "-", "-H", "X-Forwarded-For: 198.51.100.1", url(lb, "/headers")],
            capture_output=True, timeout=10)  # fmt: skip
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["x-forwarded-for"] == ["198.51.100.1, 127.0.0.1"]
