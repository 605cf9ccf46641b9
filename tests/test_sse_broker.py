"""N3: three servers.sse processes fanning out one stream through a real redis-server.

An event published once (to any process) reaches the clients of all three in the
same order with the same ids, so a client can reconnect to another process with
its Last-Event-ID and miss nothing; a process started later loads the history."""

from __future__ import annotations

import contextlib
import uuid

import pytest

from clients.sse import EventStream
from tests.sse_support import publish, sse_child, stats
from tests.support import until

pytestmark = pytest.mark.exercise("N3")


@pytest.fixture
def three(redis_addr, tmp_path):
    url = f"redis://{redis_addr.host}:{redis_addr.port}/0"
    channel = f"test-{uuid.uuid4().hex[:8]}"  # a channel (and keys) of this test only
    args = ("--redis", url, "--channel", channel, "--dir", str(tmp_path))
    with contextlib.ExitStack() as stack:
        children = [stack.enter_context(sse_child(*args)) for _ in range(3)]
        yield children, args


async def test_one_publish_reaches_the_clients_of_all_three_in_order(three):
    children, _ = three
    streams = [await EventStream.open("127.0.0.1", c.port) for c in children]
    for c in children:
        await until(lambda c=c: stats(c.port)["clients"] == 1, what="subscribed")
    ids = [publish(children[i % 3].port, f"event {i}", "tick") for i in range(9)]  # from every process
    assert ids == sorted(ids) and len(set(ids)) == 9
    for s in streams:
        got = [await s.next() for _ in range(9)]
        assert [(e.id, e.data, e.event) for e in got] == [(str(ids[i]), f"event {i}", "tick") for i in range(9)]
    for s in streams:
        await s.aclose()


async def test_ids_survive_a_reconnect_to_a_different_process(three):
    children, _ = three
    a = await EventStream.open("127.0.0.1", children[0].port)
    await until(lambda: stats(children[0].port)["clients"] == 1, what="subscribed")
    ids = [publish(children[1].port, f"m{i}") for i in range(6)]
    seen = [await a.next() for _ in range(3)]  # the client reads half, then its server "goes away"
    await a.aclose()
    b = await EventStream.open("127.0.0.1", children[2].port, last_event_id=seen[-1].id)
    rest = [await b.next() for _ in range(3)]
    assert [e.id for e in seen + rest] == [str(i) for i in ids]
    assert [e.data for e in seen + rest] == [f"m{i}" for i in range(6)]
    await b.aclose()


async def test_a_process_started_later_replays_the_history_from_redis(three):
    children, args = three
    ids = [publish(children[0].port, f"h{i}") for i in range(4)]
    with sse_child(*args) as late:
        s = await EventStream.open("127.0.0.1", late.port, last_event_id=str(ids[0]))
        assert [(await s.next()).data for _ in range(3)] == ["h1", "h2", "h3"]
        publish(children[2].port, "live")
        assert (await s.next()).data == "live"
        await s.aclose()
