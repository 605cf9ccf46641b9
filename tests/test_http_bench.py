"""The HTTP benchmark runs end to end (1-second wrk runs, syslab and nginx only)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_http_quick_runs_and_saves_json():
    out = subprocess.run(
        [sys.executable, "-m", "bench.http", "--quick", "--connections", "8", "--rounds", "1",
         "--only", "syslab,nginx"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "vs syslab" in out.stdout
    doc = json.loads((ROOT / "bench" / "results" / "http-quick.json").read_text())
    impls = {(r["workload"], r["impl"]) for r in doc["rows"]}
    assert {("hello", "syslab"), ("static file", "syslab"), ("static file", "nginx")} <= impls
    assert all(r["value"] > 0 and r["extra"]["errors"] == 0 for r in doc["rows"])
