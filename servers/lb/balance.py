"""The balancing algorithms: which available backend gets the next request.

Each is a ``Balancer``: ``pick(candidates, key)`` chooses among the backends
that may take traffic now (available, and not already tried for this request),
``release(backend)`` is told when that request (or TCP connection) ends.

* ``roundrobin``: each in turn, weights ignored.
* ``weighted``: nginx's *smooth* weighted round robin: every pick adds each
  backend's weight to its running score, takes the highest, and subtracts the
  total from the winner. Weights 5,1,1 give a a b a c a a, not a a a a a b c.
* ``leastconn``: fewest requests in flight per unit of weight; ties go round
  robin (as nginx's least_conn does), so an idle farm is not all sent to the first.
* ``p2c``: power of two choices (Mitzenmacher): two backends at random, the less
  loaded wins. Nearly least-connections' balance without looking at every
  backend, and no herd: many balancers with stale counts do not all pick the same one.
* ``consistent``: a consistent-hash ring (``clients.hashring``) on a key (the
  client address, a header, the path) with bounded loads: a backend holds at
  most ceil(c x average) of the requests in flight; past that the key walks
  clockwise to the next one. Same key, same backend, unless it is overloaded.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from clients.hashring import BoundedLoads, HashRing

from .backends import Backend


class Balancer:
    name = ""

    def pick(self, candidates: Sequence[Backend], key: str) -> Backend:
        raise NotImplementedError

    def release(self, backend: Backend) -> None:
        """The request or connection placed on ``backend`` ended."""


class RoundRobin(Balancer):
    name = "roundrobin"

    def __init__(self) -> None:
        self.next = 0

    def pick(self, candidates: Sequence[Backend], key: str) -> Backend:
        b = candidates[self.next % len(candidates)]
        self.next += 1
        return b


class SmoothWeighted(Balancer):
    name = "weighted"

    def __init__(self) -> None:
        self.score: dict[str, int] = {}

    def pick(self, candidates: Sequence[Backend], key: str) -> Backend:
        total = 0
        best: Backend | None = None
        score = self.score
        for b in candidates:
            s = score[b.name] = score.get(b.name, 0) + b.weight
            total += b.weight
            if best is None or s > score[best.name]:
                best = b
        assert best is not None
        score[best.name] -= total
        return best


class LeastConnections(Balancer):
    name = "leastconn"

    def __init__(self) -> None:
        self.next = 0

    def pick(self, candidates: Sequence[Backend], key: str) -> Backend:
        n = len(candidates)
        start = self.next % n
        self.next += 1
        best = candidates[start]
        for i in range(1, n):
            b = candidates[(start + i) % n]
            if b.active * best.weight < best.active * b.weight:  # active/weight, no division
                best = b
        return best


class PowerOfTwo(Balancer):
    name = "p2c"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def pick(self, candidates: Sequence[Backend], key: str) -> Backend:
        if len(candidates) == 1:
            return candidates[0]
        a, b = self.rng.sample(candidates, 2)
        if b.active * a.weight < a.active * b.weight:
            return b
        return a


class ConsistentHash(Balancer):
    name = "consistent"

    def __init__(self, c: float) -> None:
        self.c = c
        self.members: tuple[tuple[str, int], ...] = ()
        self.bounded = BoundedLoads(HashRing([]), c)
        self.by_name: dict[str, Backend] = {}

    def _ring_for(self, candidates: Sequence[Backend]) -> None:
        members = tuple((b.name, b.weight) for b in candidates)
        if members != self.members:  # health or config changed: a new ring, same loads
            self.members = members
            self.bounded.ring = HashRing(dict(members))
            self.by_name = {b.name: b for b in candidates}

    def pick(self, candidates: Sequence[Backend], key: str) -> Backend:
        self._ring_for(candidates)
        return self.by_name[self.bounded.acquire(key)]

    def release(self, backend: Backend) -> None:
        if self.bounded.loads.get(backend.name, 0) > 0:
            self.bounded.release(backend.name)


def make_balancer(name: str, balance_factor: float) -> Balancer:
    if name == "consistent":
        return ConsistentHash(balance_factor)
    return {"roundrobin": RoundRobin, "weighted": SmoothWeighted,
            "leastconn": LeastConnections, "p2c": PowerOfTwo}[name]()  # fmt: skip
