"""The profile API: writes go to the primary, reads to the replica unless asked.

Routes (JSON in, JSON out)::

    POST /users            {"name", "email", "bio"?}   -> 201, on the primary
    GET  /users/{id}       ?consistent=true or X-Consistent-Read: true -> primary, else replica
    PUT  /users/{id}       {"name"?, "email"?, "bio"?}  -> 200, on the primary
    GET  /replication      the replica's threads, lag in seconds and in transactions, GTIDs
    POST /replication/pause, /replication/resume   stop/start applying on the replica

Every answer that touched a database says which one in ``X-Served-By:
primary|replica``. That is the whole point of the exercise: a read right after
a write, sent to the replica, can miss the write (the replica applies the
primary's binlog a little later, or much later when it is paused or delayed),
and the caller who cannot live with that asks for a consistent read and pays
for it with load on the primary. Production systems add smarter options (read
your own writes by waiting for the write's GTID on the replica with
``MASTER_GTID_WAIT``, or sticky primary reads for a few seconds after a write);
the flag is the simplest honest version.

Each server has its own asyncio connection pool (``clients.pool``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from clients.mysql import DuplicateKeyError, MySQLError
from clients.pool import AsyncPool, PoolConfig, PoolError
from clients.pool.mysql import async_mysql_pool
from harness.replication import status_from_rows
from netlib.http import App, HTTPError, JSONResponse, Request
from netlib.http import serve as serve_http
from netlib.shell import Server, ShellConfig

from . import store

log = logging.getLogger(__name__)

TRUTHY = frozenset({"1", "true", "yes", "on"})
CONSISTENT_HEADER = "x-consistent-read"
SERVED_BY = "x-served-by"
# Seconds a starting server waits for the replica to have the schema it just created.
SCHEMA_WAIT = 10


def wants_consistency(req: Request) -> bool:
    """True when the request asks for a read that reflects every committed write."""
    flag = req.arg("consistent") or req.headers.get(CONSISTENT_HEADER) or ""
    return flag.strip().lower() in TRUTHY


class Databases:
    """The two pools, and which one a request goes to."""

    def __init__(self, primary: AsyncPool[Any], replica: AsyncPool[Any]) -> None:
        self.pools = {"primary": primary, "replica": replica}

    @classmethod
    def from_urls(cls, primary: Any, replica: Any, pool_size: int = 8) -> Databases:
        cfg = PoolConfig(max_size=pool_size, timeout=5.0)
        return cls(async_mysql_pool(primary, cfg), async_mysql_pool(replica, cfg))

    async def run(self, role: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
        """``work(conn)`` on a connection of ``role``; database trouble becomes a 503."""
        try:
            async with self.pools[role].connection() as conn:
                return await work(conn)
        except DuplicateKeyError:
            raise HTTPError(409, "a user with this email exists") from None
        except (MySQLError, PoolError, OSError) as e:
            log.warning("%s database unavailable: %s", role, e)
            raise HTTPError(503, f"{role} database unavailable: {e}") from None

    async def prepare(self) -> None:
        """Create the schema on the primary and wait until the replica has it too."""
        await self.run("primary", lambda c: c.query(store.SCHEMA))
        gtid = await self.run("primary", _scalar("SELECT @@GLOBAL.gtid_binlog_pos"))
        got = await self.run(
            "replica", _scalar(f"SELECT MASTER_GTID_WAIT('{gtid}', {SCHEMA_WAIT})")
        )
        if got != 0:
            log.warning("the replica has not reached the primary's %s: is it replicating?", gtid)

    async def replication_status(self) -> dict[str, object]:
        rows = await self.run("replica", lambda c: c.query("SHOW SLAVE STATUS"))
        first = (rows.dicts() or [{}])[0]
        slave = {name: None if v is None else str(v) for name, v in first.items()}
        primary = await self.run("primary", _scalar("SELECT @@GLOBAL.gtid_binlog_pos"))
        replica = await self.run("replica", _scalar("SELECT @@GLOBAL.gtid_slave_pos"))
        return status_from_rows(slave, primary or "", replica or "").as_dict()

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()


def _scalar(sql: str) -> Callable[[Any], Awaitable[Any]]:
    async def work(conn: Any) -> Any:
        return (await conn.query(sql)).scalar()

    return work


def served(data: Any, role: str, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status, {SERVED_BY: role})


def build_app(db: Databases) -> App:
    app = App()

    @app.get("/")
    def index(req: Request) -> dict[str, Any]:
        return {"routes": ["POST /users", "GET /users/{id}", "PUT /users/{id}", "GET /replication",
                           "POST /replication/pause", "POST /replication/resume"],
                "consistent_reads": "?consistent=true or X-Consistent-Read: true"}  # fmt: skip

    @app.post("/users")
    async def create(req: Request) -> JSONResponse:
        fields = store.validate(req.json(), partial=False)
        user = await db.run("primary", lambda c: store.create_user(c, fields))
        resp = served(user, "primary", 201)
        resp.headers.append((b"location", f"/users/{user['id']}".encode()))
        return resp

    @app.get("/users/{uid:int}")
    async def read(req: Request) -> JSONResponse:
        role = "primary" if wants_consistency(req) else "replica"
        user = await db.run(role, lambda c: store.get_user(c, req.params["uid"]))
        if user is None:
            return served({"error": "no such user"}, role, 404)
        return served(user, role)

    @app.put("/users/{uid:int}")
    async def update(req: Request) -> JSONResponse:
        fields = store.validate(req.json(), partial=True)
        user = await db.run("primary", lambda c: store.update_user(c, req.params["uid"], fields))
        if user is None:
            return served({"error": "no such user"}, "primary", 404)
        return served(user, "primary")

    @app.get("/replication")
    async def replication(req: Request) -> dict[str, object]:
        return await db.replication_status()

    @app.post("/replication/pause")
    async def pause(req: Request) -> dict[str, object]:
        """STOP SLAVE SQL_THREAD: the replica keeps receiving, stops applying (lag on demand)."""
        await db.run("replica", lambda c: c.query("STOP SLAVE SQL_THREAD"))
        return await db.replication_status()

    @app.post("/replication/resume")
    async def resume(req: Request) -> dict[str, object]:
        await db.run("replica", lambda c: c.query("START SLAVE SQL_THREAD"))
        return await db.replication_status()

    return app


async def serve(db: Databases, config: ShellConfig) -> Server:
    """Make sure both databases are ready, then listen; returns once accepting."""
    await db.prepare()
    return await serve_http(build_app(db), config)
