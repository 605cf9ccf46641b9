"""bench/kv (db_bench workloads on every engine and SQLite) runs end to end with tiny sizes."""

from __future__ import annotations

import pytest

from bench import kv
from storage import engines
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("S8")


def test_kv_bench_quick_run_has_every_workload_engine_and_a_plot(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYSLAB_BENCH_OUT", str(tmp_path))
    kv.main(["--quick"])
    doc = assert_bench_report(tmp_path, "kv-quick")
    names = {"sqlite", *engines.available()}
    got = {(r["workload"], r["impl"]) for r in doc["rows"]}
    assert got == {(w, n) for w in kv.WORKLOADS for n in names}
    for r in doc["rows"]:
        assert 0 < r["extra"]["min"] <= r["value"] <= r["extra"]["max"] and r["extra"]["rounds"] == 2
    assert (tmp_path / "kv-quick.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "vs sqlite" in out and "readrandom" in out
