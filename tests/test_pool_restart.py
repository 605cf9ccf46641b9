"""D2: the pool across a server restart (SIGKILL, then the same port again).

Every idle connection dies with the server. The first checkout after the
restart cannot know (no ping is due yet) and its caller sees the connection
error; from then on the pool treats every connection idle since that failure
as suspect and pings it before handing it out, so no other caller sees one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clients.mysql import ConnectionLostError
from clients.pool import PoolConfig
from clients.pool.mysql import async_mysql_pool, mysql_pool
from harness.services import MariaDB

pytestmark = pytest.mark.exercise("D2")

SIZE = 3
NO_IDLE_PING = PoolConfig(max_size=SIZE, ping_after=None, timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[MariaDB]:
    with MariaDB() as m:  # private: this module kills it
        yield m


def restart(server: MariaDB) -> None:
    server.kill()
    server.start()


def test_after_a_restart_only_one_caller_sees_the_dead_connections(server):
    pool = mysql_pool(server.address, NO_IDLE_PING)
    held = [pool.acquire() for _ in range(SIZE)]
    for c in held:
        pool.release(c)
    restart(server)
    with pytest.raises(ConnectionLostError), pool.connection() as c:
        c.query("SELECT 1")
    for _ in range(2 * SIZE):  # the two other dead ones fail their ping, not a query
        with pool.connection() as c:
            assert c.query("SELECT 1").scalar() == 1
    s = pool.stats()
    assert s.broken >= 2 and s.size <= SIZE  # the third may still sit idle, unchecked
    pool.close()


async def test_the_asyncio_pool_recovers_the_same_way(server):
    pool = async_mysql_pool(server.address, NO_IDLE_PING)
    async with pool:
        held = [await pool.acquire() for _ in range(SIZE)]
        for c in held:
            await pool.release(c)
        restart(server)
        with pytest.raises(ConnectionLostError):
            async with pool.connection() as c:
                await c.query("SELECT 1")
        for _ in range(2 * SIZE):
            async with pool.connection() as c:
                assert (await c.query("SELECT 1")).scalar() == 1
        assert pool.stats().broken >= 2
