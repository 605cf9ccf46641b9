"""bench/hashtags (M2): five ways to count posts per hashtag into MariaDB.

A Zipf-distributed stream of posts (1-3 hashtags each) is counted by each
approach of ``bench.hashtag_counters``; for each: posts/s, DB statements and
rows written, the time ingest threads were blocked by the flusher, and whether
the final counts equal the truth exactly. Then the crash: each approach runs in
a child process that SIGKILLs itself halfway (after accepting exactly half the
posts; the Kafka consumers after reading half the records), and we show what
the database holds against the truth: what was lost, what was counted twice.

Throughput rows are the median of ``--rounds`` rounds (the approaches taking
turns), with min and max; the crash runs once per approach.

    python -m bench.hashtags [--posts 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench import hashtag_counters as hc
from bench.common import Row, header, merge_rounds, save, table
from clients.address import ServiceAddress
from clients.kafka.connection import BrokerConnection
from clients.kafka.protocol import apis
from clients.mysql import Connection
from harness.procs import Child, free_port, python_module
from harness.services import MariaDB, from_env

log = logging.getLogger(__name__)
PARTITIONS = 4
APPROACHES = ["naive", "batching", "deepcopy", "swap", "kafka", "kafka-atleast"]


def _topic(kafka_port: int) -> str:
    name = f"tags-{uuid.uuid4().hex[:8]}"
    with BrokerConnection("127.0.0.1", kafka_port) as c:
        c.request(apis.CREATE_TOPICS, {"topics": [{"name": name, "num_partitions": PARTITIONS,
                                                   "replication_factor": 1}], "timeout_ms": 5000})
    return name


def run_one(approach: str, addr: ServiceAddress, kafka_port: int, n: int,
            kill_at: int | None = None, topic: str | None = None) -> hc.Stats:  # fmt: skip
    conn = Connection.from_address(addr)
    try:
        if approach == "naive":
            return hc.run_naive(conn, n, kill_at)
        if approach in ("batching", "deepcopy", "swap"):
            return hc.run_shared(approach, conn, n, kill_at)
        kafka = f"127.0.0.1:{kafka_port}"
        reingest_s = 0.0
        if topic is None:
            import time

            topic = _topic(kafka_port)
            t0 = time.perf_counter()
            hc.reingest(kafka, topic, n)
            reingest_s = time.perf_counter() - t0
        records = sum(len(p) for p in hc.posts(n))
        st = hc.run_kafka(addr, kafka, topic, records, consumers=1 if kill_at else 2,
                          kill_after=kill_at, offsets_in_db=approach == "kafka")  # fmt: skip
        st.seconds += reingest_s
        st.posts = n
        st.extra["reingest_s"] = reingest_s
        return st
    finally:
        conn.close()


def check(addr: ServiceAddress, want: Counter[str]) -> dict[str, Any]:
    with Connection.from_address(addr) as conn:
        got = hc.db_counts(conn)
    lost = sum(max(0, want[t] - got[t]) for t in want)
    double = sum(max(0, got[t] - want[t]) for t in got)
    return {"exact": got == want, "lost": lost, "double": double,
            "db_total": sum(got.values()), "truth_total": sum(want.values())}  # fmt: skip


def crash(approach: str, addr: ServiceAddress, kafka_port: int, n: int) -> dict[str, Any]:
    """Run ``approach`` in a child that SIGKILLs itself halfway; then judge the DB."""
    with Connection.from_address(addr) as conn:
        hc.setup_schema(conn)
    kafka = approach.startswith("kafka")
    topic = _topic(kafka_port) if kafka else None
    if topic:
        hc.reingest(f"127.0.0.1:{kafka_port}", topic, n)
    half = (sum(len(p) for p in hc.posts(n)) if kafka else n) // 2
    argv = [sys.executable, "-m", "bench.hashtags", "--worker", approach, "--posts", str(n),
            "--kill-at", str(half), "--mysql", json.dumps(addr.__dict__, default=str),
            "--kafka-port", str(kafka_port)] + (["--topic", topic] if topic else [])  # fmt: skip
    rc = subprocess.run(argv, timeout=600).returncode
    assert rc == -9, f"worker {approach} ended with {rc}, not SIGKILL"
    if kafka:  # a fresh consumer takes over from the stored offsets and reads to the end
        hc.run_kafka(addr, f"127.0.0.1:{kafka_port}", topic or "", None, consumers=1,
                     offsets_in_db=approach == "kafka")  # fmt: skip
        return check(addr, hc.truth(n))
    return check(addr, hc.truth(half))  # what was accepted before the kill


def run(n: int, addr: ServiceAddress, kafka_port: int, rounds: int = 1) -> tuple[list[Row], dict[str, Any]]:
    """Every approach ``rounds`` times (the order rotating each round), then one crash each."""
    want = hc.truth(n)
    runs: list[Row] = []
    for r in range(rounds):
        k = r % len(APPROACHES)
        for approach in APPROACHES[k:] + APPROACHES[:k]:
            with Connection.from_address(addr) as conn:
                hc.setup_schema(conn)
            st = run_one(approach, addr, kafka_port, n)
            verdict = check(addr, want)
            runs.append(Row("count posts", st.approach, st.posts / st.seconds, "posts/s", {
                "db_stmts": st.db_statements, "db_rows": st.db_rows,
                "blocked_ms": st.blocked_s * 1000, "exact": verdict["exact"]}))  # fmt: skip
            log.info("%s: %.0f posts/s exact=%s", st.approach, st.posts / st.seconds, verdict["exact"])
    rows = merge_rounds([runs])
    for row in rows:  # exact only if every round was
        row.extra["exact"] = all(x.extra["exact"] for x in runs if x.impl == row.impl)
    crashes = {}
    for approach, row in zip(APPROACHES, rows, strict=True):
        crashes[row.impl] = crash(approach, addr, kafka_port, n)
        log.info("%s after a kill: %s", row.impl, crashes[row.impl])
    return rows, crashes


def plot(rows: list[Row], crashes: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4.5))
    names = [r.impl for r in rows]
    lo = [r.value - r.extra.get("min", r.value) for r in rows]
    hi = [r.extra.get("max", r.value) - r.value for r in rows]
    a.barh(names, [r.value for r in rows], xerr=[lo, hi], capsize=2, color="tab:blue")
    a.set_xlabel("posts/s (median, min..max)")
    a.set_xscale("log")
    b.barh(names, [r.extra["db_stmts"] for r in rows], color="tab:orange")
    b.set_xlabel("DB statements (log)")
    b.set_xscale("log")
    lost = [crashes[nm]["lost"] for nm in names]
    dbl = [crashes[nm]["double"] for nm in names]
    c.barh(names, lost, color="tab:red", label="lost")
    c.barh(names, dbl, left=lost, color="tab:purple", label="double-counted")
    c.set_xlabel("hashtag counts wrong after a SIGKILL halfway")
    c.legend()
    for ax in (b, c):
        ax.set_yticklabels([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def worker(args: argparse.Namespace) -> None:
    addr = ServiceAddress(**{k: v for k, v in json.loads(args.mysql).items() if k != "extra"})
    run_one(args.worker, addr, args.kafka_port, args.posts, args.kill_at, args.topic)
    raise SystemExit("worker finished without being killed")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.hashtags", description=__doc__.split("\n")[0])
    p.add_argument("--posts", type=int, default=50_000)
    p.add_argument("--rounds", type=int, default=3, help="counting rounds per approach (median kept)")
    p.add_argument("--worker", choices=APPROACHES, help=argparse.SUPPRESS)
    p.add_argument("--kill-at", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mysql", help=argparse.SUPPRESS)
    p.add_argument("--kafka-port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--topic", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.posts < 10:
        p.error("--posts must be >= 10")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.worker:
        return worker(args)
    env = from_env("SYSLAB_MYSQL_URL", 3306)
    db = None if env else MariaDB().start()
    with tempfile.TemporaryDirectory(prefix="bench-hashtags-") as tmp:
        broker: Child = python_module("servers.kafka", "--dir", tmp, "--log-level", "warning",
                                      "--rebalance-delay", "0.1", port=free_port()).start()  # fmt: skip
        try:
            addr = env or db.address  # type: ignore[union-attr]
            assert broker.port is not None
            rows, crashes = run(args.posts, addr, broker.port, args.rounds)
        finally:
            broker.stop()
            if db is not None:
                db.stop()
    print(header(f"M2 hashtags: {args.posts:,} posts, Zipf(1.1) over 5,000 hashtags"))
    print(table(rows, reference="1 naive count++"))
    print("\nAfter a SIGKILL halfway (the DB against what had been accepted):")
    print(f"{'approach':<34} {'lost':>8} {'double':>8} {'exact':>6}")
    for name, v in crashes.items():
        print(f"{name:<34} {v['lost']:>8} {v['double']:>8} {'yes' if v['exact'] else 'no':>6}")
    path = save("hashtags", rows, posts=args.posts, rounds=args.rounds, crashes=crashes)
    png = plot(rows, crashes, path.with_suffix(".png"))
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
