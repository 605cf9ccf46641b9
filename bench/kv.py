"""``make bench-kv``: db_bench's workloads on every engine and on SQLite, same keys, same run.

Engines: the B+ tree, Bitcask, the LSM (when ``storage.lsm`` is there) through
``storage.engines``, and SQLite (``kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT
ROWID``, the reference). Workloads, leveldb's db_bench names: fillseq (keys in
order into an empty store), then on a second store fillrandom (shuffled),
overwrite (every key again, shuffled), readrandom (every key once, shuffled),
readseq (one full scan in key order), seekrandom (a seek to a random key and
the next 100 entries; ``n / 100`` seeks, counted as ops) and deleterandom
(every key deleted, shuffled). Keys are 16 decimal digits, values 100 random
bytes (db_bench's defaults).

Fairness: no engine fsyncs (the engines' ``sync="never"``, SQLite
``journal_mode=WAL, synchronous=OFF``); each SQLite write is its own
autocommit transaction, as each engine write is its own WAL/log record; the
B+ tree, the LSM (block cache) and SQLite get the same 8 MiB cache. Rounds are interleaved
(round r runs every engine in turn, in a rotated order, each on fresh
directories), and each figure is the min / median / max over rounds; ratios
are of medians, to SQLite. The LSM's write and space amplification are taken
from its ``stats()`` when it reports them. ``--profile ENGINE`` runs py-spy
over one round of one engine and prints where its time goes.
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from storage import engines

from .common import Row, Timer, header, measured, median_bars, save, table

VALUE_SIZE = 100  # db_bench's --value_size
SCAN_LENGTH = 100  # seekrandom: entries read after each seek
CACHE_BYTES = 8 * 1024 * 1024  # the B+ tree's and SQLite's page cache
WORKLOADS = ("fillseq", "fillrandom", "overwrite", "readrandom", "readseq", "seekrandom",
             "deleterandom")  # fmt: skip
REFERENCE = "sqlite"

# The closing note: what limits each engine, from py-spy (``--profile ENGINE``,
# self time by workload). Revisit it when the code or the numbers move.
BOTTLENECKS = {
    "bptree": "writes: checkpoints -- every dirty page is written twice (DWRITE, then in "
              "place) however little of it changed, plus one WAL write(2) and the group-commit "
              "handshake per put; reads: the interpreter, a bisect and two dict probes per level",
    "bitcask": "scans and reads: one pread + CRC + record decode per entry (the values are "
               "in log order, not key order; the keydir is a hash whose sorted keys a scan "
               "rebuilds after each insert or delete); writes: one write(2) per put",
    "lsm": "writes: the WAL append and the memtable insert per put (flushes and compaction run "
           "in the background); scans: merging iterators, the memtable's sorted_keys in Python",
    "sqlite": "C throughout: what is left is the sqlite3 module's per-statement call overhead",
}


class Sqlite:
    """SQLite behind the engine contract (put/get/delete/scan/close)."""

    def __init__(self, path: str) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(Path(path) / "kv.db", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute(f"PRAGMA cache_size=-{CACHE_BYTES // 1024}")
        self.conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        ex = self.conn.execute
        self._put = lambda k, v: ex("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (k, v))
        self._get = lambda k: ex("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()

    def put(self, key: bytes, value: bytes) -> None:
        self._put(key, value)

    def get(self, key: bytes) -> bytes | None:
        row = self._get(key)
        return row[0] if row else None

    def delete(self, key: bytes) -> bool:
        return self.conn.execute("DELETE FROM kv WHERE k = ?", (key,)).rowcount > 0

    def scan(self, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.conn.execute("SELECT k, v FROM kv WHERE k >= ? ORDER BY k", (start or b"",)))

    def close(self) -> None:
        self.conn.close()


def opener(name: str) -> Callable[[str], Any]:
    if name == REFERENCE:
        return Sqlite
    per_engine: dict[str, dict[str, Any]] = {
        "bitcask": {"sync": "never"},
        "bptree": {"sync": "never", "cache_pages": CACHE_BYTES // 4096},
        "lsm": {"sync": "never", "block_cache": CACHE_BYTES // 4096},  # blocks of ~4 KiB
    }
    options = per_engine.get(name, {})
    return lambda path: engines.open(name, path, **options)


# -- the workloads ----------------------------------------------------------------------


class Data:
    """The same keys, orders and values for every engine (seeded)."""

    def __init__(self, n: int) -> None:
        rng = random.Random(42)
        self.keys = [b"%016d" % i for i in range(n)]
        self.values = [rng.randbytes(VALUE_SIZE) for _ in range(n)]
        self.orders = [rng.sample(self.keys, n) for _ in range(4)]
        self.seeks = rng.sample(self.keys, max(1, n // 100))


def _fill(db: Any, keys: list[bytes], values: list[bytes]) -> int:
    put = db.put
    for k, v in zip(keys, values, strict=True):
        put(k, v)
    return len(keys)


def _reads(db: Any, keys: list[bytes]) -> int:
    get = db.get
    for k in keys:
        if get(k) is None:
            raise AssertionError(f"lost {k!r}")
    return len(keys)


def _readseq(db: Any, n: int) -> int:
    got = sum(1 for _ in db.scan())
    if got != n:
        raise AssertionError(f"scan saw {got} of {n} keys")
    return got


def _seeks(db: Any, keys: list[bytes]) -> int:
    for k in keys:
        if len(list(itertools.islice(db.scan(k), SCAN_LENGTH))) == 0:
            raise AssertionError(f"seek to {k!r} found nothing")
    return len(keys)


def _deletes(db: Any, keys: list[bytes]) -> int:
    for k in keys:
        db.delete(k)
    return len(keys)


def one_round(name: str, root: Path, d: Data) -> dict[str, float]:
    """Every workload once on engine ``name``: ops/s by workload (plus amplification stats)."""
    make = opener(name)
    out: dict[str, float] = {}

    def timed(workload: str, fn: Callable[[], int]) -> None:
        with Timer() as t:
            ops = fn()
        out[workload] = ops / t.seconds

    db = make(str(root / "seq"))
    timed("fillseq", lambda: _fill(db, d.keys, d.values))
    db.close()
    db = make(str(root / "random"))
    timed("fillrandom", lambda: _fill(db, d.orders[0], d.values))
    timed("overwrite", lambda: _fill(db, d.orders[1], d.values))
    timed("readrandom", lambda: _reads(db, d.orders[2]))
    timed("readseq", lambda: _readseq(db, len(d.keys)))
    timed("seekrandom", lambda: _seeks(db, d.seeks))
    stats = db.stats() if hasattr(db, "stats") else {}
    out.update({k: float(v) for k, v in stats.items() if "amplification" in k})
    timed("deleterandom", lambda: _deletes(db, d.orders[3]))
    db.close()
    return out


def run(names: list[str], n: int, rounds: int, root: Path) -> list[Row]:
    d = Data(n)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotated: fair to all
            where = root / f"{name}-{r}"
            runs[name].append(one_round(name, where, d))
            shutil.rmtree(where, ignore_errors=True)
            print(f"  round {r + 1}/{rounds}: {name} done", file=sys.stderr)
    return _rows(runs)


def _rows(runs: dict[str, list[dict[str, float]]]) -> list[Row]:
    rows = []
    for workload in WORKLOADS:
        for name, results in runs.items():
            extra: dict[str, Any] = {}
            if workload == "seekrandom":
                amp = {k: statistics.median(x[k] for x in results) for k in results[0]
                       if "amplification" in k}  # fmt: skip
                extra.update(amp)
            rows.append(measured(workload, name, [x[workload] for x in results], "ops/s", **extra))
    return rows


def plot(rows: list[Row], path: Path) -> Path:
    """Grouped bars: median ops/s per workload and engine, whiskers min..max."""
    order = {w: i for i, w in enumerate(WORKLOADS)}
    return median_bars(sorted(rows, key=lambda r: order.get(r.workload, len(order))), path,
                       f"db_bench workloads: syslab engines vs {REFERENCE} (reference)",
                       "ops/s (median of rounds; whiskers min..max)", size=(12, 5))  # fmt: skip


def profile(name: str, n: int) -> None:
    """py-spy one round of one engine; for each workload, the functions with most self time."""
    code = (f"from pathlib import Path; import tempfile; from bench.kv import Data, one_round; "
            f"one_round({name!r}, Path(tempfile.mkdtemp()), Data({n}))")  # fmt: skip
    out = Path(tempfile.mkdtemp()) / "profile.txt"
    spy = Path(sys.executable).with_name("py-spy")
    subprocess.run([str(spy), "record", "-r", "250", "-f", "raw", "-o", str(out), "--",
                    sys.executable, "-c", code], check=True, capture_output=True)  # fmt: skip
    by_phase: dict[str, dict[str, int]] = {}
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        phase = next((w for f in frames if (w := _workload_of(f))), "setup")
        mine = by_phase.setdefault(phase, {})
        mine[frames[-1]] = mine.get(frames[-1], 0) + int(count)
    total = sum(sum(x.values()) for x in by_phase.values())
    for phase in [*WORKLOADS, "setup"]:
        samples = by_phase.get(phase, {})
        if not samples:
            continue
        print(f"{phase}: {100 * sum(samples.values()) / total:.0f}% of the samples; self time:")
        for fn, c in sorted(samples.items(), key=lambda x: -x[1])[:4]:
            print(f"  {100 * c / sum(samples.values()):5.1f}%  {fn}")


_SOURCE = Path(__file__).read_text().splitlines()


def _workload_of(frame: str) -> str | None:
    """The workload a ``timed("NAME", lambda: ...)`` frame of ``one_round`` belongs to."""
    if "<lambda> (" not in frame or "kv.py:" not in frame:
        return None
    line = int(frame.rsplit(":", 1)[1].rstrip(")"))
    text = _SOURCE[line - 1] if 0 < line <= len(_SOURCE) else ""
    return text.split('timed("')[1].split('"')[0] if 'timed("' in text else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="make bench-kv", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--n", type=int, default=50_000, help="keys per store (default 50,000)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    p.add_argument("--profile", metavar="ENGINE", help="py-spy one round of ENGINE instead")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.rounds = 500, 2
    if args.profile:
        profile(args.profile, args.n)
        return
    names = [REFERENCE, *engines.available()]
    root = Path(tempfile.mkdtemp(prefix="bench-kv-"))
    try:
        rows = run(names, args.n, args.rounds, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(header(f"kv: db_bench workloads, {args.n:,} keys of 16 B + {VALUE_SIZE} B values, "
                 f"{args.rounds} interleaved rounds"))  # fmt: skip
    print(table(rows, reference=REFERENCE))
    print("\nwhat limits each engine (py-spy: python -m bench.kv --profile ENGINE):")
    for engine in names:
        print(f"  {engine}: {BOTTLENECKS.get(engine, 'not profiled yet')}")
    name = "kv-quick" if args.quick else "kv"
    path = save(name, rows, n=args.n, rounds=args.rounds, value_size=VALUE_SIZE,
                bottlenecks={e: BOTTLENECKS.get(e) for e in names})  # fmt: skip
    png = plot(rows, path.with_suffix(".png"))
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
