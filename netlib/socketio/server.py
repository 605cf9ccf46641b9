"""A Socket.IO v5 server on netlib.engineio: namespaces, events, acks, rooms, recovery.

The application registers handlers per namespace::

    sio = SocketIOServer(recovery=120)

    @sio.on("connect")                     # (socket, auth) -> None; raise Refused to say no
    def connect(sock, auth): ...

    @sio.on("chat")                        # (socket, *args) -> the ack's value (or a tuple)
    async def chat(sock, text): ...

    sio.emit("news", {"x": 1}, to="room")  # to a room (or a sid), on "/" by default
    sock.join("room"); sock.emit("private", 1, callback=print)
    sio.mount(app)                         # GET/POST /socket.io/ on a netlib.http App

A client connects to a namespace with CONNECT; one that has no handlers gets
CONNECT_ERROR ``{"message": "Invalid namespace"}``, and a ``connect`` handler
that raises ``Refused`` sends its message the same way. In v5 each namespace
connection has its own sid (not the Engine.IO one), which is also the name of
the room only that socket is in.

Connection state recovery (the v5 protocol's ``pid`` and ``offset``): with
``recovery=SECONDS`` every socket gets a private ``pid`` in its CONNECT answer,
and every broadcast (an emit to rooms) carries one more argument, its offset.
When a socket's transport dies (not when the client or the server disconnects
on purpose) its sid, rooms and data are kept for ``recovery`` seconds; a client
that reconnects with ``{"pid", "offset"}`` in its CONNECT gets its old sid and
rooms back, then every broadcast after ``offset`` that it would have received.
The broadcasts are kept in a log bounded by the same window (and by
``MAX_RECOVERY_PACKETS``). The reference server does the same (its in-memory
adapter); like it, recovery is per process: a client that comes back through
another process starts a new session.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from netlib.engineio.server import EngineServer
from netlib.engineio.server import Socket as EngineSocket
from netlib.http import App

from .packets import Decoder, Packet, PacketType, ProtocolError, encode

log = logging.getLogger("netlib.socketio")

# Broadcasts kept for recovery, whatever the window: bounded memory on a busy server.
MAX_RECOVERY_PACKETS = 10_000
Handler = Callable[..., Any]
EXPLICIT = ("client namespace disconnect", "server namespace disconnect")


class Refused(Exception):
    """Raised by a ``connect`` handler: the client gets CONNECT_ERROR with ``message``."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message, self.data = message, data


class Client:
    """One Engine.IO connection and the namespace sockets it carries."""

    def __init__(self, eio: EngineSocket) -> None:
        self.eio = eio
        self.decoder = Decoder()
        self.sockets: dict[str, SioSocket] = {}  # namespace -> socket

    def send(self, msgs: list[str | bytes]) -> None:
        for m in msgs:
            self.eio.send(m)


class SioSocket:
    """One client connected to one namespace."""

    def __init__(self, server: SocketIOServer, client: Client, nsp: Namespace, sid: str) -> None:
        self.server, self.client, self.namespace = server, client, nsp
        self.sid = sid
        self.rooms: set[str] = {sid}
        self.data: dict[str, Any] = {}
        self.pid: str | None = None
        self.recovered = False
        self.connected = True
        self._acks: dict[int, Callable[..., Any]] = {}
        self._next_ack = 0

    @property
    def eio(self) -> EngineSocket:
        return self.client.eio

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        ack = None
        if callback is not None:
            ack = self._next_ack
            self._next_ack += 1
            self._acks[ack] = callback
        p = Packet(PacketType.EVENT, self.namespace.name, [event, *args], ack)
        self.client.send(encode(p))

    def join(self, room: str) -> None:
        self.rooms.add(room)
        self.namespace.rooms.setdefault(room, set()).add(self.sid)

    def leave(self, room: str) -> None:
        self.rooms.discard(room)
        members = self.namespace.rooms.get(room)
        if members is not None:
            members.discard(self.sid)
            if not members:
                del self.namespace.rooms[room]

    def disconnect(self) -> None:
        """The server ends this namespace connection (the client is told)."""
        if self.connected:
            self.client.send(encode(Packet(PacketType.DISCONNECT, self.namespace.name)))
            self.server._gone(self, "server namespace disconnect")


