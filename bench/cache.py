"""``make bench-cache``: redis-benchmark against syslab's cache and a real redis-server, same run.

redis-benchmark (Redis's own load generator, written in C) runs
``-n 200000 -c 50 -t set,get,incr,lpush,lpop,hset,spop``, first one request
per round trip, then with ``-P 16`` (16 pipelined requests per write), against
``python -m servers.cache`` started as a child on port 0 and against a
private ``redis-server`` (harness.services.RedisServer), alternately test by
test over ``--repeats`` rounds (who goes first swaps each round, so both see
the same machine state). Commands ``-t`` does not know run as redis-benchmark's arbitrary command
(``COMMANDS``: XADD to a stream capped with ``MAXLEN ~``, PFADD, SETBIT). Prints the median req/s (min and max in the JSON),
p50 latency and the ratio of medians to Redis, then each server's CPU time
per request (from ``/proc``: on a shared machine the steadier figure) and
its ratio; saves ``cache.json`` in the results folder
(``bench.common.results_dir``).
``--profile`` instead samples the cache with py-spy under -P16 and prints
where its CPU time goes.

The goal is >= 0.6x Redis without pipelining. On a 2-core machine the
load generator takes one core, so both servers get about one: that is the
comparison of one Python event loop against Redis's one C event loop.
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.procs import python_module, require_binary
from harness.services import RedisServer

from .common import Row, cpu_seconds, header, save, table

TESTS = "set,get,incr,lpush,lpop,hset,spop"
# Workloads -t has no name for: redis-benchmark runs the command line as given.
# The stream is capped (MAXLEN ~) so repeated rounds keep the memory bounded,
# as a real event log would be.
# PFADD adds elements drawn from 100,000 (-r) to one HLL (dense after a few
# thousand); SETBIT sets bit 4095 of 1,000 keys of 512 bytes (redis-benchmark's
# __rand_int__ is zero-padded, which no bit offset accepts, so it varies the key).
COMMANDS: dict[str, list[str]] = {
    "xadd": ["XADD", "bench:stream", "MAXLEN", "~", "100000", "*", "field", "value"],
    "pfadd": ["-r", "100000", "PFADD", "bench:hll", "__rand_int__"],
    "setbit": ["-r", "1000", "SETBIT", "bench:bits:__rand_int__", "4095", "1"],
}
CLIENTS = 50
REQUESTS = 200_000
PIPELINES = (1, 16)
OURS, REDIS = "syslab-cache", "redis-server"


ONLY: list[str] = []  # --only: the workloads to run (all when empty)


def workloads() -> list[str]:
    every = TESTS.split(",") + list(COMMANDS)
    return [w for w in every if not ONLY or w in ONLY]


def redis_benchmark(
    port: int, requests: int, pipeline: int, tests: str = TESTS, clients: int = CLIENTS
) -> dict[str, dict]:
    """Run redis-benchmark --csv; {TEST: {"rps": .., "p50_ms": ..}} (a COMMANDS name runs its line)."""
    binary = require_binary("redis-benchmark", "redis-tools")
    argv = [binary, "-h", "127.0.0.1", "-p", str(port), "-q", "--csv", "-n", str(requests),
            "-c", str(clients), "-P", str(pipeline)]  # fmt: skip
    argv += COMMANDS[tests] if tests in COMMANDS else ["-t", tests]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    head, body = rows[0], rows[1:]
    results = {}
    for r in body:
        rec = dict(zip(head, r, strict=False))
        results[rec["test"].split()[0]] = {
            "rps": float(rec["rps"]),
            "p50_ms": float(rec.get("p50_latency_ms", 0) or 0),
        }
    return results


def run(requests: int, pipelines: Sequence[int], repeats: int) -> list[Row]:
    """Each test alternately on both servers over ``repeats`` rounds; medians reported.

    Alternating per test (and swapping who goes first each round) keeps the
    two servers' numbers close in time, so load from anything else on the
    machine hits both alike. Each run also reads the server's CPU time.
    """
    rows: list[Row] = []
    with python_module("servers.cache", "--log-level", "warning", port=0) as ours:
        with RedisServer() as redis:
            assert ours.port is not None and redis.child is not None
            servers = [(OURS, ours.port, ours.pid), (REDIS, redis.port, redis.child.pid)]
            for p in pipelines:
                suffix = "" if p == 1 else f" -P{p}"
                for test in workloads():
                    runs: dict[str, list[dict[str, float]]] = {OURS: [], REDIS: []}
                    for rep in range(repeats):
                        for impl, port, pid in servers if rep % 2 == 0 else servers[::-1]:
                            before = cpu_seconds(pid)
                            (res,) = redis_benchmark(port, requests, p, tests=test).values()
                            res["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / requests
                            runs[impl].append(res)
                    rows += [_row(test.upper() + suffix, impl, rs) for impl, rs in runs.items()]
    return rows


def _row(workload: str, impl: str, runs: list[dict[str, float]]) -> Row:
    rps = [r["rps"] for r in runs]
    extra = {
        "min": min(rps), "median": statistics.median(rps), "max": max(rps),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "cpu_us_per_req": statistics.median(r["cpu_us"] for r in runs), "rounds": len(runs),
    }  # fmt: skip
    return Row(workload, impl, extra["median"], "req/s", extra)


def cpu_rows(rows: list[Row]) -> list[Row]:
    """The same runs by server CPU time per request (lower is better)."""
    return [Row(r.workload, r.impl, r.extra["cpu_us_per_req"], "cpu us/req") for r in rows]


def _self_time(raw: Path) -> tuple[int, collections.Counter[str]]:
    """py-spy's raw (collapsed) stacks -> samples per innermost function (lines merged)."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        leaf = re.sub(r":\d+\)$", ")", stack.split(";")[-1])
        counts[leaf] += int(n)
        total += int(n)
    return total, counts


