"""D13: a fair multi-threaded program: splitting uneven work across workers.

``python -m bench.fair [--n N] [--workers T] [--chunk C] [--rounds R] [--quick] [--out DIR]``
(``make bench-fair``)

The job: count the primes below N by trial division. The cost of one number is
uneven and grows with the number (a prime near N needs ~sqrt(N)/2 divisions,
a prime near 0 a handful), so equal *ranges* are not equal *work*. Three ways
to split it among T workers, each run with T threads and with T processes:

* ``static``: worker i takes the i-th of T equal ranges. The last range is the
  most expensive: its worker is still busy long after the others finished
  and sit idle. Nothing is shared, so there is no coordination cost.
* ``dynamic``: each worker takes the next number from one shared counter
  (a lock-protected integer; ``multiprocessing.Value`` across processes).
  Perfect balance, but one lock round trip per number; across processes each
  of those is a futex and shared-memory access, which adds up.
* ``chunked``: a queue of chunks of C numbers; workers pull chunks until it is
  empty. Balance within one chunk's cost, coordination once per C numbers.

Reported per worker: its share of the work (trial divisions it did, the
deterministic measure of work), the numbers it took, its CPU busy time and
when it finished. Fairness: ``idle_tail_s``, how long the first worker to run
out of work waited for the last one (0 is fair: nobody idles while work
remains), and ``imbalance``, the largest share over the mean share. With
threads, a dynamic split can still show uneven *shares* (the GIL hands the
interpreter to one thread for 5 ms at a time, and that thread keeps taking
numbers), yet every thread finishes at the same moment: fair where it counts.

Threads vs processes: CPython's GIL lets one thread run Python bytecode at a
time, so T threads on this CPU-bound job take about as long as one (their busy
times add up to the wall time, whatever the split); T processes each have
their own interpreter and run in parallel on the machine's cores. The table
shows both, the ratio is against ``static`` in the same mode.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import common
from .common import Row, header, measured, rotated, save, table
from .sqlbench import common_flags, output_dir, positive, pyplot, save_figure

STRATEGIES = ("static", "dynamic", "chunked")
MODES = ("threads", "processes")
REFERENCE = "static"
START_TIMEOUT = 60.0  # seconds for every worker to be ready at the barrier
QUEUE_TIMEOUT = 60.0  # seconds a worker waits on the chunk queue (it is full before they start)


def divisions(n: int) -> tuple[bool, int]:
    """(is n prime, trial divisions spent): odd divisors up to isqrt(n)."""
    if n < 2:
        return False, 0
    if n % 2 == 0:
        return n == 2, 1
    spent = 1
    for d in range(3, math.isqrt(n) + 1, 2):
        spent += 1
        if n % d == 0:
            return False, spent
    return True, spent


def sieve_count(n: int) -> int:
    """pi(n - 1): the number of primes below n, by a sieve (the check on every split)."""
    if n < 3:
        return 0
    flags = bytearray([1]) * n
    flags[0] = flags[1] = 0
    for i in range(2, math.isqrt(n - 1) + 1):
        if flags[i]:
            flags[i * i :: i] = bytes(len(range(i * i, n, i)))
    return sum(flags)


@dataclass
class WorkerReport:
    worker: int
    numbers: int = 0
    primes: int = 0
    work: int = 0  # trial divisions
    busy_s: float = 0.0  # CPU time of this thread / process
    started: float = 0.0
    finished: float = 0.0


class Source:
    """Where a worker gets its numbers: ``take()`` returns a range, empty when done."""

    def __init__(self, strategy: str, n: int, workers: int, chunk: int, shared: Any) -> None:
        self.strategy, self.n, self.workers, self.chunk, self.shared = (
            strategy, n, workers, chunk, shared,
        )  # fmt: skip
        self._static_given = False

    def take(self, worker: int) -> range:
        if self.strategy == "static":
            if self._static_given:
                return range(0)
            self._static_given = True
            lo, hi = self.n * worker // self.workers, self.n * (worker + 1) // self.workers
            return range(lo, hi)
        if self.strategy == "dynamic":
            counter, lock = self.shared
            with lock:
                i = counter.value
                counter.value = i + 1
            return range(i, i + 1) if i < self.n else range(0)
        # A blocking get: multiprocessing.Queue.get_nowait() raises Empty when another
        # process merely holds the read lock, which made workers quit with chunks left.
        # The queue ends with one None per worker: the "no more work" signal.
        lo = self.shared.get(timeout=QUEUE_TIMEOUT)
        return range(0) if lo is None else range(lo, min(self.n, lo + self.chunk))


def work(worker: int, source: Source, barrier: Any, cpu: Callable[[], float]) -> WorkerReport:
    rep = WorkerReport(worker)
    barrier.wait(START_TIMEOUT)
    rep.started, cpu0 = time.monotonic(), cpu()
    while True:
        r = source.take(worker)
        if not r:
            break
        rep.numbers += len(r)
        for x in r:
            prime, spent = divisions(x)
            rep.primes += prime
            rep.work += spent
    rep.busy_s, rep.finished = cpu() - cpu0, time.monotonic()
    return rep


def _shared(strategy: str, n: int, chunk: int, workers: int, ctx: Any) -> Any:
    """The coordination object of a strategy, for threads (ctx None) or processes."""
    if strategy == "dynamic":
        if ctx is None:
            return _Box(), threading.Lock()
        v = ctx.Value("q", 0, lock=False)
        return v, ctx.Lock()
    if strategy == "chunked":
        q: Any = queue.Queue() if ctx is None else ctx.Queue()
        for lo in range(0, n, chunk):
            q.put(lo)
        for _ in range(workers):
            q.put(None)
        return q
    return None


class _Box:
    value = 0


def _process_main(worker: int, source: Source, barrier: Any, out: Any) -> None:
    out.put(asdict(work(worker, source, barrier, time.process_time)))


def run_threads(strategy: str, n: int, workers: int, chunk: int) -> list[WorkerReport]:
    shared = _shared(strategy, n, chunk, workers, None)
    barrier = threading.Barrier(workers)
    reports: list[WorkerReport] = []

    def go(i: int) -> None:
        reports.append(
            work(i, Source(strategy, n, workers, chunk, shared), barrier, time.thread_time)
        )

    threads = [threading.Thread(target=go, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(reports, key=lambda r: r.worker)


def run_processes(strategy: str, n: int, workers: int, chunk: int) -> list[WorkerReport]:
    ctx = mp.get_context("spawn")
    shared = _shared(strategy, n, chunk, workers, ctx)
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(
            target=_process_main,
            args=(i, Source(strategy, n, workers, chunk, shared), barrier, out),
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    reports = [WorkerReport(**out.get(timeout=600)) for _ in procs]
    for p in procs:
        p.join()
    return sorted(reports, key=lambda r: r.worker)


def summarize(reports: list[WorkerReport]) -> dict[str, Any]:
    t0 = min(r.started for r in reports)
    total = sum(r.work for r in reports) or 1
    shares = [r.work / total for r in reports]
    return {
        "wall_s": max(r.finished for r in reports) - t0,
        "primes": sum(r.primes for r in reports),
        "numbers": sum(r.numbers for r in reports),
        "imbalance": max(shares) / statistics.fmean(shares),
        # how long the first worker to run out of work sat idle waiting for the last
        "idle_tail_s": max(r.finished for r in reports) - min(r.finished for r in reports),
        "busy_s": sum(r.busy_s for r in reports),
        "workers": [
            {**asdict(r), "share": s, "finished_after_s": r.finished - t0}
            for r, s in zip(reports, shares, strict=True)
        ],
    }


RUNNERS = {"threads": run_threads, "processes": run_processes}

WHY = """why: static gives worker i the i-th equal range, but a number's cost grows with its size, so the
last worker holds the biggest share (imbalance > 1) and finishes long after the others, which sit
idle (idle_tail_s).
dynamic takes one number at a time from a shared counter: everyone finishes together, at one lock
per number (cheap for threads, a futex + shared memory per number for processes); with threads the
shares follow the GIL's 5 ms switch interval, not the split. chunked pulls C numbers at
a time: as fair to within a chunk, with coordination once per chunk. threads vs processes: the
GIL runs one thread's bytecode at a time, so threads' busy times add up to at most the wall time
(parallel = busy_s / wall_s <= 1: one core's worth) and T threads are no faster than one; processes
can use every free core (parallel up to the number of cores; on a machine shared with other
work, only the cores left over)."""


def one_case(mode: str, strategy: str, args: argparse.Namespace, expected: int) -> dict[str, Any]:
    res = summarize(RUNNERS[mode](strategy, args.n, args.workers, args.chunk))
    res["correct"] = res["primes"] == expected and res["numbers"] == args.n
    return res


def rows_of(results: dict[str, dict[str, list[dict[str, Any]]]], workers: int) -> list[Row]:
    rows = []
    for mode, by in results.items():
        for strategy, runs in by.items():
            walls = [r["wall_s"] for r in runs]
            last = runs[-1]
            rows.append(measured(f"{mode} x{workers}", strategy, walls, "s", imbalance=last["imbalance"],
                                 idle_tail_s=last["idle_tail_s"], busy_s=last["busy_s"],
                                 parallel=last["busy_s"] / last["wall_s"],
                                 correct="yes" if all(r["correct"] for r in runs) else "NO"))  # fmt: skip
    return rows


def worker_lines(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    out = [
        f"{'mode':<10} {'strategy':<8} {'worker':>6} {'share':>7} {'numbers':>9} {'busy_s':>8} {'done_at_s':>9}"
    ]
    for mode, by in results.items():
        for strategy, runs in by.items():
            for w in runs[-1]["workers"]:
                out.append(f"{mode:<10} {strategy:<8} {w['worker']:>6} {w['share']:>7.1%} "
                           f"{w['numbers']:>9,} {w['busy_s']:>8.3f} {w['finished_after_s']:>9.3f}")  # fmt: skip
    return "\n".join(out)


def plot(results: dict[str, dict[str, list[dict[str, Any]]]], workers: int, png: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.5))
    width = 0.8 / workers
    for k, mode in enumerate(MODES):
        for i in range(workers):
            ax[k].bar([s + i * width for s in range(len(STRATEGIES))],
                      [results[mode][s][-1]["workers"][i]["share"] * 100 for s in STRATEGIES],
                      width, label=f"worker {i}")  # fmt: skip
        ax[k].set_xticks([s + 0.4 - width / 2 for s in range(len(STRATEGIES))], STRATEGIES)
        ax[k].set(title=f"{mode}: each worker's share of the work", ylabel="% of trial divisions")
        ax[k].legend(fontsize=7)
    for j, mode in enumerate(MODES):
        walls = [[r["wall_s"] for r in results[mode][s]] for s in STRATEGIES]
        med = [statistics.median(w) for w in walls]
        ax[2].bar([s + j * 0.4 for s in range(len(STRATEGIES))], med, 0.4, capsize=3, label=mode,
                  yerr=[[m - min(w) for m, w in zip(med, walls, strict=True)],
                        [max(w) - m for m, w in zip(med, walls, strict=True)]])  # fmt: skip
    ax[2].set_xticks([s + 0.2 for s in range(len(STRATEGIES))], STRATEGIES)
    ax[2].set(title=f"wall time, {workers} workers (median, whiskers min..max)", ylabel="s (lower is better)")
    ax[2].legend()
    save_figure(fig, png)


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = common.results_dir()  # --out, set by output_dir around this run
    name = "fair-quick" if args.quick else "fair"
    expected = sieve_count(args.n)
    print(
        header(
            f"D13 counting primes below {args.n:,} with {args.workers} workers, chunks of {args.chunk:,}"
        )
    )
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        m: {s: [] for s in STRATEGIES} for m in MODES
    }
    load = os.getloadavg()[0]
    print(f"   load average before the run: {load:.2f} on {os.cpu_count()} cpus "
          "(processes can only use the cores other work leaves free)")  # fmt: skip
    for r in range(args.rounds):  # interleaved: every case once per round, who goes first rotating
        for mode in MODES:
            for strategy in rotated(STRATEGIES, r):
                results[mode][strategy].append(one_case(mode, strategy, args, expected))
    rows = rows_of(results, args.workers)
    print("\n" + table(rows, reference=REFERENCE, higher_is_better=False))
    print(
        f"\nper worker (last round); primes below {args.n:,}: {expected:,}\n"
        + worker_lines(results)
    )
    print("\n" + WHY)
    png = out / f"{name}.png"
    plot(results, args.workers, png)
    path = save(name, rows, load_average=load, n=args.n, workers=args.workers, chunk=args.chunk, expected_primes=expected,
                results=results, png=str(png))  # fmt: skip
    print(f"\nsaved {path} and {png}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.fair", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument(
        "--n", type=positive, default=2_000_000, help="count primes below N (default 2,000,000)"
    )
    p.add_argument("--workers", type=positive, default=4, help="threads / processes (default 4)")
    p.add_argument(
        "--chunk", type=positive, default=2_000, help="numbers per chunk (default 2,000)"
    )
    common_flags(p, rounds=3)
    args = p.parse_args(argv)
    if args.workers > 64:
        p.error("argument --workers: at most 64 (one process each)")
    if args.quick:
        args.n, args.chunk = min(args.n, 20_000), min(args.chunk, 500)
    with output_dir(args.out):
        return run(args)


if __name__ == "__main__":
    main()
