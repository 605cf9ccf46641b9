"""WebSocket interoperability with code nobody here wrote: the ``websockets`` package's
client against our server (servers/chat/wsecho as a real process), our client
against a ``websockets`` server, with and without permessage-deflate."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.asyncio.client import connect as their_connect
from websockets.asyncio.server import serve as their_serve

from clients.websocket import connect
from harness.procs import python_module
from netlib.websocket import ConnectionClosed
from netlib.websocket.deflate import DeflateParams

pytestmark = pytest.mark.exercise("N15")


@pytest.fixture(scope="module")
def echo_child():
    with python_module("servers.chat.wsecho", "--no-access-log", port=0) as child:
        yield child


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_websockets_client_against_our_echo(echo_child, compression):
    url = f"ws://127.0.0.1:{echo_child.port}/ws/echo"
    async with their_connect(url, compression=compression, max_size=None) as ws:
        exts = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert (exts is not None) == (compression is not None)
        for msg in ["hello", "ünïcødé ☃" * 100, b"\x00\x01\x02" * 10000, ""]:
            await ws.send(msg)
            assert await ws.recv() == msg
        # a fragmented message: their client sends it as frames from an iterator
        await ws.send(["frag", "mented ", "κόσμε"])
        assert await ws.recv() == "fragmented κόσμε"
        await ws.send([b"ab", b"cd"])
        assert await ws.recv() == b"abcd"
        latency = await (await ws.ping(b"hi"))
        assert latency >= 0
        await ws.close(4001, "done")
    assert ws.close_code == 4001  # our server echoed their code


async def test_websockets_client_sees_our_1009_for_a_message_over_the_limit(echo_child):
    url = f"ws://127.0.0.1:{echo_child.port}/ws/echo"
    async with their_connect(url, max_size=None, compression=None) as ws:
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await ws.send(b"x" * (21 * 1024 * 1024))  # over the echo's 20 MiB
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    async with their_connect(url) as ws:  # the server is fine for the next one
        await ws.send("after")
        assert await ws.recv() == "after"


@pytest.mark.parametrize("compression", [DeflateParams(), None], ids=["deflate", "plain"])
async def test_our_client_against_a_websockets_server(compression):
    seen: list[str] = []

    async def handler(ws):
        seen.append(ws.request.headers.get("Sec-WebSocket-Extensions") or "")
        async for msg in ws:
            await ws.send(msg)

    async with their_serve(handler, "127.0.0.1", 0, subprotocols=["chat"]) as server:
        port = server.sockets[0].getsockname()[1]
        async with await connect(f"ws://127.0.0.1:{port}/", subprotocols=["chat"],
                                 compression=compression) as ws:  # fmt: skip
            assert ws.subprotocol == "chat"
            assert (ws.core.deflate is not None) == (compression is not None)
            for msg in ["hi", "κόσμε" * 1000, b"\xff" * 70000]:
                await ws.send(msg)
                assert await ws.recv() == msg
            await ws.send("in pieces " * 100, fragment=13)
            assert await ws.recv() == "in pieces " * 100
            assert await ws.ping() >= 0
        assert ws.close_code == 1000 and ws.ended_by == "local"
    assert ("permessage-deflate" in seen[0]) == (compression is not None)


async def test_our_client_sees_a_websockets_server_close_with_its_code():
    async def handler(ws):
        await ws.close(4321, "go away")

    async with their_serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}/")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert (info.value.code, info.value.reason) == (4321, "go away")
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.ended_by == "peer"


def test_wsecho_cli_mistakes_are_one_line(echo_child):
    import subprocess
    import sys

    for args, code, text in [(["--port", "x"], 2, "is not a port number"),
                             (["--port", str(echo_child.port)], 1, "address already in use")]:  # fmt: skip
        out = subprocess.run([sys.executable, "-m", "servers.chat.wsecho", *args],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
        assert out.returncode == code
        assert len(out.stderr.strip().splitlines()) == 1 and text in out.stderr