@dataclass
class _Kept:
    """A socket whose transport died, kept for recovery."""

    sid: str
    rooms: set[str]
    data: dict[str, Any]
    until: float


@dataclass(frozen=True, slots=True)
class _Logged:
    offset: int
    rooms: frozenset[str]
    skip: frozenset[str]
    msgs: list[str | bytes]
    at: float


class Namespace:
    def __init__(self, name: str) -> None:
        self.name = name
        self.handlers: dict[str, Handler] = {}
        self.sockets: dict[str, SioSocket] = {}
        self.rooms: dict[str, set[str]] = {}
        self.kept: dict[str, _Kept] = {}  # pid -> a socket awaiting recovery
        self.log: deque[_Logged] = deque()
        self.evicted = 0  # the newest offset dropped from the log


class SocketIOServer:
    def __init__(self, *, recovery: float | None = None, **engine_options: Any) -> None:
        self.engine = EngineServer(self._open, self._message, self._close, **engine_options)
        self.recovery = recovery
        self.namespaces: dict[str, Namespace] = {}
        self.clients: dict[str, Client] = {}  # by Engine.IO sid
        self._offset = 0
        # called once per Engine.IO session's end, with its reason (the chat's N16 events)
        self.on_session_end: Callable[[EngineSocket, str], None] | None = None
        self.namespace("/")

    # -- the application's side ------------------------------------------------------
    def namespace(self, name: str) -> Namespace:
        if name not in self.namespaces:
            self.namespaces[name] = Namespace(name)
        return self.namespaces[name]

    def on(self, event: str, namespace: str = "/") -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.namespace(namespace).handlers[event] = fn
            return fn

        return deco

    def mount(self, app: App) -> None:
        self.engine.mount(app)

    def members(self, room: str, namespace: str = "/") -> list[SioSocket]:
        nsp = self.namespaces[namespace]
        return [nsp.sockets[s] for s in nsp.rooms.get(room, ()) if s in nsp.sockets]

    def emit(self, event: str, *args: Any, to: str | Iterable[str] | None = None,
             namespace: str = "/", skip: str | None = None) -> int:  # fmt: skip
        """Broadcast to the sockets in the rooms ``to`` (all of the namespace when None),
        except the sid ``skip``; how many sockets it went to."""
        nsp = self.namespaces[namespace]
        rooms = frozenset([to] if isinstance(to, str) else to or ())
        skipped = frozenset([skip] if skip else ())
        data = [event, *args]
        if self.recovery is not None:
            self._offset += 1
            data.append(str(self._offset))
        msgs = encode(Packet(PacketType.EVENT, namespace, data))
        if self.recovery is not None:
            self._remember(nsp, _Logged(self._offset, rooms, skipped, msgs, time.monotonic()))
        if rooms:
            sids: set[str] = set()
            for r in rooms:
                sids |= nsp.rooms.get(r, set())
        else:
            sids = set(nsp.sockets)
        targets = [s.client.eio for sid in sids - skipped if (s := nsp.sockets.get(sid)) is not None]
        for m in msgs:  # encoded once; each Engine.IO message framed once for the WebSockets
            self.engine.broadcast(targets, m)
        return len(targets)

    def shutdown(self) -> None:
        self.engine.shutdown()

    # -- Engine.IO callbacks -------------------------------------------------------------
    def _open(self, eio: EngineSocket) -> None:
        self.clients[eio.sid] = Client(eio)

    def _close(self, eio: EngineSocket, reason: str) -> None:
        client = self.clients.pop(eio.sid, None)
        if client is None:
            return
        for sock in list(client.sockets.values()):
            self._gone(sock, reason)
        if self.on_session_end is not None:
            self.on_session_end(eio, reason)

    def _message(self, eio: EngineSocket, msg: str | bytes) -> None:
        client = self.clients.get(eio.sid)
        if client is None:
            return
        try:
            p = client.decoder.feed(msg)
        except ProtocolError as e:
            log.warning("[%s] sid %s: closed, not a Socket.IO packet: %s", eio.peer, eio.sid, e)
            eio.parse_error(str(e))
            return
        if p is not None:
            self._packet(client, p)

    def _packet(self, client: Client, p: Packet) -> None:
        if p.type == PacketType.CONNECT:
            self._connect(client, p)
            return
        sock = client.sockets.get(p.namespace)
        if sock is None:
            log.info("[%s] a packet for namespace %s it is not connected to: dropped",
                     client.eio.peer, p.namespace)  # fmt: skip
            return
        if p.type == PacketType.DISCONNECT:
            self._gone(sock, "client namespace disconnect")
        elif p.type in (PacketType.EVENT, PacketType.BINARY_EVENT):
            self._event(sock, p)
        elif p.type in (PacketType.ACK, PacketType.BINARY_ACK):
            cb = sock._acks.pop(p.id, None)  # type: ignore[arg-type]
            if cb is not None:
                self._call(cb, p.data)
        else:  # CONNECT_ERROR only goes server -> client
            log.warning("[%s] closed: a client sent %s", client.eio.peer, p.type.name)
            client.eio.parse_error(f"unexpected {p.type.name}")

    # -- namespaces ----------------------------------------------------------------------
    def _connect(self, client: Client, p: Packet) -> None:
        nsp = self.namespaces.get(p.namespace)
        if nsp is None:
            self._refuse(client, p.namespace, "Invalid namespace")
            return
        if p.namespace in client.sockets:
            log.info("[%s] a second CONNECT to %s: ignored", client.eio.peer, p.namespace)
            return
        auth = dict(p.data or {})
        sock = self._recover(client, nsp, auth) or SioSocket(self, client, nsp, secrets.token_urlsafe(15))
        if self.recovery is not None and sock.pid is None:
            sock.pid = secrets.token_urlsafe(15)
        handler = nsp.handlers.get("connect")
        if handler is not None:
            try:
                result = handler(sock, auth)
                if inspect.isawaitable(result):  # cannot refuse; runs alongside
                    asyncio.ensure_future(result)
                elif result is False:
                    raise Refused("Connection rejected by server")
            except Refused as e:
                self._refuse(client, nsp.name, e.message, e.data)
                return
        client.sockets[nsp.name] = sock
        nsp.sockets[sock.sid] = sock
        for room in sock.rooms:
            nsp.rooms.setdefault(room, set()).add(sock.sid)
        answer: dict[str, Any] = {"sid": sock.sid}
        if sock.pid is not None:
            answer["pid"] = sock.pid
        client.send(encode(Packet(PacketType.CONNECT, nsp.name, answer)))
        if sock.recovered:
            self._replay(sock, auth.get("offset"))

    def _refuse(self, client: Client, nsp: str, message: str, data: Any = None) -> None:
        body: dict[str, Any] = {"message": message}
        if data is not None:
            body["data"] = data
        client.send(encode(Packet(PacketType.CONNECT_ERROR, nsp, body)))

    def _gone(self, sock: SioSocket, reason: str) -> None:
        if not sock.connected:
            return
        sock.connected = False
        nsp = sock.namespace
        sock.client.sockets.pop(nsp.name, None)
        nsp.sockets.pop(sock.sid, None)
        handler = nsp.handlers.get("disconnect")
        if handler is not None:
            try:
                self._call(lambda *a: handler(sock, reason), [])
            except Exception:
                log.exception("disconnect handler failed")
        for room in sock.rooms:  # out of the namespace's rooms; sock.rooms kept for recovery
            members = nsp.rooms.get(room)
            if members is not None:
                members.discard(sock.sid)
                if not members:
                    del nsp.rooms[room]
        if self.recovery is not None and sock.pid is not None and reason not in EXPLICIT:
            self._expire(nsp)  # else the abandoned would pile up until a client recovers
            nsp.kept[sock.pid] = _Kept(sock.sid, set(sock.rooms), sock.data,
                                       time.monotonic() + self.recovery)  # fmt: skip

    # -- recovery ---------------------------------------------------------------------------
    def _remember(self, nsp: Namespace, entry: _Logged) -> None:
        nsp.log.append(entry)
        horizon = entry.at - (self.recovery or 0)
        while nsp.log and (nsp.log[0].at < horizon or len(nsp.log) > MAX_RECOVERY_PACKETS):
            nsp.evicted = nsp.log.popleft().offset

    def _recover(self, client: Client, nsp: Namespace, auth: dict[str, Any]) -> SioSocket | None:
        pid, offset = auth.pop("pid", None), auth.pop("offset", None)
        if self.recovery is None or not isinstance(pid, str):
            return None
        self._expire(nsp)
        kept = nsp.kept.get(pid)
        if kept is None or not self._replayable(nsp, offset):
            return None
        del nsp.kept[pid]
        sock = SioSocket(self, client, nsp, kept.sid)
        sock.rooms, sock.data, sock.pid, sock.recovered = kept.rooms, kept.data, pid, True
        auth["offset"] = offset
        return sock

    @staticmethod
    def _expire(nsp: Namespace) -> None:
        """Forget the kept sockets whose window is over: the oldest first, as they were kept
        in the order they expire (one window for all), so each costs O(1) once."""
        now = time.monotonic()
        while nsp.kept:
            pid, kept = next(iter(nsp.kept.items()))
            if kept.until >= now:
                return
            del nsp.kept[pid]

    def _replayable(self, nsp: Namespace, offset: Any) -> bool:
        """The log still holds everything after ``offset`` (else the client must start over);
        no offset: the client saw no broadcast yet, so it needs them all."""
        if offset is None:
            return nsp.evicted == 0
        if not isinstance(offset, str) or not offset.isdigit() or len(offset) > 19:
            return False
        return nsp.evicted <= int(offset) <= self._offset

    def _replay(self, sock: SioSocket, offset: Any) -> None:
        after = int(offset) if isinstance(offset, str) else 0
        for e in sock.namespace.log:
            if e.offset > after and sock.sid not in e.skip and (not e.rooms or e.rooms & sock.rooms):
                sock.client.send(e.msgs)

    # -- events ------------------------------------------------------------------------------
    def _event(self, sock: SioSocket, p: Packet) -> None:
        name, *args = p.data
        handler = sock.namespace.handlers.get(str(name))
        if handler is None or name in ("connect", "disconnect"):
            log.debug("no handler for %r on %s", name, sock.namespace.name)
            return

        def answer(result: Any) -> None:
            if p.id is None or not sock.connected:
                return
            values = list(result) if isinstance(result, tuple) else [] if result is None else [result]
            sock.client.send(encode(Packet(PacketType.ACK, sock.namespace.name, values, p.id)))

        try:
            result = handler(sock, *args)
        except Exception:
            log.exception("[%s] handler for %r failed", sock.eio.peer, name)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)

            def done(t: asyncio.Future[Any]) -> None:
                if t.cancelled():
                    return
                if t.exception() is not None:
                    log.error("[%s] handler for %r failed: %r", sock.eio.peer, name, t.exception())
                    return
                answer(t.result())

            task.add_done_callback(done)
        else:
            answer(result)

    def _call(self, fn: Callable[..., Any], args: list[Any]) -> None:
        result = fn(*args)
        if inspect.isawaitable(result):
            asyncio.ensure_future(result)
