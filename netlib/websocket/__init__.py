"""netlib.websocket: WebSocket (RFC 6455) with permessage-deflate (RFC 7692).

Layout, from the wire up: ``frames`` (sans-IO: one frame's grammar, masking,
the per-frame rules), ``deflate`` (sans-IO: permessage-deflate's negotiation and
codec), ``core`` (sans-IO: ``Connection(role)``: fragmentation, UTF-8, limits,
the close handshake; bytes in, events out), ``handshake`` (sans-IO: the
opening handshake's checks and headers, both sides), ``aio`` (``WebSocket``: the
asyncio API both sides share: ``async for msg in ws``, ``send``, ``close``,
keepalive pings), ``server`` (``websocket(handler)``: a netlib.http route that
answers 101 and runs the handler on the shell's hand-over). The asyncio client
is ``clients.websocket``. Exercise N15 (with Engine.IO/Socket.IO on top).

What production libraries do differently: they mask and unmask in C (websockets'
speedups, wsaccel); here it is one big-integer XOR, about 4 ms of CPU per MiB, which
is what bounds a client sending large messages (bench/websocket). They speak TLS
(wss://), and can hand a huge message out frame by frame instead of whole.
Conformance: the Autobahn testsuite's cases (kosoku 0.1.0), run by ``make
bench-autobahn``: all 517 pass on both sides, 514 OK and 3 INFORMATIONAL (7.1.6,
7.13.1, 7.13.2: behaviour the RFC leaves open), none NON-STRICT.

Usage::

    from netlib.http import App, serve
    from netlib.websocket import websocket

    async def echo(ws):                    # ws: netlib.websocket.WebSocket
        async for msg in ws:               # str or bytes, whole (fragments joined)
            await ws.send(msg)

    app = App()
    app.get("/ws/echo")(websocket(echo))
    server = await serve(app)

    from clients.websocket import connect
    async with await connect(f"ws://127.0.0.1:{server.port}/ws/echo") as ws:
        await ws.send("hi"); assert await ws.recv() == "hi"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# Lazy (PEP 562): ``import netlib.websocket.core`` must pull in no event loop.
_EXPORTS = {
    "WebSocket": "aio", "ConnectionClosed": "aio",
    "Connection": "core", "Message": "core", "Ping": "core", "Pong": "core",
    "CloseReceived": "core", "NEED_DATA": "core", "SERVER": "core", "CLIENT": "core",
    "ProtocolError": "frames", "DeflateParams": "deflate", "HandshakeError": "handshake",
    "websocket": "server", "Options": "server", "wants_websocket": "server",
}  # fmt: skip

__all__ = [
    "CLIENT", "NEED_DATA", "SERVER", "CloseReceived", "Connection", "ConnectionClosed",
    "DeflateParams", "HandshakeError", "Message", "Options", "Ping", "Pong", "ProtocolError",
    "WebSocket", "wants_websocket", "websocket",
]  # fmt: skip


__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from .aio import ConnectionClosed, WebSocket
    from .core import CLIENT, NEED_DATA, SERVER, CloseReceived, Connection, Message, Ping, Pong
    from .deflate import DeflateParams
    from .frames import ProtocolError
    from .handshake import HandshakeError
    from .server import Options, wants_websocket, websocket
