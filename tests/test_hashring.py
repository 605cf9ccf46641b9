"""Placement schemes (clients/hashring): deterministic, minimal movement, weights, bounds."""

import math
import os
import subprocess
import sys
from collections import Counter

import jump  # the jump-consistent-hash package: the paper's algorithm in C, written elsewhere
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clients.hashring import (
    BoundedLoads,
    HashRing,
    JumpHash,
    ModuloHash,
    RendezvousHash,
    hash64,
    jump_hash,
)

pytestmark = pytest.mark.exercise("N7")

KEYS = [f"user:{i}" for i in range(20_000)]
NODES = [f"10.0.0.{i}:80" for i in range(1, 9)]


def placement(scheme, keys=KEYS):
    return {k: scheme.lookup(k) for k in keys}


def moved(before, after):
    return sum(before[k] != after[k] for k in before) / len(before)


def test_hash_is_the_same_in_another_process_with_another_hash_seed():
    code = "from clients.hashring import HashRing; print(HashRing(['a','b','c']).lookup('k42'), "
    code += "HashRing(['a','b','c']).lookup_n('zz', 3))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "random")
    }  # fmt: skip
    assert len(outs) == 1
    assert outs.pop().split()[0] == HashRing(["a", "b", "c"]).lookup("k42")


def test_hash64_is_blake2b_and_64_bits():
    assert hash64("a") == hash64(b"a") < 2**64
    assert hash64("a") == int.from_bytes(__import__("hashlib").blake2b(b"a", digest_size=8).digest(), "big")


def test_adding_a_node_moves_about_one_over_n_plus_one_and_only_to_it():
    ring = HashRing(NODES)
    before = placement(ring)
    ring.add("new:80")
    after = placement(ring)
    changed = [k for k in KEYS if before[k] != after[k]]
    assert {after[k] for k in changed} == {"new:80"}
    assert abs(len(changed) / len(KEYS) - 1 / 9) < 0.04


def test_removing_a_node_moves_only_its_keys():
    ring = HashRing(NODES)
    before = placement(ring)
    ring.remove(NODES[3])
    after = placement(ring)
    changed = {k for k in KEYS if before[k] != after[k]}
    assert changed == {k for k in KEYS if before[k] == NODES[3]}
    assert NODES[3] not in set(after.values())


def test_modulo_moves_most_keys_when_a_node_joins():
    m = ModuloHash(NODES)
    before = placement(m)
    m.add("new:80")
    assert moved(before, placement(m)) > 0.8  # 1 - 1/9 expected


@pytest.mark.parametrize("vnodes, bound", [(1, 3.5), (160, 1.3)])
def test_virtual_nodes_reduce_skew(vnodes, bound):
    loads = Counter(placement(HashRing(NODES, vnodes=vnodes)).values())
    skew = max(loads.values()) / (len(KEYS) / len(NODES))
    assert skew < bound
    if vnodes == 1:
        assert skew > 1.3  # one point per node is visibly uneven


def test_weights_give_proportional_shares():
    ring = HashRing({"big": 3, "small": 1}, vnodes=200)
    loads = Counter(placement(ring).values())
    assert abs(loads["big"] / len(KEYS) - 0.75) < 0.05
    rv = RendezvousHash({"big": 3, "small": 1})
    loads = Counter(placement(rv).values())
    assert abs(loads["big"] / len(KEYS) - 0.75) < 0.02


def test_lookup_n_gives_distinct_nodes_owner_first():
    ring = HashRing(NODES)
    for k in KEYS[:200]:
        reps = ring.lookup_n(k, 3)
        assert len(set(reps)) == 3 and reps[0] == ring.lookup(k)
    assert len(ring.lookup_n("k", 99)) == len(NODES)


def test_empty_ring_and_bad_arguments_are_refused():
    with pytest.raises(LookupError):
        HashRing().lookup("k")
    with pytest.raises(ValueError):
        HashRing(vnodes=0)
    with pytest.raises(ValueError):
        HashRing({"a": 0})
    with pytest.raises(LookupError):
        JumpHash([]).lookup("k")
    with pytest.raises(ValueError):
        jump_hash(1, 0)


def test_bounded_loads_never_exceed_the_cap_even_for_one_hot_key():
    ring = HashRing(NODES)
    bl = BoundedLoads(ring, c=1.25)
    for i in range(4000):
        bl.acquire("hot" if i % 2 else f"k{i}")  # half the traffic on one key
        assert max(bl.loads.values()) <= math.ceil(1.25 * bl.total / len(NODES))
    assert len(bl.loads) == len(NODES)  # the hot key spilled over to every node


def test_bounded_loads_respect_weights():
    bl = BoundedLoads(HashRing({"big": 3, "small": 1}, vnodes=1), c=1.1)
    for _ in range(4000):
        bl.acquire("hot")  # one key: the bound alone decides the split
    assert bl.loads["small"] <= math.ceil(1.1 * 4000 / 4) and bl.loads["big"] <= math.ceil(1.1 * 4000 * 3 / 4)
    assert bl.loads["big"] > 2 * bl.loads["small"]


def test_bounded_loads_keep_keys_home_when_there_is_room_and_release_frees():
    ring = HashRing(NODES)
    bl = BoundedLoads(ring, c=1.25)
    homes = [bl.acquire(k) == ring.lookup(k) for k in KEYS[:4000]]
    assert sum(homes) / len(homes) > 0.85
    node = bl.acquire("x")
    bl.release(node)
    with pytest.raises(ValueError):
        bl.release("nobody")


def test_jump_matches_the_reference_implementation():
    import random

    rnd = random.Random(7)
    for _ in range(5000):
        key, n = rnd.getrandbits(64), rnd.randint(1, 10_000)
        assert jump_hash(key, n) == jump.hash(key, n)


@given(st.integers(0, 2**64 - 1), st.integers(1, 2000))
def test_jump_is_monotone_a_new_bucket_only_takes_keys(key, n):
    a, b = jump_hash(key, n), jump_hash(key, n + 1)
    assert b == a or b == n


def test_rendezvous_removal_moves_only_the_removed_nodes_keys():
    rv = RendezvousHash(NODES)
    before = placement(rv, KEYS[:5000])
    rv.remove(NODES[0])
    after = placement(rv, KEYS[:5000])
    assert {k for k in before if before[k] != after[k]} == {k for k in before if before[k] == NODES[0]}
