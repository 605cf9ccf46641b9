"""``Upgrade: echo`` end to end on raw sockets: the exact 101 (no framing headers on a
1xx), the hand-over with the bytes the client sent in the same packet as the
request, refusals (426) when the client did not ask, and an upgraded connection
still under the shell's idle timeout and shutdown."""

import asyncio
import socket

import pytest
from support import curl

from netlib.http import App, Response, Upgrade, serve
from netlib.http import core as h11
from netlib.shell import Connection, Session, ShellConfig
from servers.echo.server import echo


class Shout(Session):
    """A synchronous protocol to upgrade to: upper-cases every byte."""

    def data_received(self, data: bytes) -> None:
        self.conn.write(data.upper())


def make_app() -> App:
    app = App(access_log=False)

    @app.get("/hello")
    def hello(req):
        return Response(b"hi\n")

    @app.get("/echo")
    def to_echo(req):
        return Upgrade("echo", echo)

    @app.get("/shout")
    async def to_shout(req):  # an async handler upgrades too
        return Upgrade("shout", Shout, headers={"x-protocol-version": "1"})

    @app.get("/bad101")
    def bad_101(req):
        return Upgrade("echo", echo, headers={"content-length": "5"})

    @app.get("/fake101")
    def fake_101(req):
        return Response(b"body of a 1xx", status=101)

    return app


UPGRADE = b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
SWITCHED = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n"


@pytest.fixture
async def server():
    async with await serve(make_app(), ShellConfig()) as s:
        yield s


async def open_raw(server):
    return await asyncio.open_connection("127.0.0.1", server.port)


async def test_101_exact_bytes_then_echo_including_bytes_in_the_same_packet(server):
    r, w = await open_raw(server)
    w.write(UPGRADE + b"early bytes|")  # one write: one packet on loopback
    assert await asyncio.wait_for(r.readexactly(len(SWITCHED)), 5) == SWITCHED
    assert await r.readexactly(12) == b"early bytes|"
    w.write(b"GET /hello HTTP/1.1\r\n\r\n")  # HTTP no more: echoed, not parsed
    assert await r.readexactly(23) == b"GET /hello HTTP/1.1\r\n\r\n"
    w.write_eof()
    assert await asyncio.wait_for(r.read(), 5) == b""
    w.close()


async def test_the_request_and_a_frame_in_one_send_on_a_blocking_socket(server):
    def run() -> bytes:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(UPGRADE + b"\x81\x05hello")  # a WebSocket-like frame right behind
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(4096):
                out += chunk
            return out

    assert await asyncio.to_thread(run) == SWITCHED + b"\x81\x05hello"


async def test_pipelined_requests_before_the_upgrade_are_answered_first(server):
    r, w = await open_raw(server)
    w.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" + UPGRADE + b"after")
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK") and await r.readexactly(3) == b"hi\n"
    assert await r.readexactly(len(SWITCHED)) == SWITCHED
    assert await r.readexactly(5) == b"after"
    w.close()


async def test_an_async_handler_upgrades_to_a_session_with_extra_headers(server):
    r, w = await open_raw(server)
    w.write(b"GET /shout HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n"
            b"Upgrade: foo/2, shout\r\n\r\nquiet")  # fmt: skip
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    assert head == (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: shout\r\n"
                    b"connection: upgrade\r\nx-protocol-version: 1\r\n\r\n")  # fmt: skip
    assert await r.readexactly(5) == b"QUIET"
    w.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",  # no Upgrade at all
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n\r\n",  # no Connection: upgrade
        b"GET /echo HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",  # 1.0: ignored
    ],
    ids=["none", "other protocol", "no connection token", "http/1.0"],
)
async def test_a_client_that_did_not_ask_gets_426_and_stays_http(server, raw):
    r, w = await open_raw(server)
    w.write(raw)
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nupgrade: echo\r\n" in head
    if b"HTTP/1.1" in raw.split(b"\r\n")[0]:
        await r.readuntil(b"echo\n")
        w.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")  # still HTTP on this connection
        assert (await r.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 OK")
    w.close()


async def test_a_1xx_with_framing_headers_or_a_body_is_never_sent(server):
    for path in (b"/bad101", b"/fake101"):
        r, w = await open_raw(server)
        w.write(
            b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n" % path
        )
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), path
        w.close()


def test_the_core_refuses_content_length_or_type_on_any_1xx():
    for status in (100, 101, 103):
        for name in (b"content-length", b"Content-Type", b"transfer-encoding"):
            c = h11.Connection(h11.SERVER)
            c.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            c.next_event()
            with pytest.raises(h11.LocalProtocolError):
                c.send(h11.InformationalResponse(status, [(name, b"0")]))
            with pytest.raises(h11.LocalProtocolError):
                c.send(h11.Response(status, []))  # a 1xx is never a final response


async def test_an_upgraded_connection_is_still_under_the_idle_timeout():
    cfg = ShellConfig(idle_timeout=0.3, sweep_interval=0.05)
    async with await serve(make_app(), cfg) as server:
        r, w = await open_raw(server)
        w.write(UPGRADE)
        await asyncio.wait_for(r.readexactly(len(SWITCHED)), 5)
        try:
            assert await asyncio.wait_for(r.read(), 5) == b""
        except ConnectionResetError:
            pass  # abort(): closed either way
        assert server.timed_out == 1
        w.close()


async def test_an_upgraded_connection_hears_the_shutdown():
    server = await serve(make_app(), ShellConfig())
    r, w = await open_raw(server)
    w.write(UPGRADE + b"x")
    await asyncio.wait_for(r.readexactly(len(SWITCHED) + 1), 5)
    await asyncio.wait_for(server.shutdown(grace=3600), 10)  # echo lets an idle peer go
    assert await asyncio.wait_for(r.read(), 5) == b""
    w.close()


async def test_garbage_after_an_upgrade_hurts_nobody(server):
    r, w = await open_raw(server)
    w.write(UPGRADE + bytes(range(256)) * 4)
    await asyncio.wait_for(r.readexactly(len(SWITCHED)), 5)
    assert await r.readexactly(1024) == bytes(range(256)) * 4
    w.close()
    r2, w2 = await open_raw(server)
    w2.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await asyncio.wait_for(r2.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
    w2.close()


async def test_an_upgrade_route_behind_curl_gets_the_101(server):
    """curl, a client nobody here wrote: it reads our 101 as a protocol switch."""
    _, out, _ = await curl("-i", "--max-time", "1", "-H", "Connection: Upgrade", "-H",
                           "Upgrade: echo", f"http://127.0.0.1:{server.port}/echo")  # fmt: skip
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"content-length" not in out.lower()


async def test_a_coroutine_upgrade_target_gets_its_connection(server):
    seen: list[Connection] = []

    async def record(conn: Connection):
        seen.append(conn)
        conn.write(b"mine\n")

    app = make_app()
    app.add("GET", "/rec", lambda req: Upgrade("rec", record))
    async with await serve(app, ShellConfig()) as s2:
        r, w = await asyncio.open_connection("127.0.0.1", s2.port)
        w.write(b"GET /rec HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: rec\r\n\r\n")
        out = await asyncio.wait_for(r.read(), 5)
        assert out.endswith(b"\r\n\r\nmine\n") and len(seen) == 1
        w.close()
