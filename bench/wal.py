"""The WAL's group commit: appends/s with 1 to 8 writer threads, by sync policy.

``python -m bench.wal [--seconds S] [--threads 1,2,4,8] [--value-bytes N] [--rounds R]``

Each cell runs ``threads`` writers appending ``value-bytes`` puts for ``--seconds``
and counts appends and fsyncs. Implementations, all in the same run:

* ``wal group commit``: ``storage.wal.Wal`` (one write + one fsync per group);
* ``fsync each (lock)``: the reference -- the same records through
  ``storage.record.Writer`` with a lock around write + fsync, i.e. what a WAL
  without group commit does under ``sync=always``;
* ``sqlite FULL``: SQLite in WAL journal mode with ``synchronous=FULL``, one
  INSERT + COMMIT per append, one connection per thread (SQLite serialises
  writers; a commit is durable when it returns, as ours is).

Under ``sync=interval`` / ``never`` the WAL's rows show the ceiling the fsyncs
take away. The ratio is against ``fsync each (lock)`` in the same row group.
Each cell runs R rounds, the implementations taking turns (who goes first
rotates); a row is the median with min and max. ``wal.png`` draws the medians.
"""

from __future__ import annotations

import argparse
import itertools
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from storage.record import Writer, encode
from storage.wal import Wal
from storage.wal.entry import encode_put

from .common import Row, header, interleaved, median_bars, merge_rounds, results_dir, save, table

DEFAULT_SECONDS = 1.0  # per run; 3 rounds of ~16 runs keep the bench near a minute
DEFAULT_THREADS = "1,2,4,8"
DEFAULT_VALUE_BYTES = 100
REFERENCE = "fsync each (lock)"


def drive(threads: int, seconds: float, append: Callable[[int, int], object]) -> tuple[int, float]:
    """Run ``threads`` loops of ``append(thread, i)`` for ``seconds``; (appends, elapsed)."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds
    start = threading.Barrier(threads + 1)

    def loop(t: int) -> None:
        start.wait()
        i = 0
        while time.perf_counter() < stop:
            append(t, i)
            i += 1
        counts[t] = i

    ts = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    t0 = time.perf_counter()
    start.wait()
    for th in ts:
        th.join()
    return sum(counts), time.perf_counter() - t0


def bench_wal(d: Path, policy: str, threads: int, seconds: float, value: bytes) -> Row:
    with Wal(d, sync=policy) as w:
        n, dt = drive(threads, seconds, lambda t, i: w.put(b"t%d-%d" % (t, i), value))
        fsyncs = w.stats.fsyncs
    return _row(policy, threads, "wal group commit", n, dt, fsyncs)


def bench_lock_fsync(d: Path, threads: int, seconds: float, value: bytes) -> Row:
    lock = threading.Lock()
    seq = [0]
    with Writer(d / "ref.log", "wal") as w:

        def append(t: int, i: int) -> None:
            with lock:
                seq[0] += 1
                w.append_raw(encode(*encode_put(seq[0], b"t%d-%d" % (t, i), value)))
                w.sync()

        n, dt = drive(threads, seconds, append)
    return _row("always", threads, REFERENCE, n, dt, n)


def bench_sqlite(d: Path, threads: int, seconds: float, value: bytes) -> Row:
    path = d / "ref.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB)")
    conns = [sqlite3.connect(path, timeout=30, check_same_thread=False) for _ in range(threads)]
    for c in conns:
        c.execute("PRAGMA synchronous=FULL")

    def append(t: int, i: int) -> None:
        c = conns[t]
        c.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (b"t%d-%d" % (t, i), value))
        c.commit()

    n, dt = drive(threads, seconds, append)
    for c in conns:
        c.close()
    return _row("always", threads, "sqlite FULL", n, dt, None)


def _row(policy: str, threads: int, impl: str, n: int, dt: float, fsyncs: int | None) -> Row:
    extra: dict[str, float | int | str] = {"appends": n}
    if fsyncs is not None:
        extra["fsyncs"] = fsyncs
        extra["per_fsync"] = round(n / fsyncs, 2) if fsyncs else "-"
    return Row(f"sync={policy} x{threads}", impl, n / dt, "appends/s", extra)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="WAL group commit: appends/s by threads and policy.")
    ap.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="per cell")
    ap.add_argument("--threads", default=DEFAULT_THREADS, help="comma-separated thread counts")
    ap.add_argument("--value-bytes", type=int, default=DEFAULT_VALUE_BYTES)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.threads.split(",")]
    value = b"v" * args.value_bytes
    print(header(f"WAL group commit: {args.value_bytes} B values, {args.seconds:g} s per cell"))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = (Path(tmp) / f"d{i}" for i in itertools.count())  # a new directory per run

        def new_dir() -> Path:
            d = next(fresh)
            d.mkdir()
            return d

        for threads in counts:
            got = interleaved({
                REFERENCE: lambda t=threads: bench_lock_fsync(new_dir(), t, args.seconds, value),
                "wal group commit": lambda t=threads: bench_wal(new_dir(), "always", t, args.seconds, value),
                "sqlite FULL": lambda t=threads: bench_sqlite(new_dir(), t, args.seconds, value),
            }, args.rounds)  # fmt: skip
            rows += merge_rounds(list(got.values()))
        for policy in ("interval", "never"):
            for threads in (counts[0], counts[-1]):
                runs = [bench_wal(new_dir(), policy, threads, args.seconds, value) for _ in range(args.rounds)]
                rows += merge_rounds([runs])
    print(table(rows, reference=REFERENCE))
    path = save("wal", rows, value_bytes=args.value_bytes, seconds=args.seconds, rounds=args.rounds)
    png = median_bars(rows, results_dir() / "wal.png", "WAL appends/s by sync policy and writer threads; "
                      f"reference: {REFERENCE}; median, whiskers min..max", "appends per second", size=(12, 5))  # fmt: skip
    print(f"\nsaved {path} and {png}")


if __name__ == "__main__":
    main()
