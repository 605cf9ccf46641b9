"""D1: the asyncio client, same commands and results as the blocking one."""

from __future__ import annotations

import asyncio
import datetime
from decimal import Decimal

import pytest
from support import until

from clients.mysql import (
    AccessDeniedError,
    ConnectError,
    ConnectionLostError,
    DuplicateKeyError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from clients.mysql.aio import AsyncConnection, aconnect
from harness.procs import free_port

pytestmark = pytest.mark.exercise("D1")


async def test_query_execute_and_types(mariadb):
    async with await AsyncConnection.from_address(mariadb) as c:
        r = await c.query(
            "SELECT %s, %s, CAST(%s AS DECIMAL(6,2)), %s, NULL, CAST(%s AS DATETIME)",
            (1, "naïve ' \\", "3.14", b"\x00\xff", "2024-05-06 07:08:09"),
        )
        assert r.rows == [
            (1, "naïve ' \\", Decimal("3.14"), b"\x00\xff", None,
             datetime.datetime(2024, 5, 6, 7, 8, 9)),
        ]  # fmt: skip
        assert (await c.execute("SELECT ? * 2, ?", (21, None))).rows == [(42, None)]
        stmt = await c.prepare("SELECT CONCAT(?, ?)")
        assert stmt.param_count == 2
        assert (await stmt.execute(("a", "b"))).scalar() == "ab"
        await stmt.close()
        await c.ping()
        assert "MariaDB" in c.server_version and c.connection_id > 0
        # a result set with no rows keeps its columns (text and binary protocol)
        empty = await c.query("SELECT 1 AS a, 2 AS b FROM dual WHERE 0")
        assert (empty.column_names, empty.rows) == (["a", "b"], [])
        empty = await c.execute("SELECT ? AS a FROM dual WHERE 0", (1,))
        assert (empty.column_names, empty.rows) == (["a"], [])


async def test_unix_socket_and_select_db(mariadb):
    c = await aconnect(user="root", database="test", unix_socket=mariadb.unix_socket)
    await c.query("CREATE DATABASE IF NOT EXISTS other_async")
    await c.select_db("other_async")
    assert (await c.query("SELECT DATABASE()")).scalar() == "other_async"
    await c.close()
    assert c.closed
    with pytest.raises(InterfaceError):
        await c.query("SELECT 1")


async def test_concurrent_callers_serialise_on_one_connection(mariadb):
    async with await AsyncConnection.from_address(mariadb) as c:
        results = await asyncio.gather(*(c.query("SELECT %s", (i,)) for i in range(20)))
        assert [r.scalar() for r in results] == list(range(20))
        results = await asyncio.gather(*(c.execute("SELECT ?", (i,)) for i in range(20)))
        assert [r.scalar() for r in results] == list(range(20))


async def test_stream_transaction_errors_and_insert_many(mariadb):
    async with await AsyncConnection.from_address(mariadb) as c:
        await c.query("DROP TABLE IF EXISTS async_t")
        await c.query("CREATE TABLE async_t (id INT PRIMARY KEY, name VARCHAR(20))")
        n = await c.insert_many("INSERT INTO async_t VALUES", [(i, f"n{i}") for i in range(3000)])
        assert n == 3000
        total = 0
        async with c.stream("SELECT id FROM async_t") as rows:
            assert [col.name for col in rows.columns] == ["id"]
            async for (i,) in rows:
                total += i
        assert total == sum(range(3000))
        async with c.stream("SELECT id FROM async_t") as rows:  # abandoned: drained on exit
            async for _ in rows:
                break
        with pytest.raises(DuplicateKeyError):
            async with c.transaction():
                await c.query("INSERT INTO async_t VALUES (5000, 'x')")
                await c.query("INSERT INTO async_t VALUES (1, 'dup')")
        assert not c.in_transaction
        assert (await c.query("SELECT COUNT(*) FROM async_t WHERE id = 5000")).scalar() == 0
        with pytest.raises(ProgrammingError) as e:
            await c.query("SELECT nope FROM async_t")
        assert e.value.code == 1054 and e.value.sqlstate == "42S22"
        assert c.usable


async def test_faults_fail_fast_with_clear_errors(mariadb_server):
    mariadb_server.sql(
        "CREATE USER IF NOT EXISTS 'async_pw'@'%' IDENTIFIED BY 'right';"
        "GRANT ALL ON test.* TO 'async_pw'@'%'"
    )
    a = mariadb_server.address
    with pytest.raises(AccessDeniedError) as e:
        await asyncio.wait_for(aconnect(a.host, a.port, "async_pw", "wrong", "test"), 10)
    assert e.value.code == 1045
    c = await aconnect(a.host, a.port, "async_pw", "right", "test")
    assert (await c.query("SELECT CURRENT_USER()")).scalar() == "async_pw@%"
    await c.close()
    with pytest.raises(ConnectError):
        await aconnect("127.0.0.1", free_port(), "root", "", "test", connect_timeout=5)


def test_benchmark_runs_end_to_end_with_tiny_sizes(mariadb, tmp_path):
    """bench/mysql_client in --quick mode: all four clients, every workload, a table."""
    import os
    import subprocess
    import sys

    from bench.common import OUT_ENV
    from harness.procs import REPO_ROOT
    from tests.support import assert_bench_report

    env = dict(os.environ, SYSLAB_MYSQL_URL=f"mysql://root@{mariadb.host}:{mariadb.port}/test")
    env[OUT_ENV] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "bench.mysql_client", "--quick"], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for impl in ("syslab", "syslab-asyncio", "PyMySQL", "aiomysql"):
        assert impl in out.stdout
    for work in ("select1", "fetch", "insert 1-row", "executemany", "multi-row INSERT"):
        assert work in out.stdout
    doc = assert_bench_report(tmp_path, "mysql_client-quick")
    assert {r["impl"] for r in doc["rows"]} == {"syslab", "syslab-asyncio", "PyMySQL", "aiomysql"}


