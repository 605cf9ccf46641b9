"""clients/resp, asyncio flavour, against a real private redis-server."""

from __future__ import annotations

import asyncio

import pytest

import clients.resp as resp
from harness.procs import free_port

pytestmark = pytest.mark.exercise("N14")


async def test_execute_and_resp3(redis_addr):
    async with await resp.connect_async(redis_addr.host, redis_addr.port, db=3) as c:
        await c.execute("FLUSHDB")
        assert await c.execute("SET", "k", "v") == "OK"
        assert await c.execute("GET", "k") == b"v"
        with pytest.raises(resp.WrongTypeError):
            await c.execute("HGET", "k", "f")
    async with await resp.connect_async(redis_addr.host, redis_addr.port, db=3, protocol=3) as c3:
        await c3.execute("HSET", "h", "a", 1)
        assert await c3.execute("HGETALL", "h") == {b"a": b"1"}


async def test_coroutines_sharing_a_connection_get_their_own_replies(redis_addr):
    async with await resp.connect_async(redis_addr.host, redis_addr.port, db=3) as c:

        async def worker(i: int) -> bytes:
            await c.execute("SET", f"w{i}", i)
            return await c.execute("GET", f"w{i}")

        got = await asyncio.gather(*(worker(i) for i in range(50)))
        assert got == [str(i).encode() for i in range(50)]


async def test_pipeline_and_transaction(redis_addr):
    async with await resp.connect_async(redis_addr.host, redis_addr.port, db=3) as c:
        await c.execute("DEL", "n")
        p = c.pipeline()
        for _ in range(500):
            p.command("INCR", "n")
        assert await p.execute() == list(range(1, 501))
        tx = c.pipeline(transaction=True).command("INCR", "n").command("GET", "n")
        assert await tx.execute() == [501, b"501"]


@pytest.mark.parametrize("protocol", [2, 3])
async def test_pubsub_async_iteration(redis_addr, protocol):
    async with await resp.connect_async(redis_addr.host, redis_addr.port, protocol=protocol) as c:
        async with await c.pubsub() as ps:
            await ps.subscribe("a-news")
            await ps.psubscribe("a-chat.*")
            for i in range(5):
                assert await c.publish("a-news", i) == 1
            assert await c.publish("a-chat.x", "p") == 1
            got = []
            async for msg in ps:
                got.append(msg)
                if len(got) == 6:
                    break
            assert [m.data for m in got[:5]] == [b"0", b"1", b"2", b"3", b"4"]
            assert (got[5].kind, got[5].pattern, got[5].channel) == (
                "pmessage",
                b"a-chat.*",
                b"a-chat.x",
            )
            assert await ps.get_message(timeout=0.01) is None
            await ps.unsubscribe()
            assert await c.publish("a-news", "gone") == 0


async def test_timeout_and_refused(redis_addr):
    c = await resp.connect_async(redis_addr.host, redis_addr.port, timeout=0.2)
    with pytest.raises(resp.TimeoutError):
        await c.execute("BLPOP", "never-pushed-async", 30)
    assert c.closed
    with pytest.raises(resp.ConnectionError):
        await c.execute("PING")
    with pytest.raises(resp.ConnectionError):
        await resp.connect_async("127.0.0.1", free_port())


async def test_server_closing_is_a_connection_error(redis_addr):
    c = await resp.connect_async(redis_addr.host, redis_addr.port)
    my_id = await c.execute("CLIENT", "ID")
    async with await resp.connect_async(redis_addr.host, redis_addr.port) as killer:
        assert await killer.execute("CLIENT", "KILL", "ID", my_id) == 1
    with pytest.raises(resp.ConnectionError):
        await c.execute("PING")
