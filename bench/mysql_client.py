"""``make bench-mysql_client``: syslab's MySQL client against PyMySQL and aiomysql.

One private MariaDB (or ``SYSLAB_MYSQL_URL``), four clients in the same run:
syslab blocking, syslab asyncio, PyMySQL, aiomysql. Workloads:

* ``select1``: N ``SELECT 1`` round trips (latency of the whole stack);
* ``fetch``: one ``SELECT`` of a 100,000-row, 4-column table (INT, VARCHAR,
  DOUBLE, DATETIME), every row decoded to Python values;
* ``insert 1-row``: 100,000 single-row INSERTs in one transaction. syslab
  uses a server-side prepared statement (binary protocol); PyMySQL and
  aiomysql have none, so they run the same statement with client-side
  interpolation: one round trip per row for everybody;
* ``insert executemany``: the same rows through each client's ``executemany``.
  syslab pipelines prepared executes (a window of up to 1000 sent before
  reading their answers); PyMySQL and aiomysql rewrite an INSERT into ~1MB
  multi-row INSERTs with client-side escaping;
* ``insert multi-row``: the same rows as ~1MB multi-row INSERTs (syslab's
  ``insert_many``; for the references, ``executemany`` again, which is that).

The machine is shared and its load comes and goes, so the clients take
turns in small slices: the round-trip workloads (select1, insert 1-row) run
as 20 slices of a twentieth of the work, each slice on every client back to
back, and the table shows each client's median slice times 20 (a slice that
met someone else's burst of load does not decide the line); the other
workloads run a few whole rounds the same way; every row is the median with
min and max beside it (who goes first rotates each round).
Seconds, and the ratio to PyMySQL (>1 means faster than PyMySQL).
The asyncio clients share one uvloop loop (asyncio's when uvloop is absent).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import warnings
from collections.abc import Callable
from typing import Any

import aiomysql
import pymysql

from clients.mysql import Connection
from clients.mysql.aio import AsyncConnection
from harness.services import MariaDB, ServiceAddress, from_env

from .common import Row, Timer, header, measured, median_bars, save, table

TABLE_DDL = (
    "CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(32), score DOUBLE, created DATETIME)"
)
INSERT = "INSERT INTO {t} (id, name, score, created) VALUES"
BASE_TIME = datetime.datetime(2024, 1, 1, 12, 0, 0)
WORKLOADS = ("select1", "fetch", "insert_prepared", "insert_executemany", "insert_multirow")
SLICED = ("select1", "insert_prepared")  # reported as median slice x SLICES


def make_rows(n: int) -> list[tuple[Any, ...]]:
    return [
        (i, f"name-{i:08d}", i * 0.25, BASE_TIME + datetime.timedelta(seconds=i)) for i in range(n)
    ]


class Syslab:
    name = "syslab"

    def __init__(self, addr: ServiceAddress) -> None:
        self.c = Connection.from_address(addr)

    def select1(self, n: int) -> None:
        for _ in range(n):
            self.c.query("SELECT 1")

    def fetch(self) -> int:
        return len(self.c.query("SELECT * FROM fetch_t").rows)

    def reset(self, t: str) -> None:
        self.c.query(f"DROP TABLE IF EXISTS {t}")
        self.c.query(TABLE_DDL.format(t=t))

    def insert_prepared(self, t: str, rows: list) -> None:
        sql = INSERT.format(t=t) + " (?, ?, ?, ?)"
        with self.c.transaction():
            for r in rows:
                self.c.execute(sql, r)

    def insert_executemany(self, t: str, rows: list) -> None:
        with self.c.transaction():
            self.c.executemany(INSERT.format(t=t) + " (?, ?, ?, ?)", rows)

    def insert_multirow(self, t: str, rows: list) -> None:
        with self.c.transaction():
            self.c.insert_many(INSERT.format(t=t), rows)

    def close(self) -> None:
        self.c.close()


class PyMySQL:
    name = "PyMySQL"

    def __init__(self, addr: ServiceAddress) -> None:
        self.c = pymysql.connect(
            host=addr.host, port=addr.port, user=addr.user, password=addr.password,
            database=addr.database, charset="utf8mb4", autocommit=True,
        )  # fmt: skip
        self.cur = self.c.cursor()

    def select1(self, n: int) -> None:
        for _ in range(n):
            self.cur.execute("SELECT 1")
            self.cur.fetchall()

    def fetch(self) -> int:
        self.cur.execute("SELECT * FROM fetch_t")
        return len(self.cur.fetchall())

    def reset(self, t: str) -> None:
        self.cur.execute(f"DROP TABLE IF EXISTS {t}")
        self.cur.execute(TABLE_DDL.format(t=t))

    def insert_prepared(self, t: str, rows: list) -> None:
        sql = INSERT.format(t=t) + " (%s, %s, %s, %s)"
        self.c.begin()
        for r in rows:
            self.cur.execute(sql, r)
        self.c.commit()

    def insert_multirow(self, t: str, rows: list) -> None:
        self.c.begin()
        self.cur.executemany(INSERT.format(t=t) + " (%s, %s, %s, %s)", rows)
        self.c.commit()

    insert_executemany = insert_multirow

    def close(self) -> None:
        self.c.close()


class SyslabAsync:
    name = "syslab-asyncio"

    async def open(self, addr: ServiceAddress) -> SyslabAsync:
        self.c = await AsyncConnection.from_address(addr)
        return self

    async def select1(self, n: int) -> None:
        for _ in range(n):
            await self.c.query("SELECT 1")

    async def fetch(self) -> int:
        return len((await self.c.query("SELECT * FROM fetch_t")).rows)

    async def reset(self, t: str) -> None:
        await self.c.query(f"DROP TABLE IF EXISTS {t}")
        await self.c.query(TABLE_DDL.format(t=t))

    async def insert_prepared(self, t: str, rows: list) -> None:
        sql = INSERT.format(t=t) + " (?, ?, ?, ?)"
        async with self.c.transaction():
            for r in rows:
                await self.c.execute(sql, r)

    async def insert_executemany(self, t: str, rows: list) -> None:
        async with self.c.transaction():
            await self.c.executemany(INSERT.format(t=t) + " (?, ?, ?, ?)", rows)

    async def insert_multirow(self, t: str, rows: list) -> None:
        async with self.c.transaction():
            await self.c.insert_many(INSERT.format(t=t), rows)

    async def close(self) -> None:
        await self.c.close()


class AioMySQL:
    name = "aiomysql"

    async def open(self, addr: ServiceAddress) -> AioMySQL:
        self.c = await aiomysql.connect(
            host=addr.host, port=addr.port, user=addr.user, password=addr.password,
            db=addr.database, charset="utf8mb4", autocommit=True,
        )  # fmt: skip
        self.cur = await self.c.cursor()
        return self

    async def select1(self, n: int) -> None:
        for _ in range(n):
            await self.cur.execute("SELECT 1")
            await self.cur.fetchall()

    async def fetch(self) -> int:
        await self.cur.execute("SELECT * FROM fetch_t")
        return len(await self.cur.fetchall())

    async def reset(self, t: str) -> None:
        await self.cur.execute(f"DROP TABLE IF EXISTS {t}")
        await self.cur.execute(TABLE_DDL.format(t=t))

    async def insert_prepared(self, t: str, rows: list) -> None:
        sql = INSERT.format(t=t) + " (%s, %s, %s, %s)"
        await self.c.begin()
        for r in rows:
            await self.cur.execute(sql, r)
        await self.c.commit()

    async def insert_multirow(self, t: str, rows: list) -> None:
        await self.c.begin()
        await self.cur.executemany(INSERT.format(t=t) + " (%s, %s, %s, %s)", rows)
        await self.c.commit()

    insert_executemany = insert_multirow

    async def close(self) -> None:
        self.c.close()


class OnLoop:
    """An asyncio client behind the blocking shape: each call runs on one shared loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, impl: Any, addr: ServiceAddress) -> None:
        self.loop = loop
        self.name = impl.name
        self.impl = loop.run_until_complete(impl.open(addr))

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        method = getattr(self.impl, attr)
        return lambda *a: self.loop.run_until_complete(method(*a))


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def timed(fn: Callable[[], Any]) -> float:
    with Timer() as t:
        fn()
    return t.seconds


