"""bench/hashring runs end to end on tiny sizes, into a temporary results folder."""


import pytest

import bench.common
from bench import hashring
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N7")


def test_hashring_bench_quick_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    hashring.main(["--keys", "2000", "--nodes", "4", "--rounds", "1", "--trials", "1"])
    assert "vs uhashring" in capsys.readouterr().out
    doc = assert_bench_report(tmp_path, "hashring")
    rows = {(r["workload"], r["impl"]): r["value"] for r in doc["rows"]}
    assert rows[("moved on join", "modulo")] > 0.5 > rows[("moved on join", "ring vnodes=160")]
    assert rows[("skew max/mean", "ring vnodes=1 bounded c=1.25")] <= 1.25
    assert all(isinstance(v, float) for v in rows.values())
    assert (tmp_path / "hashring.png").stat().st_size > 10_000


def test_bad_sizes_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        hashring.main(["--nodes", "1"])
    assert e.value.code == 2 and "--nodes" in capsys.readouterr().err
