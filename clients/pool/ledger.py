"""The bookkeeping both pool flavours share: every decision that does not wait.

``Pool`` (threads) and ``AsyncPool`` (asyncio) differ only in how they wait
(a blocking queue, or futures) and how they call a connection (directly, or
with ``await``). What is checked out, the counters, and what to do with a
connection that is taken or given back is decided here, once:

* ``on_checkout(token)``: "open" (an empty slot), "expired", "ping" or "ready";
* ``on_return(conn, broken)``: the record, and why it must be closed, or None;
* a broken connection marks every connection idle since then as suspect:
  they get a ping before their next use (see ``core.needs_ping``).

A ``threading.Lock`` guards it, for the thread flavour; on one event loop it
is never contended (no await inside), which costs less than a second class.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from typing import Any, Generic

from .core import C, PoolConfig, Pooled, PoolStats, expired, needs_ping, retire_reason
from .errors import PoolError


class Ledger(Generic[C]):
    def __init__(self, config: PoolConfig, usable: Any) -> None:
        self.config = config
        self._usable = usable  # ops.usable: a local check on return, or None
        self._lock = threading.Lock()
        self._out: dict[int, Pooled[C]] = {}  # id(conn) -> record, for checked-out ones
        self._stats = PoolStats()
        self._suspect_before = -math.inf  # idle since then: ping before use
        self.closed = False

    def opened(self, conn: C) -> Pooled[C]:
        now = self.config.clock()
        with self._lock:
            self._stats.opened += 1
        return Pooled(conn, created=now, last_used=now)

    def on_checkout(self, token: Pooled[C] | None) -> str:
        """What a taken token needs before use: "open", "expired", "ping" or "ready"."""
        if token is None:
            return "open"
        now = self.config.clock()
        if expired(token, self.config, now):
            return "expired"
        if needs_ping(token, self.config, now, self._suspect_before):
            return "ping"
        return "ready"

    def lend(self, pooled: Pooled[C]) -> C:
        with self._lock:
            self._out[id(pooled.conn)] = pooled
        return pooled.conn

    def on_return(self, conn: C, broken: bool) -> tuple[Pooled[C], str | None]:
        """The record of a returned connection, and why to close it (None: keep it)."""
        with self._lock:
            pooled = self._out.pop(id(conn), None)
        if pooled is None:
            raise PoolError("release() of a connection this pool did not hand out (or twice)")
        now = self.config.clock()
        if self.closed:
            return pooled, "closed"
        why = retire_reason(pooled, self.config, self._usable, broken, now)
        if why is None:
            pooled.last_used = now
        elif why == "broken":  # before the slot is handed on to a waiter
            self._suspect_before = now
        return pooled, why

    def discarded(self, why: str) -> None:
        with self._lock:
            self._stats.count_discard(why)
            if why == "broken":
                self._suspect_before = self.config.clock()

    def timed_out(self) -> None:
        with self._lock:
            self._stats.timeouts += 1

    def stats(self, tokens: list[Any], waiting: int) -> PoolStats:
        with self._lock:
            s = dataclasses.replace(self._stats)
            s.in_use = len(self._out)
        return s.with_queue(tokens, waiting)