def profile(requests: int, seconds: int = 10) -> None:
    """Sample the cache child with py-spy during a pipelined run; print where the time goes."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.path.exists(spy):
        sys.exit("py-spy not found: .venv/bin/pip install py-spy (a dev dependency)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        python_module("servers.cache", "--log-level", "warning", port=0) as ours,
    ):
        raw = Path(tmp) / "stacks.txt"
        argv = [spy, "record", "-p", str(ours.pid), "-r", "500", "-d", str(seconds),
                "-f", "raw", "-o", str(raw), "--nonblocking"]  # fmt: skip
        sampler = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert ours.port is not None
        res = redis_benchmark(ours.port, requests, 16, tests="set,get,incr,lpush")
        sampler.wait(timeout=seconds + 30)
        total, counts = _self_time(raw)
    print("req/s during the profile: " + ", ".join(f"{k} {v['rps']:,.0f}" for k, v in res.items()))
    print(f"\nself time by function ({total} samples at 500 Hz, -P16):")
    for name, n in counts.most_common(15):
        print(f"  {100 * n / max(total, 1):5.1f}%  {name}")


def plot(rows: list[Row], path: Path) -> Path:
    """Grouped bars: req/s per command, ours beside Redis, one panel per pipeline depth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PIPELINES), figsize=(12, 4.5))
    for ax, p in zip(axes, PIPELINES, strict=True):
        suffix = "" if p == 1 else f" -P{p}"
        tests = [t.upper() for t in workloads()]
        for k, impl in enumerate((OURS, REDIS)):
            vals = {r.workload: r.value for r in rows if r.impl == impl}
            xs = [i + (k - 0.5) * 0.4 for i in range(len(tests))]
            ax.bar(xs, [vals.get(t + suffix, 0) / 1000 for t in tests], width=0.4, label=impl)
        ax.set_xticks(range(len(tests)), tests)
        ax.set_title(f"redis-benchmark -c {CLIENTS} -P {p}")
        ax.set_ylabel("thousand requests / s")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="make bench-cache", description=__doc__)
    p.add_argument("--requests", type=int, default=REQUESTS, help="requests per test")
    p.add_argument("--quick", action="store_true", help="2,000 requests: proves it runs")
    p.add_argument("--repeats", type=int, default=3, help="rounds per test and server (median)")
    p.add_argument("--profile", action="store_true", help="py-spy the cache under -P16 instead")
    p.add_argument("--only", help="comma-separated workloads, e.g. xadd (default: all)")
    args = p.parse_args(argv)
    if args.only:
        ONLY[:] = [w.strip().lower() for w in args.only.split(",")]
        unknown = set(ONLY) - set(TESTS.split(",")) - set(COMMANDS)
        if unknown:
            p.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    if args.profile:
        profile(args.requests * 2)
        return
    requests = 2000 if args.quick else args.requests
    rounds = 1 if args.quick else args.repeats
    tests = ",".join(workloads())
    print(header(f"cache: redis-benchmark -n {requests} -c {CLIENTS} -t {tests}, -P 1 and 16"
                 f" (median of {rounds})"))  # fmt: skip
    rows = run(requests, PIPELINES, rounds)
    print(table(rows, reference=REDIS))
    print("\nserver CPU time per request (lower is better; ratio: redis-server's / ours)")
    print(table(cpu_rows(rows), reference=REDIS, higher_is_better=False))
    name = "cache-quick" if args.quick else "cache"
    if ONLY:
        name += "-" + "-".join(ONLY)
    path = save(name, rows, requests=requests, clients=CLIENTS)
    png = plot(rows, path.with_suffix(".png"))
    print(f"\nsaved {path} and {png}")


if __name__ == "__main__":
    main()
