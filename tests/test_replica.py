"""The primary + replica launcher: replication runs, and lag can be made and seen (D4)."""

from __future__ import annotations

import time

import pytest

from harness.replication import ReplicatedPair, parse_gtid_pos, query, transactions_behind

pytestmark = pytest.mark.exercise("D4")


def count(server, table: str) -> int:
    return int(server.scalar(f"SELECT COUNT(*) FROM test.{table}"))


@pytest.fixture(scope="module")
def pair(replicated_pair: ReplicatedPair) -> ReplicatedPair:
    replicated_pair.primary.sql("CREATE TABLE IF NOT EXISTS test.lag (id INT PRIMARY KEY)")
    replicated_pair.wait_caught_up()
    return replicated_pair


def test_the_replica_runs_both_threads_with_gtid_from_another_server(pair):
    s = pair.status()
    assert s.io_running and s.sql_running, s
    assert s.raw["Using_Gtid"] == "Slave_Pos"
    assert s.last_error == ""
    ids = {x.scalar("SELECT @@server_id") for x in (pair.primary, pair.replica)}
    assert ids == {1, 2}
    assert pair.replica.scalar("SELECT @@read_only") == 1
    assert pair.primary.scalar("SELECT @@binlog_format") == "ROW"


def test_a_write_on_the_primary_reaches_the_replica(pair):
    pair.primary.sql("INSERT INTO test.lag VALUES (1)")
    pair.wait_caught_up()
    assert count(pair.replica, "lag WHERE id = 1") == 1
    assert pair.status().behind == 0


def test_a_paused_sql_thread_leaves_the_replica_stale_and_says_so(pair):
    pair.pause_apply()
    try:
        pair.primary.sql("INSERT INTO test.lag VALUES (2)")
        s = pair.status()
        assert not s.sql_running and s.io_running
        assert s.seconds_behind is None  # MariaDB reports NULL while nothing applies
        assert s.behind == 1
        assert count(pair.replica, "lag WHERE id = 2") == 0  # the stale read
        assert count(pair.primary, "lag WHERE id = 2") == 1
    finally:
        pair.resume_apply()
    pair.wait_caught_up()
    assert count(pair.replica, "lag WHERE id = 2") == 1
    assert pair.status().behind == 0


# MASTER_DELAY for the test: the two checks after the INSERT (each a new
# connection and a query, slow on a loaded 2-core box) must both land inside it.
DELAY = 3


def test_master_delay_holds_each_event_back(pair):
    pair.set_delay(DELAY)
    try:
        assert pair.wait_running().sql_delay == DELAY
        t0 = time.monotonic()
        pair.primary.sql("INSERT INTO test.lag VALUES (3)")
        assert count(pair.replica, "lag WHERE id = 3") == 0
        assert pair.status().behind == 1
        pair.wait_caught_up(timeout=30)
        # Applied no earlier than the delay, counted from the event's timestamp in the binlog,
        # which has whole seconds: an INSERT at x.9 s is stamped x and applied at x + DELAY.
        assert time.monotonic() - t0 >= DELAY - 1.0
        assert count(pair.replica, "lag WHERE id = 3") == 1
    finally:
        pair.set_delay(0)
    assert pair.wait_running().sql_delay == 0


def test_a_restarted_pair_in_the_same_directory_resumes_replication(tmp_path):
    with ReplicatedPair(tmp_path) as first:
        first.primary.sql(
            "CREATE TABLE test.kept (id INT PRIMARY KEY); INSERT INTO test.kept VALUES (1)"
        )
        first.wait_caught_up()
    with ReplicatedPair(tmp_path) as again:
        again.primary.sql("INSERT INTO test.kept VALUES (2)")
        again.wait_caught_up()
        assert count(again.replica, "kept") == 2
        assert again.status().running


def test_query_returns_named_columns_and_null(pair):
    rows = query(pair.primary, "SELECT 1 AS a, NULL AS b")
    assert rows == [{"a": "1", "b": None}]


@pytest.mark.parametrize(
    ("primary", "replica", "behind"),
    [
        ("0-1-7", "0-1-5", 2),
        ("0-1-7", "0-1-7", 0),
        ("0-1-7,1-1-3", "0-1-7", 3),
        ("0-1-7", "", 7),
        ("", "0-1-3", 0),
        ("0-1-5", "0-1-7", 0),  # the replica never counts as "ahead"
    ],
)
def test_transactions_behind_compares_gtid_positions_per_domain(primary, replica, behind):
    assert transactions_behind(primary, replica) == behind


def test_parse_gtid_pos_keeps_the_highest_sequence_per_domain():
    assert parse_gtid_pos("0-1-7,2-2-1\n0-3-9") == {0: 9, 2: 1}
    assert parse_gtid_pos(None) == {}
