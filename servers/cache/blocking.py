"""BLPOP/BRPOP (and BZPOPMIN, BZMPOP, XREAD...): clients parked on keys, woken by a write, not by polling.

Strategy (Redis's blocked.c, simplified). A blocking pop that finds every key
empty parks the client: it is queued FIFO on each of its keys and stops
processing commands (later pipelined ones wait in its ``pending`` queue). A
push to a key with waiters *signals* it; right after the pushing command
returns, ``serve_ready`` hands the pushed elements to the waiters in arrival
order, each waiter unparks (leaving its other keys) and resumes its pipeline.
A timeout (a loop timer owned by the client) answers a null array instead.

Other blocking commands (BZPOPMIN, BZMPOP, XREAD, XREADGROUP) park with a ``serve`` function:
given the database and the signalled key it answers the waiter's reply, or
None to leave it waiting. Besides pushes, the keyspace tells us when a key
someone waits on is created, replaced or deleted (``changed``): a blocked
XREADGROUP whose stream vanished is answered an error, as in Redis 7.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netlib import resp

from .keyspace import LIST_ELEM_OVERHEAD, Database, Keyspace


def pop_element(db: Database, key: bytes, lst: deque[bytes], left: bool) -> bytes:
    """Pop one element, keep the memory estimate right, drop the key when emptied."""
    value = lst.popleft() if left else lst.pop()
    db.grow(key, -(len(value) + LIST_ELEM_OVERHEAD))
    db.delete_if_empty(key, lst)
    return value


@dataclass
class Parked:
    """What a blocked client waits for."""

    db: int
    keys: list[bytes]
    left: bool
    timer: Any = None  # the loop's TimerHandle for the timeout, if any
    extra: dict[str, Any] = field(default_factory=dict)
    # (database, key) -> the reply that unblocks, or None to go on waiting.
    serve: Callable[[Database, bytes], bytes | None] | None = None


class Blocking:
    def __init__(self, keyspace: Keyspace) -> None:
        self.keyspace = keyspace
        self.waiters: dict[tuple[int, bytes], deque[Any]] = {}
        self.ready: deque[tuple[int, bytes]] = deque()
        self._serving = False
        keyspace.blocking = self

    @property
    def blocked_clients(self) -> int:
        return len({id(c) for q in self.waiters.values() for c in q})

    def park(self, client: Any, parked: Parked) -> None:
        client.blocked = parked
        for k in dict.fromkeys(parked.keys):
            self.waiters.setdefault((parked.db, k), deque()).append(client)

    def unpark(self, client: Any) -> None:
        parked = client.blocked
        if not isinstance(parked, Parked):
            return  # not parked (None, or a timed-out script's caller: scripting.Run)
        client.blocked = None
        if parked.timer is not None:
            parked.timer.cancel()
        for k in dict.fromkeys(parked.keys):
            q = self.waiters.get((parked.db, k))
            if q is None:
                continue
            try:
                q.remove(client)
            except ValueError:
                pass
            if not q:
                del self.waiters[(parked.db, k)]

    def signal(self, db: int, key: bytes) -> None:
        """A push happened on ``key``: serve its waiters after the current command."""
        if (db, key) in self.waiters:
            self.ready.append((db, key))

    def changed(self, db: int, key: bytes | None) -> None:
        """The keyspace created, replaced or deleted ``key`` (None: flushed database ``db``)."""
        if key is None:
            self.ready.extend(k for k in self.waiters if k[0] == db)
        elif (db, key) in self.waiters and (not self.ready or self.ready[-1] != (db, key)):
            self.ready.append((db, key))

    def serve_ready(self) -> None:
        """Hand pushed elements to waiters, FIFO. Re-entrant calls return at once."""
        if self._serving:
            return
        self._serving = True
        try:
            while self.ready:
                self._serve_key(*self.ready.popleft())
        finally:
            self._serving = False

    def _serve_key(self, index: int, key: bytes) -> None:
        """Offer the key to its waiters in the order they blocked."""
        db = self.keyspace.dbs[index]
        q = self.waiters.get((index, key))
        if not q:
            return
        for client in list(q):
            parked = client.blocked
            if parked is None or client not in self.waiters.get((index, key), ()):
                continue  # answered meanwhile (a resumed pipeline ran)
            if parked.serve is not None:
                reply = parked.serve(db, key)
                if reply is None:
                    continue
            else:
                lst = db.peek(key)
                if type(lst) is not deque or not lst:
                    continue
                dirty = db.ks.dirty
                reply = resp.bulks([key, pop_element(db, key, lst, parked.left)])
                db.ks.dirty = dirty  # Redis 7.0 counts no change for a served blocked pop
            self.unpark(client)
            client.unblock(reply)
