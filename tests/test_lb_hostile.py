"""N6: a hostile backend against the balancer's two fast paths (the byte path, ``rawpath``,
and the core-based one, ``fast``): what it sends must never reach a client as the answer
to another request, and a head the core refuses is refused as promptly on either path.

The backends are ``test_lb_rawpath.odd_backend``: real TCP servers answering each path
with fixed bytes (split in two writes).
"""

from __future__ import annotations

import time

import pytest
from lb_support import running_lb
from test_lb_rawpath import ODD, exchange, get, idle_in_flight, odd_backend

pytestmark = pytest.mark.exercise("N6")

EVIL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"
ODD[b"/smuggle"] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + EVIL
ODD[b"/304-smuggle"] = b"HTTP/1.1 304 Not Modified\r\n\r\n" + EVIL
ODD[b"/bare-lf"] = b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"


@pytest.mark.parametrize("path", [b"/smuggle", b"/304-smuggle"])
@pytest.mark.parametrize("algorithm", ["roundrobin", "consistent"])  # (consistent: no byte path)
async def test_bytes_after_a_response_never_answer_the_next_request(path, algorithm):
    async with odd_backend() as odd, running_lb([odd], algorithm=algorithm) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled
        raw = get(path.decode()) + get("/x")
        got, closed = await exchange(lb.server.port, raw, b"hello from odd")
        again, _ = await exchange(lb.server.port, get("/y"), b"hello from odd")
    assert b"EVIL" not in got and b"hello from odd" in got and not closed
    assert b"EVIL" not in again and b"hello from odd" in again
    assert idle_in_flight(lb)


async def test_a_response_head_with_a_bare_lf_is_a_502_at_once_on_the_byte_path():
    async with odd_backend() as odd, running_lb([odd], read_timeout=5.0) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled: the byte path
        t0 = time.monotonic()
        got, _ = await exchange(lb.server.port, get("/bare-lf"), b"\n", timeout=10)
        took = time.monotonic() - t0
        assert lb.byte_path == 1  # (the first request opened the connection: general path)
    assert got.startswith(b"HTTP/1.1 502 Bad Gateway") and b"bare LF" in got
    assert took < 2.0  # not the read timeout's 504 (the core refuses it as it arrives)


ODD[b"/length-list"] = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"
ODD[b"/length-twice"] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize("path", [b"/length-list", b"/length-twice"])
@pytest.mark.parametrize("algorithm", ["roundrobin", "consistent"])
async def test_a_content_length_list_the_core_accepts_is_relayed_as_one_length(path, algorithm):
    async with odd_backend() as odd, running_lb([odd], algorithm=algorithm) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled
        got, closed = await exchange(lb.server.port, get(path.decode()) + get("/x"),
                                     b"hello from odd", timeout=3)  # fmt: skip
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and not closed
    head, _, rest = got.partition(b"\r\n\r\n")
    assert b"content-length: 2\r\n" in head.lower() + b"\r\n" and b"2, 2" not in head
    assert rest.startswith(b"okHTTP/1.1 200 OK\r\n") and rest.endswith(b"hello from odd")


ODD[b"/16k"] = b"HTTP/1.1 200 OK\r\nContent-Length: 16384\r\n\r\n" + b"x" * 16384


async def test_a_client_that_stops_reading_leaves_no_paused_connection_in_the_pool():
    """Pipelined 16 KiB answers (each one backend read, so each relayed in one write) to a client
    that reads nothing for a while: the client's side pauses the backend connection's reading
    when its buffer fills, possibly on a response's last write. No backend connection may go
    back to the pool paused, where the next request on it would wait for the read timeout
    (a suspicion of a hostile review; today the shell's writes pause only after the exchange
    has let go of the backend, and this test keeps it so)."""
    import asyncio
    import socket

    async with odd_backend() as odd, running_lb([odd], read_timeout=2.0) as lb:
        await exchange(lb.server.port, get("/x"), b"hello from odd")  # pooled: the byte path
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", lb.server.port))
        s.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=s, limit=4096)
        n = 200
        writer.write(get("/16k") * n)
        await asyncio.sleep(1.0)  # not reading: the balancer's writes to us back up
        got = b""
        while got.count(b"HTTP/1.1 ") < n or not got.endswith(b"x" * 100):
            chunk = await asyncio.wait_for(reader.read(65536), 20)
            assert chunk, "connection closed"
            got += chunk
        writer.close()
        again, _ = await exchange(lb.server.port, get("/y"), b"hello from odd")
        failures = sum(b.failures for b in lb.backends)
    assert got.count(b"HTTP/1.1 200 OK") == n and b" 504 " not in got
    assert b"hello from odd" in again
    assert failures == 0
