"""List commands: pushes, pops, ranges, LSET/LREM/LTRIM/LINSERT, and blocking BLPOP/BRPOP.

A list is a ``collections.deque``: O(1) at both ends like Redis's quicklist,
O(n) in the middle (LINDEX, LSET, LINSERT) like Redis too. Memory is tracked
by deltas (``Database.grow``); an emptied list is deleted with its key.
LPUSH of one element to an existing list without a TTL, while nothing watches
(no LRU/LFU tracking, no WATCH in the database, no blocked client), pushes and
grows the list in place (``lpush``); everything else goes through ``_push``.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

from netlib import resp

from ..blocking import pop_element
from ..keyspace import LIST_ELEM_OVERHEAD, WrongType
from ..table import (
    NO_SUCH_KEY,
    SYNTAX,
    CommandError,
    arity_error,
    command,
    to_float,
    to_int,
    to_positive,
)

G = "list"


def _list(c: Any, key: bytes) -> deque[bytes] | None:
    return c.db.get_typed(key, deque)


def _list_for_write(c: Any, key: bytes) -> deque[bytes] | None:
    """The write lookup (no hit/miss counted): LSET, LINSERT, blocking pops."""
    return c.db.get_typed_for_write(key, deque)


def _push(c: Any, a: list[bytes], left: bool, only_existing: bool) -> bytes:
    db, key = c.db, a[1]
    lst = db.get_for_write(key)
    if lst is not None and type(lst) is not deque:
        raise WrongType()
    if lst is None:
        if only_existing:
            return resp.ZERO
        lst = deque()
        db.put_new(key, lst)
    if len(a) == 3:  # one element: the common case
        item = a[2]
        if left:
            lst.appendleft(item)
        else:
            lst.append(item)
        db.grow(key, len(item) + LIST_ELEM_OVERHEAD)
    else:
        items = a[2:]
        if left:
            lst.extendleft(items)
        else:
            lst.extend(items)
        db.grow(key, sum(map(len, items)) + LIST_ELEM_OVERHEAD * len(items))
    blocking = c.state.blocking
    if blocking.waiters:
        blocking.signal(db.index, key)
    return resp.integer(len(lst))


@command("LPUSH", -3, "write denyoom fast", (1, 1, 1), G, "Prepend elements to a list")
def lpush(c: Any, a: list[bytes]) -> bytes:
    if len(a) == 3:  # the common case, done here (``_push`` does the general one)
        key = a[1]
        db = c.db
        lst = db.data.get(key)
        ks = db.ks
        if (
            type(lst) is deque
            and key not in db.expires
            and ks.tracker is None
            and not db.watchers
            and not c.state.blocking.waiters
        ):
            item = a[2]
            lst.appendleft(item)
            grown = len(item) + LIST_ELEM_OVERHEAD
            db.sizes[key] += grown
            ks.used += grown
            ks.dirty += 1
            return resp.integer(len(lst))
    return _push(c, a, True, False)


@command("RPUSH", -3, "write denyoom fast", (1, 1, 1), G, "Append elements to a list")
def rpush(c: Any, a: list[bytes]) -> bytes:
    return _push(c, a, False, False)


@command("LPUSHX", -3, "write denyoom fast", (1, 1, 1), G, "Prepend if the list exists")
def lpushx(c: Any, a: list[bytes]) -> bytes:
    return _push(c, a, True, True)


@command("RPUSHX", -3, "write denyoom fast", (1, 1, 1), G, "Append if the list exists")
def rpushx(c: Any, a: list[bytes]) -> bytes:
    return _push(c, a, False, True)


def _pop(c: Any, a: list[bytes], left: bool) -> bytes:
    if len(a) > 3:
        return arity_error("lpop" if left else "rpop")
    count = to_positive(a[2]) if len(a) == 3 else None
    db, key = c.db, a[1]
    lst = db.get_for_write(key)
    if lst is not None and type(lst) is not deque:
        raise WrongType()
    if lst is None:
        return resp.null(c.proto) if count is None else resp.null_array(c.proto)
    if count is None:
        return resp.bulk(pop_element(db, key, lst, left))
    out = [pop_element(db, key, lst, left) for _ in range(min(count, len(lst)))]
    return resp.bulks(out)


@command("LPOP", -2, "write fast", (1, 1, 1), G, "Remove and return the first elements")
def lpop(c: Any, a: list[bytes]) -> bytes:
    return _pop(c, a, True)


@command("RPOP", -2, "write fast", (1, 1, 1), G, "Remove and return the last elements")
def rpop(c: Any, a: list[bytes]) -> bytes:
    return _pop(c, a, False)


@command("LLEN", 2, "readonly fast", (1, 1, 1), G, "The length of a list")
def llen(c: Any, a: list[bytes]) -> bytes:
    lst = _list(c, a[1])
    return resp.integer(len(lst) if lst else 0)


def _range(n: int, start: int, stop: int) -> tuple[int, int]:
    """Redis's index rules: negatives from the end, clamped; empty when start > stop."""
    if start < 0:
        start = max(n + start, 0)
    if stop < 0:
        stop = n + stop
    stop = min(stop, n - 1)
    return start, stop


