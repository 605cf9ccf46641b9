"""``make bench-dictionary``: GCIDE (dict-gcide) as a CSV file and as a Bitcask, compared.

Measured for each store, in one run, on the same words:

* size on disk: the CSV file; Bitcask's data + hint files;
* load: writing every word (CSV: csv.writer; Bitcask: put each, sync=never,
  then close, which fsyncs and writes the hint file);
* start-up: what a lookup service does before its first answer (CSV: read the
  whole file into a dict; Bitcask: ``open``, which reads only the hint files);
* memory after start-up: bytes allocated by Python, measured with tracemalloc
  around the start-up step (Python objects only: the page cache is not counted,
  which is the point: Bitcask leaves values on disk);
* lookup latency p50/p99 of random real words (hits) and of non-words (misses).

Three lookup strategies: ``bitcask`` (keydir + one pread), ``csv+dict`` (the
CSV loaded into a dict at start-up: the fair in-memory comparison, and the
reference of the ratio column) and ``csv scan`` (csv.reader over the file per
lookup, no start-up and no memory: fewer samples, it takes ~a second each).

The whole set runs ``--rounds`` times (3) in fresh directories; each row is
the median with min and max. ``dictionary.png`` draws the lookup latencies.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from storage.bitcask import Bitcask
from storage.dictionary import (
    GCIDE_DICT,
    csv_lookup,
    load_bitcask,
    load_csv_dict,
    read_gcide,
    write_csv,
)

from .common import (
    Row,
    Timer,
    header,
    median_bars,
    merge_rounds,
    percentile,
    results_dir,
    save,
    table,
)

REFERENCE = "csv+dict"
T = TypeVar("T")


def _latencies(lookup: Callable[[str], str | None], words: list[str]) -> list[float]:
    out = []
    for w in words:
        t = time.perf_counter()
        lookup(w)
        out.append(time.perf_counter() - t)
    return out


def _lookup_rows(
    impl: str, lookup: Callable[[str], str | None], hits: list[str], misses: list[str]
) -> list[Row]:
    rows = []
    for kind, sample in (("hit", hits), ("miss", misses)):
        lat = _latencies(lookup, sample)
        for p in (50, 99):
            rows.append(
                Row(f"lookup {kind} p{p}", impl, percentile(lat, p) * 1e6, "us", {"n": len(sample)})
            )
    return rows


def _traced(fn: Callable[[], T]) -> tuple[T, int]:
    """Run ``fn`` under tracemalloc; (its result, bytes it left allocated)."""
    tracemalloc.start()
    try:
        result = fn()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, current


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.suffix in (".data", ".hint"))


def source_words(limit: int | None) -> tuple[dict[str, str], str]:
    """The GCIDE words and a line describing where they came from."""
    with Timer() as t:
        words = read_gcide(limit=limit)
    mb = os.path.getsize(GCIDE_DICT) / 1e6
    return words, f"{len(words):,} GCIDE words ({GCIDE_DICT}, {mb:.1f} MB, parsed in {t.seconds:.1f}s)"


def run(words: dict[str, str], n_lookups: int, n_scans: int, root: Path) -> list[Row]:
    """One round of every measurement, in a fresh directory ``root``."""
    rng = random.Random(1)
    vocab = list(words)
    hits = [rng.choice(vocab) for _ in range(n_lookups)]
    misses = [rng.choice(vocab) + "qzx" for _ in range(n_lookups)]
    csv_path, bc_dir = root / "gcide.csv", root / "gcide.bitcask"
    rows: list[Row] = []

    with Timer() as t:
        write_csv(csv_path, words)
    rows.append(Row("load (write all)", REFERENCE, t.seconds, "s"))
    with Timer() as t:
        load_bitcask(bc_dir, words)
    rows.append(Row("load (write all)", "bitcask", t.seconds, "s"))
    rows.append(Row("size on disk", REFERENCE, csv_path.stat().st_size / 1e6, "MB"))
    rows.append(Row("size on disk", "bitcask", _dir_size(bc_dir) / 1e6, "MB"))

    with Timer() as t:
        load_csv_dict(csv_path)
    rows.append(Row("start-up", REFERENCE, t.seconds, "s"))
    with Timer() as t:
        Bitcask.open(bc_dir).close()
    rows.append(Row("start-up", "bitcask", t.seconds, "s"))
    in_ram, mem = _traced(lambda: load_csv_dict(csv_path))
    rows.append(Row("memory after start-up", REFERENCE, mem / 1e6, "MB"))
    db, mem = _traced(lambda: Bitcask.open(bc_dir))
    rows.append(Row("memory after start-up", "bitcask", mem / 1e6, "MB"))

    def bitcask_get(w: str) -> str | None:
        v = db.get(w.encode())
        return None if v is None else v.decode()

    for w in hits[:200]:  # all three agree on what a word means
        assert bitcask_get(w) == in_ram.get(w) == words[w]
    rows += _lookup_rows("bitcask", bitcask_get, hits, misses)
    rows += _lookup_rows(REFERENCE, in_ram.get, hits, misses)
    rows += _lookup_rows(
        "csv scan",
        lambda w: csv_lookup(csv_path, w),
        hits[:n_scans],
        misses[: max(1, n_scans // 4)],
    )
    db.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.dictionary", description=__doc__)
    p.add_argument("--limit", type=int, default=None, help="only the first N words (default: all)")
    p.add_argument("--lookups", type=int, default=20_000, help="lookups per in-memory strategy")
    p.add_argument("--scans", type=int, default=24, help="lookups by scanning the CSV")
    p.add_argument("--rounds", type=int, default=3, help="whole rounds (median kept, min and max shown)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (for the smoke test)")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.lookups, args.scans, args.rounds = 2_000, 200, 4, 2
    words, source = source_words(args.limit)
    runs: list[Row] = []
    for i in range(args.rounds):
        root = Path(tempfile.mkdtemp(prefix=f"bench-dictionary-{i}-"))
        try:
            runs += run(words, args.lookups, args.scans, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    rows = merge_rounds([runs])
    print(header(f"word dictionary in CSV and Bitcask: {source}"))
    print(table(rows, reference=REFERENCE, higher_is_better=False))
    name = "dictionary-quick" if args.quick else "dictionary"  # a smoke run keeps the real results
    print(f"saved {save(name, rows, source=source, rounds=args.rounds)}")
    lookups = [r for r in rows if r.workload.startswith("lookup")]
    png = median_bars(lookups, results_dir() / f"{name}.png",
                      f"Word lookups: CSV+dict, Bitcask, CSV scan; reference: {REFERENCE}; median, whiskers min..max",
                      "microseconds per lookup", size=(12, 5))  # fmt: skip
    print(f"saved {png}")


if __name__ == "__main__":
    main()
