"""``make bench-mysql_client``: syslab's MySQL client against PyMySQL and aiomysql.

One private MariaDB (or ``SYSLAB_MYSQL_URL``), four clients in the same run:
syslab blocking, syslab asyncio, PyMySQL, aiomysql. Workloads:

* ``select1``: N ``SELECT 1`` round trips (latency of the whole stack);
* ``fetch``: one ``SELECT`` of a 100,000-row, 4-column table (INT, VARCHAR,
  DOUBLE, DATETIME), every row decoded to Python values (best of 3);
* ``insert_prepared``: 100,000 single-row INSERTs in one transaction. syslab
  uses a server-side prepared statement (binary protocol); PyMySQL and
  aiomysql have none, so they run the same statement with client-side
  interpolation, one round trip per row as well;
* ``insert_multirow``: the same rows as ~1MB multi-row INSERTs (syslab's
  ``insert_many``, the references' ``executemany``, which batch the same way).

Seconds per workload, and the ratio to PyMySQL (>1 means faster than PyMySQL).
The asyncio clients run on uvloop when it is installed, both of them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
from collections.abc import Callable
from typing import Any

import aiomysql
import pymysql

from clients.mysql import Connection
from clients.mysql.aio import aconnect
from netlib.services import MariaDB, ServiceAddress, from_env

from .common import Row, Timer, header, save, table

TABLE_DDL = (
    "CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(32), score DOUBLE, created DATETIME)"
)
INSERT = "INSERT INTO {t} (id, name, score, created) VALUES"
BASE_TIME = datetime.datetime(2024, 1, 1, 12, 0, 0)


def make_rows(n: int) -> list[tuple[Any, ...]]:
    return [
        (i, f"name-{i:08d}", i * 0.25, BASE_TIME + datetime.timedelta(seconds=i)) for i in range(n)
    ]


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        with Timer() as t:
            fn()
        times.append(t.seconds)
    return min(times)


# -- blocking clients -------------------------------------------------------------------


def bench_syslab(addr: ServiceAddress, n: dict[str, int], rows: list, repeats: int) -> dict:
    c = Connection.from_address(addr)
    out = {}
    with Timer() as t:
        for _ in range(n["select1"]):
            c.query("SELECT 1")
    out["select1"] = t.seconds
    out["fetch"] = best_of(repeats, lambda: c.query("SELECT * FROM fetch_t").rows)
    for work in ("insert_prepared", "insert_multirow"):
        c.query("DROP TABLE IF EXISTS ins_t")
        c.query(TABLE_DDL.format(t="ins_t"))
        with Timer() as t:
            c.begin()
            if work == "insert_prepared":
                sql = INSERT.format(t="ins_t") + " (?, ?, ?, ?)"
                for r in rows:
                    c.execute(sql, r)
            else:
                c.insert_many(INSERT.format(t="ins_t"), rows)
            c.commit()
        out[work] = t.seconds
        assert c.query("SELECT COUNT(*) FROM ins_t").scalar() == len(rows)
    c.close()
    return out


def bench_pymysql(addr: ServiceAddress, n: dict[str, int], rows: list, repeats: int) -> dict:
    c = pymysql.connect(
        host=addr.host, port=addr.port, user=addr.user, password=addr.password,
        database=addr.database, charset="utf8mb4", autocommit=True,
    )  # fmt: skip
    cur = c.cursor()
    out = {}
    with Timer() as t:
        for _ in range(n["select1"]):
            cur.execute("SELECT 1")
            cur.fetchall()
    out["select1"] = t.seconds

    def fetch() -> None:
        cur.execute("SELECT * FROM fetch_t")
        cur.fetchall()

    out["fetch"] = best_of(repeats, fetch)
    sql = INSERT.format(t="ins_t") + " (%s, %s, %s, %s)"
    for work in ("insert_prepared", "insert_multirow"):
        cur.execute("DROP TABLE IF EXISTS ins_t")
        cur.execute(TABLE_DDL.format(t="ins_t"))
        with Timer() as t:
            c.begin()
            if work == "insert_prepared":
                for r in rows:
                    cur.execute(sql, r)
            else:
                cur.executemany(sql, rows)
            c.commit()
        out[work] = t.seconds
    c.close()
    return out


# -- asyncio clients ----------------------------------------------------------------------


async def bench_syslab_async(addr: ServiceAddress, n: dict, rows: list, repeats: int) -> dict:
    c = await aconnect(addr.host, addr.port, addr.user, addr.password, addr.database)
    out = {}
    with Timer() as t:
        for _ in range(n["select1"]):
            await c.query("SELECT 1")
    out["select1"] = t.seconds
    times = []
    for _ in range(repeats):
        with Timer() as t:
            await c.query("SELECT * FROM fetch_t")
        times.append(t.seconds)
    out["fetch"] = min(times)
    for work in ("insert_prepared", "insert_multirow"):
        await c.query("DROP TABLE IF EXISTS ins_t")
        await c.query(TABLE_DDL.format(t="ins_t"))
        with Timer() as t:
            await c.begin()
            if work == "insert_prepared":
                sql = INSERT.format(t="ins_t") + " (?, ?, ?, ?)"
                for r in rows:
                    await c.execute(sql, r)
            else:
                await c.insert_many(INSERT.format(t="ins_t"), rows)
            await c.commit()
        out[work] = t.seconds
    await c.close()
    return out


async def bench_aiomysql(addr: ServiceAddress, n: dict, rows: list, repeats: int) -> dict:
    c = await aiomysql.connect(
        host=addr.host, port=addr.port, user=addr.user, password=addr.password,
        db=addr.database, charset="utf8mb4", autocommit=True,
    )  # fmt: skip
    cur = await c.cursor()
    out = {}
    with Timer() as t:
        for _ in range(n["select1"]):
            await cur.execute("SELECT 1")
            await cur.fetchall()
    out["select1"] = t.seconds
    times = []
    for _ in range(repeats):
        with Timer() as t:
            await cur.execute("SELECT * FROM fetch_t")
            await cur.fetchall()
        times.append(t.seconds)
    out["fetch"] = min(times)
    sql = INSERT.format(t="ins_t") + " (%s, %s, %s, %s)"
    for work in ("insert_prepared", "insert_multirow"):
        await cur.execute("DROP TABLE IF EXISTS ins_t")
        await cur.execute(TABLE_DDL.format(t="ins_t"))
        with Timer() as t:
            await c.begin()
            if work == "insert_prepared":
                for r in rows:
                    await cur.execute(sql, r)
            else:
                await cur.executemany(sql, rows)
            await c.commit()
        out[work] = t.seconds
    c.close()
    return out


def run_async(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# -- driver ------------------------------------------------------------------------------------


def prepare_fetch_table(addr: ServiceAddress, n_rows: int) -> None:
    with Connection.from_address(addr) as c:
        c.query("DROP TABLE IF EXISTS fetch_t")
        c.query(TABLE_DDL.format(t="fetch_t"))
        c.insert_many(INSERT.format(t="fetch_t"), make_rows(n_rows))


def run(addr: ServiceAddress, n: dict[str, int], repeats: int) -> list[Row]:
    prepare_fetch_table(addr, n["fetch"])
    rows = make_rows(n["insert"])
    impls: list[tuple[str, Callable[[], dict]]] = [
        ("syslab", lambda: bench_syslab(addr, n, rows, repeats)),
        ("syslab-asyncio", lambda: run_async(bench_syslab_async(addr, n, rows, repeats))),
        ("PyMySQL", lambda: bench_pymysql(addr, n, rows, repeats)),
        ("aiomysql", lambda: run_async(bench_aiomysql(addr, n, rows, repeats))),
    ]
    results = {name: fn() for name, fn in impls}
    labels = {
        "select1": f"select1 x{n['select1']}",
        "fetch": f"fetch {n['fetch']}x4",
        "insert_prepared": f"insert 1-row x{n['insert']}",
        "insert_multirow": f"insert multi-row {n['insert']}",
    }
    out = []
    for work, label in labels.items():
        for name, _ in impls:
            out.append(Row(label, name, results[name][work], "s"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (for the smoke test)")
    args = ap.parse_args()
    if args.quick:
        n, repeats = {"select1": 200, "fetch": 2000, "insert": 1000}, 1
    else:
        n, repeats = {"select1": 20_000, "fetch": 100_000, "insert": 100_000}, 3
    print(header("MySQL client: syslab vs PyMySQL / aiomysql (seconds, lower is better)"))
    env = from_env("SYSLAB_MYSQL_URL", 3306)
    if env is not None:
        rows = run(env, n, repeats)
    else:
        with MariaDB() as db:
            rows = run(db.address, n, repeats)
    print(table(rows, reference="PyMySQL", higher_is_better=False))
    if not args.quick:
        path = save("mysql_client", rows, sizes=n, pid=os.getpid())
        print(f"saved {path}")


if __name__ == "__main__":
    main()
