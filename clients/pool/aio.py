"""The asyncio flavour of the pool: ``AsyncPool(ops, config)``, one event loop.

Same design as the thread flavour (see ``core``) and the same decisions
(``ledger``): a bounded queue of tokens, empty slots opened by whoever takes
them, ping after idleness, discard on a broken use, retire after
``max_lifetime``. Open it with ``await pool.open()`` or ``async with
AsyncPool(...) as pool``; ``async with pool.connection() as conn`` checks out
and always gives back.

Cancellation: a task cancelled while waiting for a token loses nothing (the
queue puts a token it was handed back); cancelled while opening or pinging,
its slot goes back; cancelled mid-query, the client closes the half-read
connection and the pool discards it on release.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Generic

from .core import AsyncConnectionOps, C, PoolConfig, Pooled, PoolStats
from .errors import PoolClosed, PoolTimeout
from .ledger import Ledger
from .queue import AsyncBlockingQueue

log = logging.getLogger(__name__)


class AsyncPool(Generic[C]):
    """A bounded pool of asyncio connections for the tasks of one event loop."""

    def __init__(self, ops: AsyncConnectionOps[C], config: PoolConfig | None = None) -> None:
        self.ops = ops
        self.config = cfg = config or PoolConfig()
        self._tokens: AsyncBlockingQueue[Pooled[C] | None] = AsyncBlockingQueue(cfg.max_size)
        self._ledger: Ledger[C] = Ledger(cfg, ops.usable)
        self._opened = False

    async def open(self) -> AsyncPool[C]:
        """Open ``min_size`` connections and make the slots available."""
        if not self._opened:
            self._opened = True
            cfg = self.config
            for _ in range(cfg.min_size):
                self._tokens.put(await self._open())
            for _ in range(cfg.max_size - cfg.min_size):
                self._tokens.put(None)
        return self

    # -- checkout ----------------------------------------------------------------
    async def acquire(self, timeout: float | None = None) -> C:
        """A healthy connection; waits up to ``timeout`` (default: the config's) else PoolTimeout."""
        if not self._opened:
            await self.open()
        timeout = self.config.timeout if timeout is None else timeout
        try:
            token = await self._tokens.get(timeout)
        except PoolTimeout:
            self._ledger.timed_out()
            raise
        try:
            pooled = await self._ready(token)
        except BaseException:
            self._tokens.put(None)
            raise
        return self._ledger.lend(pooled)

    async def _ready(self, token: Pooled[C] | None) -> Pooled[C]:
        step = self._ledger.on_checkout(token)
        if token is None or step == "open":
            return await self._open()
        if step == "expired":
            await self._discard(token, "expired")
            return await self._open()
        if step == "ping":
            try:
                await self.ops.ping(token.conn)
            except Exception as e:
                log.info("idle connection failed its ping (%s): replacing it", e)
                await self._discard(token, "broken")
                return await self._open()
        return token

    async def _open(self) -> Pooled[C]:
        return self._ledger.opened(await self.ops.connect())

    async def _discard(self, pooled: Pooled[C], why: str) -> None:
        self._ledger.discarded(why)
        try:
            await self.ops.close(pooled.conn)
        except Exception as e:
            log.debug("closing a %s connection failed: %s", why, e)

    # -- return ------------------------------------------------------------------
    async def release(self, conn: C, broken: bool = False) -> None:
        """Give ``conn`` back; ``broken=True`` (or an expired lifetime) closes it instead."""
        pooled, why = self._ledger.on_return(conn, broken)
        if why is None:
            self._tokens.put(pooled, front=True)
            return
        if why != "closed":
            self._tokens.put(None)  # hand the slot on first: a waiter need not wait for close
        await self._discard(pooled, why)

    @contextlib.asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[C]:
        """``async with pool.connection() as conn:``: check out, use, always give back."""
        conn = await self.acquire(timeout)
        broken = False
        try:
            yield conn
        except BaseException as e:
            broken = self.ops.is_broken(e) or not await self._reset(conn)
            raise
        finally:
            await self.release(conn, broken=broken)

    async def _reset(self, conn: C) -> bool:
        if self.ops.reset is None:
            return True
        try:
            await self.ops.reset(conn)
        except Exception:
            return False
        return True

    # -- shutdown and introspection ----------------------------------------------
    async def close(self) -> None:
        """Close idle connections now, fail waiters, close the rest as they come back."""
        self._ledger.closed = True
        self._tokens.close()
        for token in self._tokens.drain():
            if token is not None:
                await self._discard(token, "closed")

    @property
    def closed(self) -> bool:
        return self._ledger.closed

    def stats(self) -> PoolStats:
        return self._ledger.stats(self._tokens.snapshot(), self._tokens.waiting)

    async def __aenter__(self) -> AsyncPool[C]:
        if self.closed:
            raise PoolClosed("pool closed")
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
