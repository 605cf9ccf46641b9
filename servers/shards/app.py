"""The sharded API (JSON in, JSON out; errors as RFC 9457 problem details).

Routes::

    POST /users                 {"name"}  -> 201 {"id", "name", "shard", "slot"}
    GET  /users/{id}            the user, from the shard the map names
    POST /users/{id}/posts      {"body"}  -> 201, on the user's shard
    GET  /users/{id}/posts      newest first, one shard
    GET  /feed?users=1,2,3      the users' posts merged newest first: a fan-out to
                                every shard holding one of them, in parallel
    GET  /shards                the map (slots, shards, states) and rows per shard
    POST /admin/move            {"slot": 3, "to": "shard2"} -> the move's report

Every answer about a user says which shard served it (``X-Shard``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from clients.mysql import MySQLError
from clients.pool import AsyncPool, PoolConfig, PoolError
from clients.pool.mysql import async_mysql_pool
from netlib.http import App, HTTPError, JSONResponse, Request
from netlib.http import serve as serve_http
from netlib.http.problem import Problem
from netlib.shell import Server, ShellConfig

from . import directory, mover, store

log = logging.getLogger(__name__)

MAX_NAME, MAX_BODY = 100, 10_000  # characters: the columns' sizes
MAX_FEED_USERS = 100  # ids in one feed request


def problems(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Any]]:
    """HTTPError, a refused move and database trouble, all as problem details."""

    @functools.wraps(handler)
    async def wrapper(req: Request) -> Any:
        try:
            return await handler(req)
        except HTTPError as e:
            return Problem(e.status, e.detail)
        except mover.MoveError as e:
            return Problem(409, str(e))
        except (MySQLError, PoolError, OSError) as e:
            log.warning("database unavailable: %s", e)
            return Problem(503, f"a database is unavailable: {e}")

    return wrapper


class Router:
    """Pools per shard and for the directory, the cached shard map, the write gates."""

    def __init__(self, shards: dict[str, Any], directory_addr: Any, pool_size: int = 8):
        cfg = PoolConfig(max_size=pool_size, timeout=10)
        self.pools: dict[str, AsyncPool[Any]] = {n: async_mysql_pool(a, cfg) for n, a in shards.items()}
        self.dir_pool: AsyncPool[Any] = async_mysql_pool(directory_addr, PoolConfig(max_size=2))
        self.map: directory.ShardMap
        self.gates: mover.Gates
        self.moving: asyncio.Lock = asyncio.Lock()

    async def open(self, mode: str, slots: int, width: int) -> Router:
        for name in self.pools:
            async with self.shard(name) as conn:
                await store.create(conn)
        async with self.directory() as d:
            self.map = await directory.create(d, mode, slots, width, list(self.pools))
        self.gates = mover.Gates(len(self.map.slots))
        return self

    def shard(self, name: str) -> Any:
        return self.pools[name].connection()

    def directory(self) -> Any:
        return self.dir_pool.connection()

    async def close(self) -> None:
        for pool in [*self.pools.values(), self.dir_pool]:
            await pool.close()

    async def new_id(self, sequence: str) -> int:
        async with self.directory() as d:
            return await directory.next_id(d, sequence)

    @asynccontextmanager
    async def writing(self, uid: int) -> AsyncIterator[tuple[Any, mover.SlotGate, str, int]]:
        """A connection to ``uid``'s shard, held through the slot's write gate."""
        slot = self.map.slot_of(uid)
        async with self.gates.write(slot) as gate:
            shard = self.map.slots[slot].shard  # read after the gate: a move may just have switched
            async with self.shard(shard) as conn:
                yield conn, gate, shard, slot


def int_param(req: Request, name: str) -> int:
    return int(req.params[name])


def text_field(req: Request, name: str, limit: int) -> str:
    try:
        data = req.json()
    except HTTPError:
        data = None
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise HTTPError(422, f'send {{"{name}": "..."}}: a non-empty string of at most {limit} characters')
    return value


def build_app(router: Router) -> App:
    app = App()

    @app.post("/users")
    @problems
    async def create_user(req: Request) -> JSONResponse:
        name = text_field(req, "name", MAX_NAME)
        uid = await router.new_id("users")
        async with router.writing(uid) as (conn, gate, shard, slot):
            user = await store.insert_user(conn, uid, slot, name)
            mover.Gates.touched(gate, "users", uid)
        return JSONResponse({**user, "shard": shard, "slot": slot}, 201, {"x-shard": shard})

    @app.get("/users/{uid:int}")
    @problems
    async def get_user(req: Request) -> JSONResponse:
        uid = int_param(req, "uid")
        shard = router.map.shard_of(uid)
        async with router.shard(shard) as conn:
            user = await store.get_user(conn, uid)
        if user is None:
            raise HTTPError(404, "no such user")
        return JSONResponse({**user, "shard": shard}, 200, {"x-shard": shard})

    @app.post("/users/{uid:int}/posts")
    @problems
    async def create_post(req: Request) -> JSONResponse:
        uid = int_param(req, "uid")
        body = text_field(req, "body", MAX_BODY)
        pid = await router.new_id("posts")
        async with router.writing(uid) as (conn, gate, shard, slot):
            if await store.get_user(conn, uid) is None:
                raise HTTPError(404, "no such user")
            post = await store.insert_post(conn, pid, uid, slot, body)
            mover.Gates.touched(gate, "posts", pid)
        return JSONResponse(post, 201, {"x-shard": shard})

    @app.get("/users/{uid:int}/posts")
    @problems
    async def user_posts(req: Request) -> JSONResponse:
        uid = int_param(req, "uid")
        shard = router.map.shard_of(uid)
        async with router.shard(shard) as conn:
            posts = await store.posts_of(conn, [uid], store.FEED_MAX)
        return JSONResponse(posts, 200, {"x-shard": shard})

    @app.get("/feed")
    @problems
    async def feed(req: Request) -> dict[str, Any]:
        try:
            uids = sorted({int(x) for x in (req.arg("users") or "").split(",") if x})
        except ValueError:
            raise HTTPError(400, "users=1,2,3: user ids separated by commas") from None
        if not uids or len(uids) > MAX_FEED_USERS:
            raise HTTPError(400, f"give 1 to {MAX_FEED_USERS} user ids: ?users=1,2,3")
        by_shard: dict[str, list[int]] = {}
        for uid in uids:
            by_shard.setdefault(router.map.shard_of(uid), []).append(uid)

        async def one(shard: str, ids: list[int]) -> list[dict[str, Any]]:
            async with router.shard(shard) as conn:
                return await store.posts_of(conn, ids, store.FEED_MAX)

        parts = await asyncio.gather(*(one(s, ids) for s, ids in by_shard.items()))
        merged = sorted((p for part in parts for p in part), key=lambda p: p["id"], reverse=True)
        return {"shards": sorted(by_shard), "posts": merged[: store.FEED_MAX]}

    @app.get("/shards")
    @problems
    async def shards(req: Request) -> dict[str, Any]:
        counts = {}
        for name in router.pools:
            async with router.shard(name) as conn:
                counts[name] = {t: int((await conn.query(f"SELECT COUNT(*) FROM {t}")).scalar())
                                for t in store.TABLES}  # fmt: skip
        return {**router.map.as_dict(), "rows": counts}

    @app.post("/admin/move")
    @problems
    async def move(req: Request) -> dict[str, Any]:
        try:
            data = req.json()
        except HTTPError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("slot"), int) or not isinstance(
            data.get("to"), str
        ):
            raise HTTPError(422, 'send {"slot": N, "to": "shardK"}')
        if router.moving.locked():
            raise HTTPError(409, "another move is running")
        async with router.moving:
            report = await mover.move(router, data["slot"], data["to"])
        return report.__dict__

    return app


async def serve(router: Router, config: ShellConfig) -> Server:
    return await serve_http(build_app(router), config)
