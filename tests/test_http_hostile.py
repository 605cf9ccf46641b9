"""Hostile clients and careless handlers against the shell and HTTP: many slowloris
peers at once, Upgrade then garbage or a half-close, a request body in front of an
upgrade, an echo peer that never reads, clients vanishing mid-request, a producer
or a hand-over target that crashes, and a 1xx carrying a body from a hostile
server. Each must hurt only its own connection and leak nothing."""

import asyncio
import logging
import socket

import pytest
from support import closed_by_server, until

from netlib.http import App, Heartbeat, Response, StreamingResponse, Upgrade, serve
from netlib.http import core as h11
from netlib.shell import WRITE_HIGH_WATER, Session, ShellConfig
from servers.echo.server import echo

UPGRADE = b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"
SWITCHED = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n"


def make_app() -> App:
    app = App(access_log=False, head_timeout=600, min_data_rate=1000, min_rate_window=0.3)

    @app.get("/hello")
    def hello(req):
        return Response(b"hi\n")

    @app.route("/echo", ["GET", "POST"])
    def to_echo(req):
        return Upgrade("echo", echo)

    @app.put("/lazy", stream=True)
    async def lazy(req):  # upgrades without reading its body: refused
        return Upgrade("echo", echo)

    @app.get("/broken-target")
    def broken_target(req):
        def factory(conn):
            raise RuntimeError("factory bug")

        return Upgrade("echo", factory)

    @app.get("/not-a-session")
    def not_a_session(req):
        return Upgrade("echo", lambda conn: "oops")

    @app.get("/crashing-stream")
    def crashing(req):
        async def feed():
            yield b"one\n"
            raise RuntimeError("producer bug")

        return StreamingResponse(feed(), keepalive=Heartbeat(10, lambda: b""))

    return app


@pytest.fixture
async def server():
    cfg = ShellConfig(idle_timeout=600, sweep_interval=0.05)
    async with await serve(make_app(), cfg) as s:
        yield s


async def hello_ok(port: int) -> bool:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = await asyncio.wait_for(r.readuntil(b"hi\n"), 5)
    w.close()
    return reply.startswith(b"HTTP/1.1 200 OK")


async def test_fifty_slowloris_peers_are_all_cut_while_others_are_served(server, caplog):
    caplog.set_level(logging.INFO, logger="netlib.shell")
    peers = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(50)]

    async def trickle(w):
        for b in b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 10_000:
            w.write(bytes([b]))
            await asyncio.sleep(0.02)  # the slow client's pace, on purpose

    tasks = [asyncio.create_task(trickle(w)) for _, w in peers]
    assert await hello_ok(server.port)  # served meanwhile
    assert all(await asyncio.gather(*(closed_by_server(r) for r, _ in peers)))
    for t in tasks:
        t.cancel()
    for _, w in peers:
        w.close()
    assert server.timed_out == 50
    assert caplog.text.count("below the minimum data rate") == 50
    assert await hello_ok(server.port)


async def test_an_upgrade_then_a_half_close_ends_the_connection(server):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(UPGRADE + b"\r\n" + b"\xff\x00garbage")
    w.write_eof()
    assert await asyncio.wait_for(r.read(), 5) == SWITCHED + b"\xff\x00garbage"
    w.close()
    await until(lambda: not server.connections)


async def test_the_body_of_an_upgrade_request_is_never_given_to_the_new_protocol(server):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"POST" + UPGRADE[3:] + b"Content-Length: 5\r\n\r\nHTTP!proto")
    assert await asyncio.wait_for(r.readexactly(len(SWITCHED) + 5), 5) == SWITCHED + b"proto"
    w.close()


async def test_a_route_that_upgrades_before_reading_its_body_gets_a_500(server):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"PUT /lazy HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"
            b"Content-Length: 100\r\n\r\nabc")  # fmt: skip
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 500 ")
    await r.readexactly(22)
    w.write(b"x" * 97 + b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")  # the body is dropped
    assert (await asyncio.wait_for(r.readuntil(b"hi\n"), 5)).startswith(b"HTTP/1.1 200 OK")
    w.close()


@pytest.mark.parametrize("path", ["/broken-target", "/not-a-session"])
async def test_a_bad_upgrade_target_hurts_only_its_connection(server, path, caplog):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(UPGRADE.replace(b"/echo", path.encode()) + b"\r\n")
    assert await closed_by_server(r)
    w.close()
    assert await hello_ok(server.port)


async def test_an_upgraded_peer_that_never_reads_cannot_grow_server_memory(server):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(UPGRADE + b"\r\n")
    await asyncio.wait_for(r.readexactly(len(SWITCHED)), 5)
    total = 32 * 1024 * 1024
    block = b"e" * 65536
    sender = asyncio.create_task(_send(w, block, total // len(block)))
    await until(lambda: any(c.write_paused for c in server.connections))
    (conn,) = server.connections
    assert conn.transport.get_write_buffer_size() <= WRITE_HIGH_WATER + len(block)
    got = 0
    while got < total:  # the peer reads at last: every byte comes back
        got += len(await asyncio.wait_for(r.read(1 << 20), 5))
    await sender
    w.close()


async def _send(w: asyncio.StreamWriter, block: bytes, n: int) -> None:
    for _ in range(n):
        w.write(block)
        await w.drain()


async def test_a_client_vanishing_mid_body_or_mid_head_leaks_nothing(server):
    for raw in (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc",
                b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Half: "):  # fmt: skip
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(raw)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # linger 0: an RST, the client is simply gone
    await until(lambda: not server.connections)
    assert await hello_ok(server.port)


async def test_a_crashing_producer_cuts_only_its_stream(server, caplog):
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    w.write(b"GET /crashing-stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await closed_by_server(r)
    w.close()
    assert "producer bug" in caplog.text
    assert await hello_ok(server.port)


def test_a_hostile_servers_1xx_with_a_body_is_an_error_not_a_response():
    """A 1xx ends at its blank line: bytes after it are read as the next status line."""
    c = h11.Connection(h11.CLIENT)
    c.send_message(h11.Request(b"GET", b"/", [(b"host", b"x")]))
    c.receive_data(b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n"
                   b"hello" b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
    assert isinstance(c.next_event(), h11.InformationalResponse)
    with pytest.raises(h11.RemoteProtocolError):
        c.next_event()


async def test_a_session_whose_hooks_crash_does_not_stop_the_shutdown():
    from netlib.shell import start

    class Bad(Session):
        def data_received(self, data):
            pass

        def eof_received(self):
            raise RuntimeError("eof bug")

        def shutdown(self):
            raise RuntimeError("shutdown bug")

    server = await start(session_factory=Bad)
    a = await asyncio.open_connection("127.0.0.1", server.port)
    b = await asyncio.open_connection("127.0.0.1", server.port)
    await until(lambda: len(server.connections) == 2)
    a[1].write_eof()  # eof_received raises: that connection is dropped
    assert await closed_by_server(a[0])
    await asyncio.wait_for(server.shutdown(grace=0.2), 5)  # shutdown raises: aborted at grace
    assert await closed_by_server(b[0])
    a[1].close()
    b[1].close()
