"""The bounded blocking queues under the pool: FIFO hand-off, timeouts, close, races."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from support import until, wait_until

from clients.pool import AsyncBlockingQueue, BlockingQueue, PoolClosed, PoolTimeout, QueueFull

pytestmark = pytest.mark.exercise("D2")


def test_get_returns_items_in_fifo_order():
    q: BlockingQueue[int] = BlockingQueue(3)
    for i in range(3):
        q.put(i)
    assert [q.get(0) for _ in range(3)] == [0, 1, 2]


def test_put_front_is_taken_first():
    q: BlockingQueue[str] = BlockingQueue(3)
    q.put("slot")
    q.put("conn", front=True)
    assert q.get(0) == "conn"


def test_get_on_empty_queue_times_out_after_about_the_timeout():
    q: BlockingQueue[int] = BlockingQueue(1)
    t0 = time.monotonic()
    with pytest.raises(PoolTimeout):
        q.get(0.1)
    assert time.monotonic() - t0 >= 0.09  # it waited its timeout (never less)
    assert q.waiting == 0


def test_put_on_full_queue_raises_queue_full_after_its_timeout():
    q: BlockingQueue[int] = BlockingQueue(1)
    q.put(1)
    with pytest.raises(QueueFull):
        q.put(2, timeout=0.05)


def test_blocked_put_proceeds_when_a_get_makes_room():
    q: BlockingQueue[int] = BlockingQueue(1)
    q.put(1)
    t = threading.Thread(target=q.put, args=(2,), kwargs={"timeout": 5})
    t.start()
    assert q.get(1) == 1
    t.join(5)
    assert q.get(1) == 2


def test_waiters_are_served_oldest_first():
    q: BlockingQueue[int] = BlockingQueue(8)
    got: list[tuple[int, int]] = []
    threads = []
    for i in range(5):
        t = threading.Thread(target=lambda i=i: got.append((i, q.get(5))))
        t.start()
        threads.append(t)
        wait_until(lambda n=i + 1: q.waiting == n)  # waiter i is in line before i+1 starts
    for item in range(5):
        q.put(item)
    for t in threads:
        t.join(5)
    assert sorted(got) == [(i, i) for i in range(5)]


def test_a_newcomer_does_not_barge_past_a_waiter():
    q: BlockingQueue[str] = BlockingQueue(2)
    got: list[str] = []
    t = threading.Thread(target=lambda: got.append(q.get(5)))
    t.start()
    wait_until(lambda: q.waiting == 1)
    q.put("first")  # handed to the waiter, not left for whoever grabs the lock next
    with pytest.raises(PoolTimeout):
        q.get(0.01)
    t.join(5)
    assert got == ["first"]


def test_close_wakes_every_waiter_with_pool_closed():
    q: BlockingQueue[int] = BlockingQueue(1)
    errors: list[BaseException] = []

    def getter() -> None:
        try:
            q.get(10)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=getter) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: q.waiting == 3)
    q.close()
    for t in threads:
        t.join(5)
    assert len(errors) == 3 and all(isinstance(e, PoolClosed) for e in errors)
    with pytest.raises(PoolClosed):
        q.get(0)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        BlockingQueue(0)


async def test_async_waiters_are_served_oldest_first():
    q: AsyncBlockingQueue[int] = AsyncBlockingQueue(8)
    tasks = []
    for n in range(1, 5):
        tasks.append(asyncio.create_task(q.get(5)))
        await until(lambda n=n: q.waiting == n)  # in line before the next one starts
    assert q.waiting == 4
    for item in range(4):
        q.put(item)
    assert await asyncio.gather(*tasks) == [0, 1, 2, 3]


async def test_async_get_times_out():
    q: AsyncBlockingQueue[int] = AsyncBlockingQueue(1)
    with pytest.raises(PoolTimeout):
        await q.get(0.05)
    assert q.waiting == 0


async def test_async_item_handed_to_a_cancelled_waiter_is_not_lost():
    q: AsyncBlockingQueue[str] = AsyncBlockingQueue(2)
    waiter = asyncio.create_task(q.get(5))
    await until(lambda: q.waiting == 1)
    q.put("conn")  # served: the future holds the item ...
    waiter.cancel()  # ... but the task is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await q.get(0) == "conn"


async def test_async_put_skips_waiters_that_gave_up():
    q: AsyncBlockingQueue[str] = AsyncBlockingQueue(2)
    gone = asyncio.create_task(q.get(5))
    await until(lambda: q.waiting == 1)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    q.put("x")
    assert len(q) == 1 and await q.get(0) == "x"


async def test_async_close_fails_waiters():
    q: AsyncBlockingQueue[int] = AsyncBlockingQueue(1)
    waiter = asyncio.create_task(q.get(5))
    await until(lambda: q.waiting == 1)
    q.close()
    with pytest.raises(PoolClosed):
        await waiter
    with pytest.raises(PoolClosed):
        await q.get(0)
