"""PUT and GET through boto3: servers/s3 against moto's server mode (the reference S3 from PyPI).

``make bench-s3`` (``python -m bench.s3 [--sizes 1024,1048576,104857600] [--ops N] [--rounds R]``)

Both servers run as child processes on 127.0.0.1 with a fresh data directory;
the same boto3 client code (path-style, SigV4) talks to each. Rounds are
interleaved (ours, moto, ours, moto, ...) so a noisy neighbour hurts both
alike. Per size and operation: ops/s and MB/s, min / median / max over the
rounds, and the ratio of medians (ours / moto, higher is better).

What differs by design: ours fsyncs every object (and the SQLite index) before
answering; moto keeps objects in memory (spooled temp files), so small PUTs
measure durability as much as speed.
Results: ``bench/results/s3.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.config import Config

from harness.procs import Child, free_port, python_module

from .common import Row, header, measured, median_bars, rotated, save, table

AK, SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DEFAULT_SIZES = [1024, 1024 * 1024, 100 * 1024 * 1024]
BUDGET_BYTES = 200 * 1024 * 1024  # per size and round: ops = clamp(budget / size, 2, --ops)


def client(url: str) -> Any:
    cfg = Config(
        s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4"
    )
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=AK, aws_secret_access_key=SK,
                        region_name="us-east-1", config=cfg)  # fmt: skip


def one_round(c: Any, size: int, ops: int, body: bytes) -> dict[str, float]:
    """Seconds for ``ops`` PUTs then ``ops`` GETs of ``size`` bytes (bodies read whole)."""
    t0 = time.perf_counter()
    for i in range(ops):
        c.put_object(Bucket="bench", Key=f"o/{size}/{i}", Body=body)
    t1 = time.perf_counter()
    for i in range(ops):
        got = c.get_object(Bucket="bench", Key=f"o/{size}/{i}")["Body"].read()
        if len(got) != size:
            raise RuntimeError(f"GET returned {len(got)} bytes, expected {size}")
    return {"PUT": t1 - t0, "GET": time.perf_counter() - t1}


def run(sizes: Sequence[int], max_ops: int, rounds: int) -> list[Row]:
    samples: dict[tuple[str, str, int], list[float]] = {}
    ops_of = {s: max(2, min(max_ops, BUDGET_BYTES // s)) for s in sizes}
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        ours = python_module("servers.s3", "--dir", tmp, "--log-level", "warning", port=free_port())
        port = free_port()
        moto = Child([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                     port=port, name="moto")  # fmt: skip
        with ours, moto:
            clients = {"syslab s3": client(f"http://127.0.0.1:{ours.port}"),
                       "moto": client(f"http://127.0.0.1:{port}")}  # fmt: skip
            for c in clients.values():
                c.create_bucket(Bucket="bench")
            for r in range(rounds):
                for size in sizes:
                    body = os.urandom(size)
                    for impl, c in rotated(clients.items(), r):  # who goes first rotates
                        for op, secs in one_round(c, size, ops_of[size], body).items():
                            samples.setdefault((impl, op, size), []).append(ops_of[size] / secs)
    return [_row(impl, op, size, v) for (impl, op, size), v in samples.items()]


def _row(impl: str, op: str, size: int, per_sec: list[float]) -> Row:
    med = statistics.median(per_sec)
    return measured(f"{op} {_human(size)}", impl, per_sec, "ops/s", **{"MB/s": med * size / 1e6})


def _human(n: int) -> str:
    for unit, k in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= k and n % k == 0:
            return f"{n // k} {unit}"
    return f"{n} B"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.s3", description=__doc__.split("\n")[0])
    p.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="object sizes in bytes"
    )
    p.add_argument(
        "--ops", type=int, default=100, help="at most this many objects per size and round"
    )
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    try:
        sizes = [int(s) for s in a.sizes.split(",")]
    except ValueError:
        p.error("--sizes is a comma-separated list of byte counts")
    if (
        not all(1 <= s <= 1024**3 for s in sizes)
        or not 1 <= a.ops <= 10_000
        or not 1 <= a.rounds <= 20
    ):
        p.error("--sizes 1..1 GiB each, --ops 1..10000, --rounds 1..20")
    print(header("S3 PUT/GET through boto3: servers/s3 vs moto server"))
    rows = run(sizes, a.ops, a.rounds)
    rows.sort(key=lambda r: (r.workload, r.impl != "syslab s3"))
    print(table(rows, reference="moto"))
    path = save("s3", rows, sizes=sizes, rounds=a.rounds)
    png = median_bars(rows, path.with_suffix(".png"), "S3 PUT and GET through boto3: syslab s3 vs moto "
                      f"(reference), median of {a.rounds} round(s), whiskers min..max",
                      "operations per second", size=(12, 5))  # fmt: skip
    print(f"saved {path} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