async def _running(admin: AsyncConnection, sql: str) -> int:
    """The id of the connection running ``sql`` (polled, bounded)."""
    found: list[int] = []

    async def started() -> bool:
        r = await admin.query(
            "SELECT id FROM information_schema.processlist WHERE info = %s", (sql,)
        )
        found[:] = [row[0] for row in r.rows]
        return bool(found)

    await until(started, timeout=20, what=f"{sql!r} running")
    return found[0]


async def test_connection_killed_mid_query_timeout_and_cancel(mariadb):
    admin = await AsyncConnection.from_address(mariadb)
    victim = await AsyncConnection.from_address(mariadb)
    sql = "SELECT SLEEP(30) AS killed_mid_query"
    task = asyncio.create_task(victim.query(sql))
    await admin.query("KILL CONNECTION %s", (await _running(admin, sql),))
    with pytest.raises(OperationalError) as e:  # the socket closes under the query
        await task
    assert isinstance(e.value, ConnectionLostError) or e.value.code == 1927
    assert not victim.usable

    slow = await AsyncConnection.from_address(mariadb, read_timeout=0.3)
    with pytest.raises(OperationalError, match="timed out"):
        await slow.query("SELECT SLEEP(3)")
    assert slow.closed and not slow.usable
    with pytest.raises(InterfaceError):
        await slow.query("SELECT 1")

    cancelled = await AsyncConnection.from_address(mariadb)
    task = asyncio.create_task(cancelled.query("SELECT SLEEP(3) AS to_cancel"))
    await _running(admin, "SELECT SLEEP(3) AS to_cancel")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not cancelled.usable  # half a response would poison the next command
    await admin.close()


async def test_executemany_pipelines(mariadb):
    async with await AsyncConnection.from_address(mariadb) as c:
        await c.query("DROP TABLE IF EXISTS amany_t")
        await c.query("CREATE TABLE amany_t (id INT PRIMARY KEY)")
        async with c.transaction():
            assert (
                await c.executemany("INSERT INTO amany_t VALUES (?)", [(i,) for i in range(2100)])
                == 2100
            )
        with pytest.raises(DuplicateKeyError):  # bulk: the failing command inserts nothing
            await c.executemany("INSERT INTO amany_t VALUES (?)", [(9000,), (1,), (9001,)])
        assert (await c.query("SELECT COUNT(*) FROM amany_t")).scalar() == 2100
        with pytest.raises(DuplicateKeyError):  # mixed types: pipelined, the others land
            await c.executemany("INSERT INTO amany_t VALUES (?)", [(9000,), (1,), ("9001",)])
        assert (await c.query("SELECT COUNT(*) FROM amany_t")).scalar() == 2102
        assert await c.executemany("SELECT ?", [(1,), (2,)]) == 0
        assert c.usable


async def test_command_lock_fast_path_keeps_fifo_order():
    """_Turn.try_acquire takes only a free lock nobody waits for; waiters keep their turn."""
    from clients.mysql.aio import _Turn

    lock = _Turn()
    assert lock.try_acquire() and lock.locked()
    assert not lock.try_acquire()  # held
    order: list[str] = []

    async def waiter(name: str) -> None:
        async with lock:
            order.append(name)

    first = asyncio.create_task(waiter("first"))
    await asyncio.sleep(0)  # queued behind the holder
    lock.release()  # wakes "first", which has not run yet
    assert not lock.try_acquire()  # a woken waiter is not overtaken
    await first
    assert order == ["first"] and not lock.locked()
    assert lock.try_acquire()
    lock.release()
