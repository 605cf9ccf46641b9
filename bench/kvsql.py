"""``make bench-kvsql``: redis-benchmark against the KV store on MySQL (D7), the in-memory cache
and a real redis-server, in the same run.

The same load generator (redis-benchmark, Redis's own, written in C) drives
three servers that speak the same protocol: ``servers.kvsql`` (every SET an
``INSERT ... ON DUPLICATE KEY UPDATE`` and every GET a ``SELECT`` on one of
three private MariaDB instances, each with InnoDB's redo log flushed at
commit), ``servers.cache`` (a Python dict) and ``redis-server`` (a C dict).
Test by test, over ``--repeats`` rounds with the order swapped each round, it
prints median req/s (min and max beside it), p50 latency and the ratio of
medians to the cache: what durability and SQL cost per operation. Saves
``kvsql.json`` and ``kvsql.png`` in the results folder.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from harness.procs import python_module
from harness.services import MariaDB, RedisServer, start_all

from .cache import redis_benchmark
from .common import Row, header, median_bars, save, table

TESTS = ("set", "get")
CLIENTS = 50
KVSQL, CACHE, REDIS = "syslab-kvsql", "syslab-cache", "redis-server"


def run(requests: int, repeats: int, clients: int) -> list[Row]:
    rows: list[Row] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="syslab-kvsql-") as tmp:
        shards = start_all([MariaDB() for _ in range(3)])
        for s in shards:
            stack.callback(s.stop)
        urls = [a for s in shards for a in ("--mysql", f"mysql://root@127.0.0.1:{s.port}/test")]
        kvsql = stack.enter_context(python_module(
            "servers.kvsql", *urls, "--dir", tmp, "--log-level", "warning", port=0))  # fmt: skip
        cache = stack.enter_context(python_module("servers.cache", "--log-level", "warning", port=0))
        redis = stack.enter_context(RedisServer())
        servers = [(KVSQL, kvsql.port), (CACHE, cache.port), (REDIS, redis.port)]
        for test in TESTS:
            runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in servers}
            for rep in range(repeats):
                order = servers[rep % len(servers):] + servers[:rep % len(servers)]
                for name, port in order:
                    assert port is not None
                    (res,) = redis_benchmark(port, requests, 1, tests=test, clients=clients).values()
                    runs[name].append(res)
            for name, rs in runs.items():
                rps = [r["rps"] for r in rs]
                extra = {"min": min(rps), "median": statistics.median(rps), "max": max(rps),
                         "p50_ms": statistics.median(r["p50_ms"] for r in rs), "rounds": len(rs)}  # fmt: skip
                rows.append(Row(test.upper(), name, extra["median"], "req/s", extra))
    return rows


def plot(rows: list[Row], path: Path) -> Path:
    return median_bars(rows, path, f"redis-benchmark on a KV store on MySQL vs in memory ({CACHE}, the reference)",
                       "thousand requests / s (bars: median, whiskers: min-max)", scale=1000,
                       size=(8, 4.5))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="make bench-kvsql", description=__doc__)
    p.add_argument("--requests", type=int, default=20_000, help="requests per test and round (20000)")
    p.add_argument("--repeats", type=int, default=3, help="rounds (median of them)")
    p.add_argument("--clients", type=int, default=CLIENTS, help=f"redis-benchmark -c ({CLIENTS})")
    p.add_argument("--quick", action="store_true", help="500 requests, 1 round: proves it runs")
    args = p.parse_args(argv)
    if args.requests < 1 or args.repeats < 1 or not 1 <= args.clients <= 1000:
        p.error("--requests and --repeats are positive, --clients 1..1000")
    requests, repeats = (500, 1) if args.quick else (args.requests, args.repeats)
    print(header(f"kvsql: redis-benchmark -n {requests} -c {args.clients} -t set,get (median of {repeats})"))
    rows = run(requests, repeats, args.clients)
    print(table(rows, reference=CACHE))
    name = "kvsql-quick" if args.quick else "kvsql"
    path = save(name, rows, requests=requests, clients=args.clients)
    print(f"\nsaved {path} and {plot(rows, path.with_suffix('.png'))}")


if __name__ == "__main__":
    main()
