"""The server side: a netlib.http route that answers the opening handshake with
``101`` and then runs ``handler(ws)`` on the same connection.

::

    from netlib.http import App
    from netlib.websocket import websocket

    async def echo(ws):
        async for msg in ws:
            await ws.send(msg)

    app = App()
    app.get("/ws/echo")(websocket(echo, subprotocols=["chat"]))

The route function may also be called from another handler (``websocket(h)(req)``),
e.g. one that serves plain GETs too and checks ``wants_websocket(req)`` first.
A request that is no WebSocket opening gets the status ``handshake`` names (400,
405, 426 with the version we speak). After the 101 the shell hands the
connection to a ``WebSocketSession``: bytes go synchronously into the
``WebSocket`` (parsing, pongs and close echoes happen in the transport
callback), and the handler runs as one task. When the handler returns the
connection is closed with 1000 (1011 if it raised); when the server stops, every
WebSocket is sent 1001 and given the shell's grace period to answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from netlib.http import Request, Response, Upgrade
from netlib.shell import Connection, Session

from . import handshake
from .aio import ConnectionClosed, WebSocket, log
from .core import MAX_FRAME, MAX_MESSAGE, SERVER
from .core import Connection as WSConnection
from .deflate import DeflateParams, PerMessageDeflate
from .frames import INTERNAL_ERROR, NORMAL

Handler = Callable[[WebSocket], Awaitable[None]]


@dataclass(frozen=True)
class Options:
    """Every server-side setting with its default (see ``aio`` and ``core``)."""

    subprotocols: tuple[str, ...] = ()
    # What we ask for when a client offers permessage-deflate; None refuses it.
    deflate: DeflateParams | None = DeflateParams()
    max_frame: int = MAX_FRAME
    max_message: int = MAX_MESSAGE
    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 4.0  # under the shell's 5 s shutdown grace
    max_queue: int = 64


class WebSocketSession(Session):
    """One upgraded connection on the shell's synchronous shape."""

    def __init__(self, conn: Connection, handler: Handler, ws: WebSocket) -> None:
        super().__init__(conn)
        self.ws = ws
        self.task = asyncio.get_running_loop().create_task(self._run(handler))

    async def _run(self, handler: Handler) -> None:
        ws = self.ws
        try:
            await handler(ws)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            self.conn.log.exception("websocket handler crashed")
            await ws.close(INTERNAL_ERROR, "internal error")
            return
        await ws.close(NORMAL)

    def data_received(self, data: bytes) -> None:
        self.ws.feed(data)

    def eof_received(self) -> bool:
        self.ws.feed_eof()
        return True  # our close frame may still be owed; ws closes TCP itself

    def connection_lost(self, exc: BaseException | None) -> None:
        self.ws.connection_lost(exc)

    def shutdown(self) -> None:
        self.ws.going_away()


def wants_websocket(req: Request) -> bool:
    """The request asks to open a WebSocket (``Upgrade: websocket``): a route that also
    answers plain requests at the same path (Engine.IO's long-polling) branches on it
    and hands the WebSocket ones to ``websocket(handler)(req)``."""
    return any(t.strip().lower() == "websocket"
               for v in req.headers.getall("upgrade") for t in v.split(","))  # fmt: skip


def websocket(handler: Handler, *, subprotocols: list[str] | tuple[str, ...] = (),
              options: Options | None = None) -> Callable[[Request], Response | Upgrade]:  # fmt: skip
    """A route handler (``app.get(path)(websocket(h))``) that opens a WebSocket and
    runs ``handler(ws)`` on it."""
    opts = options or Options(subprotocols=tuple(subprotocols))
    if subprotocols and not opts.subprotocols:
        opts = replace(opts, subprotocols=tuple(subprotocols))

    def route(req: Request) -> Response | Upgrade:
        try:
            acc = handshake.accept(req.raw_headers, subprotocols=list(opts.subprotocols),
                                   deflate=opts.deflate)  # fmt: skip
            if req.http_version != "1.1":
                raise handshake.HandshakeError(400, "a WebSocket needs HTTP/1.1")
        except handshake.HandshakeError as e:
            log.info("[%s] handshake refused (%d): %s", req.peer, e.status, e.detail)
            return Response(f"{e.detail}\n", e.status, e.headers)
        return Upgrade("websocket", lambda conn: _open(conn, req, acc, handler, opts),
                       acc.headers)  # fmt: skip

    return route


def _open(conn: Connection, req: Request, acc: handshake.Accepted, handler: Handler,
          opts: Options) -> WebSocketSession:  # fmt: skip
    deflate = PerMessageDeflate(acc.deflate, server=True) if acc.deflate else None
    core = WSConnection(SERVER, deflate=deflate, max_frame=opts.max_frame,
                        max_message=opts.max_message)  # fmt: skip
    ws = WebSocket(conn, core, subprotocol=acc.subprotocol, ping_interval=opts.ping_interval,
                   ping_timeout=opts.ping_timeout, close_timeout=opts.close_timeout,
                   max_queue=opts.max_queue, request=req)  # fmt: skip
    return WebSocketSession(conn, handler, ws)
