"""``make bench-redis_cluster`` (O4): how a real Redis Cluster spreads keys, and what
moves when it grows.

One run, on a private 6-node cluster (3 primaries + 3 replicas, harness/redis_cluster):

1. **key -> slot**: syslab's ``key_slot`` (a table-driven CRC16 in Python)
   against redis-py's (``binascii.crc_hqx``, C), both checked against the
   server's ``CLUSTER KEYSLOT`` on a sample.
2. **spread**: 100,000 keys ``user:<i>`` over 16384 slots and 3 primaries
   (keys per node; min/max/mean per slot), and the same keys with a hash tag
   ``tenant:{<i % 8>}:<i>``: every key of a tenant shares one slot, so 8
   slots hold everything and the nodes are as unequal as the tenants.
3. **load**: the 100,000 ``SET``s through syslab's ``ClusterClient`` pipeline
   and through redis-py's ``RedisCluster`` pipeline; then single ``GET``s,
   one round trip each. ``DBSIZE`` on each primary must equal what the slot
   map predicts.
4. **grow**: a 4th primary joins (``redis-cli --cluster add-node``) and
   ``redis-cli --cluster rebalance --cluster-use-empty-masters`` moves slots
   to it. Which slots moved, from which node, how many keys moved (computed
   from the slot map, checked with ``DBSIZE``), against what naive
   ``hash(key) mod N`` placement would have moved going from 3 to 4 nodes.

The timed rows (1 and 3) run ``--rounds`` times, syslab and redis-py taking
turns; each row is the median with min and max.

Prints two tables (client work vs redis-py; keys moved vs mod-N), saves
``bench/results/redis_cluster.json``, a PNG of keys per node before/after, and
``redis_cluster-timing.png``: the client rows' medians with min..max whiskers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from clients.resp import ClusterClient, connect
from clients.resp.slots import SLOTS, key_slot
from harness.redis_cluster import RedisCluster

from .common import Row, Timer, header, interleaved, measured, median_bars, results_dir, save, table

Address = tuple[str, int]
TENANTS = 8  # hash-tag groups in the tagged key set: few on purpose, to show the skew
BATCH = 5_000  # commands per pipeline flush: bounds memory, still few round trips
KEYSLOT_SAMPLE = 10_000  # keys checked against the server's CLUSTER KEYSLOT


def plain_keys(n: int) -> list[bytes]:
    return [b"user:%d" % i for i in range(n)]


def tagged_keys(n: int) -> list[bytes]:
    return [b"tenant:{%d}:%d" % (i % TENANTS, i) for i in range(n)]


# -- 1. key -> slot ---------------------------------------------------------------------


def rate(fn: Callable[[], Any], count: int) -> float:
    with Timer() as t:
        fn()
    return count / t.seconds


def slot_function_rows(cluster: RedisCluster, keys: Sequence[bytes], rounds: int) -> list[Row]:
    from redis.crc import key_slot as redispy_key_slot

    sample = keys[:KEYSLOT_SAMPLE]
    with connect(*cluster.addresses[0]) as c:
        p = c.pipeline()
        for k in sample:
            p.command("CLUSTER", "KEYSLOT", k)
        server = p.execute()
    agree = server == [key_slot(k) for k in sample] == [redispy_key_slot(k) for k in sample]
    if not agree:
        sys.exit("key_slot disagrees with CLUSTER KEYSLOT")
    got = interleaved({
        "syslab": lambda: rate(lambda: [key_slot(k) for k in keys], len(keys)),
        "redis-py": lambda: rate(lambda: [redispy_key_slot(k) for k in keys], len(keys)),
    }, rounds)  # fmt: skip
    return [measured("key->slot", impl, got[impl], "keys/s") for impl in got]


# -- 2. spread ------------------------------------------------------------------------------


def spread(keys: Sequence[bytes], owners: Sequence[Address | None]) -> dict[str, Any]:
    """Keys per slot and per node under the slot map ``owners``."""
    per_slot = Counter(key_slot(k) for k in keys)
    counts = [per_slot.get(s, 0) for s in range(SLOTS)]
    per_node: Counter[str] = Counter()
    for slot, n in per_slot.items():
        addr = owners[slot]
        per_node[f"{addr[0]}:{addr[1]}" if addr else "unowned"] += n
    return {
        "keys": len(keys),
        "slots_used": len(per_slot),
        "per_slot_min": min(counts),
        "per_slot_max": max(counts),
        "per_slot_mean": statistics.fmean(counts),
        "per_slot_stdev": statistics.pstdev(counts),
        "per_node": dict(sorted(per_node.items())),
        "per_slot": counts,
    }


def print_spread(title: str, s: dict[str, Any]) -> None:
    print(f"\n{title}: {s['keys']:,} keys in {s['slots_used']:,} of {SLOTS} slots; per slot "
          f"min {s['per_slot_min']} max {s['per_slot_max']} mean {s['per_slot_mean']:.2f} "
          f"stdev {s['per_slot_stdev']:.2f}")  # fmt: skip
    total = s["keys"] or 1
    for node, n in s["per_node"].items():
        print(f"   {node:<22} {n:>9,} keys  {100 * n / total:5.1f}%")


# -- 3. load ------------------------------------------------------------------------------------


def load_rows(
    cluster: RedisCluster, client: ClusterClient, keys: Sequence[bytes], gets: int, rounds: int
) -> list[Row]:
    """Each measurement ``rounds`` times, syslab and redis-py taking turns."""
    from redis.cluster import ClusterNode
    from redis.cluster import RedisCluster as RedisPyCluster

    def ours_load() -> None:
        for lo in range(0, len(keys), BATCH):
            p = client.pipeline()
            for k in keys[lo : lo + BATCH]:
                p.command("SET", k, k)
            p.execute()

    host, port = cluster.addresses[0]
    rp = RedisPyCluster(startup_nodes=[ClusterNode(host, port)])

    def theirs_load() -> None:
        for lo in range(0, len(keys), BATCH):
            p = rp.pipeline()
            for k in keys[lo : lo + BATCH]:
                p.set(k, k)
            p.execute()

    sample = keys[:gets]
    sets = interleaved({"syslab": lambda: rate(ours_load, len(keys)),
                        "redis-py": lambda: rate(theirs_load, len(keys))}, rounds)  # fmt: skip
    single = interleaved({
        "syslab": lambda: rate(lambda: [client.execute("GET", k) for k in sample], gets),
        "redis-py": lambda: rate(lambda: [rp.get(k) for k in sample], gets),
    }, rounds)  # fmt: skip
    rows = [measured("pipelined SET", impl, sets[impl], "ops/s") for impl in sets]
    rows += [measured("single GET", impl, single[impl], "ops/s") for impl in single]
    rp.close()
    return rows


def dbsize_per_primary(client: ClusterClient) -> dict[str, int]:
    return {f"{h}:{p}": int(client.connection((h, p)).execute("DBSIZE")) for h, p in client.nodes()}


# -- 4. grow -----------------------------------------------------------------------------------


def slot_ranges(slots: Sequence[int]) -> list[str]:
    """[0, 1, 2, 7] -> ["0-2", "7"]."""
    out: list[str] = []
    for s in sorted(slots):
        if out and int(out[-1].split("-")[-1]) == s - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{s}"
        else:
            out.append(str(s))
    return out


def grow(
    cluster: RedisCluster, client: ClusterClient, keys: Sequence[bytes], reshard: int
) -> dict[str, Any]:
    """Add a primary, then rebalance (or, with ``reshard`` > 0, move only that many slots)."""
    before = list(client.slots)
    with Timer() as add:
        node = cluster.add_primary()
    with Timer() as reb:
        if reshard:
            cluster.reshard(node.port, reshard)
        else:
            cluster.rebalance()
    client.refresh()
    after = list(client.slots)
    moved = [s for s in range(SLOTS) if before[s] != after[s]]
    per_slot = Counter(key_slot(k) for k in keys)
    flows: dict[str, list[int]] = {}
    for s in moved:
        src, dst = before[s], after[s]
        flows.setdefault(f"{src[0]}:{src[1]} -> {dst[0]}:{dst[1]}", []).append(s)  # type: ignore[index]
    return {
        "new_node": node.hostport,
        "add_node_seconds": add.seconds,
        "how": f"reshard {reshard} slots" if reshard else "rebalance --cluster-use-empty-masters",
        "rebalance_seconds": reb.seconds,
        "slots_moved": len(moved),
        "keys_moved": sum(per_slot.get(s, 0) for s in moved),
        "flows": {
            k: {
                "slots": len(v),
                "ranges": slot_ranges(v),
                "keys": sum(per_slot.get(s, 0) for s in v),
            }
            for k, v in flows.items()
        },  # fmt: skip
        "after": after,
    }


def modulo_moved(keys: Sequence[bytes], old: int, new: int) -> int:
    """Keys that change node when placement is ``crc32(key) % nodes``, old -> new nodes."""
    return sum(1 for k in keys if zlib.crc32(k) % old != zlib.crc32(k) % new)


# -- plot --------------------------------------------------------------------------------------


def plot(
    before: dict[str, int], after: dict[str, int], tagged: dict[str, int], how: str, path: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = sorted(set(before) | set(after))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = range(len(nodes))
    ax1.bar([x - 0.2 for x in xs], [before.get(n, 0) for n in nodes], 0.4, label="3 primaries")
    ax1.bar(
        [x + 0.2 for x in xs],
        [after.get(n, 0) for n in nodes],
        0.4,
        label="after add-node + " + how.split()[0],
    )
    ax1.set_xticks(list(xs), [n.split(":")[1] for n in nodes])
    ax1.set_xlabel("primary (port)")
    ax1.set_ylabel("keys")
    ax1.set_title("user:<i> keys per node")
    ax1.legend(loc="lower center")
    tnodes = sorted(set(before) | set(tagged))
    ax2.bar(range(len(tnodes)), [tagged.get(n, 0) for n in tnodes], color="tab:red")
    ax2.set_xticks(range(len(tnodes)), [n.split(":")[1] for n in tnodes])
    ax2.set_xlabel("primary (port)")
    ax2.set_title(f"tenant:{{0..{TENANTS - 1}}}:<i> keys per node (hash tags)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main --------------------------------------------------------------------------------------


def run(n: int, gets: int, name: str, reshard: int = 0, rounds: int = 3) -> None:
    print(header(f"Redis Cluster: {n:,} keys over 16384 slots, 3 -> 4 primaries"))
    keys, tkeys = plain_keys(n), tagged_keys(n)
    with (
        RedisCluster(primaries=3, replicas=1) as cluster,
        ClusterClient(cluster.addresses[:1]) as client,
    ):
        rows = slot_function_rows(cluster, keys, rounds)
        plain, tagged = spread(keys, client.slots), spread(tkeys, client.slots)
        print_spread("no hash tags", plain)
        print_spread(f"hash tags ({TENANTS} tenants)", tagged)
        rows += load_rows(cluster, client, keys, gets, rounds)
        real_before = dbsize_per_primary(client)
        assert real_before == plain["per_node"], (real_before, plain["per_node"])
        g = grow(cluster, client, keys, reshard)
        real_after = dbsize_per_primary(client)
        predicted_after = spread(keys, g["after"])["per_node"]
        assert real_after == predicted_after, (real_after, predicted_after)
    mod = modulo_moved(keys, 3, 4)
    moves = [
        # counted, not timed: one exact figure each (min = median = max, one round)
        measured("keys moved 3->4", "hash slots", [g["keys_moved"]], "keys",
                 fraction=g["keys_moved"] / n, slots=g["slots_moved"]),
        measured("keys moved 3->4", "mod-N", [mod], "keys", fraction=mod / n, slots=0),
    ]  # fmt: skip
    print(f"\nadd-node {g['add_node_seconds']:.1f}s, {g['how']} {g['rebalance_seconds']:.1f}s "
          f"moved {g['slots_moved']} slots / {g['keys_moved']:,} keys to {g['new_node']}:")  # fmt: skip
    for flow, f in g["flows"].items():
        shown = ", ".join(f["ranges"][:4]) + (" ..." if len(f["ranges"]) > 4 else "")
        print(f"   {flow}: {f['slots']} slots ({shown}), {f['keys']:,} keys")
    print("keys per node after:", ", ".join(f"{k} {v:,}" for k, v in sorted(real_after.items())))
    print()
    print(table(rows, reference="redis-py"))
    print()
    print(table(moves, reference="mod-N", higher_is_better=False))
    for s in (plain, tagged):
        del s["per_slot"]  # 16384 numbers each: the summary is what the JSON is for
    del g["after"]
    results_dir().mkdir(parents=True, exist_ok=True)
    png = results_dir() / f"{name}.png"
    plot(real_before, real_after, tagged["per_node"], g["how"], str(png))
    path = save(name, rows + moves, keys=n, spread_plain=plain, spread_tagged=tagged,
                grow=g, per_node_before=real_before, per_node_after=real_after)  # fmt: skip
    timed = median_bars(rows, results_dir() / f"{name}-timing.png", "Redis Cluster client: syslab vs "
                        f"redis-py (reference), median of {rounds} round(s), whiskers min..max",
                        {"keys/s": "keys mapped to slots / s", "ops/s": "commands / s"},
                        size=(10, 4.5))  # fmt: skip
    print(f"\nsaved {path}, {png} (keys per node) and {timed} (client timings)", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.redis_cluster", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--keys", type=int, default=100_000, help="keys to spread (default 100,000)")
    p.add_argument("--gets", type=int, default=5_000, help="single GETs timed per client")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each timed measurement (median kept)")
    p.add_argument("--quick", action="store_true",
                   help="2,000 keys, and reshard 200 slots instead of a full rebalance (the smoke test)")  # fmt: skip
    args = p.parse_args(argv)
    if args.quick:
        run(2_000, 200, "redis_cluster-quick", reshard=200, rounds=2)
    else:
        run(min(args.keys, 1_000_000), min(args.gets, 100_000), "redis_cluster", rounds=args.rounds)


if __name__ == "__main__":
    main()
