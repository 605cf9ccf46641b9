"""D6: a real deadlock (1213) on real MariaDB, InnoDB's report, the whole-transaction retry
helper, and lock ordering that removes the deadlocks."""

import asyncio
import random

import pytest

from bench import deadlock as lab
from clients.mysql import (
    AsyncConnection,
    Connection,
    DeadlockError,
    DuplicateKeyError,
    InterfaceError,
    RetryPolicy,
    RetryStats,
    run_transaction,
    run_transaction_async,
)

pytestmark = pytest.mark.exercise("D6")


def test_opposite_lock_orders_deadlock_for_real_and_innodb_reports_it(mariadb):
    shown = lab.provoke(mariadb)
    assert shown.error.code == 1213 and shown.error.sqlstate == "40001"
    assert "LATEST DETECTED DEADLOCK" in shown.report
    assert "WE ROLL BACK TRANSACTION" in shown.report
    assert "UPDATE accounts SET balance = balance + 1 WHERE id = " in shown.report


def test_retry_completes_every_transfer_and_conserves_money(mariadb):
    out = lab.run_version(mariadb, "retry", threads=4, n=40, accounts=2, seed=3)
    assert out.done == 160 and out.lost == 0 and out.conserved
    assert out.stats.retries == out.stats.deadlocks  # every deadlock was retried, none gave up
    assert out.stats.gave_up == 0


def test_without_retry_victims_are_lost_but_nothing_is_half_applied(mariadb):
    out = lab.run_version(mariadb, "no retry", threads=4, n=40, accounts=2, seed=3)
    assert out.done + out.lost == 160
    assert out.lost == out.deadlocks  # each victim is one lost transfer, as the server counted
    assert out.conserved


def test_lock_ordering_leaves_no_deadlock_to_retry(mariadb):
    out = lab.run_version(mariadb, "lock ordering", threads=4, n=60, accounts=2, seed=3)
    assert out.deadlocks == 0 and out.stats.retries == 0
    assert out.done == 240 and out.conserved


class Flaky:
    """A transaction body that is chosen as the deadlock victim ``fails`` times."""

    def __init__(self, fails, exc=None):
        self.fails, self.calls = fails, 0
        self.exc = exc or DeadlockError("Deadlock found", 1213, "40001")

    def __call__(self, conn):
        self.calls += 1
        conn.query("INSERT INTO retry_log (attempt) VALUES (%s)", (self.calls,))
        if self.calls <= self.fails:
            raise self.exc
        return "ok"


@pytest.fixture
def conn(mariadb):
    with Connection.from_address(mariadb) as c:
        c.query("CREATE TABLE IF NOT EXISTS retry_log (attempt INT)")
        c.query("DELETE FROM retry_log")
        yield c


def test_retry_reruns_the_whole_body_and_rolls_back_failed_attempts(conn):
    waits = []
    stats = RetryStats()
    body = Flaky(2)
    policy = RetryPolicy(attempts=5, base=0.01, cap=0.02, rng=random.Random(1))
    assert run_transaction(conn, body, policy, stats, sleep=waits.append) == "ok"
    assert body.calls == 3 and stats.retries == 2 and stats.deadlocks == 2
    assert [r[0] for r in conn.query("SELECT attempt FROM retry_log").rows] == [3]  # 1, 2 rolled back
    assert len(waits) == 2 and all(0 <= w <= 0.02 for w in waits)


def test_retry_gives_up_after_its_attempts_and_reraises(conn):
    stats = RetryStats()
    with pytest.raises(DeadlockError):
        run_transaction(conn, Flaky(9), RetryPolicy(attempts=3), stats, sleep=lambda s: None)
    assert stats.gave_up == 1 and stats.retries == 2
    assert conn.query("SELECT COUNT(*) FROM retry_log").scalar() == 0


def test_other_errors_are_not_retried(conn):
    body = Flaky(1, DuplicateKeyError("dup", 1062, "23000"))
    with pytest.raises(DuplicateKeyError):
        run_transaction(conn, body, sleep=lambda s: None)
    assert body.calls == 1


def test_retry_refuses_a_transaction_it_does_not_own(conn):
    conn.begin()
    with pytest.raises(InterfaceError, match="whole transaction"):
        run_transaction(conn, Flaky(0))
    conn.rollback()


def test_async_retry_reruns_the_whole_body(mariadb):
    async def go():
        c = await AsyncConnection.from_address(mariadb)
        try:
            await c.query("CREATE TABLE IF NOT EXISTS retry_log_a (attempt INT)")
            await c.query("DELETE FROM retry_log_a")
            calls = []

            async def body(conn):
                calls.append(1)
                await conn.query("INSERT INTO retry_log_a VALUES (%s)", (len(calls),))
                if len(calls) < 3:
                    raise DeadlockError("Deadlock found", 1213, "40001")

            stats = RetryStats()
            await run_transaction_async(c, body, RetryPolicy(base=0.001), stats)
            rows = (await c.query("SELECT attempt FROM retry_log_a")).rows
            return len(calls), stats.retries, rows
        finally:
            await c.close()

    assert asyncio.run(go()) == (3, 2, [(3,)])


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_deadlock_bench_quick_run(mariadb, tmp_path, monkeypatch, capsys):
    import bench.common
    from tests.support import assert_bench_report

    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    monkeypatch.setenv("SYSLAB_MYSQL_URL", f"mysql:{mariadb.url}")
    lab.main(["--threads", "3", "--transfers", "20", "--accounts", "2", "--rounds", "2"])
    out = capsys.readouterr().out
    assert "LATEST DETECTED DEADLOCK" in out
    rows = {r["impl"]: r["extra"] for r in assert_bench_report(tmp_path, "deadlock")["rows"]}
    assert set(rows) == set(lab.VERSIONS)
    assert rows["retry"]["lost"] == 0 and rows["retry"]["conserved"] is True
    assert rows["lock ordering"]["deadlocks"] == 0
    assert all(r["rounds"] == 2 and r["min"] <= r["median"] <= r["max"] for r in rows.values())
