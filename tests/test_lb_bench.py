"""bench/lb (wrk through syslab's balancer, HAProxy and direct) and the locustfile, end to end at tiny sizes."""

import os
import re
import subprocess
import sys

import pytest

from harness.procs import REPO_ROOT
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N6")


def test_bench_lb_quick_writes_numbers_and_a_plot(tmp_path):
    res = subprocess.run([sys.executable, "-m", "bench.lb", "--quick", "--connections", "8"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
                         env={**os.environ, "SYSLAB_BENCH_OUT": str(tmp_path)})  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "syslab / haproxy" in res.stdout
    doc = assert_bench_report(tmp_path, "lb-quick")
    rows = {r["impl"]: r for r in doc["rows"]}
    assert set(rows) == {"direct", "syslab", "haproxy"}
    for r in rows.values():
        e = r["extra"]
        assert r["value"] > 0 and e["errors"] == 0, r
        assert e["min"] <= e["median"] <= e["max"] and e["single_p50_us"] > 0
    assert isinstance(rows["haproxy"]["extra"]["syslab_ratio"], float)
    assert (tmp_path / "lb-quick.png").stat().st_size > 5_000


def test_make_load_lb_runs_locust_without_failures():
    res = subprocess.run(
        [sys.executable, "-m", "bench.load", "lb", "--users", "4", "--seconds", "3"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    for name in ("/", "/echo", "/headers", "/slow"):
        assert re.search(rf"\s{re.escape(name)}\s+[1-9]\d*\s+0\(0\.00%\)", out), out[-2000:]
