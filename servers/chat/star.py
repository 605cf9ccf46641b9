"""N17, the star: chat processes around one redis-server, through clients/resp.

Every process subscribes to one pub/sub channel (``syslab:chat`` by default) and
publishes there everything other processes must see; a process's own users are
reached the same way, so there is one path for a message and no double delivery.

* A message: one Lua script (atomic in Redis) takes the channel's next id
  (``INCR``, never below the sender's last stored id: a Redis that restarted
  empty must not hand out ids the processes already stored, which ``put`` would
  drop as duplicates after their acks promised them), appends the message to the channel's capped list (the recent
  history a process that starts later loads), and ``PUBLISH``\\ es it. Redis runs
  scripts one at a time and delivers a channel's publications in order, so every
  process sees a chat channel's messages in id order; ``History.put`` ignores an
  id it has already stored, so each is delivered to the local sockets once.
* Presence: a hash per chat channel, user -> connections over all processes
  (``HINCRBY``; the field goes at 0), changed and published in one script
  when a user comes online or goes offline, so every process shows the same list.
* Typing: published as is; the sender's socket is skipped by its sid.

What it gives up: a process that dies without its connections' ``-1`` leaves
its users "online" in the hash (production keeps presence per process under a
TTL, refreshed by a heartbeat, and sweeps the dead); a process that loses Redis
misses the messages published meanwhile (pub/sub does not keep them; Redis
Streams would).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from clients.resp import AsyncPubSub, RespError, connect_async
from servers.sse.broker import parse_url

if TYPE_CHECKING:
    from .chat import Chat

log = logging.getLogger("servers.chat.star")

__all__ = ["RedisBus", "parse_url"]

KEPT = 200  # messages per chat channel kept in Redis for processes that start later
RETRY_SECONDS = 1.0

PUBLISH = """
local id = redis.call('INCR', KEYS[1])
if id <= tonumber(ARGV[5]) then  -- a Redis restarted empty: never reuse an id we stored
  id = tonumber(ARGV[5]) + 1
  redis.call('SET', KEYS[1], id)
end
local msg = '{"id":' .. id .. ',' .. ARGV[1]
redis.call('RPUSH', KEYS[2], msg)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('PUBLISH', ARGV[2], '{"type":"message","msg":' .. msg .. '}')
return msg
"""
PRESENCE = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local users = redis.call('HKEYS', KEYS[1])
if n == tonumber(ARGV[2]) or n <= 0 then
  redis.call('PUBLISH', ARGV[3], cjson.encode({type = 'presence', channel = ARGV[4], users = users}))
end
return users
"""


class RedisBus:
    def __init__(self, url: str, chat: Chat, prefix: str = "syslab:chat") -> None:
        self.host, self.port, self.db = parse_url(url)
        self.chat, self.prefix = chat, prefix
        self.conn: Any = None
        self.pubsub: AsyncPubSub | None = None
        self.received = 0

    def _key(self, kind: str, channel: str = "") -> str:
        return f"{self.prefix}:{kind}:{channel}" if channel else f"{self.prefix}:{kind}"

    async def start(self) -> None:
        """Connect, subscribe, then load the recent history (subscribed first: no gap)."""
        self.conn = await connect_async(self.host, self.port, self.db)
        self.pubsub = AsyncPubSub(await connect_async(self.host, self.port, self.db, timeout=None))
        await self.pubsub.subscribe(self.prefix)
        for raw in await self.conn.execute("SMEMBERS", self._key("channels")):
            channel = raw.decode()
            for m in await self.conn.execute("LRANGE", self._key("log", channel), -KEPT, -1):
                self.chat.history.put(json.loads(m))

    async def listen(self) -> None:
        """Deliver what the star publishes, for the server's lifetime."""
        while True:
            try:
                assert self.pubsub is not None
                async for msg in self.pubsub:
                    if msg.kind == "message":
                        self._dispatch(msg.data)
            except (RespError, OSError) as e:
                log.warning("lost the Redis subscription (%s); subscribing again", e)
            await self._reconnect()

    async def _reconnect(self) -> None:
        if self.pubsub is not None:
            await self.pubsub.close()
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                await self.start()
                return
            except (RespError, OSError) as e:
                log.warning("Redis still unavailable: %s", e)

    def _dispatch(self, raw: bytes) -> None:
        try:
            doc = json.loads(raw)
            kind = doc["type"]
            self.received += 1
            if kind == "message":
                self.chat.deliver(doc["msg"])
            elif kind == "presence":
                users = doc["users"] if isinstance(doc["users"], list) else []  # cjson: {} when empty
                self.chat.show_presence(doc["channel"], sorted(users))
            elif kind == "typing":
                self.chat.show_typing(doc["channel"], doc["user"], bool(doc["typing"]), doc["origin"])
        except (ValueError, KeyError, TypeError) as e:
            log.warning("ignoring a malformed publication %r: %s", raw[:80], e)

    # -- the Bus ------------------------------------------------------------------------
    async def publish(self, channel: str, user: str, text: str) -> dict[str, Any]:
        rest = json.dumps({"channel": channel, "user": user, "text": text, "ts": round(time.time(), 3)},
                          separators=(",", ":"))[1:]  # fmt: skip
        keys = (self._key("seq", channel), self._key("log", channel), self._key("channels"))
        raw = await self.conn.execute("EVAL", PUBLISH, len(keys), *keys, rest, self.prefix, KEPT, channel,
                                     self.chat.history.last_id.get(channel, 0))  # fmt: skip
        return json.loads(raw)  # type: ignore[no-any-return]

    async def presence(self, channel: str, user: str, delta: int) -> None:
        await self.conn.execute("EVAL", PRESENCE, 1, self._key("presence", channel), user, delta,
                                self.prefix, channel)  # fmt: skip

    async def typing(self, channel: str, user: str, typing: bool, origin: str) -> None:
        doc = {"type": "typing", "channel": channel, "user": user, "typing": typing, "origin": origin}
        await self.conn.execute("PUBLISH", self.prefix, json.dumps(doc))

    async def catch_up(self, channel: str) -> None:
        return None  # the history was loaded at start, and the subscription keeps it current

    async def close(self) -> None:
        for c in (self.conn, self.pubsub):
            if c is not None:
                await c.close()
