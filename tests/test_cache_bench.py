"""bench/cache (redis-benchmark vs a real redis-server) and the locustfile, end to end at tiny sizes."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from bench.common import OUT_ENV
from harness.procs import REPO_ROOT
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N14")


def bench_cache(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [sys.executable, "-m", "bench.cache", "--quick", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, OUT_ENV: str(tmp_path)},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res


def test_bench_cache_quick_measures_both_servers_for_every_command(tmp_path):
    res = bench_cache(tmp_path)
    rows = assert_bench_report(tmp_path, "cache-quick")["rows"]
    cells = {(r["workload"], r["impl"]) for r in rows if r["value"] > 0}
    for test in (
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "LPOP",
        "HSET",
        "SPOP",
        "XADD",
        "ZADD",
        "ZRANGE",
        "PFADD",
        "SETBIT",
    ):
        for suffix in ("", " -P16"):
            assert (test + suffix, "syslab-cache") in cells
            assert (test + suffix, "redis-server") in cells
    assert "vs redis-server" in res.stdout
    assert (tmp_path / "cache-quick.png").stat().st_size > 10_000


def test_bench_cache_random_keys_names_its_report_and_sends_other_keys(tmp_path):
    """--random-keys N runs redis-benchmark with -r N (said in the header) and names its
    report for it, beside the default one."""
    res = bench_cache(tmp_path, "--only", "set", "--pipelines", "16", "--random-keys", "1000")
    rows = assert_bench_report(tmp_path, "cache-quick-set-P16-r1000")["rows"]
    assert {(r["workload"], r["impl"]) for r in rows} == {
        ("SET -P16", "syslab-cache"), ("SET -P16", "redis-server")
    }  # fmt: skip
    assert "-r 1000" in res.stdout


def test_make_load_cache_runs_locust_without_failures():
    res = subprocess.run(
        [sys.executable, "-m", "bench.load", "cache", "--users", "4", "--seconds", "3"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    for name in ("GET", "SET", "INCR", "LPUSH", "RPOP"):  # each reported, none failed
        assert re.search(rf"RESP\s+{name}\s+[1-9]\d*\s+0\(0\.00%\)", out), out[-2000:]


def test_bench_cache_aof_quick_measures_each_fsync_policy_beside_redis(tmp_path):
    bench_cache(tmp_path, "--aof")
    rows = assert_bench_report(tmp_path, "cache-aof-quick")["rows"]
    cells = {(r["workload"], r["impl"]) for r in rows if r["value"] > 0}
    for policy in ("off", "always", "everysec", "no"):
        for test in ("SET", "INCR", "LPUSH"):
            for p in ("", " -P16"):
                for impl in ("syslab-cache", "redis-server"):
                    assert (f"{test}{p} fsync={policy}", impl) in cells
    assert (tmp_path / "cache-aof-quick.png").stat().st_size > 10_000
