"""Popular Searches: the sliding window on an injected clock, and the JSON through the edge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from netlib.http import HTTPClient
from servers.cdn import popular
from servers.cdn.popular import MAX_DISTINCT, SearchStream, SlidingTopK
from tests.cdn_support import edge_proc, origin_count, origin_proc, url, xcache

pytestmark = pytest.mark.exercise("N8")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_top_k_counts_the_window_and_forgets_what_left_it() -> None:
    clock = Clock()
    w = SlidingTopK(window=10, clock=clock)
    for q, n in (("a", 5), ("b", 3), ("c", 1)):
        w.add("eu", q, n)
    assert w.top("eu", 2) == [("a", 5), ("b", 3)]
    clock.now += 5
    w.add("eu", "b", 4)
    assert w.top("eu") == [("b", 7), ("a", 5), ("c", 1)]
    clock.now += 6  # the first second left the window; the second's bucket has not
    assert w.top("eu") == [("b", 4)] and w.events("eu") == 4
    clock.now += 100
    assert w.top("eu") == [] and w.top("us") == []


def test_regions_are_counted_apart() -> None:
    w = SlidingTopK(window=60, clock=Clock())
    w.add("eu", "x")
    w.add("us", "y", 2)
    assert (w.top("eu"), w.top("us")) == ([("x", 1)], [("y", 2)])


def test_distinct_queries_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_DISTINCT >= 10_000
    monkeypatch.setattr(popular, "MAX_DISTINCT", 50)
    w = SlidingTopK(window=60, clock=Clock())
    for i in range(60):
        w.add("eu", f"q{i}")
    w.add("eu", "q0")  # a query already counted still counts
    assert len(w.totals["eu"]) == 50 and w.totals["eu"]["q0"] == 2


def test_the_synthetic_stream_is_zipf_like() -> None:
    w = SlidingTopK(window=60, clock=Clock())
    SearchStream(seed=1).feed(w, 6000)
    top = w.top("eu", 5)
    assert top[0][0] == "weather" and top[0][1] > 2 * top[4][1]


@pytest.fixture
async def client() -> AsyncIterator[HTTPClient]:
    async with HTTPClient(timeout=10) as c:
        yield c


async def test_the_edge_absorbs_the_popular_searches_load(client: HTTPClient) -> None:
    with origin_proc("origin", "--window", "30") as o, edge_proc(url(o)) as e:
        r = await client.post(f"{url(o)}/api/search", json={"q": "  Stale  While Revalidate ", "region": "apac"})
        assert r.status == 202
        bad = await client.post(f"{url(o)}/api/search", json={"q": "", "region": "mars"})
        assert bad.status == 422
        got = await asyncio.gather(*(client.get(f"{url(e)}/api/popular-searches?region=apac") for _ in range(50)))
        assert {r.status for r in got} == {200}
        doc = got[0].json()
        assert doc["region"] == "apac" and doc["top"] == [{"query": "stale while revalidate", "count": 1}]
        assert "max-age=5" in got[0].headers["cache-control"]
        assert await origin_count(client, url(o), "/api/popular-searches") == 1
        assert sorted({xcache(r) for r in got}) == ["HIT", "MISS"]
        assert (await client.get(f"{url(e)}/api/popular-searches?region=mars")).status == 400
        etag = got[0].headers["etag"]
        again = await client.get(f"{url(o)}/api/popular-searches?region=apac", headers={"if-none-match": etag})
        assert again.status == 304
