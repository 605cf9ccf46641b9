"""bench/wal (group commit) runs end to end with tiny cells."""

from __future__ import annotations

import pytest

import bench.common
from bench import wal as wal_bench
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("S4")


def test_wal_bench_quick_run_has_every_row(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(bench.common.OUT_ENV, str(tmp_path))
    wal_bench.main(["--seconds", "0.05", "--threads", "1,4", "--rounds", "2"])
    assert "vs fsync each (lock)" in capsys.readouterr().out
    rows = assert_bench_report(tmp_path, "wal")["rows"]
    got = {(r["workload"], r["impl"]) for r in rows}
    for threads in (1, 4):
        for impl in ("wal group commit", "fsync each (lock)", "sqlite FULL"):
            assert (f"sync=always x{threads}", impl) in got
    ref = [r for r in rows if r["impl"] == "fsync each (lock)"]
    assert all(r["extra"]["fsyncs"] == r["extra"]["appends"] > 0 for r in ref)
    assert all(r["extra"]["rounds"] == 2 and r["extra"]["min"] <= r["value"] <= r["extra"]["max"] for r in rows)
    assert (tmp_path / "wal.png").stat().st_size > 1000
