"""N5: bench/polling runs end to end with a few instances: every strategy, the hold, the plot."""

from __future__ import annotations

import pytest

from bench import polling
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N5")


def test_polling_bench_smoke(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYSLAB_BENCH_OUT", str(tmp_path))
    polling.main(["--instances", "6", "--intervals", "0.1,0.3", "--rounds", "1", "--hold", "50",
                  "--min-delay", "0.2", "--max-delay", "0.5"])  # fmt: skip
    out = capsys.readouterr().out
    assert "vs long poll" in out and "held 50 long polls at once" in out
    doc = assert_bench_report(tmp_path, "polling")
    got = {(r["workload"], r["impl"]): r["value"] for r in doc["rows"]}
    assert got[("requests per instance", "long poll")] == 1.0  # one request: answered on the change
    assert got[("requests per instance", "short every 0.1s")] > 1
    assert got[("notice p50 ms", "long poll")] < got[("notice p50 ms", "short every 0.3s")]
    assert doc["hold"]["held"] == 50 and doc["hold"]["fds_held"] >= 50
    assert (tmp_path / "polling.png").stat().st_size > 1000
