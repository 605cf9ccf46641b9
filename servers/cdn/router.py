"""The client side of the CDN: which edge to ask, and what to do when one dies.

``EdgeRouter`` puts the edges on a consistent-hash ring (``clients.hashring``)
and sends each URL to the edge that owns its path, so an object is cached in
one edge rather than in all three (three times the hit ratio per byte of
cache). When the owner refuses or times out it is marked down for
``cooldown`` seconds and the request goes to the next edge clockwise on the
ring: only the dead edge's share of objects moves, which is the point of
consistent hashing. ``resolve(path)`` answers what a DNS-based steering
service (Route 53 health checks, a CDN's anycast) would: the healthy edge for
this object right now.

What production does differently: steering is by DNS or anycast with health
checks from many vantage points, and by latency rather than by object.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from clients.hashring import HashRing
from netlib.http import ClientResponse, HTTPClient


class NoHealthyEdge(ConnectionError):
    pass


class EdgeRouter:
    def __init__(self, edges: list[str], *, cooldown: float = 5.0, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if not edges:
            raise ValueError("give at least one edge URL")
        self.edges = [e.rstrip("/") for e in edges]
        self.ring = HashRing(self.edges)
        self.cooldown = cooldown
        self.clock = clock
        self.down_until: dict[str, float] = {}
        self.client = HTTPClient(timeout=timeout)
        self.failovers = 0

    def healthy(self, edge: str) -> bool:
        return self.down_until.get(edge, 0.0) <= self.clock()

    def candidates(self, path: str) -> list[str]:
        """The ring's order for ``path``: healthy edges first, the down ones as a last resort."""
        order = list(self.ring.walk(path))
        return [e for e in order if self.healthy(e)] + [e for e in order if not self.healthy(e)]

    def resolve(self, path: str) -> str:
        """The edge to ask for ``path`` now (the DNS-like answer)."""
        return self.candidates(path)[0]

    def mark_down(self, edge: str) -> None:
        self.down_until[edge] = self.clock() + self.cooldown

    async def get(self, path_or_url: str, **kw: Any) -> ClientResponse:
        return await self.request("GET", path_or_url, **kw)

    async def request(self, method: str, path_or_url: str, **kw: Any) -> ClientResponse:
        """Send to the owning edge; on a refused or timed-out edge, the next one."""
        u = urlsplit(path_or_url)
        path = u.path + (f"?{u.query}" if u.query else "") if u.scheme else path_or_url
        last: Exception | None = None
        for i, edge in enumerate(self.candidates(path)):
            try:
                resp = await self.client.request(method, edge + path, **kw)
            except (OSError, TimeoutError) as e:
                self.mark_down(edge)
                last = e
                continue
            if i:
                self.failovers += 1
            return resp
        raise NoHealthyEdge(f"no edge answered {path}: {last}")

    async def close(self) -> None:
        await self.client.close()