SLICES = 20  # the round-trip workloads are cut into this many interleaved slices


def measure(impl: Any, work: str, n: dict[str, int], rows: list, part: int) -> float:
    """Seconds for one slice (``part``) or one round of ``work`` (table setup not timed)."""
    if work == "select1":
        return timed(lambda: impl.select1(n["select1"] // SLICES))
    if work == "fetch":
        return timed(impl.fetch)
    t = f"ins_{impl.name.replace('-', '_')}"
    if work == "insert_prepared":
        if part == 0:
            impl.reset(t)
        size = len(rows) // SLICES
        chunk = rows[part * size : (part + 1) * size]
        return timed(lambda: impl.insert_prepared(t, chunk))
    impl.reset(t)
    return timed(lambda: getattr(impl, work)(t, rows))


def runs(work: str, rounds: dict[str, int]) -> str:
    return f"{SLICES} slices, each x{SLICES}" if work in SLICED else f"{rounds[work]} rounds"


def prepare_fetch_table(addr: ServiceAddress, n_rows: int) -> None:
    with Connection.from_address(addr) as c:
        c.query("DROP TABLE IF EXISTS fetch_t")
        c.query(TABLE_DDL.format(t="fetch_t"))
        c.insert_many(INSERT.format(t="fetch_t"), make_rows(n_rows))


def run(addr: ServiceAddress, n: dict[str, int], rounds: dict[str, int]) -> list[Row]:
    warnings.filterwarnings("ignore", category=pymysql.Warning)  # "DROP TABLE IF EXISTS" notes
    prepare_fetch_table(addr, n["fetch"])
    rows = make_rows(n["insert"])
    loop = new_loop()
    impls: list[Any] = [Syslab(addr), OnLoop(loop, SyslabAsync(), addr), PyMySQL(addr),
             OnLoop(loop, AioMySQL(), addr)]  # fmt: skip
    times: dict[tuple[str, str], list[float]] = {}
    for work in WORKLOADS:
        for part in range(SLICES if work in SLICED else rounds[work]):
            k = part % len(impls)  # who goes first rotates, so no client always meets the warm cache
            for impl in impls[k:] + impls[:k]:
                times.setdefault((work, impl.name), []).append(measure(impl, work, n, rows, part))
    scaled = {key: [s * SLICES for s in ts] if key[0] in SLICED else ts for key, ts in times.items()}
    for impl in impls:
        impl.close()
    loop.close()
    labels = {
        "select1": f"select1 x{n['select1']}",
        "fetch": f"fetch {n['fetch']}x4",
        "insert_prepared": f"insert 1-row x{n['insert']}",
        "insert_executemany": f"executemany x{n['insert']}",
        "insert_multirow": f"multi-row INSERT {n['insert']}",
    }
    return [
        measured(labels[work], impl.name, scaled[(work, impl.name)], "s", runs=runs(work, rounds))
        for work in WORKLOADS
        for impl in impls
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (for the smoke test)")
    args = ap.parse_args()
    if args.quick:
        n = {"select1": 200, "fetch": 2000, "insert": 1000}
        rounds = {"fetch": 2, "insert_executemany": 2, "insert_multirow": 2}
    else:
        n = {"select1": 20_000, "fetch": 100_000, "insert": 100_000}
        rounds = {"fetch": 5, "insert_executemany": 3, "insert_multirow": 3}
    print(header("MySQL client: syslab vs PyMySQL / aiomysql (seconds, lower is better)"))
    env = from_env("SYSLAB_MYSQL_URL", 3306)
    if env is not None:
        rows = run(env, n, rounds)
    else:
        with MariaDB() as db:
            rows = run(db.address, n, rounds)
    print(table(rows, reference="PyMySQL", higher_is_better=False))
    path = save("mysql_client-quick" if args.quick else "mysql_client", rows, sizes=n, rounds=rounds)
    png = median_bars(rows, path.with_suffix(".png"), "MySQL clients: syslab (blocking, asyncio) vs PyMySQL "
                      "(reference) and aiomysql; median, whiskers min..max", "seconds",
                      size=(13, 5))  # fmt: skip
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
