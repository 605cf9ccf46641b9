"""MULTI / EXEC / DISCARD: queue commands, then run them back to back.

One event loop makes every command atomic already; EXEC only has to run the
queue without anything in between, which it does by running it in one call.
A command refused while queueing (unknown, wrong arity) makes EXEC answer
EXECABORT, as Redis does. WATCH (optimistic locking) is not implemented.
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
    c.update_guard()
    return resp.OK


@command("EXEC", 1, "", (0, 0, 0), G, "Run the queued commands")
def exec_(c: Any, a: list[bytes]) -> bytes:
    if c.multi is None:
        return b"-ERR EXEC without MULTI\r\n"
    queued, failed = c.multi, c.multi_failed
    c.multi = None
    c.update_guard()
    if failed:
        return b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    c.in_exec = True
    try:
        replies = [c.execute(args) for args in queued]
    finally:
        c.in_exec = False
    return b"*%d\r\n" % len(replies) + b"".join(replies)
