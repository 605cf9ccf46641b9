"""Jump consistent hash (Lamping and Veach, "A Fast, Minimal Memory, Consistent
Hash Algorithm", 2014).

Strategy. A key's bucket is decided by jumping forward through bucket counts with
a pseudo-random generator seeded by the key: from bucket b the next jump lands at
floor((b + 1) / r) for a uniform r, which the paper shows moves a key to the new
bucket with probability exactly 1/(n+1) when n grows to n+1, and never elsewhere.
No memory, O(ln n) steps, perfectly even. What it gives up: buckets are numbers
0..n-1, and only the *last* one can be removed; a node leaving from the middle
renumbers everything after it. Good for shards that only grow (storage), not for
a pool of backends that come and go (use the ring).

The generator is the paper's 64-bit linear congruential one (multiplier
2862933555777941757), so results match other implementations of the paper.
"""

from __future__ import annotations

from .hashing import Key, hash64

_MASK = (1 << 64) - 1
_LCG_MULTIPLIER = 2862933555777941757


def jump_hash(key: int, buckets: int) -> int:
    """The bucket in [0, buckets) of a 64-bit integer ``key``."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    key &= _MASK
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _LCG_MULTIPLIER + 1) & _MASK
        j = int((b + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return b


class JumpHash:
    """Jump hash over a list of node names: a key's node is ``nodes[jump_hash(...)]``."""

    def __init__(self, nodes: list[str]):
        self.nodes = list(nodes)

    def add(self, node: str) -> None:
        self.nodes.append(node)

    def remove(self, node: str) -> None:
        """Only cheap for the last node; any other renumbers those after it."""
        self.nodes.remove(node)

    def lookup(self, key: Key) -> str:
        if not self.nodes:
            raise LookupError("no nodes")
        return self.nodes[jump_hash(hash64(key), len(self.nodes))]
