"""The thread flavour of the pool: ``Pool(ops, config)``; see ``core`` for the design.

``with pool.connection() as conn:`` checks a connection out and always gives it
back; an exception that ``ops.is_broken`` recognises (the server killed the
connection, the socket reset) makes the pool close it instead, and the freed
slot lets the next caller open a fresh one. ``close()`` closes the idle
connections at once, wakes every waiter with ``PoolClosed``, and closes each
checked-out connection when it comes back. Every decision is ``ledger``'s;
this file only waits and calls.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Generic

from .core import C, ConnectionOps, PoolConfig, Pooled, PoolStats
from .errors import PoolClosed, PoolTimeout
from .ledger import Ledger
from .queue import BlockingQueue

log = logging.getLogger(__name__)


class Pool(Generic[C]):
    """A bounded pool of blocking connections, safe to share between threads."""

    def __init__(self, ops: ConnectionOps[C], config: PoolConfig | None = None) -> None:
        self.ops = ops
        self.config = cfg = config or PoolConfig()
        self._tokens: BlockingQueue[Pooled[C] | None] = BlockingQueue(cfg.max_size)
        self._ledger: Ledger[C] = Ledger(cfg, ops.usable)
        opened = [self._open() for _ in range(cfg.min_size)]
        for p in opened:
            self._tokens.put(p)
        for _ in range(cfg.max_size - cfg.min_size):
            self._tokens.put(None)

    # -- checkout ----------------------------------------------------------------
    def acquire(self, timeout: float | None = None) -> C:
        """A healthy connection; waits up to ``timeout`` (default: the config's) else PoolTimeout."""
        timeout = self.config.timeout if timeout is None else timeout
        try:
            token = self._tokens.get(timeout)
        except PoolTimeout:
            self._ledger.timed_out()
            raise
        try:
            pooled = self._ready(token)
        except BaseException:
            self._tokens.put(None)  # the slot stays usable for the next caller
            raise
        return self._ledger.lend(pooled)

    def _ready(self, token: Pooled[C] | None) -> Pooled[C]:
        """Turn a token into a usable connection: open, or check (age, ping) and maybe replace."""
        step = self._ledger.on_checkout(token)
        if token is None or step == "open":
            return self._open()
        if step == "expired":
            self._discard(token, "expired")
            return self._open()
        if step == "ping":
            try:
                self.ops.ping(token.conn)
            except Exception as e:
                log.info("idle connection failed its ping (%s): replacing it", e)
                self._discard(token, "broken")
                return self._open()
        return token

    def _open(self) -> Pooled[C]:
        return self._ledger.opened(self.ops.connect())

    def _discard(self, pooled: Pooled[C], why: str) -> None:
        self._ledger.discarded(why)
        try:
            self.ops.close(pooled.conn)
        except Exception as e:  # closing a dead socket may fail; it is gone either way
            log.debug("closing a %s connection failed: %s", why, e)

    # -- return ------------------------------------------------------------------
    def release(self, conn: C, broken: bool = False) -> None:
        """Give ``conn`` back; ``broken=True`` (or an expired lifetime) closes it instead."""
        pooled, why = self._ledger.on_return(conn, broken)
        if why is None:
            self._tokens.put(pooled, front=True)
            return
        if why != "closed":
            self._tokens.put(None)  # hand the slot on first: a waiter need not wait for close
        self._discard(pooled, why)

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[C]:
        """``with pool.connection() as conn:``: check out, use, always give back."""
        conn = self.acquire(timeout)
        broken = False
        try:
            yield conn
        except BaseException as e:
            broken = self.ops.is_broken(e) or not self._reset(conn)
            raise
        finally:
            self.release(conn, broken=broken)

    def _reset(self, conn: C) -> bool:
        """After a failed use: put the session back in a clean state; False if that fails."""
        if self.ops.reset is None:
            return True
        try:
            self.ops.reset(conn)
        except Exception:
            return False
        return True

    # -- shutdown and introspection ----------------------------------------------
    def close(self) -> None:
        """Close idle connections now, fail waiters, close the rest as they come back."""
        self._ledger.closed = True
        self._tokens.close()
        for token in self._tokens.drain():
            if token is not None:
                self._discard(token, "closed")

    @property
    def closed(self) -> bool:
        return self._ledger.closed

    def stats(self) -> PoolStats:
        return self._ledger.stats(self._tokens.snapshot(), self._tokens.waiting)

    def __enter__(self) -> Pool[C]:
        if self.closed:
            raise PoolClosed("pool closed")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
