"""The shards, the user directory, the id scheme, and moving a user.

``ShardSet`` owns one asyncio pool per shard. ``shard_of(user)`` reads the
directory (shard 0) and falls back to the home shard ``user % N``. Writes and
moves for one user are serialised by a per-user lock in this process, so a
blog written during a move is not left behind (one server process; several
would need a lock in the database, e.g. ``GET_LOCK``).

A move copies the user's rows to the target in one transaction *with their
ids*, then points the directory at the target, then deletes the rows from the
source. A crash between the steps leaves a stale copy that the directory no
longer points to (cleaned by running the move again), never a lost blog. With
per-shard auto-increment ids the copy fails when the target already has one of
the ids: that is the collision this exercise is about (``MoveCollision``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from clients.ids import Snowflake
from clients.mysql import DuplicateKeyError
from clients.pool import AsyncPool, PoolConfig
from clients.pool.mysql import async_mysql_pool

from . import store

log = logging.getLogger(__name__)

ID_SCHEMES = ("snowflake", "autoinc")


class MoveCollision(Exception):
    """The target shard already holds a blog with one of the user's ids."""


class ShardSet:
    def __init__(
        self, pools: list[AsyncPool[Any]], ids: str = "snowflake", worker: int = 1
    ) -> None:
        if ids not in ID_SCHEMES:
            raise ValueError(f"ids must be one of {ID_SCHEMES}")
        self.pools, self.ids = pools, ids
        self.flake = Snowflake(worker) if ids == "snowflake" else None
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    @classmethod
    def from_addresses(cls, addrs: list[Any], ids: str, worker: int = 1, size: int = 4) -> ShardSet:
        cfg = PoolConfig(max_size=size, timeout=5.0)
        return cls([async_mysql_pool(a, cfg) for a in addrs], ids, worker)

    def __len__(self) -> int:
        return len(self.pools)

    async def prepare(self) -> None:
        for i, pool in enumerate(self.pools):
            async with pool.connection() as c:
                await c.query(store.BLOGS)
                if i == 0:
                    await c.query(store.DIRECTORY)

    async def shard_of(self, user: int) -> int:
        async with self.pools[0].connection() as c:
            r = await c.query("SELECT shard FROM blog_directory WHERE user_id = %s", (user,))
        return int(r.rows[0][0]) if r.rows else user % len(self.pools)

    async def create(self, user: int, title: str, body: str) -> dict[str, Any]:
        async with self._locks[user]:
            shard = await self.shard_of(user)
            bid = self.flake.next_id() if self.flake else None
            async with self.pools[shard].connection() as c:
                bid = await store.insert(c, user, title, body, bid)
        return {"id": bid, "user": user, "shard": shard, "url": f"/users/{user}/blogs/{bid}"}

    async def get(self, user: int, bid: int) -> tuple[int, dict[str, Any] | None]:
        shard = await self.shard_of(user)
        async with self.pools[shard].connection() as c:
            return shard, await store.get(c, user, bid)

    async def list_user(self, user: int) -> tuple[int, list[dict[str, Any]]]:
        shard = await self.shard_of(user)
        async with self.pools[shard].connection() as c:
            return shard, await store.list_user(c, user)

    async def find_everywhere(self, bid: int) -> list[dict[str, Any]]:
        """Every blog with this id on any shard: one with unique ids, several with per-shard ids."""
        found = []
        for i, pool in enumerate(self.pools):
            async with pool.connection() as c:
                found += [{**b, "shard": i} for b in await store.by_id(c, bid)]
        return found

    async def move(self, user: int, target: int) -> dict[str, Any]:
        if not 0 <= target < len(self.pools):
            raise ValueError(f"shard must be 0..{len(self.pools) - 1}")
        async with self._locks[user]:
            source = await self.shard_of(user)
            if source == target:
                return {"user": user, "from": source, "to": target, "moved": 0}
            async with self.pools[source].connection() as c:
                rows = await store.all_rows(c, user)
            await self._copy(user, rows, target)
            async with self.pools[0].connection() as c:
                await c.query(
                    "INSERT INTO blog_directory (user_id, shard) VALUES (%s, %s)"
                    " ON DUPLICATE KEY UPDATE shard = VALUES(shard)",
                    (user, target),
                )
            async with self.pools[source].connection() as c:
                await c.query("DELETE FROM blogs WHERE user_id = %s", (user,))
        log.info("moved user %d from shard %d to %d (%d blogs)", user, source, target, len(rows))
        return {"user": user, "from": source, "to": target, "moved": len(rows)}

    async def _copy(self, user: int, rows: list[tuple[Any, ...]], target: int) -> None:
        """The user's rows into ``target`` in one transaction (all or nothing)."""
        try:
            async with self.pools[target].connection() as c, c.transaction():
                await c.query("DELETE FROM blogs WHERE user_id = %s", (user,))  # a stale copy
                if rows:
                    await c.insert_many(f"INSERT INTO blogs ({store.COLUMNS}) VALUES", rows)
        except DuplicateKeyError as e:
            raise MoveCollision(
                f"shard {target} already has a blog with one of user {user}'s ids ({e})"
            ) from None

    async def close(self) -> None:
        for p in self.pools:
            await p.close()
