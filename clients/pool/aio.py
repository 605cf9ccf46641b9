"""The asyncio flavour of the pool: ``AsyncPool(ops, config)``, one event loop.

Same design as the thread flavour (see ``core``): a bounded queue of tokens,
empty slots opened by whoever takes them, ping after idleness, discard on a
broken use, retire after ``max_lifetime``. Open it with ``await pool.open()``
or ``async with AsyncPool(...) as pool``; ``async with pool.connection() as conn``
checks out and always gives back. No lock is needed: everything between two
awaits runs alone on the loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import AsyncIterator
from typing import Generic

from .core import (
    AsyncConnectionOps,
    C,
    PoolConfig,
    Pooled,
    PoolStats,
    expired,
    needs_ping,
    retire_reason,
)
from .errors import PoolClosed, PoolError, PoolTimeout
from .queue import AsyncBlockingQueue

log = logging.getLogger(__name__)


class AsyncPool(Generic[C]):
    """A bounded pool of asyncio connections for the tasks of one event loop."""

    def __init__(self, ops: AsyncConnectionOps[C], config: PoolConfig | None = None) -> None:
        self.ops = ops
        self.config = config or PoolConfig()
        self._tokens: AsyncBlockingQueue[Pooled[C] | None] = AsyncBlockingQueue(
            self.config.max_size
        )
        self._out: dict[int, Pooled[C]] = {}
        self._stats = PoolStats()
        self._opened = False
        self._closed = False
        self._suspect_before = -math.inf  # idle since then: ping before use

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
            self._stats.timeouts += 1
            raise
        try:
            pooled = await self._ready(token)
        except BaseException:
            self._tokens.put(None)
            raise
        self._out[id(pooled.conn)] = pooled
        return pooled.conn

    async def _ready(self, token: Pooled[C] | None) -> Pooled[C]:
        if token is None:
            return await self._open()
        now = self.config.clock()
        if expired(token, self.config, now):
            await self._discard(token, "expired")
            return await self._open()
        if needs_ping(token, self.config, now, self._suspect_before):
            try:
                await self.ops.ping(token.conn)
            except Exception as e:
                log.info("idle connection failed its ping (%s): replacing it", e)
                await self._discard(token, "broken")
                return await self._open()
        return token

    async def _open(self) -> Pooled[C]:
        conn = await self.ops.connect()
        now = self.config.clock()
        self._stats.opened += 1
        return Pooled(conn, created=now, last_used=now)

    async def _discard(self, pooled: Pooled[C], why: str) -> None:
        self._stats.count_discard(why)
        if why == "broken":
            self._suspect_before = self.config.clock()
        try:
            await self.ops.close(pooled.conn)
        except Exception as e:
            log.debug("closing a %s connection failed: %s", why, e)

    # -- return ------------------------------------------------------------------
    async def release(self, conn: C, broken: bool = False) -> None:
        """Give ``conn`` back; ``broken=True`` (or an expired lifetime) closes it instead."""
        pooled = self._out.pop(id(conn), None)
        if pooled is None:
            raise PoolError("release() of a connection this pool did not hand out (or twice)")
        now = self.config.clock()
        if self._closed:
            await self._discard(pooled, "closed")
        elif why := retire_reason(pooled, self.config, self.ops.usable, broken, now):
            if why == "broken":  # before the slot is handed on (see core.needs_ping)
                self._suspect_before = now
            self._tokens.put(None)  # hand the slot on first: a waiter need not wait for close
            await self._discard(pooled, why)
        else:
            pooled.last_used = now
            self._tokens.put(pooled, front=True)

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
        self._closed = True
        self._tokens.close()
        for token in self._tokens.drain():
            if token is not None:
                await self._discard(token, "closed")

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> PoolStats:
        s = dataclasses.replace(self._stats)
        s.in_use = len(self._out)
        return s.with_queue(self._tokens.snapshot(), self._tokens.waiting)

    async def __aenter__(self) -> AsyncPool[C]:
        if self._closed:
            raise PoolClosed("pool closed")
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
