"""MULTI / EXEC / DISCARD: queue commands, then run them back to back.

One event loop makes every command atomic already; EXEC only has to run the
queue without anything in between, which it does by running it in one call.
A command refused while queueing (unknown, wrong arity) makes EXEC answer
EXECABORT, as Redis does. WATCH is optimistic locking: the database marks the
watching clients on any write to a watched key (``Database.touched``), and
their EXEC then answers a null array without running anything (check-and-set).
Blocking commands inside EXEC do not block: they answer as if timed out.
"""

from __future__ import annotations

from typing import Any

from netlib import resp

from ..table import command

G = "transactions"


@command("MULTI", 1, "fast", (0, 0, 0), G, "Start a transaction")
def multi(c: Any, a: list[bytes]) -> bytes:
    if c.multi is not None:
        return b"-ERR MULTI calls can not be nested\r\n"
    c.multi, c.multi_failed = [], False
    c.update_guard()
    return resp.OK


@command("DISCARD", 1, "fast", (0, 0, 0), G, "Discard a transaction")
def discard(c: Any, a: list[bytes]) -> bytes:
    if c.multi is None:
        return b"-ERR DISCARD without MULTI\r\n"
    c.multi = None
    c.unwatch()
    c.update_guard()
    return resp.OK


@command("WATCH", -2, "fast", (1, -1, 1), G, "Watch keys: EXEC fails if they change")
def watch(c: Any, a: list[bytes]) -> bytes:
    if c.multi is not None:
        return b"-ERR WATCH inside MULTI is not allowed\r\n"
    for key in a[1:]:
        c.watch(key)
    return resp.OK


@command("UNWATCH", 1, "fast", (0, 0, 0), G, "Forget all watched keys")
def unwatch(c: Any, a: list[bytes]) -> bytes:
    c.unwatch()
    return resp.OK


@command("EXEC", 1, "", (0, 0, 0), G, "Run the queued commands")
def exec_(c: Any, a: list[bytes]) -> bytes:
    if c.multi is None:
        return b"-ERR EXEC without MULTI\r\n"
    queued, failed, dirty = c.multi, c.multi_failed, c.watch_dirty
    c.multi = None
    c.unwatch()
    c.update_guard()
    if failed:
        return b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    if dirty:
        return resp.null_array(c.proto)  # a watched key changed: nothing ran
    c.in_exec, c.exec_size = True, len(queued)
    try:
        replies = [c.execute(args) for args in queued]
    finally:
        c.in_exec = False
    return b"*%d\r\n" % len(replies) + b"".join(replies)
