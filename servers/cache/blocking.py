"""BLPOP/BRPOP: clients parked on keys, woken by a push, not by polling.

Strategy (Redis's blocked.c, simplified). A blocking pop that finds every key
empty parks the client: it is queued FIFO on each of its keys and stops
processing commands (later pipelined ones wait in its ``pending`` queue). A
push to a key with waiters *signals* it; right after the pushing command
returns, ``serve_ready`` hands the pushed elements to the waiters in arrival
order, each waiter unparks (leaving its other keys) and resumes its pipeline.
A timeout (a loop timer owned by the client) answers a null array instead.
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
    # How to serve this client once a key is ready: (database, key, parked) ->
    # the reply, or None when the key cannot serve it. None means BLPOP/BRPOP's.
    serve: Callable[[Database, bytes, Parked], bytes | None] | None = None


class Blocking:
    def __init__(self, keyspace: Keyspace) -> None:
        self.keyspace = keyspace
        keyspace.on_new_key = self.signal  # a key appearing by any route can serve its waiters
        self.waiters: dict[tuple[int, bytes], deque[Any]] = {}
        self.ready: deque[tuple[int, bytes]] = deque()
        self._serving = False

    @property
    def blocked_clients(self) -> int:
        return len({id(c) for q in self.waiters.values() for c in q})

    def park(self, client: Any, parked: Parked) -> None:
        client.blocked = parked
        for k in dict.fromkeys(parked.keys):
            self.waiters.setdefault((parked.db, k), deque()).append(client)

    def unpark(self, client: Any) -> None:
        parked: Parked | None = client.blocked
        if parked is None:
            return
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
        db = self.keyspace.dbs[index]
        while True:
            q = self.waiters.get((index, key))
            if not q:
                return
            client = q[0]
            parked = client.blocked
            reply = (parked.serve or pop_reply)(db, key, parked)
            if reply is None:
                return
            self.unpark(client)
            client.unblock(reply)


def pop_reply(db: Database, key: bytes, parked: Parked) -> bytes | None:
    """BLPOP/BRPOP's service: [key, element] popped from the list at ``key``."""
    lst = db.peek(key)
    if type(lst) is not deque or not lst:
        return None
    return resp.bulks([key, pop_element(db, key, lst, parked.left)])
