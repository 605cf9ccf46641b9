"""A consistent-hash ring with virtual nodes, weights, replicas and bounded loads.

Strategy (Karger et al., 1997). Every node is hashed onto a circle of 2**64
points many times over -- its *virtual nodes* ``"name#0"``, ``"name#1"``... -- and
a key belongs to the first virtual node clockwise from the key's own hash. Adding
a node takes over only the arcs just before its virtual nodes, so about 1/(n+1)
of the keys move, all of them *to* the new node; removing one hands its arcs to
its clockwise neighbours. With one point per node the arcs are very uneven (the
largest is ~ln(n) times the mean); ``vnodes`` points per node smooth that out:
the standard deviation of a node's share falls like 1/sqrt(vnodes), which
``bench.hashring`` measures. A weight multiplies a node's virtual nodes.

The points live in one sorted list searched with ``bisect``: O(log(n*vnodes)) a
lookup, O(n*vnodes) to add or remove a node (a rebuild of the list, which is
rare next to lookups). Production rings (ketama in memcached clients, Cassandra
tokens) make the same trade.

``BoundedLoads`` adds the cap of Mirrokni, Thorup and Zadimoghaddam
("Consistent Hashing with Bounded Loads", 2016): with m items in flight over n
nodes, no node takes more than ceil(c * m / n); a key whose node is full walks
clockwise to the next node with room. c = 1.25 is what Google Cloud Pub/Sub and
HAProxy's ``hash-balance-factor 125`` use: a hot key spills over instead of
melting one backend, and most keys still stay where the plain ring puts them.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Hashable, Iterator

from .hashing import Key, hash64

DEFAULT_VNODES = 160  # ketama's 40 points x 4 per server; bench.hashring shows skew < 1.3 at 10 nodes


class HashRing:
    """Nodes on a circle; ``lookup(key)`` is the first node clockwise from the key."""

    def __init__(self, nodes: dict[str, int] | list[str] | None = None, vnodes: int = DEFAULT_VNODES):
        if vnodes < 1:
            raise ValueError("vnodes must be at least 1")
        self.vnodes = vnodes
        self._weights: dict[str, int] = {}
        self._points: list[int] = []
        self._owners: list[str] = []
        items = nodes.items() if isinstance(nodes, dict) else ((n, 1) for n in nodes or ())
        for node, weight in items:
            self._weights[node] = self._check_weight(weight)
        self._rebuild()

    @staticmethod
    def _check_weight(weight: int) -> int:
        if not isinstance(weight, int) or weight < 1:
            raise ValueError(f"a weight is a positive integer, not {weight!r}")
        return weight

    def _rebuild(self) -> None:
        points = sorted(
            (hash64(f"{node}#{i}"), node)
            for node, weight in self._weights.items()
            for i in range(self.vnodes * weight)
        )
        self._points = [p for p, _ in points]
        self._owners = [n for _, n in points]

    def add(self, node: str, weight: int = 1) -> None:
        """Put ``node`` on the ring (or change its weight)."""
        self._weights[node] = self._check_weight(weight)
        self._rebuild()

    def remove(self, node: str) -> None:
        del self._weights[node]
        self._rebuild()

    @property
    def nodes(self) -> dict[str, int]:
        """Node -> weight."""
        return dict(self._weights)

    def __len__(self) -> int:
        return len(self._weights)

    def __contains__(self, node: object) -> bool:
        return node in self._weights

    def _start(self, key: Key) -> int:
        if not self._points:
            raise LookupError("the ring has no nodes")
        return bisect_right(self._points, hash64(key)) % len(self._points)

    def lookup(self, key: Key) -> str:
        """The node that owns ``key``."""
        return self._owners[self._start(key)]

    def walk(self, key: Key) -> Iterator[str]:
        """Every node once, in clockwise order from ``key``: the owner, then its successors."""
        seen: set[str] = set()
        i, n = self._start(key), len(self._points)
        for step in range(n):
            node = self._owners[(i + step) % n]
            if node not in seen:
                seen.add(node)
                yield node
                if len(seen) == len(self._weights):
                    return

    def lookup_n(self, key: Key, count: int) -> list[str]:
        """``count`` distinct nodes for ``key`` (replicas, or a fallback order)."""
        out: list[str] = []
        for node in self.walk(key):
            if len(out) == count:
                break
            out.append(node)
        return out


class BoundedLoads:
    """A ring whose nodes each take at most ceil(c * in_flight * weight / total_weight) items.

    ``acquire(key)`` places one item (a request, a connection, a cache entry) and
    returns its node; ``release(node)`` gives the slot back. The bound counts the
    item being placed, so a lone item always fits somewhere.
    """

    def __init__(self, ring: HashRing, c: float = 1.25):
        if c < 1:
            raise ValueError("c must be at least 1 (c = 1 is perfect balance)")
        self.ring = ring
        self.c = c
        self.loads: dict[Hashable, int] = {}
        self.total = 0

    def capacity(self, node: str) -> int:
        """The most items ``node`` may hold once one more is placed: its weighted share of
        ceil(c * (in_flight + 1)), so a node of weight 2 takes twice what a node of weight 1 does."""
        weights = self.ring.nodes
        share = weights[node] / sum(weights.values())
        return math.ceil(self.c * (self.total + 1) * share)

    def acquire(self, key: Key) -> str:
        for node in self.ring.walk(key):
            if self.loads.get(node, 0) < self.capacity(node):
                self.loads[node] = self.loads.get(node, 0) + 1
                self.total += 1
                return node
        raise LookupError("the ring has no nodes")  # unreachable with nodes: some node is below

    def release(self, node: str) -> None:
        load = self.loads.get(node, 0)
        if load <= 0:
            raise ValueError(f"{node!r} holds nothing to release")
        self.loads[node] = load - 1
        self.total -= 1
