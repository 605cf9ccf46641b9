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
* Presence: a hash per chat channel, ``process:user`` -> that process's
  connections of the user (set, not incremented: a process can always write its
  own count again), and a sorted set of the processes, each scored with the
  Redis time (ms) its presence expires at. A process refreshes its score every
  ``ttl / 3`` seconds (the heartbeat); the users of a channel are those of its
  fields whose process has not expired. One script changes a field and publishes
  the list when it changed, so every process shows the same list.
* A crash: a process SIGKILLed sends no ``-1`` for its connections, but its
  heartbeat stops. Once its score is past, every list leaves its users out, and
  the next heartbeat of any live process (the sweep, one script) deletes its
  fields and publishes the lists that lost users: after a crash its users go
  offline within ``ttl`` + one heartbeat. A process that stops cleanly sweeps
  itself out at once.
* Typing: published as is; the sender's socket is skipped by its sid.

What it gives up: a process that loses Redis misses the messages published
meanwhile (pub/sub does not keep them; Redis Streams would). The sweep builds its
key names from the channel set inside the script (no Redis Cluster); a process
stalled longer than ``ttl`` (a GC pause, a stopped VM) shows its users offline
until its next heartbeat writes its counts back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
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
PRESENCE_TTL = 10.0  # s a process's presence outlives its last heartbeat (--presence-ttl)
# Shared by the presence scripts: the Redis clock, and a channel's users whose process
# is alive (fields "process:user"; process ids hold no colon).
_USERS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function users_of(key, procs, now)
  local alive, seen, users = {}, {}, {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    local proc, user = string.match(f, '^([^:]*):(.*)$')
    if proc then
      if alive[proc] == nil then
        local score = redis.call('ZSCORE', procs, proc)
        alive[proc] = score ~= false and tonumber(score) >= now
      end
      if alive[proc] and not seen[user] then
        seen[user] = true
        users[#users + 1] = user
      end
    end
  end
  table.sort(users)
  return users
end
local function publish(chan, channel, users)
  redis.call('PUBLISH', chan, cjson.encode({type = 'presence', channel = channel, users = users}))
end
"""
# KEYS: the channel's presence hash, the processes, the channels with presence;
# ARGV: process, user, its connections there now, pub/sub channel, chat channel, ttl ms.
PRESENCE = _USERS + """
local now = now_ms()
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[1])
local before = users_of(KEYS[1], KEYS[2], now)
local field = ARGV[1] .. ':' .. ARGV[2]
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], field, ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[5])
else
  redis.call('HDEL', KEYS[1], field)
  if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[5]) end
end
local after = users_of(KEYS[1], KEYS[2], now)
if table.concat(before, '\0') ~= table.concat(after, '\0') then publish(ARGV[4], ARGV[5], after) end
return after
"""
# The heartbeat and the sweep. KEYS: the processes, the channels with presence; ARGV:
# process, ttl ms (negative: it leaves now), presence key prefix, pub/sub channel.
# Returns how many processes it swept out, and 1 when this process was not listed (new,
# or swept out itself: paused past its ttl, SIGSTOP; its counts are to be written again).
SWEEP = _USERS + """
local now, ttl, added = now_ms(), tonumber(ARGV[2]), 0
if ttl >= 0 then
  added = redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
if #dead == 0 and ttl >= 0 then return {0, added} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local gone = {}
for _, proc in ipairs(dead) do gone[proc] = true end
if ttl < 0 then gone[ARGV[1]] = true end
for _, channel in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[3] .. channel
  local changed = false
  for _, f in ipairs(redis.call('HKEYS', key)) do
    local proc = string.match(f, '^([^:]*):')
    if proc == nil or gone[proc] then
      redis.call('HDEL', key, f)
      changed = true
    end
  end
  if changed then
    publish(ARGV[4], channel, users_of(key, KEYS[1], now))
    if redis.call('HLEN', key) == 0 then redis.call('SREM', KEYS[2], channel) end
  end
end
return {#dead, added}
"""


class RedisBus:
    def __init__(self, url: str, chat: Chat, prefix: str = "syslab:chat",
                 presence_ttl: float = PRESENCE_TTL) -> None:  # fmt: skip
        self.host, self.port, self.db = parse_url(url)
        self.chat, self.prefix = chat, prefix
        self.conn: Any = None
        self.pubsub: AsyncPubSub | None = None
        self.received = 0
        self.proc = uuid.uuid4().hex[:16]  # this process in the presence hashes
        self.ttl_ms = max(1, round(presence_ttl * 1000))
        self.heartbeat_s = presence_ttl / 3

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
        await self.sweep()
        await self._write_counts()  # after a reconnect: ours again

    async def _write_counts(self) -> None:
        for channel, users in list(self.chat.local_presence.items()):
            for user in list(users):
                await self.presence(channel, user, 0)

    async def sweep(self, leaving: bool = False) -> int:
        """The heartbeat: this process alive for another ttl; the processes past theirs
        swept out of every presence hash (their lists published). How many were swept."""
        keys = (self._key("procs"), self._key("presence-channels"))
        n, added = await self.conn.execute("EVAL", SWEEP, len(keys), *keys, self.proc,
                                           -1 if leaving else self.ttl_ms,
                                           self._key("presence") + ":", self.prefix)  # fmt: skip
        if added and not leaving:  # swept out while paused: our users are online again
            await self._write_counts()
        if n:
            log.info("swept the presence of %d process(es) past their ttl", n)
        return int(n)

    async def heartbeat(self) -> None:
        """``sweep`` every ttl / 3 seconds, for the server's lifetime."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.sweep()
            except (RespError, OSError) as e:
                log.warning("presence heartbeat failed: %s", e)

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
        here = self.chat.local_presence.get(channel)
        n = here[user] if here else 0  # the delta is counted there already
        keys = (self._key("presence", channel), self._key("procs"), self._key("presence-channels"))
        await self.conn.execute("EVAL", PRESENCE, len(keys), *keys, self.proc, user, n,
                                self.prefix, channel, self.ttl_ms)  # fmt: skip

    async def typing(self, channel: str, user: str, typing: bool, origin: str) -> None:
        doc = {"type": "typing", "channel": channel, "user": user, "typing": typing, "origin": origin}
        await self.conn.execute("PUBLISH", self.prefix, json.dumps(doc))

    async def catch_up(self, channel: str) -> None:
        return None  # the history was loaded at start, and the subscription keeps it current

    async def close(self) -> None:
        if self.conn is not None:
            try:
                await self.sweep(leaving=True)  # our users go offline now, not after the ttl
            except (RespError, OSError) as e:
                log.warning("could not take our presence out: %s", e)
        for c in (self.conn, self.pubsub):
            if c is not None:
                await c.close()
