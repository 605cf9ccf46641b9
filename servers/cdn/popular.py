"""Popular Searches: the top queries per region over a sliding window of search events.

The window is a ring of one-second buckets per region (a ``Counter`` each) and a
running total: an event adds to its second's bucket and to the total; buckets
older than the window are subtracted from the total as time moves on. ``top(k)``
is then ``heapq.nlargest`` over the total: O(distinct queries), not O(events).
Time comes from an injected clock, so tests move it by hand.

``SearchStream`` makes the traffic: queries drawn from a per-region vocabulary
with Zipf-like popularity (a few queries dominate, as real search logs do),
optionally fed by a background task at a fixed rate. ``POST /api/search`` adds
real events next to it.

What production systems do instead: a stream processor (Flink, Kafka Streams)
keeps approximate heavy hitters (Count-Min sketch + heap, or Space-Saving) per
window, because a global exact Counter does not fit in memory at Google scale.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter, deque
from collections.abc import Callable

REGIONS = ("eu", "us", "apac")
# Per-region vocabularies: a shared head plus local interests, so regions differ.
_COMMON = ["weather", "news", "football", "translate", "maps", "python", "recipes", "flights",
           "cdn caching", "consistent hashing", "rfc 9111", "stale-while-revalidate"]  # fmt: skip
_LOCAL = {
    "eu": ["euro 2028", "bundesliga", "paris metro", "berlin rent", "ryanair", "tour de france"],
    "us": ["nfl", "super bowl", "thanksgiving", "irs refund", "powerball", "nba playoffs"],
    "apac": ["cricket score", "ipl", "tokyo weather", "k-drama", "singapore hawker", "diwali"],
}
MAX_QUERY = 100  # characters in a posted query
MAX_DISTINCT = 100_000  # distinct queries per region in the window; past it, new ones are dropped


class SlidingTopK:
    """Exact counts over the last ``window`` seconds, one-second buckets."""

    def __init__(self, window: int = 60, clock: Callable[[], float] = time.time) -> None:
        if window < 1:
            raise ValueError("window is at least one second")
        self.window = window
        self.clock = clock
        self.buckets: dict[str, deque[tuple[int, Counter[str]]]] = {}
        self.totals: dict[str, Counter[str]] = {}

    def add(self, region: str, query: str, n: int = 1) -> None:
        now = int(self.clock())
        self._expire(region, now)
        buckets = self.buckets.setdefault(region, deque())
        total = self.totals.setdefault(region, Counter())
        if query not in total and len(total) >= MAX_DISTINCT:
            return
        if not buckets or buckets[-1][0] != now:
            buckets.append((now, Counter()))
        buckets[-1][1][query] += n
        total[query] += n

    def _expire(self, region: str, now: int) -> None:
        buckets = self.buckets.get(region)
        total = self.totals.get(region)
        while buckets and total is not None and buckets[0][0] <= now - self.window:
            _, old = buckets.popleft()
            total.subtract(old)
            for q in old:
                if total[q] <= 0:
                    del total[q]

    def top(self, region: str, k: int = 10) -> list[tuple[str, int]]:
        self._expire(region, int(self.clock()))
        total = self.totals.get(region, Counter())
        return heapq.nlargest(k, total.items(), key=lambda qc: (qc[1], qc[0]))

    def events(self, region: str) -> int:
        return sum(self.totals.get(region, Counter()).values())


class SearchStream:
    """Synthetic search events with Zipf(s) popularity over each region's vocabulary."""

    def __init__(self, seed: int = 7, s: float = 1.1) -> None:
        self.rng = random.Random(seed)
        self.vocab = {r: _COMMON[:6] + _LOCAL[r] + _COMMON[6:] for r in REGIONS}
        self.weights = {r: [1 / (i + 1) ** s for i in range(len(v))] for r, v in self.vocab.items()}

    def next(self) -> tuple[str, str]:
        region = self.rng.choice(REGIONS)
        query = self.rng.choices(self.vocab[region], self.weights[region])[0]
        return region, query

    def feed(self, topk: SlidingTopK, n: int) -> None:
        for _ in range(n):
            topk.add(*self.next())
