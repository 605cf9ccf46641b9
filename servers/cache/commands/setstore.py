"""More set commands: SMOVE, SINTERSTORE / SUNIONSTORE / SDIFFSTORE, SINTERCARD; and HRANDFIELD.

The STORE forms compute the result like their read-only twins (sets.py) and
replace the destination with it, whatever it held before and dropping its
TTL, as Redis's setKey does; an empty result deletes the destination.
SINTERCARD counts the intersection without building it past LIMIT.
"""

from __future__ import annotations

from typing import Any

from netlib import resp

from ..encoding import note_set
from ..keyspace import SET_MEMBER_OVERHEAD, Database, WrongType
from ..table import CommandError, command, to_int
from .sets import random_repeats, too_many_repeats

G = "set"


def _set(db: Database, key: bytes, read: bool = False) -> set[bytes] | None:
    """SMOVE's lookups are writes (not counted); ``read`` makes it a counted read."""
    v = db.get(key) if read else db.get_for_write(key)
    if v is not None and type(v) is not set:
        raise WrongType()
    return v  # type: ignore[no-any-return]


def store_set(c: Any, key: bytes, members: set[bytes]) -> None:
    db = c.db
    if db.peek(key) is not None and db.delete(key) and members:
        db.ks.dirty -= 1  # Redis counts one for the stored result (or the deleted key)
    if members:
        db.put_new(key, members)
        db.grow(key, sum(len(m) + SET_MEMBER_OVERHEAD for m in members))


@command("SMOVE", 4, "write fast", (1, 2, 1), G, "Move a member from one set to another")
def smove(c: Any, a: list[bytes]) -> bytes:
    db, src, dst, m = c.db, a[1], a[2], a[3]
    s = _set(db, src)
    d = _set(db, dst)
    if s is None or m not in s:
        return resp.ZERO
    if src == dst:
        return resp.ONE
    s.remove(m)
    db.grow(src, -(len(m) + SET_MEMBER_OVERHEAD))
    db.delete_if_empty(src, s)
    if d is None:
        d = set()
        db.put_new(dst, d)
    if m not in d:  # an unchanged destination is not a write (WATCH on it holds)
        d.add(m)
        db.grow(dst, len(m) + SET_MEMBER_OVERHEAD)
        note_set(c, dst, d, (m,))
    return resp.ONE


def _sets(c: Any, keys: list[bytes]) -> list[set[bytes]]:
    """The source sets, read as Redis reads them (a hit or a miss each)."""
    return [_set(c.db, k, True) or set() for k in keys]


def _inter(sets: list[set[bytes]]) -> set[bytes]:
    sets = sorted(sets, key=len)
    return set.intersection(*sets) if sets[0] else set()


@command("SINTERSTORE", -3, "write denyoom", (1, -1, 1), G, "Store the intersection of sets")
def sinterstore(c: Any, a: list[bytes]) -> bytes:
    result = _inter(_sets(c, a[2:]))
    store_set(c, a[1], result)
    return resp.integer(len(result))


@command("SUNIONSTORE", -3, "write denyoom", (1, -1, 1), G, "Store the union of sets")
def sunionstore(c: Any, a: list[bytes]) -> bytes:
    result = set().union(*_sets(c, a[2:]))
    store_set(c, a[1], result)
    return resp.integer(len(result))


@command("SDIFFSTORE", -3, "write denyoom", (1, -1, 1), G, "Store the difference of sets")
def sdiffstore(c: Any, a: list[bytes]) -> bytes:
    first, *rest = _sets(c, a[2:])
    result = first.difference(*rest)
    store_set(c, a[1], result)
    return resp.integer(len(result))


@command("SINTERCARD", -3, "readonly", (0, 0, 0), G, "The size of the intersection of sets")
def sintercard(c: Any, a: list[bytes]) -> bytes:
    numkeys = to_int(a[1], b"-ERR numkeys should be greater than 0\r\n")
    if numkeys < 1:
        return b"-ERR numkeys should be greater than 0\r\n"
    if numkeys > len(a) - 2:
        return b"-ERR Number of keys can't be greater than number of args\r\n"
    keys, limit, j = a[2 : 2 + numkeys], 0, 2 + numkeys
    while j < len(a):
        if a[j].upper() == b"LIMIT" and j + 1 < len(a):
            limit = to_int(a[j + 1], b"-ERR LIMIT can't be negative\r\n")
            if limit < 0:
                return b"-ERR LIMIT can't be negative\r\n"
            j += 2
        else:
            return b"-ERR syntax error\r\n"
    sets = sorted(_sets(c, keys), key=len)
    if not sets[0]:
        return resp.ZERO
    n = 0
    for m in sets[0]:
        if all(m in s for s in sets[1:]):
            n += 1
            if limit and n >= limit:
                break
    return resp.integer(n)


# --- HRANDFIELD ------------------------------------------------------------------------


@command("HRANDFIELD", -2, "readonly", (1, 1, 1), "hash", "Random fields of a hash")
def hrandfield(c: Any, a: list[bytes]) -> bytes:
    if len(a) > 4 or (len(a) == 4 and a[3].upper() != b"WITHVALUES"):
        raise CommandError(b"-ERR syntax error\r\n")
    h = c.db.get(a[1])
    if h is not None and type(h) is not dict:
        raise WrongType()
    rng = c.db.ks.rng
    if len(a) == 2:
        return resp.bulk(rng.choice(list(h)), c.proto) if h else resp.null(c.proto)
    count = to_int(a[2])
    withvalues = len(a) == 4
    if (count < 0 and too_many_repeats(c, -count)) or (withvalues and count < -(2**62)):
        return b"-ERR value is out of range\r\n"
    if not h:
        return resp.EMPTY_ARRAY
    fields = list(h)
    if count >= 0:
        picked = rng.sample(fields, min(count, len(fields)))
    else:
        repeats = random_repeats(c, fields, -count)
        if repeats is None:  # past the client's output limit: it was disconnected
            return resp.EMPTY_ARRAY
        picked = repeats
    if not withvalues:
        return resp.bulks(picked)
    if c.proto == 3:
        return b"*%d\r\n" % len(picked) + b"".join(
            b"*2\r\n" + resp.bulk(f) + resp.bulk(h[f]) for f in picked
        )
    return resp.bulks([x for f in picked for x in (f, h[f])])
