"""Bounded blocking queues, written here: a thread flavour and an asyncio flavour.

Strategy. Items live in a ``deque``. A ``get`` that finds the deque empty joins
a FIFO line of waiters; a ``put`` that finds someone waiting hands the item
*directly* to the oldest waiter instead of appending it. That direct hand-off
is what makes wake-up fair: with a plain "notify and let them race for the
lock" design a thread that just arrived can take the item before the one
woken up gets the lock (barging), and under load the same unlucky waiter can
starve. Here the oldest waiter always gets the next item.

* ``BlockingQueue`` (threads): one ``threading.Lock``; each waiter blocks on
  its own ``threading.Condition`` over that lock, so ``put`` wakes exactly the
  waiter it served. A ``put`` on a full queue waits on a shared ``not_full``
  condition (the pool never needs to: it holds at most ``capacity`` tokens).
* ``AsyncBlockingQueue`` (one event loop): each waiter is a future. When a
  waiter's timeout and a hand-off race (the future got its item but the task
  was cancelled before it resumed), the item is put back, never lost.

Both take ``put(item, front=True)``: the pool returns idle connections to the
front (most recently used first, so surplus ones stay idle and age out) and
empty slots to the back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Generic, TypeVar

from .errors import PoolClosed, PoolTimeout, QueueFull

T = TypeVar("T")


def _store(items: deque[T], item: T, front: bool) -> None:
    if front:
        items.appendleft(item)
    else:
        items.append(item)


class _Waiter(Generic[T]):
    """One blocked getter: its own condition (over the queue's lock) and its item."""

    __slots__ = ("cond", "item", "served")

    def __init__(self, lock: threading.Lock) -> None:
        self.cond = threading.Condition(lock)
        self.item: T | None = None
        self.served = False


class BlockingQueue(Generic[T]):
    """A bounded FIFO queue for threads: ``get(timeout)`` blocks, oldest waiter first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: deque[T] = deque()
        self._getters: deque[_Waiter[T]] = deque()
        self._not_full = threading.Condition(self._lock)
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def waiting(self) -> int:
        """Getters blocked right now."""
        return len(self._getters)

    def get(self, timeout: float | None = None) -> T:
        """The next item; blocks up to ``timeout`` seconds (None: forever), else PoolTimeout."""
        with self._lock:
            if self._closed:
                raise PoolClosed("queue closed")
            if self._items and not self._getters:
                item = self._items.popleft()
                self._not_full.notify()
                return item
            waiter: _Waiter[T] = _Waiter(self._lock)
            self._getters.append(waiter)
            deadline = None if timeout is None else time.monotonic() + timeout
            while not waiter.served and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                waiter.cond.wait(remaining)
            if waiter.served:
                return waiter.item  # type: ignore[return-value]
            self._getters.remove(waiter)
            if self._closed:
                raise PoolClosed("queue closed")
            raise PoolTimeout(f"nothing available within {timeout:g}s")

    def put(self, item: T, front: bool = False, timeout: float | None = 0) -> None:
        """Hand ``item`` to the oldest waiter, else store it; when full wait up to ``timeout``."""
        with self._lock:
            if self._getters:
                waiter = self._getters.popleft()
                waiter.item, waiter.served = item, True
                waiter.cond.notify()
                return
            if len(self._items) >= self.capacity and not self._not_full.wait_for(
                lambda: len(self._items) < self.capacity, timeout
            ):
                raise QueueFull(f"queue at capacity {self.capacity}")
            _store(self._items, item, front)

    def snapshot(self) -> list[T]:
        """The stored items, front first (for statistics)."""
        with self._lock:
            return list(self._items)

    def drain(self) -> list[T]:
        """Take every stored item at once (closing the pool closes them)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._not_full.notify_all()
            return items

    def close(self) -> None:
        """Wake every waiter with PoolClosed; later gets fail at once."""
        with self._lock:
            self._closed = True
            for w in self._getters:
                w.cond.notify()


class AsyncBlockingQueue(Generic[T]):
    """The asyncio flavour: same contract, waiters are futures of one event loop."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._getters: deque[asyncio.Future[T]] = deque()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._getters if not f.done())

    async def get(self, timeout: float | None = None) -> T:
        """The next item; waits up to ``timeout`` seconds, else PoolTimeout."""
        if self._closed:
            raise PoolClosed("queue closed")
        if self._items and not self.waiting:
            return self._items.popleft()
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._getters.append(fut)
        took = False
        try:
            async with asyncio.timeout(timeout):
                item = await fut
                took = True
                return item
        except TimeoutError:
            raise PoolTimeout(f"nothing available within {timeout:g}s") from None
        finally:
            if not took:
                self._abandon(fut)

    def _abandon(self, fut: asyncio.Future[T]) -> None:
        """A waiter gave up (timeout, cancel, close). An item it was handed goes back.

        The race: ``put`` set the future's result, then the task was cancelled
        before it resumed; the coroutine sees CancelledError, not the item.
        """
        if fut in self._getters:
            self._getters.remove(fut)
        if not fut.done():
            fut.cancel()
        elif not fut.cancelled() and fut.exception() is None:
            self.put(fut.result(), front=True)

    def put(self, item: T, front: bool = False) -> None:
        """Hand ``item`` to the oldest live waiter, else store it (QueueFull past capacity)."""
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(item)
                return
        if len(self._items) >= self.capacity:
            raise QueueFull(f"queue at capacity {self.capacity}")
        _store(self._items, item, front)

    def snapshot(self) -> list[T]:
        return list(self._items)

    def drain(self) -> list[T]:
        items = list(self._items)
        self._items.clear()
        return items

    def close(self) -> None:
        self._closed = True
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_exception(PoolClosed("queue closed"))
