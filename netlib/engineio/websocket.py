"""Engine.IO's WebSocket transport on netlib.websocket: a session opened on it, or upgraded to it.

``GET /socket.io/?EIO=4&transport=websocket`` without a sid opens a session
straight on a WebSocket (the open packet is its first frame). With the sid of a
polling session it is the upgrade: the client sends ``2probe``, we answer
``3probe`` here and a pending poll gets ``6`` (noop); the client's ``5`` switches
the session, and everything queued goes out on the WebSocket from then on.

One WebSocket frame is one packet: text frames are ``digit + data``, binary
frames binary messages. Engine.IO's own ping/pong is the heartbeat, so the
WebSocket keepalive is off. How the WebSocket ended becomes the session's reason
(for the disconnect events of N16): the peer's close frame is ``client close``
with its code, a reset ``transport error``, a TCP close without a close frame
``transport close``, a protocol violation ``parse error``; a client's close
packet waits briefly for its close frame, so that its code is known too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from netlib.http import Request
from netlib.websocket import ConnectionClosed, Options, WebSocket, websocket
from netlib.websocket.core import State
from netlib.websocket.frames import BINARY, TEXT, encode_frame

from .packets import PacketType, ProtocolError, decode, encode

if TYPE_CHECKING:
    from .server import EngineServer, Socket

log = logging.getLogger("netlib.engineio")

# Bytes written to a WebSocket and not yet taken by the peer before it is cut off:
# thousands of chat messages; a reader that stopped, not one that is slow for a moment.
MAX_UNSENT = 4 * 1024 * 1024
PROBE_TIMEOUT = 10.0  # seconds an upgrade may take from the WebSocket's opening to its ``5``
CLOSE_WAIT = 1.0  # after a close packet, how long the client's close frame may take
ENDED_BY = {"peer": "client close", "reset": "transport error", "eof": "transport close",
            "protocol_error": "parse error", "shutdown": "server shutdown", "local": "forced close",
            "ping_timeout": "ping timeout"}  # fmt: skip


class WSTransport:
    """What a ``Socket`` writes through once it is on a WebSocket.

    Broadcasts are written without waiting (``send_nowait``); a client that does
    not read lets our write buffer grow, so past ``MAX_UNSENT`` bytes its
    connection is aborted (the session ends with ``transport error``) instead of
    holding memory for it."""

    def __init__(self, sock: Socket, ws: WebSocket) -> None:
        self.sock, self.ws = sock, ws

    def flush(self) -> None:
        for p in self.sock.core.take():
            if not self.ws.send_nowait(encode(p)):
                return
            if p.type == PacketType.CLOSE:  # the session is over: so is the WebSocket
                asyncio.ensure_future(self.ws.close(1000, "engine.io close"))
                return
        if self.sock.closed and not self.ws.closed:
            asyncio.ensure_future(self.ws.close(1000, "engine.io close"))
        elif not self.sock.closed and (unsent := self._unsent()) > MAX_UNSENT:
            log.warning("[%s] sid %s: aborted, %d bytes unsent (not reading)", self.sock.peer,
                        self.sock.sid, unsent)  # fmt: skip
            self.sock.core.close("transport error: client not reading", notify=False)
            self.sock.server.ended(self.sock)
            self.ws.link.abort()


    def write_frame(self, frame: bytes) -> bool:
        """A broadcast's frame, built once for every socket (``EngineServer.broadcast``):
        written as is while the WebSocket is open; False when it is not."""
        ws = self.ws
        if ws.ended_by is not None or ws.core.state is not State.OPEN:
            return False
        ws.link.write(frame)
        if self._unsent() > MAX_UNSENT:
            self.flush()  # (the outbox is empty: this is the cut-off below)
        return True

    def _unsent(self) -> int:
        size = getattr(self.ws.link, "write_buffer_size", None)  # the shell's Connection has it
        return int(size()) if callable(size) else 0


def frame(data: str | bytes) -> bytes:
    """The WebSocket frame of a message packet (no extension is negotiated: see Options)."""
    if isinstance(data, bytes):
        return encode_frame(BINARY, data)
    return encode_frame(TEXT, ("4" + data).encode("utf-8"))


class WebSocketTransport:
    def __init__(self, max_payload: int) -> None:
        self.options = Options(deflate=None, max_frame=max_payload, max_message=max_payload,
                               ping_interval=None)  # fmt: skip

    def accept(self, server: EngineServer, req: Request, sid: str | None) -> Any:
        from .server import SESSION_UNKNOWN, _error

        if sid is not None:
            sock = server.sockets.get(sid)
            if sock is None or sock.transport != "polling" or sock.ws is not None:
                return _error(SESSION_UNKNOWN)

        async def run(ws: WebSocket) -> None:
            if sid is None:
                await self._fresh(server, req, ws)
            else:
                await self._upgrade(server, server.sockets.get(sid), ws)

        return websocket(run, options=self.options)(req)

    async def _fresh(self, server: EngineServer, req: Request, ws: WebSocket) -> None:
        if server.stopping:
            return
        sock = server.new_socket(req, "websocket")
        sock.ws = WSTransport(sock, ws)
        ws.send_nowait(str(encode(sock.core.open_packet())))
        server.on_open(sock)
        await self._serve(server, sock, ws)

    async def _upgrade(self, server: EngineServer, sock: Socket | None, ws: WebSocket) -> None:
        if sock is None or sock.closed:
            return
        if sock.probing is not None:  # as the reference server: one upgrade at a time
            log.info("[%s] sid %s: a second upgrade while one is under way: refused", sock.peer, sock.sid)
            return
        sock.probing = ws
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                probe = decode(await ws.recv())
                ws.send_nowait(str(encode(sock.core.probe(probe))))
                sock.flush()  # the pending poll gets its noop
                while (p := decode(await ws.recv())).type != PacketType.UPGRADE:
                    if p.type != PacketType.NOOP:
                        raise ProtocolError(f"{p.type.name} during the upgrade")
        except (ProtocolError, TimeoutError, ConnectionClosed) as e:
            log.info("[%s] sid %s: upgrade failed (%s); polling goes on", sock.peer, sock.sid, e or "timeout")
            sock.core.upgrading = False
            return
        finally:
            sock.probing = None
        if sock.closed or sock.ws is not None:  # ended (or upgraded) while this one probed
            return
        sock.core.upgraded("websocket")
        sock.ws = WSTransport(sock, ws)
        if sock.poller is not None and not sock.poller.done():
            sock.poller.set_result(None)
        sock.flush()
        await self._serve(server, sock, ws)

    async def _serve(self, server: EngineServer, sock: Socket, ws: WebSocket) -> None:
        """Packets in until the WebSocket ends; then the session ends with the reason why."""
        goodbye = False
        try:
            async for raw in ws:
                p = decode(raw)
                if p.type == PacketType.CLOSE:
                    goodbye = True
                    break
                sock.received([p])
                if sock.closed:
                    break
        except ProtocolError as e:
            sock.parse_error(str(e))
            return
        if goodbye:
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT):
                    while True:
                        await ws.recv()  # the client's close frame ends this
        if not sock.closed:
            reason = "client close" if goodbye else ENDED_BY.get(ws.ended_by or "", "transport close")
            if ws.ended_by == "peer":
                sock.close_code = ws.close_code
            sock.core.close(reason, notify=False)
            server.ended(sock)
        if not ws.closed:
            await ws.close(1000)
