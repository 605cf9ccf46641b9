"""The asyncio pool against a real MariaDB through clients.mysql.aio (D2)."""

from __future__ import annotations

import asyncio

import pytest
from support import until

from clients.mysql import ConnectionLostError, OperationalError
from clients.mysql.aio import AsyncConnection
from clients.pool import PoolClosed, PoolConfig, PoolTimeout
from clients.pool.mysql import async_mysql_pool

pytestmark = pytest.mark.exercise("D2")


async def conn_id(conn) -> int:
    return (await conn.query("SELECT CONNECTION_ID()")).scalar()


async def kill(admin, cid: int) -> None:
    """KILL, then wait (polling the server) until the session is really gone."""
    await admin.query(f"KILL {cid}")

    async def gone() -> bool:
        sql = f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {cid}"
        return not (await admin.query(sql)).scalar()

    await until(gone, what=f"connection {cid} gone")


@pytest.fixture
async def admin(mariadb):
    conn = await AsyncConnection.from_address(mariadb)
    yield conn
    await conn.close()


async def test_reuse_and_min_size(mariadb):
    async with async_mysql_pool(mariadb, PoolConfig(min_size=2, max_size=3)) as pool:
        assert pool.stats().idle == 2
        async with pool.connection() as c:
            first = await conn_id(c)
        async with pool.connection() as c:
            assert await conn_id(c) == first  # most recently used first
        assert pool.stats().opened == 2


async def test_exhausted_pool_times_out_and_waiters_are_served_in_order(mariadb):
    async with async_mysql_pool(mariadb, PoolConfig(max_size=1, timeout=0.1)) as pool:
        held = await pool.acquire()
        with pytest.raises(PoolTimeout):
            await pool.acquire()
        order: list[int] = []

        async def worker(i: int) -> None:
            async with pool.connection(timeout=10) as c:
                await c.query("SELECT %s", (i,))
                order.append(i)

        tasks = []
        for i in range(5):
            tasks.append(asyncio.create_task(worker(i)))
            await until(lambda n=i + 1: pool.stats().waiting == n)
        await pool.release(held)
        await asyncio.gather(*tasks)
        assert order == list(range(5))
        assert pool.stats().timeouts == 1


async def test_a_cancelled_waiter_does_not_leak_the_connection(mariadb):
    async with async_mysql_pool(mariadb, PoolConfig(max_size=1)) as pool:
        held = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire(timeout=10))
        await until(lambda: pool.stats().waiting == 1)
        await pool.release(held)  # handed to the waiter's future ...
        waiter.cancel()  # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        conn = await pool.acquire(timeout=1)  # still there for the next caller
        assert conn is held
        await pool.release(conn)


async def test_killed_connections_are_replaced_on_ping_and_on_use(mariadb, admin):
    now = [1000.0]  # injected time: the test moves it, nothing sleeps
    cfg = PoolConfig(max_size=1, ping_after=5, clock=lambda: now[0])
    async with async_mysql_pool(mariadb, cfg) as pool:
        async with pool.connection() as c:
            first = await conn_id(c)
        await kill(admin, first)
        now[0] += 6
        async with pool.connection() as c:  # pinged, found dead, replaced
            second = await conn_id(c)
        assert second != first and pool.stats().broken == 1
        with pytest.raises((ConnectionLostError, OperationalError)):
            async with pool.connection() as c:  # recently used: no ping; fails in use
                await kill(admin, second)
                await c.query("SELECT 1")
        async with pool.connection() as c:
            assert await conn_id(c) not in (first, second)
        assert pool.stats().broken == 2


async def test_lifetime_expiry_retires_connections(mariadb):
    now = [1000.0]
    cfg = PoolConfig(max_size=1, max_lifetime=30, ping_after=None, clock=lambda: now[0])
    async with async_mysql_pool(mariadb, cfg) as pool:
        async with pool.connection() as c:
            old = await conn_id(c)
        now[0] += 31
        async with pool.connection() as c:
            assert await conn_id(c) != old
        assert pool.stats().expired == 1


async def test_close_fails_waiters(mariadb):
    pool = await async_mysql_pool(mariadb, PoolConfig(max_size=1)).open()
    held = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire(timeout=10))
    await until(lambda: pool.stats().waiting == 1)
    await pool.close()
    with pytest.raises(PoolClosed):
        await waiter
    await pool.release(held)
    assert held.closed


async def test_many_tasks_never_share_a_connection(mariadb):
    in_use: set[int] = set()
    seen: set[int] = set()
    async with async_mysql_pool(mariadb, PoolConfig(max_size=3)) as pool:

        async def worker() -> None:
            for _ in range(20):
                async with pool.connection() as c:
                    cid = await conn_id(c)
                    assert cid not in in_use
                    in_use.add(cid)
                    seen.add(cid)
                    await c.query("SELECT SLEEP(0)")
                    in_use.discard(cid)

        await asyncio.gather(*(worker() for _ in range(12)))
        s = pool.stats()
        assert len(seen) <= 3 and s.opened <= 3 and s.in_use == 0
