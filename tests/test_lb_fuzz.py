"""N6: whatever a client sends, what reaches a backend through the proxy is well-formed HTTP.

Mutated requests (bytes inserted, deleted, duplicated; framing headers swapped
in) go through the balancer to a recording backend; every byte stream the
backend received must parse cleanly with the netlib core, one complete request
after another (no request smuggled inside another; only the last one may be cut
short, when the client's own body broke off), and the balancer must keep
answering a plain GET afterwards."""

from __future__ import annotations

import asyncio
import random

import pytest
from lb_support import running_lb

from netlib.http import core as h11
from netlib.shell import Connection, ShellConfig, start
from servers.lb.config import BackendSpec

pytestmark = pytest.mark.exercise("N6")

SEEDS = [
    b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /d HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n\r\nGET /e HTTP/1.1\r\nHost: x\r\n\r\n",
]  # fmt: skip
PIECES = [b"\r\n", b"\n", b" ", b"\t", b":", b"0", b"Content-Length: 3\r\n", b"Content-Length: 0\r\n",
          b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: identity\r\n", b"\r\n\r\n",
          b"GET /x HTTP/1.1\r\n", b"\x00", b"\xff", b"ffffffff\r\n", b"Host: y\r\n"]  # fmt: skip


def mutate(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(data) + 1)
        op = rng.random()
        if op < 0.5:
            data = data[:i] + rng.choice(PIECES) + data[i:]
        elif op < 0.8:
            data = data[:i] + data[i + rng.randint(1, 4):]
        else:
            data = data[:i] + data[i:i + 8] * 2 + data[i + 8:]
    return data


def well_formed(stream: bytes) -> int:
    """The number of complete requests in ``stream``; AssertionError if any is malformed."""
    h = h11.Connection(h11.SERVER, max_body=None)
    h.receive_data(stream)
    h.receive_data(b"")
    done = 0
    while True:
        try:
            ev = h.next_event()
        except h11.RemoteProtocolError as e:
            if "connection closed inside" in str(e):
                return done  # the client's body broke off: the proxy closed that upstream too
            raise AssertionError(f"the backend received a malformed request ({e}): {stream!r}") from None
        if type(ev) is h11.EndOfMessage:
            done += 1
            h.send_message(h11.Response(200, [(b"content-length", b"0")]))
        elif ev is h11.PAUSED or type(ev) is h11.ConnectionClosed:
            return done
        elif ev is h11.NEED_DATA:
            return done


async def test_mutated_requests_never_reach_a_backend_malformed():
    streams: list[bytearray] = []

    async def recording_backend(conn: Connection) -> None:
        got = bytearray()
        streams.append(got)
        h = h11.Connection(h11.SERVER, max_body=None)
        while data := await conn.recv():
            got += data
            h.receive_data(data)
            while True:
                try:
                    ev = h.next_event()
                except h11.RemoteProtocolError:
                    return  # well_formed() reports it
                if type(ev) is h11.EndOfMessage:
                    conn.write(h.send_message(h11.Response(200, [(b"content-length", b"2")]), b"ok"))
                elif ev is h11.NEED_DATA or ev is h11.PAUSED or type(ev) is h11.ConnectionClosed:
                    break

    backend = await start(recording_backend, ShellConfig(port=0))
    rng = random.Random(20261201)
    try:
        async with running_lb([BackendSpec("127.0.0.1", backend.port)], read_timeout=2.0) as lb:
            for _ in range(150):
                data = mutate(rng, rng.choice(SEEDS))
                reader, writer = await asyncio.open_connection("127.0.0.1", lb.server.port)
                writer.write(data)
                writer.write_eof()
                answer = await asyncio.wait_for(reader.read(), 10)
                writer.close()
                assert answer == b"" or answer.startswith(b"HTTP/1.1 "), (data, answer)
            reader, writer = await asyncio.open_connection("127.0.0.1", lb.server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200 OK")
            writer.close()
    finally:
        await backend.shutdown(grace=0.5)
    assert sum(well_formed(bytes(s)) for s in streams) > 30  # plenty of requests did get through
