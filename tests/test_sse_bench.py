"""N2: bench/sse runs end to end with a few clients: both servers, latency and RSS rows."""

from __future__ import annotations

import pytest

from bench import sse
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N2")


def test_sse_bench_smoke(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYSLAB_BENCH_OUT", str(tmp_path))
    sse.main(["--clients", "20", "--events", "3", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "vs aiohttp" in out and "fan-out p99 (20)" in out
    doc = assert_bench_report(tmp_path, "sse")
    impls = {(r["workload"], r["impl"]) for r in doc["rows"]}
    for impl in ("syslab", "aiohttp"):
        for w in ("fan-out p50 (20)", "fan-out p99 (20)", "fan-out to the last (20)", "RSS per client (20)"):
            assert (w, impl) in impls
    assert all(r["value"] > 0 for r in doc["rows"] if r["unit"] == "ms")
    assert all(r["extra"]["rounds"] == 1 for r in doc["rows"])
