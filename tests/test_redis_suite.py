"""bench/redis_suite (``make redis-tests``): Redis's own TCL units against the cache and redis-server,
at the smallest size: one quick unit, both servers, the tally and the JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import redis_suite
from harness.procs import REPO_ROOT

pytestmark = pytest.mark.exercise("N14")


def test_one_unit_on_both_servers_gives_the_same_tally(tmp_path):
    out = tmp_path / "suite.json"
    res = subprocess.run(
        [sys.executable, "-m", "bench.redis_suite", "--units", "unit/type/incr", "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    results = {r["server"]: r for r in json.loads(out.read_text())}
    ours, real = results[redis_suite.OURS], results[redis_suite.REDIS]
    assert len(real["passed"]) >= 20 and not real["failed"] and not real["exception"]
    assert sorted(ours["passed"]) == sorted(real["passed"])
    assert not ours["failed"] and not ours["exception"]
    assert "unit/type/incr" in res.stdout and "ours ok/fail" in res.stdout


def test_runtest_lines_are_parsed_with_their_colours():
    line = "[\x1b[0;32;49mok\x1b[0m]: INCR against non existing key (1 ms)"
    m = redis_suite.LINE.match(redis_suite.ANSI.sub("", line))
    assert m is not None and m.groups() == ("ok", "INCR against non existing key")
    m = redis_suite.LINE.match("[err]: SETRANGE against key in tests/unit/type/string.tcl")
    assert m is not None and m.group(1) == "err"
    assert redis_suite.LINE.match("[ready]: 30320") is None