@command("LRANGE", 4, "readonly", (1, 1, 1), G, "A range of elements")
def lrange(c: Any, a: list[bytes]) -> bytes:
    start, stop = to_int(a[2]), to_int(a[3])
    lst = _list(c, a[1])
    if not lst:
        return resp.EMPTY_ARRAY
    start, stop = _range(len(lst), start, stop)
    if start > stop:
        return resp.EMPTY_ARRAY
    return resp.bulks(islice(lst, start, stop + 1))


@command("LINDEX", 3, "readonly", (1, 1, 1), G, "An element by its index")
def lindex(c: Any, a: list[bytes]) -> bytes:
    i = to_int(a[2])
    lst = _list(c, a[1])
    if lst is None or not -len(lst) <= i < len(lst):
        return resp.null(c.proto)
    return resp.bulk(lst[i])


@command("LSET", 4, "write denyoom", (1, 1, 1), G, "Set an element by its index")
def lset(c: Any, a: list[bytes]) -> bytes:
    i = to_int(a[2])
    lst = _list_for_write(c, a[1])
    if lst is None:
        return NO_SUCH_KEY
    if not -len(lst) <= i < len(lst):
        return b"-ERR index out of range\r\n"
    c.db.grow(a[1], len(a[3]) - len(lst[i]))
    lst[i] = a[3]
    return resp.OK


@command("LREM", 4, "write", (1, 1, 1), G, "Remove elements equal to a value")
def lrem(c: Any, a: list[bytes]) -> bytes:
    count, value = to_int(a[2]), a[3]
    db, key = c.db, a[1]
    lst = db.get_for_write(key)
    if lst is not None and type(lst) is not deque:
        raise WrongType()
    if lst is None:
        return resp.ZERO
    items = list(lst) if count >= 0 else list(reversed(lst))
    limit = abs(count) or len(items)
    kept, removed = [], 0
    for x in items:
        if removed < limit and x == value:
            removed += 1
        else:
            kept.append(x)
    if count < 0:
        kept.reverse()
    lst.clear()
    lst.extend(kept)
    db.grow(key, -removed * (len(value) + LIST_ELEM_OVERHEAD))
    db.delete_if_empty(key, lst)
    return resp.integer(removed)


@command("LTRIM", 4, "write", (1, 1, 1), G, "Keep only a range of elements")
def ltrim(c: Any, a: list[bytes]) -> bytes:
    start, stop = to_int(a[2]), to_int(a[3])
    db, key = c.db, a[1]
    lst = db.get_for_write(key)
    if lst is not None and type(lst) is not deque:
        raise WrongType()
    if lst is None:
        return resp.OK
    start, stop = _range(len(lst), start, stop)
    if start > stop or start >= len(lst):
        start, stop = len(lst), len(lst) - 1  # everything goes
    freed = 0
    for _ in range(start):
        freed += len(lst.popleft()) + LIST_ELEM_OVERHEAD
    for _ in range(len(lst) - (stop - start + 1)):
        freed += len(lst.pop()) + LIST_ELEM_OVERHEAD
    db.grow(key, -freed)
    db.delete_if_empty(key, lst)
    return resp.OK


@command("LINSERT", 5, "write denyoom", (1, 1, 1), G, "Insert before or after a pivot")
def linsert(c: Any, a: list[bytes]) -> bytes:
    where = a[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(SYNTAX)
    lst = _list_for_write(c, a[1])
    if lst is None:
        return resp.ZERO
    try:
        i = lst.index(a[3])
    except ValueError:
        return resp.integer(-1)
    lst.insert(i if where == b"BEFORE" else i + 1, a[4])
    c.db.grow(a[1], len(a[4]) + LIST_ELEM_OVERHEAD)
    return resp.integer(len(lst))


# --- blocking pops ----------------------------------------------------------------


# Redis converts the timeout to milliseconds in a 64-bit integer; on x86-64 a
# value past that range (1e300, inf) becomes INT64_MIN, hence its odd wording.
MAX_TIMEOUT_MS = 2**63


def parse_timeout(b: bytes) -> float:
    t = to_float(b, b"-ERR timeout is not a float or out of range\r\n")
    if t < 0 or t * 1000 >= MAX_TIMEOUT_MS:
        raise CommandError(b"-ERR timeout is negative\r\n")
    return t


def _bpop(c: Any, a: list[bytes], left: bool) -> bytes | None:
    timeout = parse_timeout(a[-1])
    keys = a[1:-1]
    db = c.db
    for key in keys:
        lst = _list_for_write(c, key)
        if lst:
            return resp.bulks([key, pop_element(db, key, lst, left)])
    if c.in_exec:
        return resp.null_array(c.proto)
    c.park(keys, left, timeout)
    return None  # answered later: by a push (blocking.py) or the timeout


@command("BLPOP", -3, "write blocking", (1, -2, 1), G, "Pop the first element, or block")
def blpop(c: Any, a: list[bytes]) -> bytes | None:
    return _bpop(c, a, True)


@command("BRPOP", -3, "write blocking", (1, -2, 1), G, "Pop the last element, or block")
def brpop(c: Any, a: list[bytes]) -> bytes | None:
    return _bpop(c, a, False)
