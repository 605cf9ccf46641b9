"""Redis's own TCL units that start their servers themselves, run against syslab's cache.

``bench/redis_suite.py`` runs these units without ``--host``: runtest then
starts ``src/redis-server CONFIG`` for every ``start_server`` block, and in our
private copy that program is a shim starting ``python -m servers.cache CONFIG``
(the cache reads the redis.conf itself: servers/cache/conf.py). So the tests
tagged ``external:skip`` and those needing a server with its own settings
(``requirepass``, ``maxclients 10``, an ``aclfile``...) run here.

Only our server runs in CI (redis-server's tally for the same units is in the
module's table below, measured with ``python -m bench.redis_suite --units ...``
on the same Redis 7.0.15 tests); a unit must pass at least its floor, which is
what ours passed when the floor was set, and must run to its end (no exception)
when it did then. The units chosen take a few seconds each, but for obuf-limits
(about 40 s: it pins the client-output-buffer-limit of normal and pubsub
clients); the other slow ones (dump, introspection: 25-40 s each) stay in
``make redis-tests``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import redis_suite
from harness.procs import REPO_ROOT

pytestmark = pytest.mark.exercise("N14")

# unit -> (ours' floor of tests passed, runs to its end); redis-server's tally beside it
# (same skips): auth 10, acl 84, info 16, limits 1, introspection-2 42, pause 14,
# pubsub 15 (keyspace notification tests skipped), pubsubshard 9, latency-monitor 10, multi 38,
# obuf-limits 9.
FLOORS: dict[str, tuple[int, bool]] = {
    "unit/auth": (10, True),
    "unit/acl": (84, True),
    "unit/info": (16, True),
    "unit/limits": (1, True),
    "unit/introspection-2": (39, True),
    "unit/pause": (14, True),
    "unit/pubsub": (15, True),
    "unit/pubsubshard": (9, True),
    "unit/latency-monitor": (10, True),
    "unit/multi": (38, True),
    "unit/obuf-limits": (9, True),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("units") / "ours.json"
    res = subprocess.run(
        [sys.executable, "-m", "bench.redis_suite", "--only", "ours", "--units", ",".join(FLOORS),
         "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return {r["unit"]: r for r in json.loads(out.read_text())}


@pytest.mark.parametrize("unit", list(FLOORS))
def test_a_unit_run_by_runtest_with_our_server_keeps_its_floor(results, unit):
    floor, complete = FLOORS[unit]
    r = results[unit]
    assert len(r["passed"]) >= floor, (
        f"{unit}: {len(r['passed'])} passed < {floor}; failed: {r['failed']}"
    )
    if complete:
        assert not r["exception"], f"{unit} stopped: {r['exception']}"


def test_the_shim_turns_redis_server_arguments_into_config_lines(tmp_path: Path):
    """src/redis-server CONFIG --name value...: the trailing options become config lines (as
    redis-server reads them), the dropped directives are named, the cache serves the file."""
    shim = tmp_path / "redis-server"
    shim.write_text(redis_suite.shim_text())
    shim.chmod(0o755)
    conf = tmp_path / "redis.conf"
    conf.write_text("port 0\nnotify-keyspace-events KEA\nlogfile ''\nloglevel verbose\n")
    proc = subprocess.Popen([str(shim), str(conf), "--slowlog-max-len", "77", "--hz", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ready to accept connections" in line:
                break
        assert f"PID: {proc.pid}" in lines[-1]  # exec: the pid runtest holds is the server's
        assert any("not passed on: notify-keyspace-events KEA" in x for x in lines)
        written = (tmp_path / "redis.conf.syslab").read_text().splitlines()
        assert written[-2:] == ['slowlog-max-len "77"', 'hz "20"']
        port = int(next(x for x in lines if "listening on" in x).rsplit(":", 1)[1])
        import redis

        r = redis.Redis(port=port)
        assert r.config_get("slowlog-max-len") == {"slowlog-max-len": "77"}
        assert r.config_get("hz") == {"hz": "20"}
    finally:
        proc.terminate()
        proc.wait(10)
