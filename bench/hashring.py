"""Consistent hashing: skew against virtual nodes, keys moved on join and leave, lookup speed.

``make bench-hashring`` (``python -m bench.hashring [--keys N] [--nodes N] [--rounds R]``)

Three questions, each on the same keys:

* **Skew** (max load / mean load) of a ring with 1 to 1000 virtual nodes per
  node, beside rendezvous, jump and modulo hashing. One point per node leaves
  arcs of very different lengths (the largest ~ln(n) times the mean); the spread
  of a node's share falls like 1/sqrt(vnodes).
* **Movement**: the fraction of keys whose node changes when an 11th node joins
  10, and when one of 10 leaves. The ideal is 1/11 and 1/10 (only the keys the
  change must move). Modulo hashing moves ~10/11 on a join: the reason the others
  exist. Jump hash can only remove its *last* bucket cheaply: removing one from
  the middle renumbers the rest, and the table shows what that costs.
* **Lookup speed** of our ring against ``uhashring`` (a ketama-compatible ring
  from PyPI, written elsewhere), interleaved over rounds: min / median / max
  lookups per second and the ratio of medians (ours / uhashring).

Results: ``bench/results/hashring.json`` and ``hashring.png``.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from clients.hashring import BoundedLoads, HashRing, JumpHash, ModuloHash, RendezvousHash

from .common import Row, header, measured, rotated, save, table, yerr

VNODE_STEPS = [1, 2, 5, 10, 20, 50, 100, 160, 200, 500, 1000]


def skew(lookup: Callable[[str], str], keys: list[str], nodes: int) -> float:
    loads = Counter(lookup(k) for k in keys)
    return max(loads.values()) / (len(keys) / nodes)


def moved_fraction(before: Callable[[str], str], after: Callable[[str], str], keys: list[str]) -> float:
    return sum(before(k) != after(k) for k in keys) / len(keys)


def skew_rows(keys: list[str], n: int, trials: int) -> list[Row]:
    """Skew per scheme over ``trials`` different sets of node names: median, min, max.

    One ring's skew depends on where its few points happen to fall, so a single
    placement is noise; several name sets show the trend and its spread.
    """
    def ring(vnodes: int) -> Callable[[list[str]], Callable[[str], str]]:
        return lambda ns: HashRing(ns, vnodes=vnodes).lookup

    schemes = {f"ring vnodes={v}": ring(v) for v in VNODE_STEPS}
    schemes["ring vnodes=1 bounded c=1.25"] = lambda ns: BoundedLoads(HashRing(ns, vnodes=1)).acquire
    schemes["rendezvous"] = lambda ns: RendezvousHash(ns).lookup
    schemes["jump"] = lambda ns: JumpHash(ns).lookup
    schemes["modulo"] = lambda ns: ModuloHash(ns).lookup
    rows = []
    for name, make in schemes.items():
        s = [skew(make([f"t{t}-node{i}" for i in range(n)]), keys, n) for t in range(trials)]
        rows.append(measured("skew max/mean", name, s, "x", trials=trials))
    return rows


def movement_rows(keys: list[str], names: list[str]) -> list[Row]:
    """Keys moved by one join and by one leave (from the middle), per scheme."""
    rows = []
    joined, middle = names + ["joiner"], names[len(names) // 2]
    left = [x for x in names if x != middle]
    schemes: dict[str, Callable[[list[str]], Callable[[str], str]]] = {
        "ring vnodes=160": lambda ns: HashRing(ns).lookup,
        "ring vnodes=1": lambda ns: HashRing(ns, vnodes=1).lookup,
        "rendezvous": lambda ns: RendezvousHash(ns).lookup,
        "jump": lambda ns: JumpHash(ns).lookup,
        "modulo": lambda ns: ModuloHash(ns).lookup,
    }
    base = {name: make(names) for name, make in schemes.items()}
    # counted, not timed: one exact figure each (min = median = max, one round)
    for name, make in schemes.items():
        rows.append(measured("moved on join", name, [moved_fraction(base[name], make(joined), keys)], "frac"))
        rows.append(measured("moved on leave", name, [moved_fraction(base[name], make(left), keys)], "frac"))
    rows.append(measured("moved on join", "ideal", [1 / len(joined)], "frac"))
    rows.append(measured("moved on leave", "ideal", [1 / len(names)], "frac"))
    return rows


def lookups_per_second(lookup: Callable[[str], object], keys: list[str]) -> float:
    t0 = time.perf_counter()
    for k in keys:
        lookup(k)
    return len(keys) / (time.perf_counter() - t0)


def speed_rows(keys: list[str], names: list[str], rounds: int) -> list[Row]:
    from uhashring import HashRing as UHashRing  # ketama ring from PyPI: the reference

    impls: dict[str, Callable[[str], object]] = {
        "syslab ring": HashRing(names).lookup,
        "uhashring (ketama)": UHashRing(nodes=names).get_node,
        "syslab rendezvous": RendezvousHash(names).lookup,
        "syslab jump": JumpHash(names).lookup,
    }
    samples: dict[str, list[float]] = {name: [] for name in impls}
    for r in range(rounds):  # interleaved: each round runs every implementation once, rotating
        for name, lookup in rotated(impls.items(), r):
            samples[name].append(lookups_per_second(lookup, keys))
    return [
        measured("lookups/s", name, s, "ops/s")
        for name, s in samples.items()
    ]  # fmt: skip


def plot(rows: list[Row], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    ring = [r for r in rows if r.workload == "skew max/mean" and r.impl.startswith("ring vnodes=")
            and "bounded" not in r.impl]  # fmt: skip
    a.errorbar([int(r.impl.split("=")[1]) for r in ring], [r.value for r in ring], yerr=yerr(ring), fmt="o-",
               capsize=3, label="ring (median of trials, whiskers min..max)")  # fmt: skip
    for impl, style in (("rendezvous", "--"), ("jump", ":"), ("modulo", "-.")):
        v = next(r.value for r in rows if r.workload == "skew max/mean" and r.impl == impl)
        a.axhline(v, linestyle=style, color="grey", label=impl)
    a.set_xscale("log")
    a.set_xlabel("virtual nodes per node")
    a.set_ylabel("max load / mean load (1.0 = perfectly even)")
    a.set_title("Skew against virtual nodes")
    a.legend()
    moves = [r for r in rows if r.workload.startswith("moved")]
    impls = list(dict.fromkeys(r.impl for r in moves))
    for i, what in enumerate(("moved on join", "moved on leave")):
        vals = [next(r.value for r in moves if r.impl == m and r.workload == what) for m in impls]
        b.bar([x + i * 0.4 for x in range(len(impls))], vals, width=0.4, label=what)
    b.set_xticks([x + 0.2 for x in range(len(impls))], impls, rotation=20, ha="right")
    b.set_ylabel("fraction of keys that change node")
    b.set_title("Keys moved when one node joins or leaves")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="make bench-hashring", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--keys", type=int, default=100_000, help="keys placed (default 100000)")
    p.add_argument("--nodes", type=int, default=10, help="nodes on the ring (default 10)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved speed rounds (default 5)")
    p.add_argument("--trials", type=int, default=5, help="node-name sets for skew (default 5)")
    args = p.parse_args(argv)
    if args.keys < 1 or args.nodes < 2 or args.rounds < 1 or args.trials < 1:
        p.error("--keys, --rounds and --trials must be >= 1, --nodes >= 2")
    keys = [f"user:{i}" for i in range(args.keys)]
    names = [f"node{i}" for i in range(args.nodes)]
    print(header(f"consistent hashing: {args.keys:,} keys over {args.nodes} nodes"))
    rows = skew_rows(keys, args.nodes, args.trials)
    print(f"\nSkew, median of {args.trials} sets of node names (lower is better; 1.00 is"
          " perfectly even; the ratio is modulo's skew / this one's):")  # fmt: skip
    print(table(rows, reference="modulo", higher_is_better=False))
    moves = movement_rows(keys, names)
    print("\nKeys moved (the ratio is moved / ideal: 1.00x moves only the keys that must move):")
    print(table(moves, reference="ideal", sense="ratio: moved / ideal, 1.00x is best (only the keys that must move)"))
    speed = speed_rows(keys[: min(len(keys), 50_000)], names, args.rounds)
    print(f"\nLookup speed, median of {args.rounds} interleaved rounds (ratio: ours / uhashring):")
    print(table(speed, reference="uhashring (ketama)"))
    all_rows = rows + moves + speed
    path = save("hashring", all_rows, keys=args.keys, nodes=args.nodes)
    png = plot(all_rows, path.with_suffix(".png"))
    print(f"\nsaved {path} and {png}")


if __name__ == "__main__":
    main()
