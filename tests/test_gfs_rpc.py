"""The RPC core under GFS (N18): frames and typed errors, sans-IO and on a live
netlib.shell server -- malformed frames and unknown methods get a typed error and
hurt only their own connection; many calls share a connection, matched by id."""

from __future__ import annotations

import asyncio
import socket
import struct

import msgpack
import pytest

from netlib.rpc import (
    AppError,
    BadFrame,
    FrameDecoder,
    RemoteError,
    Request,
    Response,
    RpcClient,
    encode_request,
    encode_response,
    serve_methods,
)
from netlib.shell import ShellConfig, start

pytestmark = pytest.mark.exercise("N18")


def test_frames_decode_when_whole_and_not_before() -> None:
    wire = encode_request(7, "stat", {"path": "/a"}) + encode_response(7, {"ok": True})
    dec = FrameDecoder()
    for i in range(len(wire)):  # one byte at a time
        dec.feed(wire[i : i + 1])
        if i < len(wire) - 1:
            msg = dec.next()
            if msg is not None:
                assert msg == Request(7, "stat", {"path": "/a"})
    assert dec.next() == Response(7, None, {"ok": True})
    assert dec.next() is None and dec.buffered == 0


def test_an_oversized_length_is_fatal_and_never_allocated() -> None:
    dec = FrameDecoder(max_frame=1024)
    dec.feed(struct.pack(">I", 1025))
    with pytest.raises(BadFrame) as e:
        dec.next()
    assert getattr(e.value, "fatal", False)


@pytest.mark.parametrize("body", [b"\xc1", msgpack.packb({"a": 1}), msgpack.packb([0, -1, "m", {}]),
                                  msgpack.packb([0, 1, 5, {}]), msgpack.packb([2, 1, "m", {}])])  # fmt: skip
def test_a_body_that_is_not_a_message_is_a_bad_frame_but_the_stream_goes_on(body: bytes) -> None:
    dec = FrameDecoder()
    dec.feed(struct.pack(">I", len(body)) + body + encode_request(1, "ok", {}))
    with pytest.raises(BadFrame) as e:
        dec.next()
    assert not getattr(e.value, "fatal", False)
    assert dec.next() == Request(1, "ok", {})


async def _server():  # type: ignore[no-untyped-def]
    async def echo(x: object) -> object:
        return x

    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "slow"

    async def refuse() -> None:
        raise AppError("nope", type="NoSuchFile")

    async def crash() -> None:
        raise ZeroDivisionError

    methods = {"echo": echo, "slow": slow, "refuse": refuse, "crash": crash}
    return await start(serve_methods(methods, max_frame=4096), ShellConfig(port=0))


def _raw_call(port: int, payload: bytes) -> tuple[list[object], bool]:
    """Send raw bytes; the decoded responses and whether the server then closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    out = []
    while data:
        (n,) = struct.unpack_from(">I", data)
        out.append(msgpack.unpackb(data[4 : 4 + n]))
        data = data[4 + n :]
    return out, True


async def test_typed_errors_and_the_connection_survives_them() -> None:
    server = await _server()
    try:
        c = await RpcClient("127.0.0.1", server.port).connect()
        with pytest.raises(RemoteError) as e:
            await c.call("nosuch")
        assert e.value.type == "UnknownMethod"
        with pytest.raises(RemoteError) as e:
            await c.call("echo", y=1)
        assert e.value.type == "BadParams"
        with pytest.raises(RemoteError) as e:
            await c.call("refuse")
        assert (e.value.type, e.value.message) == ("NoSuchFile", "nope")
        with pytest.raises(RemoteError) as e:
            await c.call("crash")
        assert e.value.type == "InternalError"
        assert await c.call("echo", x=b"\x00bin") == b"\x00bin"  # same connection, still fine
        await c.close()
    finally:
        await server.shutdown(0.5)


async def test_calls_in_flight_are_answered_out_of_order_by_id() -> None:
    server = await _server()
    try:
        c = await RpcClient("127.0.0.1", server.port).connect()
        slow = asyncio.ensure_future(c.call("slow", seconds=0.3))
        fast = await asyncio.gather(*(c.call("echo", x=i) for i in range(20)))
        assert fast == list(range(20)) and not slow.done()
        assert await slow == "slow"
        await c.close()
    finally:
        await server.shutdown(0.5)


async def test_garbage_gets_bad_frame_and_other_connections_are_untouched() -> None:
    server = await _server()
    try:
        bystander = await RpcClient("127.0.0.1", server.port).connect()
        junk = struct.pack(">I", 3) + b"\xc1\xc1\xc1" + encode_request(9, "echo", {"x": 1})
        answers, _ = await asyncio.to_thread(_raw_call, server.port, junk)
        assert answers[0][2][0] == "BadFrame" and answers[1] == [1, 9, None, 1]
        huge = struct.pack(">I", 1 << 30) + b"xx" + encode_request(10, "echo", {"x": 2})
        answers, closed = await asyncio.to_thread(_raw_call, server.port, huge)
        assert len(answers) == 1 and answers[0][2][0] == "BadFrame" and closed  # nothing after it is read
        assert await bystander.call("echo", x="still here") == "still here"
        await bystander.close()
    finally:
        await server.shutdown(0.5)
