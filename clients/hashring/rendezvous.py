"""Rendezvous (highest random weight) hashing: Thaler and Ravishankar, 1996.

Strategy. Every node scores every key with hash(node, key); the highest score
wins. Removing a node moves only the keys it won (each goes to its runner-up);
adding one takes from every node evenly. No ring, no virtual nodes, and perfectly
even in expectation, at the price of O(n) hashes a lookup (fine for tens of
backends, which is why load balancers and CDNs use it for small pools).

Weights use the logarithmic method (Schindelhauer and Schomaker, 2005):
score = -weight / ln(u) with u the hash mapped into (0, 1), which gives each
node a share exactly proportional to its weight.
"""

from __future__ import annotations

import math

from .hashing import Key, hash64, to_bytes

_SCALE = float(1 << 64)


class RendezvousHash:
    def __init__(self, nodes: dict[str, int] | list[str] | None = None):
        items = nodes.items() if isinstance(nodes, dict) else ((n, 1) for n in nodes or ())
        self.weights: dict[str, int] = dict(items)

    def add(self, node: str, weight: int = 1) -> None:
        self.weights[node] = weight

    def remove(self, node: str) -> None:
        del self.weights[node]

    @staticmethod
    def score(node: str, key: Key, weight: int = 1) -> float:
        u = (hash64(node.encode() + b"\0" + to_bytes(key)) + 0.5) / _SCALE  # in (0, 1)
        return -weight / math.log(u)

    def lookup(self, key: Key) -> str:
        if not self.weights:
            raise LookupError("no nodes")
        return max(self.weights, key=lambda n: self.score(n, key, self.weights[n]))
