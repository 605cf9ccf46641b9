"""D1: the audit's misuse cases: each once left a connection wedged, deadlocked,
or silently committed. Blocking and asyncio side by side."""

from __future__ import annotations

import asyncio
import gc

import pytest

from clients.mysql import Connection, InterfaceError
from clients.mysql.aio import AsyncConnection

pytestmark = pytest.mark.exercise("D1")

BIG = "SELECT seq FROM seq_1_to_200000"  # more than the socket buffers hold


@pytest.fixture
def conn(mariadb):
    with Connection.from_address(mariadb) as c:
        yield c


def test_a_stream_dropped_mid_iteration_is_drained_by_the_next_command(conn):
    for row in conn.stream(BIG):
        assert row == (1,)
        break
    gc.collect()  # (CPython frees it at once; this only makes the test say so)
    assert conn.query("SELECT 2").scalar() == 2
    assert conn.usable


def test_a_stream_still_held_refuses_the_next_command_and_stays_readable(conn):
    rows = conn.stream(BIG)
    first = next(iter(rows))
    with pytest.raises(InterfaceError):
        conn.query("SELECT 1")
    assert first == (1,) and sum(1 for _ in rows) == 199_999
    assert conn.query("SELECT 1").scalar() == 1


def test_a_closed_statement_refuses_to_execute(conn):
    stmt = conn.prepare("SELECT ?")
    assert stmt.execute((1,)).scalar() == 1
    stmt.close()
    stmt.close()  # once is enough; twice is harmless
    with pytest.raises(InterfaceError, match="closed"):
        stmt.execute((2,))
    assert conn.query("SELECT 3").scalar() == 3


def test_a_nested_transaction_is_refused_rather_than_committing_the_outer_one(conn):
    conn.query("CREATE OR REPLACE TABLE nest_t (a INT PRIMARY KEY)")
    with pytest.raises(KeyError), conn.transaction():
        conn.query("INSERT INTO nest_t VALUES (1)")
        with pytest.raises(InterfaceError, match="nested"), conn.transaction():
            pass  # pragma: no cover (refused before the body)
        raise KeyError("the outer block fails")
    assert conn.query("SELECT COUNT(*) FROM nest_t").scalar() == 0  # all rolled back
    assert not conn.in_transaction


async def test_async_query_inside_its_own_stream_is_refused_not_a_deadlock(mariadb):
    conn = await AsyncConnection.from_address(mariadb)
    async with conn.stream(BIG) as rows:
        async for row in rows:
            assert row == (1,)
            break
        with pytest.raises(InterfaceError, match="stream"):
            async with asyncio.timeout(10):  # (same task, unlike wait_for on 3.11)
                await conn.query("SELECT 1")
        other = asyncio.ensure_future(conn.query("SELECT 2"))  # another task waits its turn
        await asyncio.sleep(0)
        assert not other.done()
    assert (await other).scalar() == 2
    await conn.close()


async def test_async_closed_statement_and_nested_transaction(mariadb):
    conn = await AsyncConnection.from_address(mariadb)
    stmt = await conn.prepare("SELECT ?")
    await stmt.close()
    with pytest.raises(InterfaceError, match="closed"):
        await stmt.execute((1,))
    await conn.query("CREATE OR REPLACE TABLE anest_t (a INT PRIMARY KEY)")
    with pytest.raises(KeyError):
        async with conn.transaction():
            await conn.query("INSERT INTO anest_t VALUES (1)")
            with pytest.raises(InterfaceError, match="nested"):
                async with conn.transaction():
                    pass  # pragma: no cover
            raise KeyError("outer fails")
    assert (await conn.query("SELECT COUNT(*) FROM anest_t")).scalar() == 0
    await conn.close()


def test_a_failed_body_whose_rollback_cannot_run_closes_and_keeps_its_error(conn, mariadb):
    conn.query("CREATE OR REPLACE TABLE abort_t (a INT PRIMARY KEY)")
    with pytest.raises(KeyError), conn.transaction():
        conn.query("INSERT INTO abort_t VALUES (1)")
        rows = conn.stream(BIG)  # still held when the body fails: ROLLBACK is refused
        next(iter(rows))
        raise KeyError("the body's own error, not the refused ROLLBACK")
    assert conn.closed  # the server rolls back the session that ended
    with Connection.from_address(mariadb) as other:
        assert other.query("SELECT COUNT(*) FROM abort_t").scalar() == 0
