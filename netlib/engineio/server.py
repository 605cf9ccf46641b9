"""Engine.IO v4 on netlib.http: the long-polling transport (and the hand-over to WebSocket).

``EngineServer.mount(app)`` adds ``GET/POST /socket.io/`` to a netlib.http App:

* ``GET`` without ``sid``: the handshake; the body is the open packet.
* ``GET ?sid=``: a long poll; answered at once with what is queued, else held
  until something is (a message, a ping, the close). One poll at a time per sid:
  a second one is a client bug, and the reference server closes the session.
* ``POST ?sid=``: a payload from the client; answered ``ok`` (400 once the
  session is on a WebSocket). A payload that does
  not decode is logged, answered 400, and the session is closed (``parse error``).
* An unknown sid, transport or protocol version: 400 with the reference server's
  JSON ``{"code": N, "message": ...}`` (0 transport unknown, 1 session id
  unknown, 2 bad handshake method, 3 bad request, 5 unsupported protocol version).

The application is three callbacks: ``on_open(sock)``, ``on_message(sock,
data)`` and ``on_close(sock, reason)``; ``sock.send(data)`` queues a message.
The heartbeat is one ``loop.call_at`` per session at the core's deadline.

The WebSocket transport (a session opened on one, or upgraded from polling) is
``websocket.py`` in this package; ``websocket=False`` serves polling only (the
handshake then offers no upgrade).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from netlib.http import App, Request, Response

from .packets import (
    DEFAULT_MAX_PAYLOAD,
    Packet,
    PacketType,
    ProtocolError,
    decode_payload,
    encode_payload,
)
from .session import DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT, Closed, Message, Session

log = logging.getLogger("netlib.engineio")

TRANSPORT_UNKNOWN, SESSION_UNKNOWN, BAD_HANDSHAKE_METHOD, BAD_REQUEST, FORBIDDEN, UNSUPPORTED_VERSION = range(6)
_ERROR_TEXT = {
    TRANSPORT_UNKNOWN: "Transport unknown", SESSION_UNKNOWN: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method", BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden", UNSUPPORTED_VERSION: "Unsupported protocol version",
}  # fmt: skip
TEXT = "text/plain; charset=UTF-8"


def _error(code: int, status: int = 400, detail: str = "") -> Response:
    import json

    body = json.dumps({"code": code, "message": detail or _ERROR_TEXT[code]})
    return Response(body, status, content_type="application/json")


class Socket:
    """One Engine.IO session on the event loop: the sans-IO ``Session`` plus who waits on it."""

    def __init__(self, server: EngineServer, core: Session, peer: str, headers: dict[str, str]) -> None:
        self.server, self.core, self.peer = server, core, peer
        self.headers = headers  # of the handshake request (origin, user-agent, ...)
        self.sid = core.sid
        self.connected_at = time.time()
        self.poller: asyncio.Future[None] | None = None  # the pending GET
        self.ws: Any = None  # the WebSocket transport once upgraded
        self.probing: Any = None  # the WebSocket an upgrade is being tried on (one at a time)
        self.close_code: int | None = None  # a WebSocket close's code, when one ended it
        self.data: dict[str, Any] = {}  # the application's
        self._timer: asyncio.TimerHandle | None = None
        self._arm()

    @property
    def transport(self) -> str:
        return self.core.transport

    @property
    def closed(self) -> bool:
        return self.core.closed is not None

    def send(self, data: str | bytes) -> None:
        if self.core.send(data):
            self.flush()
        else:
            self.server.ended(self)

    def close(self, reason: str = "forced close") -> None:
        """End the session from the server side (the client is told with a close packet)."""
        if not self.closed:
            self.core.close(reason)
            self.flush()
            self.server.ended(self)

    def flush(self) -> None:
        """Wake whoever carries queued packets: the WebSocket writer or the pending poll."""
        if self.ws is not None and not self.core.upgrading:
            self.ws.flush()
        elif self.poller is not None and not self.poller.done():
            self.poller.set_result(None)

    def received(self, packets: list[Packet]) -> None:
        now = time.monotonic()
        for p in packets:
            try:
                events = self.core.receive(p, now)
            except ProtocolError as e:
                self.parse_error(str(e))
                return
            for ev in events:
                if isinstance(ev, Message):
                    self.server.on_message(self, ev.data)
                elif isinstance(ev, Closed):
                    self.flush()
                    self.server.ended(self)
                    return
        if self.core.outbox:
            self.flush()
        self._arm()

    def parse_error(self, why: str) -> None:
        log.warning("[%s] sid %s: closed, input is not Engine.IO: %s", self.peer, self.sid, why)
        self.core.close("parse error", notify=False)
        self.flush()
        self.server.ended(self)

    # -- heartbeat -------------------------------------------------------------------
    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        wall = self.core.deadline() - time.monotonic() + loop.time()
        self._timer = loop.call_at(wall, self._tick)

    def _tick(self) -> None:
        self._timer = None
        ev = self.core.on_timer(time.monotonic())
        if ev is not None:
            self.flush()
            self.server.ended(self)
            return
        if self.core.outbox:
            self.flush()
        self._arm()

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


OpenCB = Callable[[Socket], None]
MessageCB = Callable[[Socket, "str | bytes"], None]
CloseCB = Callable[[Socket, str], None]


class EngineServer:
    def __init__(self, on_open: OpenCB, on_message: MessageCB, on_close: CloseCB, *,
                 ping_interval: float = DEFAULT_PING_INTERVAL,
                 ping_timeout: float = DEFAULT_PING_TIMEOUT,
                 max_payload: int = DEFAULT_MAX_PAYLOAD, path: str = "/socket.io/",
                 websocket: bool = True) -> None:  # fmt: skip
        self.on_open, self.on_message, self.on_close = on_open, on_message, on_close
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.max_payload = max_payload
        self.path = path
        self.sockets: dict[str, Socket] = {}
        self.websocket: Any = None  # the WebSocket transport (websocket.py), unless turned off
        if websocket:
            from .websocket import WebSocketTransport

            self.websocket = WebSocketTransport(max_payload)
        self.stopping = False

    def mount(self, app: App) -> None:
        app.add("GET", self.path, self.get)
        app.add("POST", self.path, self.post, max_body=self.max_payload)
        app.add("OPTIONS", self.path, self.options)

    # -- sessions ----------------------------------------------------------------------
    def new_socket(self, req: Request, transport: str) -> Socket:
        upgrades = ("websocket",) if self.websocket is not None and transport == "polling" else ()
        core = Session(secrets.token_urlsafe(15), time.monotonic(), ping_interval=self.ping_interval,
                       ping_timeout=self.ping_timeout, max_payload=self.max_payload,
                       upgrades=upgrades, transport=transport)  # fmt: skip
        sock = Socket(self, core, req.peer, dict(req.headers))
        self.sockets[sock.sid] = sock
        return sock

    def ended(self, sock: Socket) -> None:
        """The session is over (whatever the reason): forget it, tell the application once."""
        if self.sockets.pop(sock.sid, None) is None:
            return
        sock.cancel_timer()
        reason = sock.core.closed or "transport close"
        log.info("[%s] sid %s closed: %s", sock.peer, sock.sid, reason)
        self.on_close(sock, reason)
        if sock.poller is None and sock.ws is None:
            return
        # the pending poll or the WebSocket writer delivers the close packet, then lets go
        sock.flush()

    def broadcast(self, sockets: list[Socket], data: str | bytes) -> None:
        """One message to many sessions. Those on an open WebSocket with nothing queued
        get one frame built once for all (the per-socket cost is then one write); the
        others queue it as ``send`` does, so the order per session is kept."""
        framed: bytes | None = None
        for sock in sockets:
            ws = sock.ws
            if ws is not None and not sock.core.outbox and not sock.core.upgrading and not sock.closed:
                if framed is None:
                    from .websocket import frame

                    framed = frame(data)
                if ws.write_frame(framed):
                    continue
            sock.send(data)

    def shutdown(self) -> None:
        """The server is stopping: every session is closed, its client told so."""
        self.stopping = True
        for sock in list(self.sockets.values()):
            sock.close("server shutdown")

    # -- HTTP routes ---------------------------------------------------------------------
    def _cors(self, req: Request) -> list[tuple[bytes, bytes]]:
        origin = req.headers.get("origin")
        if not origin:
            return []
        return [(b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true")]  # fmt: skip

    def options(self, req: Request) -> Response:
        hdrs = self._cors(req) + [(b"access-control-allow-methods", b"GET, POST"),
                                  (b"access-control-allow-headers", b"content-type")]  # fmt: skip
        return Response(b"", 204, hdrs, content_type="")

    def _check(self, req: Request) -> Response | None:
        if req.arg("EIO") != "4":
            return _error(UNSUPPORTED_VERSION)
        if req.arg("transport") not in ("polling", "websocket"):
            return _error(TRANSPORT_UNKNOWN)
        return None

    async def get(self, req: Request) -> Any:
        bad = self._check(req)
        if bad is not None:
            return bad
        sid = req.arg("sid")
        if req.arg("transport") == "websocket":
            if self.websocket is None:
                return _error(TRANSPORT_UNKNOWN)
            return self.websocket.accept(self, req, sid)
        if sid is None:
            if self.stopping:
                return Response("server stopping\n", 503)
            sock = self.new_socket(req, "polling")
            first = [sock.core.open_packet()]
            self.on_open(sock)
            return Response(encode_payload(first), 200, self._cors(req), content_type=TEXT)
        sock = self.sockets.get(sid)  # type: ignore[assignment]
        if sock is None:
            return _error(SESSION_UNKNOWN)
        if sock.transport != "polling":
            return _error(BAD_REQUEST, detail="session was upgraded")
        if sock.poller is not None:
            sock.parse_error("a second poll while one is pending")
            return _error(BAD_REQUEST, detail="overlapping polls")
        return await self._poll(req, sock)

    async def _poll(self, req: Request, sock: Socket) -> Response:
        if not sock.core.outbox and not sock.closed and not sock.core.upgrading:
            sock.poller = asyncio.get_running_loop().create_future()
            try:
                await sock.poller
            except asyncio.CancelledError:
                # the connection was lost under a pending poll (netlib.http cancels the
                # handler: a reset, or an abort); a peer that closes cleanly half-closes
                # and still gets its answer. The reference server also ends the session.
                if not sock.closed:
                    sock.core.close("transport error", notify=False)
                    self.ended(sock)
                raise
            finally:
                sock.poller = None
        if sock.core.upgrading or (sock.ws is not None and not sock.core.outbox):
            packets = [Packet(PacketType.NOOP)]  # the poll ends; the WebSocket takes over
        else:
            packets = sock.core.take()
            if not packets:  # the session ended without a word for the client
                packets = [Packet(PacketType.CLOSE)]
        return Response(encode_payload(packets), 200, self._cors(req), content_type=TEXT)

    def post(self, req: Request) -> Response:
        bad = self._check(req)
        if bad is not None:
            return bad
        sock = self.sockets.get(req.arg("sid") or "")
        if sock is None:
            return _error(SESSION_UNKNOWN)
        if sock.transport != "polling":  # as the reference server: the session is not polling
            return _error(BAD_REQUEST, detail="session was upgraded")
        try:
            packets = decode_payload(req.body, self.max_payload)
        except ProtocolError as e:
            sock.parse_error(str(e))
            return _error(BAD_REQUEST, detail=str(e))
        sock.received(packets)
        return Response("ok", 200, self._cors(req), content_type="text/html")
