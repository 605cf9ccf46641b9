"""D5: airline check-in on real MariaDB: the naive read-then-write loses passengers; FOR UPDATE,
SKIP LOCKED and NOWAIT seat everyone exactly once."""

import threading

import pytest

from bench import checkin as lab
from clients.mysql import Connection
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("D5")


@pytest.mark.parametrize("how", ["FOR UPDATE", "SKIP LOCKED", "NOWAIT"])
@pytest.mark.parametrize("flavour", ["threads", "asyncio"])
def test_locking_reads_seat_everyone_exactly_once(mariadb, how, flavour):
    f = lab.fly(mariadb, how, flavour, seats=30, pool_size=8)
    assert f.correct and f.filled == 30 and f.stranded == 0
    assert sorted(f.seated.values()) == list(range(1, 31))  # every seat once
    assert all(f.told[p] == s for p, s in f.seated.items())  # each holds the seat it was told


def test_skip_locked_never_waits_for_a_row_lock(mariadb):
    f = lab.fly(mariadb, "SKIP LOCKED", "threads", seats=30, pool_size=8)
    assert f.lock_waits == 0


def test_naive_read_then_write_gives_one_seat_to_two_passengers(mariadb):
    """Made deterministic: both passengers read the free seat before either writes."""
    with Connection.from_address(mariadb) as admin:
        lab.reset(admin, 6)
    both_read = threading.Barrier(2)
    told = {}

    def passenger(p):
        with Connection.from_address(mariadb) as c:
            seat = c.query(lab.FIRST_FREE).scalar()
            both_read.wait()
            c.query(lab.TAKE, (p, seat))
            told[p] = seat

    ts = [threading.Thread(target=passenger, args=(p,)) for p in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert told[1] == told[2] == 1  # both were told seat 1A
    with Connection.from_address(mariadb) as admin:
        holders = admin.query("SELECT passenger_id FROM seats WHERE passenger_id IS NOT NULL").rows
    assert len(holders) == 1  # ... and only one of them has it


def test_seat_map_marks_overwritten_seats():
    f = lab.Flight("naive", "threads", 0.1, told={1: 1, 2: 1, 3: 2}, seated={2: 1, 3: 2},
                   retries=0, lock_waits=0, lock_time_ms=0)  # fmt: skip
    assert f.stranded == 1 and not f.correct
    assert lab.seat_map(f, 6).split() == ["1", "!", "X", ".", ".", ".", "."]


def test_checkin_bench_quick_run(mariadb, tmp_path, monkeypatch, capsys):
    import bench.common

    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    monkeypatch.setenv("SYSLAB_MYSQL_URL", f"mysql:{mariadb.url}")
    lab.main(["--seats", "12", "--pool", "4", "--rounds", "1"])
    assert "Seat maps" in capsys.readouterr().out
    rows = assert_bench_report(tmp_path, "checkin")["rows"]
    assert {(r["workload"], r["impl"]) for r in rows} == {
        (f"{fl} x12", how) for fl in ("threads", "asyncio") for how in lab.LOCKING
    }
    for r in rows:
        if r["impl"] != "naive":
            assert r["extra"]["correct"] is True and r["extra"]["filled"] == 12
    assert (tmp_path / "checkin.png").stat().st_size > 10_000
