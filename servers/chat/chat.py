"""The chat itself: the Socket.IO contract of issue 14 on netlib.socketio.

On the default namespace a client emits

* ``join`` ``{"channel", "user"}``: it enters the channel's room; the ack is the
  channel's last 50 messages (oldest first); everyone in the channel gets
  ``presence`` ``{"channel", "users"}`` (the users online in it, sorted);
* ``message`` ``{"channel", "text"}`` (after joining it): the ack is the stored
  message ``{"id", "channel", "user", "text", "ts"}``; everyone in the channel,
  the sender too, gets ``message`` with it;
* ``typing`` ``{"channel", "typing": bool}``: the others in the channel get
  ``typing`` ``{"channel", "user", "typing"}``;
* ``leave`` ``{"channel"}``.

A request that breaks the contract (no argument or not an object, a missing or
too long field, a message to a channel not joined, a join past ``MAX_CHANNELS``)
gets ``{"error": "..."}`` as its ack and changes nothing; arguments after the
first are ignored. A message the bus cannot take (the star's Redis is down) gets
``{"error": ...}`` too: an ack is only ever the promise that the message is
stored. A user is the name given in the first ``join`` of a
connection; presence counts connections, so a user with two tabs stays online
until both leave, and ``presence`` is sent only when a user comes online or goes
offline in the channel (a second tab changes nothing anyone sees). Each such
change goes to everyone in the channel: N users joining one channel cost N^2/2
deliveries, which is why big chats batch or throttle presence.

Where messages go is the ``Bus``: ``LocalBus`` numbers and delivers them in this
process; ``servers.chat.star.RedisBus`` (``--redis``, N17) goes through Redis so
that every process delivers every message once, in order per channel, and
presence is counted across all of them. Either way ``deliver`` is the one path
by which a message reaches the local sockets.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from typing import Any, Protocol

from netlib.socketio.server import SioSocket, SocketIOServer

from .store import RECENT, History

log = logging.getLogger("servers.chat")

CHANNEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # 1..64, a room and a Bitcask key part
MAX_USER = 32
MAX_CHANNELS = 100  # channels one connection may be in (each costs a room and presence)
MAX_TEXT = 4000  # characters of one message (Slack's limit is 40,000; ours is a toy)


class Bus(Protocol):
    async def publish(self, channel: str, user: str, text: str) -> dict[str, Any]: ...
    async def presence(self, channel: str, user: str, delta: int) -> None: ...
    async def typing(self, channel: str, user: str, typing: bool, origin: str) -> None: ...
    async def catch_up(self, channel: str) -> None: ...


class BadRequest(Exception):
    pass


def _fields(payload: Any, *names: str) -> list[Any]:
    if not isinstance(payload, dict):
        raise BadRequest("expected an object")
    out = []
    for n in names:
        if n not in payload:
            raise BadRequest(f"missing {n!r}")
        out.append(payload[n])
    return out


def _channel(value: Any) -> str:
    if not isinstance(value, str) or not CHANNEL.fullmatch(value):
        raise BadRequest("channel: 1-64 letters, digits, '_', '.', '-' (starting with a letter or digit)")
    return value


def _user(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_USER or not value.isprintable():
        raise BadRequest(f"user: 1-{MAX_USER} printable characters")
    return value.strip()


class Chat:
    def __init__(self, sio: SocketIOServer, history: History) -> None:
        self.sio, self.history = sio, history
        self.bus: Bus = LocalBus(self)
        self.local_presence: dict[str, Counter[str]] = {}  # channel -> user -> connections here
        self.delivered = 0
        for name, fn in (("connect", self.on_connect), ("disconnect", self.on_disconnect),
                         ("join", self.on_join), ("message", self.on_message),
                         ("typing", self.on_typing), ("leave", self.on_leave)):  # fmt: skip
            sio.on(name)(fn)

    # -- deliveries (from the bus) ----------------------------------------------------
    def deliver(self, msg: dict[str, Any]) -> None:
        """A numbered message: stored (once) and sent to this process's sockets in the channel."""
        if self.history.put(msg):
            self.delivered += 1
            self.sio.emit("message", msg, to=msg["channel"])

    def show_presence(self, channel: str, users: list[str]) -> None:
        self.sio.emit("presence", {"channel": channel, "users": users}, to=channel)

    def show_typing(self, channel: str, user: str, typing: bool, origin: str) -> None:
        self.sio.emit("typing", {"channel": channel, "user": user, "typing": typing},
                      to=channel, skip=origin or None)  # fmt: skip

    def users_here(self, channel: str) -> list[str]:
        return sorted(u for u, n in self.local_presence.get(channel, Counter()).items() if n > 0)

    # -- presence bookkeeping ----------------------------------------------------------
    async def _present(self, channel: str, user: str, delta: int) -> None:
        c = self.local_presence.setdefault(channel, Counter())
        c[user] += delta
        if c[user] <= 0:
            del c[user]
        if not c:
            del self.local_presence[channel]
        try:
            await self.bus.presence(channel, user, delta)
        except OSError as e:  # the star's Redis is away: presence is shown again when it is back
            log.warning("presence of %r in %s not published: %s", user, channel, e)

    # -- handlers ----------------------------------------------------------------------
    def on_connect(self, sock: SioSocket, auth: dict[str, Any]) -> None:
        if sock.recovered:  # its rooms came back: so does its presence
            sock.eio.data.setdefault("user", sock.data.get("user"))

            async def back() -> None:
                for ch in sock.data.get("channels", ()):
                    await self._present(ch, sock.data["user"], +1)

            asyncio.ensure_future(back())

    async def on_disconnect(self, sock: SioSocket, reason: str) -> None:
        user = sock.data.get("user", "")
        for ch in list(sock.data.get("channels", ())):
            await self._present(ch, user, -1)

    async def on_join(self, sock: SioSocket, payload: Any = None, *_extra: Any) -> Any:
        try:
            channel_v, user_v = _fields(payload, "channel", "user")
            channel, user = _channel(channel_v), _user(user_v)
            known = sock.data.get("user")
            if known is not None and known != user:
                raise BadRequest(f"this connection is {known!r}")
            joined = sock.data.get("channels", ())
            if channel not in joined and len(joined) >= MAX_CHANNELS:
                raise BadRequest(f"at most {MAX_CHANNELS} channels per connection")
        except BadRequest as e:
            return {"error": str(e)}
        sock.data["user"] = user
        sock.eio.data.setdefault("user", user)  # who a disconnect event names (N16)
        channels = sock.data.setdefault("channels", [])
        await self.bus.catch_up(channel)
        backlog = self.history.last(channel, RECENT)
        if channel not in channels:
            channels.append(channel)
            sock.join(channel)
            await self._present(channel, user, +1)
        return backlog

    async def on_leave(self, sock: SioSocket, payload: Any = None, *_extra: Any) -> Any:
        try:
            (channel_v,) = _fields(payload, "channel")
            channel = _channel(channel_v)
        except BadRequest as e:
            return {"error": str(e)}
        channels = sock.data.get("channels", [])
        if channel in channels:
            channels.remove(channel)
            sock.leave(channel)
            await self._present(channel, sock.data["user"], -1)
        return {"ok": True}

    async def on_message(self, sock: SioSocket, payload: Any = None, *_extra: Any) -> Any:
        try:
            channel_v, text = _fields(payload, "channel", "text")
            channel = _channel(channel_v)
            if channel not in sock.data.get("channels", ()):
                raise BadRequest(f"join {channel!r} first")
            if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
                raise BadRequest(f"text: 1-{MAX_TEXT} characters")
        except BadRequest as e:
            return {"error": str(e)}
        try:
            return await self.bus.publish(channel, sock.data["user"], text)
        except OSError as e:  # the star's Redis is away: the sender learns it was not stored
            log.warning("a message to %s not published: %s", channel, e)
            return {"error": "not stored: the message bus is unavailable, retry"}

    async def on_typing(self, sock: SioSocket, payload: Any = None, *_extra: Any) -> Any:
        try:
            channel = _channel(_fields(payload, "channel")[0])
            if channel not in sock.data.get("channels", ()):
                raise BadRequest(f"join {channel!r} first")
        except BadRequest as e:
            return {"error": str(e)}
        try:
            await self.bus.typing(channel, sock.data["user"], bool(payload.get("typing", True)), sock.sid)
        except OSError as e:
            log.warning("typing in %s not published: %s", channel, e)
        return None


class LocalBus:
    """One process: ids from the history, deliveries at once."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat

    async def publish(self, channel: str, user: str, text: str) -> dict[str, Any]:
        msg = {"id": self.chat.history.next_id(channel), "channel": channel, "user": user,
               "text": text, "ts": round(time.time(), 3)}  # fmt: skip
        self.chat.deliver(msg)
        return msg

    async def presence(self, channel: str, user: str, delta: int) -> None:
        n = self.chat.local_presence.get(channel, Counter()).get(user, 0)
        if (delta > 0 and n == delta) or n == 0:  # the user came online or went offline
            self.chat.show_presence(channel, self.chat.users_here(channel))

    async def typing(self, channel: str, user: str, typing: bool, origin: str) -> None:
        self.chat.show_typing(channel, user, typing, origin)

    async def catch_up(self, channel: str) -> None:
        return None
