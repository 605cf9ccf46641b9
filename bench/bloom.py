"""S9: Bloom filters measured against the formula, the deletable filter as it fills,
and speed against a pure-Python Bloom filter from PyPI (bloom-filter2).

Three experiments, one run:

1. **FPR grid**: for bits-per-key in BPK and k in 1..8, fill an m = bpk * n
   filter with n keys and query ``queries`` keys never added; the measured rate
   beside ``(1 - e^(-kn/m))^k``. Plotted: measured (dots) and formula (lines).
2. **Deletability**: a DlBF of m bits with r regions, filled step by step; the
   share of inserted keys still deletable (at least one bit in a collision-free
   region), for several r. Plotted against fill.
3. **Bitmap cost**: at equal total m, the DlBF's rate (its r bitmap bits hold no
   keys) against the plain filter's; measured and formula.

Speed: ``add`` and ``in`` of ours (BLAKE2b double hashing over a bytearray) and
bloom-filter2's ``BloomFilter`` (its own pure-Python hashing, array backend),
same keys, same (n, p), interleaved rounds; min / median / max ops/s and the
ratio of medians (higher is better). Results: ``bench/results/bloom.json``, ``bloom.png``
(the speed medians with min..max whiskers), ``bloom_fpr.png``,
``bloom_deletable.png``.

``python -m bench.bloom [--n N] [--queries Q] [--rounds R]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import Row, header, measured, median_bars, results_dir, save, table
from storage.bloom import BloomFilter, DeletableBloomFilter, false_positive_rate, optimal_k

BPK = (2, 4, 6, 8, 10, 12, 16)
KS = tuple(range(1, 9))
REGIONS = (64, 256, 1024, 4096, 16384)


def keys(prefix: str, n: int) -> list[bytes]:
    return [f"{prefix}{i:09d}".encode() for i in range(n)]


def fpr_grid(n: int, queries: int) -> list[dict[str, Any]]:
    present, absent = keys("in-", n), keys("out-", queries)
    out = []
    for bpk in BPK:
        for k in KS:
            f = BloomFilter(bpk * n, k)
            f.update(present)
            measured = sum(q in f for q in absent) / queries
            theory = false_positive_rate(bpk * n, k, n)
            out.append({"bpk": bpk, "k": k, "measured": measured, "theory": theory})
    return out


def deletability(n: int, bpk: int = 10) -> list[dict[str, Any]]:
    m = bpk * n
    k = optimal_k(m, n)
    present = keys("in-", n)
    steps = [max(1, n * i // 10) for i in range(1, 11)]
    out = []
    for r in REGIONS:
        if r * 2 > m:
            continue
        d = DeletableBloomFilter(m, k, r)
        added = 0
        for stop in steps:
            for key in present[added:stop]:
                d.add(key)
            added = stop
            share = sum(d.deletable(x) for x in present[:added]) / added
            out.append({"r": r, "fill": added / n, "n": added, "deletable": share})
    return out


def bitmap_cost(n: int, queries: int, bpk: int = 10) -> list[dict[str, Any]]:
    m = bpk * n
    k = optimal_k(m, n)
    present, absent = keys("in-", n), keys("out-", queries)
    plain = BloomFilter(m, k)
    plain.update(present)
    rows = [{"filter": "plain", "r": 0, "measured": sum(q in plain for q in absent) / queries,
             "theory": false_positive_rate(m, k, n)}]  # fmt: skip
    for r in REGIONS:
        if r * 2 > m:
            continue
        d = DeletableBloomFilter(m, k, r)
        for key in present:
            d.add(key)
        rows.append({"filter": "deletable", "r": r,
                     "measured": sum(q in d for q in absent) / queries,
                     "theory": false_positive_rate(m - r, k, n)})  # fmt: skip
    return rows


def _ours(n: int, p: float) -> Any:
    return BloomFilter.for_capacity(n, p)


def _theirs(n: int, p: float) -> Any:
    import bloom_filter2

    return bloom_filter2.BloomFilter(max_elements=n, error_rate=p)


def speed(n: int, rounds: int) -> tuple[list[Row], dict[str, Any]]:
    """ops/s of add and of lookups (half present), ours vs bloom-filter2, interleaved rounds."""
    present, absent = keys("in-", n), keys("out-", n)
    probes_ = present[: n // 2] + absent[: n // 2]
    makers: dict[str, Callable[[int, float], Any]] = {
        "syslab": _ours, "bloom-filter2": _theirs,
    }  # fmt: skip
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for impl, make in makers.items():
            f = make(n, 0.01)
            t0 = time.perf_counter()
            for key in present:
                f.add(key)
            t1 = time.perf_counter()
            hits = sum(1 for q in probes_ if q in f)
            t2 = time.perf_counter()
            assert hits >= n // 2  # no false negatives, whoever it is
            samples.setdefault(("add", impl), []).append(n / (t1 - t0))
            samples.setdefault(("contains", impl), []).append(len(probes_) / (t2 - t1))
    rows, detail = [], {}
    for (work, impl), xs in samples.items():
        rows.append(measured(work, impl, xs, "ops/s"))
        detail[f"{work}/{impl}"] = {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}
    return rows, detail


def plot(grid: list[dict[str, Any]], dele: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = results_dir()
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 5))
    for bpk in BPK:
        pts = [g for g in grid if g["bpk"] == bpk]
        (line,) = ax.plot(
            [g["k"] for g in pts], [g["theory"] for g in pts], label=f"{bpk} bits/key"
        )
        ax.scatter(
            [g["k"] for g in pts], [max(g["measured"], 1e-6) for g in pts], color=line.get_color()
        )
    ax.set_yscale("log")
    ax.set_xlabel("hash functions k")
    ax.set_ylabel("false-positive rate")
    ax.set_title("Bloom filter: measured (dots) vs (1 - e^(-kn/m))^k (lines)")
    ax.legend(fontsize=8)
    fig.savefig(out / "bloom_fpr.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in sorted({d["r"] for d in dele}):
        pts = [d for d in dele if d["r"] == r]
        ax.plot([d["fill"] for d in pts], [d["deletable"] for d in pts], marker="o", label=f"r={r}")
    ax.set_xlabel("fill (share of the n keys the filter is sized for)")
    ax.set_ylabel("share of inserted keys still deletable")
    ax.set_title("Deletable Bloom filter (10 bits/key): deletability as it fills")
    ax.legend()
    fig.savefig(out / "bloom_deletable.png", dpi=100)
    plt.close(fig)
    return ["bloom_fpr.png", "bloom_deletable.png"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="keys per filter")
    p.add_argument("--queries", type=int, default=50_000, help="absent keys queried per cell")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    print(header("bloom: FPR vs bits/key vs k; deletable filter; speed vs bloom-filter2"))
    grid = fpr_grid(args.n, args.queries)
    print(f"\nFPR, n={args.n}, {args.queries} absent keys per cell (measured / formula)")
    print("bits/key " + "".join(f"{'k=' + str(k):>16}" for k in KS))
    for bpk in BPK:
        cells = [g for g in grid if g["bpk"] == bpk]
        print(f"{bpk:>8} " + "".join(f"{g['measured']:>8.4f}/{g['theory']:<7.4f}" for g in cells))
    dele = deletability(args.n)
    print("\ndeletable share as the filter fills (10 bits/key)")
    for r in sorted({d["r"] for d in dele}):
        pts = [d for d in dele if d["r"] == r]
        print(f"  r={r:<5} " + " ".join(f"{d['fill']:.1f}:{d['deletable']:.3f}" for d in pts))
    cost = bitmap_cost(args.n, args.queries)
    print("\nFPR cost of the collision bitmap (10 bits/key, equal total m)")
    for c in cost:
        print(
            f"  {c['filter']:<9} r={c['r']:<5} measured {c['measured']:.5f}  formula {c['theory']:.5f}"
        )
    rows, detail = speed(args.n, args.rounds)
    print(f"\nspeed, n={args.n}, {args.rounds} interleaved rounds (median ops/s; min, max)")
    print(table(rows, reference="bloom-filter2"))
    pngs = plot(grid, dele)
    pngs.append(median_bars(rows, results_dir() / "bloom.png", f"S9 Bloom filter speed, n={args.n}: syslab vs "
                            f"bloom-filter2 (reference), median of {args.rounds} round(s), whiskers min..max",
                            "operations / s", size=(8, 4.5)).name)  # fmt: skip
    path = save("bloom", rows, n=args.n, queries=args.queries, rounds=args.rounds, fpr_grid=grid,
                deletability=dele, bitmap_cost=cost, speed=detail, plots=pngs)  # fmt: skip
    print(f"\nsaved {path} and {', '.join(pngs)}")
    return {"grid": grid, "deletability": dele, "cost": cost, "speed": detail}


if __name__ == "__main__":
    main()
