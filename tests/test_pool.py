"""The thread pool against a real MariaDB through clients.mysql (D2)."""

from __future__ import annotations

import threading
import time

import pytest
from support import wait_until

from clients.mysql import Connection, ConnectionLostError, OperationalError
from clients.pool import PoolClosed, PoolConfig, PoolError, PoolTimeout
from clients.pool.mysql import mysql_ops, mysql_pool
from clients.pool.pool import Pool
from harness.procs import free_port

pytestmark = pytest.mark.exercise("D2")


class FakeClock:
    """Injected time for lifetime and idleness: tests move it, nothing sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def admin(mariadb):
    with Connection.from_address(mariadb) as c:
        yield c


def conn_id(conn) -> int:
    return conn.query("SELECT CONNECTION_ID()").scalar()


def alive_ids(admin, ids) -> set[int]:
    if not ids:
        return set()
    rows = admin.query(
        f"SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN ({','.join(map(str, ids))})"
    ).rows
    return {r[0] for r in rows}


def kill(admin, cid: int) -> None:
    admin.query(f"KILL {cid}")
    wait_until(lambda: cid not in alive_ids(admin, [cid]))


def test_a_pooled_connection_runs_queries_and_is_reused(mariadb):
    with mysql_pool(mariadb, PoolConfig(max_size=2)) as pool:
        with pool.connection() as c:
            first = conn_id(c)
            assert c.query("SELECT 1 + 1").scalar() == 2
        with pool.connection() as c:
            assert conn_id(c) == first
        s = pool.stats()
        assert (s.opened, s.idle, s.in_use) == (1, 1, 0)


def test_url_form_and_min_size_open_connections_up_front(mariadb, admin):
    url = f"mysql://{mariadb.user}:{mariadb.password}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    with mysql_pool(url, PoolConfig(min_size=3, max_size=5)) as pool:
        s = pool.stats()
        assert (s.size, s.idle, s.in_use) == (3, 3, 0)


def test_an_exhausted_pool_blocks_then_times_out(mariadb):
    with mysql_pool(mariadb, PoolConfig(max_size=2, timeout=0.2)) as pool:
        a, b = pool.acquire(), pool.acquire()
        t0 = time.monotonic()
        with pytest.raises(PoolTimeout):
            pool.acquire()
        assert time.monotonic() - t0 >= 0.18  # it waited its timeout (never less)
        assert pool.stats().timeouts == 1 and pool.stats().size == 2
        pool.release(a)
        pool.release(b)


def test_a_blocked_acquire_gets_the_connection_released_by_another_thread(mariadb):
    with mysql_pool(mariadb, PoolConfig(max_size=1)) as pool:
        held = pool.acquire()
        got: list[Connection] = []
        t = threading.Thread(target=lambda: got.append(pool.acquire(timeout=5)))
        t.start()
        wait_until(lambda: pool.stats().waiting == 1)
        pool.release(held)
        t.join(5)
        assert got == [held]  # the same connection, handed over, not a new one
        pool.release(got[0])
        assert pool.stats().opened == 1


def test_waiters_are_woken_in_arrival_order(mariadb):
    with mysql_pool(mariadb, PoolConfig(max_size=1)) as pool:
        held = pool.acquire()
        order: list[int] = []

        def worker(i: int) -> None:
            with pool.connection(timeout=10):
                order.append(i)

        threads = []
        for i in range(6):
            t = threading.Thread(target=worker, args=(i,))
            t.start()
            threads.append(t)
            wait_until(lambda n=i + 1: pool.stats().waiting == n)
        pool.release(held)
        for t in threads:
            t.join(10)
        assert order == list(range(6))


def test_a_killed_idle_connection_fails_its_ping_and_is_replaced(mariadb, admin):
    clock = FakeClock()
    with mysql_pool(mariadb, PoolConfig(max_size=1, ping_after=5, clock=clock)) as pool:
        with pool.connection() as c:
            victim = conn_id(c)
        kill(admin, victim)
        clock.now += 6  # idle long enough to be pinged on checkout
        with pool.connection() as c:
            fresh = conn_id(c)
        assert fresh != victim
        s = pool.stats()
        assert (s.broken, s.opened, s.size) == (1, 2, 1)


def test_a_connection_killed_during_use_is_discarded_and_the_next_caller_gets_a_fresh_one(
    mariadb, admin
):
    with mysql_pool(mariadb, PoolConfig(max_size=1, ping_after=None)) as pool:
        with pytest.raises((ConnectionLostError, OperationalError)):
            with pool.connection() as c:
                victim = conn_id(c)
                kill(admin, victim)
                c.query("SELECT 1")
        assert pool.stats().broken == 1
        with pool.connection() as c:
            assert conn_id(c) != victim
            assert c.query("SELECT 7").scalar() == 7


def test_an_error_swallowed_by_the_caller_still_retires_the_broken_connection(mariadb, admin):
    with mysql_pool(mariadb, PoolConfig(max_size=1, ping_after=None)) as pool:
        with pool.connection() as c:
            kill(admin, conn_id(c))
            try:
                c.query("SELECT 1")
            except (ConnectionLostError, OperationalError):
                pass  # the pool still sees the client marked it unusable
        assert pool.stats().broken == 1


def test_connections_past_their_lifetime_are_retired(mariadb, admin):
    clock = FakeClock()
    cfg = PoolConfig(max_size=2, max_lifetime=60, ping_after=None, clock=clock)
    with mysql_pool(mariadb, cfg) as pool:
        with pool.connection() as c:
            old = conn_id(c)
        clock.now += 61  # expired while idle: replaced on checkout
        with pool.connection() as c:
            newer = conn_id(c)
            clock.now += 61  # expired while in use: closed on release
        assert newer != old
        assert pool.stats().expired == 2 and pool.stats().size == 0
        wait_until(lambda: not alive_ids(admin, [old, newer]))  # really closed on the server


def test_a_failed_use_rolls_back_before_the_connection_is_reused(mariadb):
    with mysql_pool(mariadb, PoolConfig(max_size=1)) as pool:
        with pool.connection() as c:
            c.query("CREATE TABLE IF NOT EXISTS pool_rollback (id INT PRIMARY KEY) ENGINE=InnoDB")
            c.query("DELETE FROM pool_rollback")
        with pytest.raises(ValueError):
            with pool.connection() as c:
                c.begin()
                c.query("INSERT INTO pool_rollback VALUES (1)")
                raise ValueError("application bug mid-transaction")
        with pool.connection() as c:
            assert not c.in_transaction
            assert c.query("SELECT COUNT(*) FROM pool_rollback").scalar() == 0
        assert pool.stats().broken == 0  # rolled back and reused, not thrown away


def test_a_refused_connect_raises_and_gives_the_slot_back(mariadb):
    class Nowhere:
        host, port, user, password, database = "127.0.0.1", free_port(), "root", "", ""

    pool = Pool(mysql_ops(Nowhere, connect_timeout=1), PoolConfig(max_size=1, timeout=1))
    for _ in range(2):  # a leaked slot would make the second attempt time out instead
        with pytest.raises(OperationalError):
            pool.acquire()
    assert pool.stats().size == 0
    pool.close()


def test_close_closes_idle_connections_now_and_the_rest_when_they_return(mariadb, admin):
    pool = mysql_pool(mariadb, PoolConfig(min_size=2, max_size=2))
    held = pool.acquire()
    with pool.connection() as c:
        idle_id = conn_id(c)
    held_id = conn_id(held)
    pool.close()
    with pytest.raises(PoolClosed):
        pool.acquire()
    wait_until(lambda: alive_ids(admin, [idle_id, held_id]) == {held_id})
    pool.release(held)
    wait_until(lambda: not alive_ids(admin, [held_id]))


def test_close_wakes_blocked_callers_with_pool_closed(mariadb):
    pool = mysql_pool(mariadb, PoolConfig(max_size=1))
    held = pool.acquire()
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            pool.acquire(timeout=10)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: pool.stats().waiting == 3)
    pool.close()
    for t in threads:
        t.join(5)
    assert len(errors) == 3 and all(isinstance(e, PoolClosed) for e in errors)
    pool.release(held)


def test_release_of_a_foreign_connection_is_refused(mariadb):
    with mysql_pool(mariadb, PoolConfig(max_size=1)) as pool, Connection.from_address(mariadb) as c:
        with pytest.raises(PoolError):
            pool.release(c)


def test_many_threads_share_a_small_pool_without_ever_sharing_a_connection(mariadb, admin):
    max_size, threads_n, rounds = 4, 16, 25
    in_use: set[int] = set()
    seen: set[int] = set()
    guard = threading.Lock()
    failures: list[str] = []
    with mysql_pool(mariadb, PoolConfig(max_size=max_size, timeout=30)) as pool:

        def worker() -> None:
            for _ in range(rounds):
                with pool.connection() as c:
                    cid = conn_id(c)
                    with guard:
                        if cid in in_use:
                            failures.append(f"connection {cid} handed out twice")
                        in_use.add(cid)
                        seen.add(cid)
                    assert c.query("SELECT %s", (cid,)).scalar() == cid
                    with guard:
                        in_use.discard(cid)

        threads = [threading.Thread(target=worker) for _ in range(threads_n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        s = pool.stats()
        assert failures == []
        assert len(seen) <= max_size and s.opened <= max_size
        assert (s.in_use, s.waiting, s.idle) == (0, 0, s.size)
        assert alive_ids(admin, seen) == seen  # all still open, waiting in the pool


def test_the_pool_benchmark_runs_end_to_end_in_quick_mode(mariadb, tmp_path):
    """bench/pool with a tiny size on the session's MariaDB: it runs and the pool bounds conns."""
    import os
    import subprocess
    import sys

    from bench.common import OUT_ENV
    from servers.catalog import REPO_ROOT
    from tests.support import assert_bench_report

    url = f"mysql://{mariadb.user}:{mariadb.password}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    r = subprocess.run(
        [sys.executable, "-m", "bench.pool", "--quick"], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=120, env={**os.environ, "SYSLAB_MYSQL_URL": url, OUT_ENV: str(tmp_path)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "pool (ours) P=2" in r.stdout and "vs new connection" in r.stdout
    rows = assert_bench_report(tmp_path, "pool-quick")["rows"]
    pooled = [row for row in rows if row["impl"].startswith("pool (ours)")]
    assert len(pooled) == 2  # threads and asyncio
    assert all(1 <= row["extra"]["conns_max"] <= 2 for row in pooled)  # the pool, nothing else
    for row in rows:  # two rounds each, the median between min and max
        assert row["extra"]["rounds"] == 2
        assert row["extra"]["min"] <= row["value"] <= row["extra"]["max"]
