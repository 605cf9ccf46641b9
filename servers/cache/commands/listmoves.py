"""More list commands: LMOVE / RPOPLPUSH, LMPOP, LPOS, and the blocking BLMOVE / BRPOPLPUSH / BLMPOP.

Moving is a pop and a push in one command: the element leaves the source
end (LEFT or RIGHT) and enters the destination end, atomically (one event
loop), with the destination's type checked before anything is popped, so a
WRONGTYPE loses no element. ``LMOVE k k RIGHT LEFT`` rotates a list.

The blocking forms park the client exactly like BLPOP (``blocking.py``):
FIFO on each key, woken right after the write that fills one, by a
``serve`` function that does this command's own work (move, or pop up to
COUNT) instead of BLPOP's. The element a served BLMOVE pushes can in turn
wake a client blocked on the destination, in the same round.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from netlib import resp
from servers.respkit.introspect import KEY_FINDERS

from ..blocking import pop_element
from ..keyspace import LIST_ELEM_OVERHEAD, Database, WrongType
from ..table import REGISTRY, SYNTAX, WRONGTYPE, CommandError, command, to_int
from .lists import parse_timeout

G = "list"


def _where(b: bytes) -> bool:
    """LEFT -> True, RIGHT -> False."""
    w = b.upper()
    if w == b"LEFT":
        return True
    if w == b"RIGHT":
        return False
    raise CommandError(SYNTAX)


def _list(db: Database, key: bytes, read: bool = False) -> deque[bytes] | None:
    """The write lookup (no hit/miss counted) of RPOPLPUSH, LMOVE, LMPOP, as Redis;
    with ``read`` the read lookup (counted) of LPOS."""
    v = db.get(key) if read else db.get_for_write(key)
    if v is not None and type(v) is not deque:
        raise WrongType()
    return v  # type: ignore[no-any-return]


def push_one(
    state: Any, db: Database, key: bytes, value: bytes, left: bool, changes: int = 1
) -> None:
    """Push one element (creating the list), and wake whoever waits on ``key``."""
    lst = db.get_for_write(key)
    if lst is None:
        lst = deque()
        db.put_new(key, lst)
    if left:
        lst.appendleft(value)
    else:
        lst.append(value)
    db.grow(key, len(value) + LIST_ELEM_OVERHEAD, changes)
    if state.blocking.waiters:
        state.blocking.signal(db.index, key)


def _move(state: Any, db: Database, src: bytes, dst: bytes, frm: bool, to: bool) -> bytes | None:
    """Pop from ``src`` and push to ``dst``; the element, or None when ``src`` is empty."""
    lst = _list(db, src)
    if not lst:
        return None
    _list(db, dst)  # WRONGTYPE before anything moves
    value = pop_element(db, src, lst, frm)
    push_one(state, db, dst, value, to, 0)  # Redis counts the move once (the pop)
    return value


def _lmove(c: Any, src: bytes, dst: bytes, frm: bool, to: bool) -> bytes:
    return resp.bulk(_move(c.state, c.db, src, dst, frm, to), c.proto)


@command("LMOVE", 5, "write denyoom", (1, 2, 1), G, "Pop from one list and push to another")
def lmove(c: Any, a: list[bytes]) -> bytes:
    return _lmove(c, a[1], a[2], _where(a[3]), _where(a[4]))


@command("RPOPLPUSH", 3, "write denyoom", (1, 2, 1), G, "Pop the last element, push it first")
def rpoplpush(c: Any, a: list[bytes]) -> bytes:
    return _lmove(c, a[1], a[2], False, True)


def _blmove(
    c: Any, src: bytes, dst: bytes, frm: bool, to: bool, timeout_arg: bytes
) -> bytes | None:
    timeout = parse_timeout(timeout_arg)
    value = _move(c.state, c.db, src, dst, frm, to)
    if value is not None:
        return resp.bulk(value)
    if c.in_exec:
        return resp.null(c.proto)
    state = c.state

    def serve(db: Database, key: bytes) -> bytes | None:
        dirty = db.ks.dirty
        try:
            moved = _move(state, db, src, dst, frm, to)
        except WrongType:
            return WRONGTYPE  # the destination is not a list: Redis answers the error, pops nothing
        db.ks.dirty = dirty  # Redis 7.0 counts no change for a served blocked list pop
        return None if moved is None else resp.bulk(moved)

    c.park([src], frm, timeout, serve)
    return None


@command("BLMOVE", 6, "write denyoom blocking", (1, 2, 1), G, "LMOVE, or block until possible")
def blmove(c: Any, a: list[bytes]) -> bytes | None:
    return _blmove(c, a[1], a[2], _where(a[3]), _where(a[4]), a[5])


@command("BRPOPLPUSH", 4, "write denyoom blocking", (1, 2, 1), G, "RPOPLPUSH, or block")
def brpoplpush(c: Any, a: list[bytes]) -> bytes | None:
    return _blmove(c, a[1], a[2], False, True, a[3])


# --- LMPOP / BLMPOP ------------------------------------------------------------------


def _mpop_args(a: list[bytes], at: int) -> tuple[list[bytes], bool, int]:
    """numkeys key... LEFT|RIGHT [COUNT n] from ``a[at]`` on: (keys, left, count)."""
    numkeys = to_int(a[at], b"-ERR numkeys should be greater than 0\r\n")
    if numkeys < 1:
        raise CommandError(b"-ERR numkeys should be greater than 0\r\n")
    where_at = at + numkeys + 1
    if where_at >= len(a):
        raise CommandError(SYNTAX)
    left = _where(a[where_at])
    count = -1
    j = where_at + 1
    while j < len(a):
        if count == -1 and a[j].upper() == b"COUNT" and j + 1 < len(a):
            err = b"-ERR count should be greater than 0\r\n"
            count = to_int(a[j + 1], err)
            if count < 1:
                raise CommandError(err)
            j += 2
        else:
            raise CommandError(SYNTAX)
    return a[at + 1 : where_at], left, max(count, 1)


def _pop_many(db: Database, key: bytes, lst: deque[bytes], left: bool, count: int) -> bytes:
    items = [pop_element(db, key, lst, left) for _ in range(min(count, len(lst)))]
    return b"*2\r\n" + resp.bulk(key) + resp.bulks(items)


@command("LMPOP", -4, "write", (0, 0, 0), G, "Pop elements from the first non-empty list")
def lmpop(c: Any, a: list[bytes]) -> bytes:
    keys, left, count = _mpop_args(a, 1)
    for key in keys:
        lst = _list(c.db, key)
        if lst:
            return _pop_many(c.db, key, lst, left, count)
    return resp.null_array(c.proto)


@command("BLMPOP", -5, "write blocking", (0, 0, 0), G, "LMPOP, or block until a list has elements")
def blmpop(c: Any, a: list[bytes]) -> bytes | None:
    timeout = parse_timeout(a[1])
    keys, left, count = _mpop_args(a, 2)
    for key in keys:
        lst = _list(c.db, key)
        if lst:
            return _pop_many(c.db, key, lst, left, count)
    if c.in_exec:
        return resp.null_array(c.proto)

    def serve(db: Database, key: bytes) -> bytes | None:
        lst = db.peek(key)
        if type(lst) is not deque or not lst:
            return None
        return _pop_many(db, key, lst, left, count)  # (counted, unlike a served BLPOP)

    c.park(keys, left, timeout, serve)
    return None


# --- LPOS ----------------------------------------------------------------------------


@command("LPOS", -3, "readonly", (1, 1, 1), G, "The index of matching elements")
def lpos(c: Any, a: list[bytes]) -> bytes:
    rank, count, maxlen = 1, -1, 0
    j = 3
    while j < len(a):
        opt = a[j].upper()
        if j + 1 >= len(a):
            raise CommandError(SYNTAX)
        if opt == b"RANK":
            rank = to_int(a[j + 1])
            if rank == 0:
                return (
                    b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from "
                    b"the second ... or use negative to start from the end of the list\r\n"
                )
            if rank == -(2**63):
                return b"-ERR value is out of range, must be positive\r\n"
        elif opt in (b"COUNT", b"MAXLEN"):
            err = b"-ERR %s can't be negative\r\n" % opt
            n = to_int(a[j + 1], err)
            if n < 0:
                raise CommandError(err)
            if opt == b"COUNT":
                count = n
            else:
                maxlen = n
        else:
            raise CommandError(SYNTAX)
        j += 2
    lst = _list(c.db, a[1], read=True)
    if not lst:
        return resp.null(c.proto) if count == -1 else resp.EMPTY_ARRAY
    element, n = a[2], len(lst)
    found: list[int] = []
    want = count if count > 0 else n if count == 0 else 1
    skip = abs(rank) - 1
    order = range(n) if rank > 0 else range(n - 1, -1, -1)
    seq = lst if rank > 0 else reversed(lst)
    for scanned, (i, x) in enumerate(zip(order, seq, strict=False)):
        if maxlen and scanned >= maxlen:
            break
        if x == element:
            if skip:
                skip -= 1
                continue
            found.append(i)
            if len(found) >= want:
                break
    if count == -1:
        return resp.integer(found[0]) if found else resp.null(c.proto)
    return b"*%d\r\n" % len(found) + b"".join(b":%d\r\n" % i for i in found)


def numkeys_keys(at: int) -> Callable[[list[bytes]], list[bytes]]:
    """COMMAND GETKEYS for commands with a numkeys argument at ``at``."""

    def keys(args: list[bytes]) -> list[bytes]:
        try:
            n = int(args[at])
        except (ValueError, IndexError):
            return []
        return args[at + 1 : at + 1 + n] if n > 0 else []

    return keys


KEY_FINDERS.update(lmpop=numkeys_keys(1), blmpop=numkeys_keys(2), sintercard=numkeys_keys(1))


# --- CLIENT UNBLOCK ------------------------------------------------------------------
# The kit's CLIENT knows nothing of blocking; the cache adds this subcommand to it.

_CLIENT = REGISTRY.get(b"CLIENT")
if _CLIENT is not None and b"unblock" not in _CLIENT.subcommands:

    @command("UNBLOCK", -3, "admin noscript", (0, 0, 0), "connection",
             "Unblock a client blocked in a blocking command", _CLIENT)  # fmt: skip
    def client_unblock(c: Any, a: list[bytes]) -> bytes:
        cid = to_int(a[2])
        how = a[3].upper() if len(a) == 4 else b"TIMEOUT"
        if len(a) > 4 or how not in (b"TIMEOUT", b"ERROR"):
            return b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
        target = c.state.clients.get(cid)
        if target is None or getattr(target, "blocked", None) is None:
            return resp.ZERO
        c.state.blocking.unpark(target)
        if how == b"ERROR":
            target.unblock(b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")
        else:
            target.unblock(resp.null_array(target.proto))
        return resp.ONE
