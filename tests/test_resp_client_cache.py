"""clients/resp against both servers it is meant for: a real redis-server and syslab's
cache (servers/cache). The same calls must give the same results on each."""

from __future__ import annotations

import asyncio

import pytest
from support import until

import clients.resp as resp
from harness.procs import python_module

pytestmark = pytest.mark.exercise("N14")


@pytest.fixture(scope="module")
def cache_addr():
    with python_module("servers.cache", port=0) as child:
        yield (child.host, child.port)


@pytest.fixture(params=["redis-server", "servers.cache"])
def addr(request, redis_addr):
    if request.param == "redis-server":
        return (redis_addr.host, redis_addr.port)
    return request.getfixturevalue("cache_addr")


@pytest.mark.parametrize("protocol", [2, 3])
def test_same_replies_from_both_servers(addr, protocol):
    with resp.connect(*addr, db=5, protocol=protocol, client_name="both") as c:
        c.execute("FLUSHDB")
        assert c.execute("CLIENT", "GETNAME") == b"both"
        assert c.execute("SET", "s", "v", "PX", 100_000) == "OK"
        assert c.execute("GET", "s") == b"v"
        c.execute("HSET", "h", "f", 1)
        c.execute("SADD", "set", "a", "b")
        hgetall, smembers = c.execute("HGETALL", "h"), c.execute("SMEMBERS", "set")
        if protocol == 3:
            assert hgetall == {b"f": b"1"} and smembers == {b"a", b"b"}
        else:
            assert hgetall == [b"f", b"1"] and sorted(smembers) == [b"a", b"b"]
        assert c.execute("INCRBYFLOAT", "fl", "1.5") == b"1.5"
        with pytest.raises(resp.WrongTypeError):
            c.execute("LPUSH", "s", "x")
        with pytest.raises(resp.ResponseError, match="wrong number of arguments for 'get'"):
            c.execute("GET")
        p = c.pipeline()
        for _ in range(100):
            p.command("RPUSH", "l", "x")
        assert p.execute()[-1] == 100
        assert c.execute("LLEN", "l") == 100


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_on_both_servers(addr, protocol):
    with resp.connect(*addr, protocol=protocol) as c, c.pubsub() as ps:
        ps.subscribe("both-news")
        ps.psubscribe("both.*")
        assert c.publish("both-news", "n") == 1
        assert c.publish("both.x", "p") == 1
        m1, m2 = ps.get_message(timeout=5), ps.get_message(timeout=5)
        assert (m1.channel, m1.data) == (b"both-news", b"n")
        assert (m2.pattern, m2.channel, m2.data) == (b"both.*", b"both.x", b"p")
        ps.unsubscribe()
        ps.punsubscribe()
        assert c.publish("both-news", "n") == 0


async def test_async_blocking_pop_woken_by_a_push(addr):
    async with (
        await resp.connect_async(*addr, db=6) as c,
        await resp.connect_async(*addr, db=6) as pusher,
    ):
        await c.execute("DEL", "q")
        waiting = asyncio.create_task(c.execute("BLPOP", "q", 10))

        async def blocked() -> bool:
            return b"blocked_clients:1" in await pusher.execute("INFO", "clients")

        # Wait until the server reports the client as blocked: readiness, not a sleep.
        await until(blocked, what="BLPOP shown as a blocked client")
        assert not waiting.done()
        assert await pusher.execute("RPUSH", "q", "job") == 1
        assert await asyncio.wait_for(waiting, 5) == [b"q", b"job"]
