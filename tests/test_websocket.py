"""netlib.websocket on real sockets: our server (a netlib.http route, the shell's
hand-over) with our client and with raw bytes: echo of text, binary and fragmented
messages, negotiation, handshake refusals, bad input answered with the RFC's close
code on that connection only, keepalive timeout, TCP reset, clean shutdown (1001)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

import pytest

from clients.websocket import HandshakeError, connect
from netlib.http import App, serve
from netlib.shell import ShellConfig
from netlib.websocket import ConnectionClosed, Options, WebSocket, wants_websocket, websocket
from netlib.websocket.deflate import DeflateParams
from netlib.websocket.frames import encode_frame
from servers.chat.wsecho import echo, mount
from tests.support import until

pytestmark = pytest.mark.exercise("N15")


class Seen:
    """The server-side WebSocket objects, to check how each connection ended."""

    def __init__(self) -> None:
        self.sockets: list[WebSocket] = []


@pytest.fixture
async def srv():
    seen = Seen()
    app = App(access_log=False)
    mount(app)  # /ws/echo as the chat app serves it

    async def watched(ws: WebSocket) -> None:
        seen.sockets.append(ws)
        await echo(ws)

    async def fails(ws: WebSocket) -> None:
        raise RuntimeError("handler bug")

    async def says_bye(ws: WebSocket) -> None:
        await ws.send("bye")

    opts = Options(ping_interval=0.2, ping_timeout=0.3, max_frame=1000, max_message=2500,
                   subprotocols=("v2.chat", "v1.chat"))  # fmt: skip
    app.get("/watched")(websocket(watched, options=opts))
    app.get("/fails")(websocket(fails))
    app.get("/bye")(websocket(says_bye))
    upgrade = websocket(says_bye)

    def mixed(req):  # one path, plain GETs and WebSockets (as Engine.IO's polling needs)
        return upgrade(req) if wants_websocket(req) else "plain\n"

    app.get("/mixed")(mixed)
    server = await serve(app, ShellConfig(port=0))
    server.seen = seen  # type: ignore[attr-defined]
    yield server
    await server.shutdown(grace=1.0)


def url(server, path="/ws/echo") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


# -- a raw client: exact bytes on the wire ---------------------------------------------------
async def raw_open(port: int, path: str = "/watched", extra: str = ""):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode())  # fmt: skip
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return r, w


async def read_frame(r: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await asyncio.wait_for(r.readexactly(2), 5)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await r.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await r.readexactly(8))
    assert not b1 & 0x80, "a server frame must not be masked"
    return b0 & 0x0F, await r.readexactly(n)


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0) -> bytes:
    return encode_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv)


async def closed_with(r: asyncio.StreamReader) -> int:
    """Reads up to the close frame: its code; then the server must end TCP."""
    while True:
        op, payload = await read_frame(r)
        if op == 0x8:
            assert await asyncio.wait_for(r.read(), 5) == b"", "TCP not closed after the close"
            return int(struct.unpack("!H", payload[:2])[0])


# -- echo through our client -----------------------------------------------------------------
@pytest.mark.parametrize("compression", [DeflateParams(), None], ids=["deflate", "plain"])
async def test_echo_text_binary_and_fragmented(srv, compression):
    async with await connect(url(srv), compression=compression) as ws:
        assert (ws.core.deflate is not None) == (compression is not None)
        await ws.send("héllo ☃")
        assert await ws.recv() == "héllo ☃"
        await ws.send(b"\x00\xff" * 3)
        assert await ws.recv() == b"\x00\xff" * 3
        big = "fragmented κόσμε " * 3000
        await ws.send(big, fragment=7)  # 7-byte frames: characters split across frames
        assert await ws.recv() == big
        await ws.send(b"")
        assert await ws.recv() == b""
    assert ws.ended_by == "local" and ws.close_code == 1000


async def test_subprotocol_is_the_servers_preference_among_the_offered(srv):
    async with await connect(url(srv, "/watched"), subprotocols=["v1.chat", "v2.chat"]) as ws:
        assert ws.subprotocol == "v2.chat"
        assert srv.seen.sockets[-1].subprotocol == "v2.chat"
    async with await connect(url(srv, "/watched"), subprotocols=["other"]) as ws:
        assert ws.subprotocol is None


async def test_handler_return_closes_1000_and_a_crash_closes_1011(srv):
    ws = await connect(url(srv, "/bye"))
    assert await ws.recv() == "bye"
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    assert info.value.code == 1000 and ws.ended_by == "peer"
    ws = await connect(url(srv, "/fails"))
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    assert info.value.code == 1011


async def test_one_path_serves_plain_requests_and_websockets(srv):
    r, w = await asyncio.open_connection("127.0.0.1", srv.port)
    w.write(b"GET /mixed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(r.read(), 5)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\nplain\n")
    w.close()
    ws = await connect(url(srv, "/mixed"))
    assert await ws.recv() == "bye"
    assert ws.buffered_amount == 0
    await ws.close()


async def test_not_a_websocket_request_is_refused_with_the_right_status(srv):
    r, w = await asyncio.open_connection("127.0.0.1", srv.port)
    w.write(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await r.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 426 ")
    w.close()
    r, w = await asyncio.open_connection("127.0.0.1", srv.port)
    w.write(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")  # fmt: skip
    head = await r.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 426 ") and b"sec-websocket-version: 13" in head.lower()
    w.close()
    with pytest.raises(HandshakeError) as info:
        await connect(url(srv, "/nowhere"))
    assert info.value.status == 404


# -- bad input: the RFC's close code, on that connection only -----------------------------------
BAD = [
    ("unmasked client frame", frame(0x1, b"hi", mask=False), 1002),
    ("frame over the limit", frame(0x2, b"x" * 1001), 1009),
    ("message over the limit", b"".join(frame(0x2 if i == 0 else 0x0, b"x" * 1000, fin=i == 2)
                                        for i in range(3)), 1009),  # fmt: skip
    ("invalid UTF-8", frame(0x1, b"\xed\xa0\x80"), 1007),
    ("invalid UTF-8 in a later fragment", frame(0x1, b"ok", fin=False) + frame(0x0, b"\xff"), 1007),
    ("reserved opcode", frame(0x5, b""), 1002),
    ("RSV bit without an extension", frame(0x1, b"x", rsv=0x20), 1002),
    ("close with an invalid code", frame(0x8, struct.pack("!H", 1005)), 1002),
    ("close with code 999", frame(0x8, struct.pack("!H", 999)), 1002),
    ("ping over 125 bytes", frame(0x9, b"p" * 126), 1002),
]  # fmt: skip


@pytest.mark.parametrize("name,wire,code", BAD, ids=[b[0] for b in BAD])
async def test_bad_input_gets_its_close_code_and_hurts_no_one_else(srv, name, wire, code):
    async with await connect(url(srv)) as bystander:
        r, w = await raw_open(srv.port)
        w.write(wire)
        assert await closed_with(r) == code
        await until(lambda: srv.seen.sockets[-1].ended_by is not None, what="server side ended")
        assert srv.seen.sockets[-1].ended_by == "protocol_error"
        assert srv.seen.sockets[-1].close_code == code
        await bystander.send("still here")
        assert await bystander.recv() == "still here"


async def test_a_message_before_the_bad_frame_is_still_echoed(srv):
    r, w = await raw_open(srv.port)
    w.write(frame(0x1, b"first") + frame(0x1, b"x", rsv=0x40))
    op, payload = await read_frame(r)
    assert (op, payload) == (0x1, b"first")
    assert await closed_with(r) == 1002


# -- the close handshake, keepalive, reset, shutdown ------------------------------------------
async def test_peer_close_is_echoed_and_the_server_closes_tcp(srv):
    r, w = await raw_open(srv.port)
    w.write(frame(0x8, struct.pack("!H", 4000) + "fin é".encode()))
    assert await closed_with(r) == 4000
    await until(lambda: srv.seen.sockets[-1].ended_by == "peer", what="ended by peer")
    assert (srv.seen.sockets[-1].close_code, srv.seen.sockets[-1].close_reason) == (4000, "fin é")


async def test_pings_are_answered_with_pongs(srv):
    r, w = await raw_open(srv.port, "/ws/echo")
    w.write(frame(0x9, b"are you there"))
    assert await read_frame(r) == (0xA, b"are you there")
    w.close()


async def test_a_peer_that_stops_answering_pings_is_closed_1011(srv):
    r, w = await raw_open(srv.port)  # /watched pings every 0.2 s, waits 0.3 s
    op, payload = await read_frame(r)
    assert op == 0x9  # a keepalive ping, which we never answer
    assert await closed_with(r) == 1011
    assert srv.seen.sockets[-1].ended_by == "ping_timeout"


async def test_a_busy_peer_is_not_pinged(srv):
    r, w = await raw_open(srv.port)  # /watched: a silent peer is pinged after 0.2 s
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < 0.8:  # four ping intervals, never silent for one
        w.write(frame(0x1, b"tick"))
        assert await read_frame(r) == (0x1, b"tick")  # never a ping in between
        await asyncio.sleep(0.02)  # pacing, not synchronisation
    assert srv.seen.sockets[-1].keepalives == 0
    w.close()


async def test_a_peer_that_answers_pings_stays(srv):
    async with await connect(url(srv, "/watched"), ping_interval=None) as ws:
        # four keepalive rounds (over two ping timeouts): answered pongs keep it open
        await until(lambda: srv.seen.sockets[-1].keepalives >= 4, what="keepalive rounds")
        assert srv.seen.sockets[-1].latency is not None
        await ws.send("alive")
        assert await ws.recv() == "alive"


async def test_tcp_reset_and_silent_eof_are_told_apart(srv):
    r, w = await raw_open(srv.port)
    sock = w.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.transport.abort()  # SO_LINGER 0: an RST
    await until(lambda: srv.seen.sockets[-1].ended_by is not None, what="reset seen")
    assert srv.seen.sockets[-1].ended_by == "reset" and srv.seen.sockets[-1].close_code == 1006
    r, w = await raw_open(srv.port)
    w.close()  # FIN without a close frame
    await until(lambda: srv.seen.sockets[-1].ended_by is not None, what="eof seen")
    assert srv.seen.sockets[-1].ended_by == "eof" and srv.seen.sockets[-1].close_code == 1006


async def test_shutdown_sends_1001_to_every_websocket():
    app = App(access_log=False)
    served: list[WebSocket] = []

    async def tracked(ws: WebSocket) -> None:
        served.append(ws)
        await echo(ws)

    app.get("/ws/echo")(websocket(tracked))
    server = await serve(app, ShellConfig(port=0))
    clients = [await connect(url(server)) for _ in range(3)]
    await clients[0].send("x")
    assert await clients[0].recv() == "x"
    stopping = asyncio.create_task(server.shutdown())
    for c in clients:
        with pytest.raises(ConnectionClosed) as info:
            await c.recv()
        assert info.value.code == 1001 and c.ended_by == "peer"
    await asyncio.wait_for(stopping, 10)
    assert [ws.ended_by for ws in served] == ["shutdown"] * 3


async def test_a_handler_that_does_not_read_pushes_back_on_the_sender():
    app = App(access_log=False)
    release = asyncio.Event()
    served: list[WebSocket] = []

    async def slow(ws: WebSocket) -> None:
        served.append(ws)
        await release.wait()
        async for msg in ws:
            await ws.send(msg)

    app.get("/slow")(websocket(slow, options=Options(max_queue=4)))
    server = await serve(app, ShellConfig(port=0))
    ws = await connect(url(server, "/slow"), compression=None)
    chunk = b"z" * 65536
    sent = 0

    async def sender() -> None:
        nonlocal sent
        for _ in range(200):  # 12.5 MiB: far more than the socket buffers hold
            await ws.send(chunk)
            sent += 1

    task = asyncio.create_task(sender())
    await until(lambda: served and len(served[0]._queue) >= 4, what="queue filled")
    queued = sent
    await until(lambda: ws.buffered_amount > 0, what="the client's buffer filling")
    assert not task.done() and len(served[0]._queue) <= 4  # reading paused: memory bounded
    release.set()
    got = [await ws.recv() for _ in range(200)]
    await task
    assert len(got) == 200 and queued < 200
    await ws.close()
    await server.shutdown(grace=1.0)
