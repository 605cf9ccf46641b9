"""The chat's HTTP side: Socket.IO at ``/socket.io/``, the page at ``/``, ``GET /stats``.

``build`` wires the pieces: the Socket.IO server (netlib.socketio) with the chat's
handlers (``chat.Chat``), the history (``store.History``), and the optional
disconnect log (N16). The page is ``web/chat/`` (plain HTML and JavaScript; the
official ``socket.io-client`` bundle is served from its npm package at
``/vendor/socket.io.min.js``). ``/ws/echo`` is the plain WebSocket echo of ``wsecho``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netlib.http import App, Request, Response
from netlib.socketio.server import SocketIOServer
from servers.catalog import REPO_ROOT

from . import wsecho
from .chat import Chat
from .disconnects import DisconnectLog, event
from .store import History

WEB = REPO_ROOT / "web" / "chat"
CLIENT_BUNDLE = WEB / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"


def build(history: History, *, recovery: float | None = 120.0, ping_interval: float = 25.0,
          ping_timeout: float = 20.0, disconnects: DisconnectLog | None = None,
          web: Path | None = WEB, access_log: bool = True) -> tuple[App, Chat]:  # fmt: skip
    app = App(access_log=access_log)
    sio = SocketIOServer(recovery=recovery, ping_interval=ping_interval, ping_timeout=ping_timeout)
    sio.mount(app)
    chat = Chat(sio, history)
    if disconnects is not None:
        sio.on_session_end = lambda sock, reason: disconnects.record(event(sock, reason))

    def stats(req: Request) -> Any:
        return {"sessions": len(sio.engine.sockets), "delivered": chat.delivered,
                "channels": {c: chat.users_here(c) for c in sorted(chat.local_presence)}}  # fmt: skip

    def bundle(req: Request) -> Response:
        try:
            body = CLIENT_BUNDLE.read_bytes()
        except OSError:
            return Response("socket.io-client is not installed: run make setup\n", 404)
        return Response(body, content_type="application/javascript")

    app.add("GET", "/stats", stats)
    wsecho.mount(app, "/ws/echo")  # the plain WebSocket echo, for conformance tools
    app.add("GET", "/vendor/socket.io.min.js", bundle)
    if web is not None and web.is_dir():
        app.add("GET", "/", lambda req: Response((web / "index.html").read_bytes(),
                                                 content_type="text/html; charset=utf-8"))  # fmt: skip
    return app, chat
