"""D12: the unread-indicator experiment: answers checked against Python, plans, a quick run."""

from __future__ import annotations

from collections import defaultdict

import pytest

from bench.unread import data, queries
from bench.unread.__main__ import main
from clients.mysql import Connection
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("D12")


@pytest.fixture
def conn(mariadb):
    with Connection.from_address(mariadb) as c:
        yield c


def truth(conn: Connection, user: int) -> tuple[dict[int, int], dict[int, int]]:
    """Unread counts and has-unread flags computed in Python from the raw rows."""
    members = conn.query(
        "SELECT channel_id, last_read_at FROM ur_members WHERE user_id = %s", (user,)
    ).rows
    msgs = conn.query("SELECT channel_id, sender_id, created_at FROM ur_messages").rows
    counts: dict[int, int] = defaultdict(int)
    for ch, last in members:
        counts[ch] += sum(1 for c, s, t in msgs if c == ch and t > last and s != user)
    return dict(counts), {ch: int(n > 0) for ch, n in counts.items()}


def test_every_variant_answers_what_python_counts(conn):
    shape = data.Shape(messages=2_000, channels=20, users=40, channels_per_user=5)
    data.load(conn, shape)
    users = [0, 7, 13, 39]
    expected = {u: truth(conn, u) for u in users}
    assert sum(n for u in users for n in expected[u][0].values()) > 0  # some unread exists
    assert any(f == 0 for u in users for f in expected[u][1].values())  # and some caught up
    for variant in ("no index", "(created, channel)", "covering"):
        queries.set_indexes(conn, variant)
        for u in users:
            counts, flags = expected[u]
            got = queries.answers(conn, u)
            assert dict(got["unread count"]) == counts
            assert dict(got["has unread"]) == flags
            ch, last, _ = queries.params(conn, "one channel", u)
            assert got["one channel"][0][0] == counts[ch]


def test_plans_show_the_scan_and_the_covering_index(conn):
    data.load(conn, data.Shape.for_messages(2_000))
    queries.set_indexes(conn, "no index")
    plan = queries.explain(conn, queries.HAS_UNREAD, (1,))
    assert [r["type"] for r in plan if r["table"] == "x"] == ["ALL"]
    queries.set_indexes(conn, "covering")
    args = queries.params(conn, "one channel", 1)
    plan = queries.explain(conn, queries.ONE_CHANNEL, args)
    assert "Using index" in plan[0]["Extra"]
    assert queries.analyze(conn, queries.ONE_CHANNEL, args)["access"].endswith(":ix0")
    names = {r[2] for r in conn.query("SHOW INDEX FROM ur_messages").rows}
    assert names == {"PRIMARY", "ix0"}  # the variant's indexes replaced the previous ones


def test_quick_run_prints_plans_and_timings_side_by_side(tmp_path, monkeypatch, mariadb, capsys):
    monkeypatch.setenv("SYSLAB_MYSQL_URL", "mysql:" + mariadb.url)
    main(["--quick", "--rounds", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "ANALYZE:" in out and "why" in out
    doc = assert_bench_report(tmp_path, "unread-quick")
    assert doc["same_answers"] is True
    assert set(doc["variants"]) == set(queries.VARIANTS)
    assert (tmp_path / "unread-quick.png").stat().st_size > 10_000
    rows = {(r["workload"], r["impl"]) for r in doc["rows"]}
    assert ("insert messages", "covering") in rows and ("one channel", "no index") in rows
    # two interleaved rounds: every variant timed each query for the 5 users in both
    assert {r["extra"]["samples"] for r in doc["rows"] if r["unit"] == "ms"} == {10}
