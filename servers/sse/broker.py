"""``--redis URL``: events numbered and fanned out through a real redis-server.

Publishing runs one Lua script (atomic in Redis): ``INCR`` the sequence, append
the event to a capped list (the shared history), ``PUBLISH`` it. Because the id
is taken and the message published in one step, every subscribed process sees
the events in id order, so the same id means the same event in every process and
a client can reconnect to any of them with its ``Last-Event-ID``. A process that
starts (or loses Redis and comes back) subscribes first, then reads the history
list into its ring; the hub ignores ids it already has, so the overlap is harmless.

What production would do differently: Redis Streams (``XADD``/``XREAD``) give ids
and history in one structure; pub/sub + list keeps to what ``clients/resp`` and
N17's star topology already use.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from clients.resp import AsyncPubSub, RespError, connect_async

from .hub import Hub, Numbered

log = logging.getLogger("servers.sse.broker")

PUBLISH_SCRIPT = """
local id = redis.call('INCR', KEYS[1])
local msg = cjson.encode({id = id, event = ARGV[2], data = ARGV[3]})
redis.call('RPUSH', KEYS[2], msg)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
redis.call('PUBLISH', ARGV[1], msg)
return id
"""
RETRY_SECONDS = 1.0  # pause before subscribing again after losing Redis


def parse_url(url: str) -> tuple[str, int, int]:
    u = urlsplit(url)
    if u.scheme != "redis" or not u.hostname:
        raise ValueError(f"not a redis://HOST:PORT[/DB] URL: {url}")
    db = int(u.path.lstrip("/") or 0)
    return u.hostname, u.port or 6379, db


def _decode(raw: Any) -> Numbered | None:
    try:
        doc = json.loads(raw)
        return Numbered.make(int(doc["id"]), str(doc["event"]), str(doc["data"]))
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring a malformed message on the channel: %r", raw[:80])
        return None


class RedisBroker:
    def __init__(self, url: str, channel: str, hub: Hub, history: int) -> None:
        self.host, self.port, self.db = parse_url(url)
        self.channel, self.hub, self.history = channel, hub, history
        self.keys = (f"{channel}:seq", f"{channel}:log")
        self.conn: Any = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        """Connect, subscribe and load the history; then ``listen`` keeps it fed."""
        self.conn = await connect_async(self.host, self.port, self.db)
        self.pubsub = await self._subscribe()

    async def _subscribe(self) -> AsyncPubSub:
        ps = AsyncPubSub(await connect_async(self.host, self.port, self.db, timeout=None))
        await ps.subscribe(self.channel)
        for raw in await self.conn.execute("LRANGE", self.keys[1], -self.hub.ring.maxlen, -1):  # type: ignore[operator]
            ev = _decode(raw)
            if ev is not None:
                self.hub.deliver(ev)
        self.ready.set()
        return ps

    async def listen(self) -> None:
        """Deliver the channel's messages to the hub, for the server's lifetime."""
        while True:
            try:
                async for msg in self.pubsub:
                    if msg.kind == "message":
                        ev = _decode(msg.data)
                        if ev is not None:
                            self.hub.deliver(ev)
            except (RespError, OSError) as e:
                log.warning("lost the Redis subscription (%s); subscribing again", e)
            await self.pubsub.close()
            while True:
                await asyncio.sleep(RETRY_SECONDS)
                try:
                    self.conn = await connect_async(self.host, self.port, self.db)
                    self.pubsub = await self._subscribe()
                    break
                except (RespError, OSError) as e:
                    log.warning("Redis still unavailable: %s", e)

    async def publish(self, event: str, data: str) -> int:
        return int(await self.conn.execute("EVAL", PUBLISH_SCRIPT, 2, *self.keys, self.channel,
                                           event, data, self.history))  # fmt: skip

    async def close(self) -> None:
        for c in (self.conn, getattr(self, "pubsub", None)):
            if c is not None:
                await c.close()
