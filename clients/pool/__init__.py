"""A connection pool on a bounded blocking queue (exercise D2), generic over the connection.

Layout:

* ``queue.py``: the bounded blocking queue, written here (deque + one
  ``threading.Condition`` per waiter; futures for asyncio), FIFO hand-off so
  the oldest waiter is served first;
* ``core.py``: the design (a queue of ``max_size`` tokens: idle connections or
  empty slots), the settings (``PoolConfig``), how to make/check/close a
  connection (``ConnectionOps``), the lifetime and idle-ping policy;
* ``ledger.py``: every decision that does not wait (checkout, return, counters),
  shared by ``pool.py``: ``Pool``, the thread flavour, and ``aio.py``: ``AsyncPool``;
* ``mysql.py``: the MySQL flavour on ``clients.mysql`` (ping = COM_PING, a
  lost or killed connection counts as broken, ROLLBACK after a failed use);
* ``errors.py``: ``PoolTimeout``, ``PoolClosed``.

``bench/pool.py`` measures a new connection per query against the pool.
"""

from .aio import AsyncPool
from .core import AsyncConnectionOps, ConnectionOps, PoolConfig, PoolStats
from .errors import PoolClosed, PoolError, PoolTimeout, QueueFull
from .pool import Pool
from .queue import AsyncBlockingQueue, BlockingQueue

__all__ = [
    "AsyncBlockingQueue",
    "AsyncConnectionOps",
    "AsyncPool",
    "BlockingQueue",
    "ConnectionOps",
    "Pool",
    "PoolClosed",
    "PoolConfig",
    "PoolError",
    "PoolStats",
    "PoolTimeout",
    "QueueFull",
]
