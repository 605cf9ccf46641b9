"""``hash(key) % n``: the placement consistent hashing exists to replace.

Even, fast and stateless, but changing n from 4 to 5 moves a key unless
h % 4 == h % 5, i.e. about 4/5 of all keys: every cache misses at once and
every shard reshuffles. Kept as the baseline of ``bench.hashring``.
"""

from __future__ import annotations

from .hashing import Key, hash64


class ModuloHash:
    def __init__(self, nodes: list[str]):
        self.nodes = list(nodes)

    def add(self, node: str) -> None:
        self.nodes.append(node)

    def remove(self, node: str) -> None:
        self.nodes.remove(node)

    def lookup(self, key: Key) -> str:
        if not self.nodes:
            raise LookupError("no nodes")
        return self.nodes[hash64(key) % len(self.nodes)]
