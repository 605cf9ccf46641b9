"""N6: each algorithm spreads requests over real backend processes as it promises."""

from __future__ import annotations

import asyncio
import math

import pytest
from lb_support import backends, counts, running_lb, spec, url, who
from support import until

from clients.hashring import HashRing
from netlib.http import HTTPClient
from servers.lb.backends import Backend
from servers.lb.balance import SmoothWeighted
from servers.lb.config import BackendSpec, LBConfig

pytestmark = pytest.mark.exercise("N6")


@pytest.fixture(scope="module")
def three():
    with backends("a", "b", "c") as children:
        yield children


async def test_round_robin_gives_each_backend_its_turn(three):
    async with running_lb([spec(c) for c in three]) as lb, HTTPClient() as client:
        seen = await who(client, lb, 30)
    assert seen[:3] == ["a", "b", "c"] and seen[3:6] == ["a", "b", "c"]
    assert counts(seen) == {"a": 10, "b": 10, "c": 10}


async def test_weighted_round_robin_is_proportional_and_smooth(three):
    specs = [spec(three[0], 3), spec(three[1], 1), spec(three[2], 1)]
    async with running_lb(specs, algorithm="weighted") as lb, HTTPClient() as client:
        seen = await who(client, lb, 50)
    assert counts(seen) == {"a": 30, "b": 10, "c": 10}
    # smooth: a weight-3 backend never gets a run of 3 while the others wait
    assert all(seen[i : i + 3] != ["a", "a", "a"] for i in range(len(seen) - 2))


def test_smooth_weighted_sequence_is_nginx_s():
    cfg = LBConfig()
    bs = [Backend(BackendSpec("h", p, w), cfg) for p, w in ((1, 5), (2, 1), (3, 1))]
    names = {"h:1": "a", "h:2": "b", "h:3": "c"}
    wrr = SmoothWeighted()
    assert [names[wrr.pick(bs, "").name] for _ in range(7)] == list("aabacaa")


async def _hold_slow(client: HTTPClient, lb, n: int, ms: int = 3000) -> list[asyncio.Task]:
    tasks = [asyncio.create_task(client.get(url(lb, f"/slow?ms={ms}"))) for _ in range(n)]
    await until(lambda: sum(b.active for b in lb.backends) == n, what=f"{n} requests in flight")
    return tasks


async def test_least_connections_avoids_the_busy_backends(three):
    async with running_lb([spec(c) for c in three], algorithm="leastconn") as lb, \
            HTTPClient() as slow, HTTPClient() as fast:  # fmt: skip
        held = await _hold_slow(slow, lb, 2)
        idle = [b for b in lb.backends if b.active == 0]
        assert len(idle) == 1  # two slow requests went to two different backends
        seen = await who(fast, lb, 12)
        for t in held:
            t.cancel()
    port_of = {c.port: n for c, n in zip(three, "abc", strict=True)}
    assert set(seen) == {port_of[idle[0].port]}


async def test_power_of_two_choices_never_picks_the_loaded_one_of_a_pair(three):
    async with running_lb([spec(c) for c in three[:1]]) as lb, HTTPClient() as slow:
        # load backend a alone with 4 requests, then add b and c and switch to p2c
        held = await _hold_slow(slow, lb, 4)
        lb.reload(LBConfig(backends=tuple(spec(c) for c in three), algorithm="p2c",
                           health_interval=0))  # fmt: skip
        async with HTTPClient() as fast:
            seen = await who(fast, lb, 60)
        for t in held:
            t.cancel()
    c = counts(seen)
    assert "a" not in c  # in any pair with a, the other one has fewer in flight
    assert c["b"] >= 10 and c["c"] >= 10  # random pairs of the two idle ones split them


async def test_consistent_hash_on_a_header_follows_the_ring(three):
    async with running_lb([spec(c) for c in three], algorithm="consistent",
                          hash_key="header:X-User") as lb, HTTPClient() as client:  # fmt: skip
        ring = HashRing([b.name for b in lb.backends])
        name_of = {f"127.0.0.1:{c.port}": n for c, n in zip(three, "abc", strict=True)}
        seen = {}
        for user in (f"user{i}" for i in range(30)):
            got = await who(client, lb, 2, headers={"X-User": user})
            assert got[0] == got[1]  # same key, same backend
            seen[user] = got[0]
            assert got[0] == name_of[ring.lookup(user)]
    assert set(seen.values()) == {"a", "b", "c"}


async def test_consistent_hash_on_path_and_on_client_address(three):
    specs = [spec(c) for c in three]
    async with running_lb(specs, algorithm="consistent", hash_key="path") as lb, \
            HTTPClient() as client:  # fmt: skip
        ring = HashRing([b.name for b in lb.backends])
        name_of = {f"127.0.0.1:{c.port}": n for c, n in zip(three, "abc", strict=True)}
        for path in ("/", "/whoami", "/headers"):
            assert set(await who(client, lb, 3, path)) == {name_of[ring.lookup(path)]}
    async with running_lb(specs, algorithm="consistent", hash_key="client") as lb, \
            HTTPClient() as client:  # fmt: skip
        assert set(await who(client, lb, 6)) == {name_of[ring.lookup("127.0.0.1")]}


async def test_bounded_loads_spill_a_hot_key_over(three):
    async with running_lb([spec(c) for c in three], algorithm="consistent",
                          hash_key="header:X-User") as lb, HTTPClient() as client:  # fmt: skip
        tasks = []
        for _ in range(6):  # one by one, so each sees the loads before it
            tasks.append(asyncio.create_task(
                client.get(url(lb, "/slow?ms=1500"), headers={"X-User": "hot"})))
            n = len(tasks)
            await until(lambda n=n: sum(b.active for b in lb.backends) == n)
        loads = sorted(b.active for b in lb.backends)
        results = await asyncio.gather(*tasks)
    assert all(r.status == 200 for r in results)
    assert max(loads) <= math.ceil(1.25 * 6 / 3)  # the bound, not all six on one backend
    assert sum(1 for n in loads if n) >= 2
