"""Set commands: SADD/SREM/SMEMBERS/..., SPOP/SRANDMEMBER, SINTER/SUNION/SDIFF.

A set is a Python ``set`` of bytes. Random picks: a Python set has no O(1)
random access (Redis samples its hash table's buckets), so SPOP and
SRANDMEMBER pick uniformly with ``random.sample`` on sets up to
``RANDOM_EXACT_MAX`` members, and on bigger sets SPOP takes ``set.pop()``'s
arbitrary member to stay O(1): a documented departure from Redis's randomness.
"""

from __future__ import annotations

from typing import Any

from netlib import resp

from ..encoding import note_set
from ..keyspace import SET_MEMBER_OVERHEAD
from ..table import SYNTAX, command, to_int, to_positive
from .keys import parse_cursor, parse_scan_options

G = "set"
RANDOM_EXACT_MAX = 512  # Redis's set-max-listpack-entries scale: small sets pay O(n)


def _set(c: Any, key: bytes) -> set[bytes] | None:
    return c.db.get_typed(key, set)


def _set_for_write(c: Any, key: bytes) -> set[bytes] | None:
    """The write lookup (no hit/miss counted): SADD, SREM, SPOP."""
    return c.db.get_typed_for_write(key, set)


@command("SADD", -3, "write denyoom fast", (1, 1, 1), G, "Add members to a set")
def sadd(c: Any, a: list[bytes]) -> bytes:
    s = _set_for_write(c, a[1])
    if s is None:
        s = set()
        c.db.put_new(a[1], s)
    before = len(s)
    grown = 0
    for m in a[2:]:
        if m not in s:
            s.add(m)
            grown += len(m) + SET_MEMBER_OVERHEAD
    c.db.grow(a[1], grown, len(s) - before)  # Redis: server.dirty += added
    note_set(c, a[1], s, a[2:])
    return resp.integer(len(s) - before)


@command("SREM", -3, "write fast", (1, 1, 1), G, "Remove members from a set")
def srem(c: Any, a: list[bytes]) -> bytes:
    s = _set_for_write(c, a[1])
    if s is None:
        return resp.ZERO
    n = 0
    for m in a[2:]:
        if m in s:
            s.remove(m)
            c.db.grow(a[1], -(len(m) + SET_MEMBER_OVERHEAD))
            n += 1
    c.db.delete_if_empty(a[1], s)
    return resp.integer(n)


@command("SMEMBERS", 2, "readonly", (1, 1, 1), G, "All members of a set")
def smembers(c: Any, a: list[bytes]) -> bytes:
    return resp.set_(_set(c, a[1]) or (), c.proto)


@command("SISMEMBER", 3, "readonly fast", (1, 1, 1), G, "Whether a value is a member")
def sismember(c: Any, a: list[bytes]) -> bytes:
    s = _set(c, a[1])
    return resp.ONE if s and a[2] in s else resp.ZERO


@command("SMISMEMBER", -3, "readonly fast", (1, 1, 1), G, "Whether each value is a member")
def smismember(c: Any, a: list[bytes]) -> bytes:
    s = _set(c, a[1]) or set()
    return b"*%d\r\n" % (len(a) - 2) + b"".join(resp.ONE if m in s else resp.ZERO for m in a[2:])


@command("SCARD", 2, "readonly fast", (1, 1, 1), G, "The number of members")
def scard(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(len(_set(c, a[1]) or ()))


def _pick(c: Any, s: set[bytes], n: int) -> list[bytes]:
    return c.db.ks.rng.sample(sorted(s), n) if n else []


@command("SPOP", -2, "write fast", (1, 1, 1), G, "Remove and return random members")
def spop(c: Any, a: list[bytes]) -> bytes:
    if len(a) > 3:
        return SYNTAX
    count = to_positive(a[2]) if len(a) == 3 else None
    db, key = c.db, a[1]
    s = _set_for_write(c, key)
    if s is None:
        return resp.null(c.proto) if count is None else resp.EMPTY_ARRAY
    n = 1 if count is None else min(count, len(s))
    if len(s) <= RANDOM_EXACT_MAX:
        out = _pick(c, s, n)
        s.difference_update(out)
    else:
        out = [s.pop() for _ in range(n)]
    db.grow(key, -sum(len(m) + SET_MEMBER_OVERHEAD for m in out), n)
    db.delete_if_empty(key, s)
    if count is None:
        return resp.bulk(out[0])
    return resp.set_(out, c.proto)


# A negative SRANDMEMBER count returns that many members, repeats allowed: one
# command could ask for 2**63 of them and the reply is built in memory at once
# (redis-server 7.0.15 itself crashes on -9223372036854775807; 7.2 refuses
# counts below -LONG_MAX/2). We refuse past ten million, a 100+ MB reply, unless
# the client has an output limit: then that bounds the reply (``random_repeats``).
MAX_RANDOM_REPEATS = 10_000_000
REPEATS_CHUNK = 4096  # picks made between two looks at the client's output limit


def random_repeats(c: Any, population: list[bytes], n: int) -> list[bytes] | None:
    """``n`` random picks of ``population``, repeats allowed (SRANDMEMBER and HRANDFIELD with
    a negative count). While the client has a hard output limit (client-output-buffer-limit)
    they are made a chunk at a time, and once their reply (counted low: each pick's bytes
    and its bulk header) would pass that limit the client is disconnected and None is
    answered: Redis stops such a run mid-way too, the client closed, nothing sent."""
    rng = c.db.ks.rng
    room = c.output_room() if c.state.limits_output and hasattr(c, "output_room") else None
    if room is None:
        return [rng.choice(population) for _ in range(n)]
    picked: list[bytes] = []
    size = 0
    while len(picked) < n:
        chunk = [rng.choice(population) for _ in range(min(REPEATS_CHUNK, n - len(picked)))]
        size += sum(map(len, chunk)) + 6 * len(chunk)  # ("$N\r\n" and "\r\n": 6 at least)
        if size > room:
            c.check_output(size)
            return None
        picked += chunk
    return picked


def too_many_repeats(c: Any, n: int) -> bool:
    """A negative count past MAX_RANDOM_REPEATS, refused unless an output limit bounds it."""
    return n > MAX_RANDOM_REPEATS and not (
        c.state.limits_output and hasattr(c, "output_room") and c.output_room() is not None
    )


@command("SRANDMEMBER", -2, "readonly", (1, 1, 1), G, "Random members, without removing them")
def srandmember(c: Any, a: list[bytes]) -> bytes:
    if len(a) > 3:
        return SYNTAX
    s = _set(c, a[1])
    if len(a) == 2:
        return resp.bulk(_pick(c, s, 1)[0], c.proto) if s else resp.null(c.proto)
    count = to_int(a[2])
    if not s:
        return resp.EMPTY_ARRAY
    if count >= 0:
        return resp.bulks(_pick(c, s, min(count, len(s))))
    if too_many_repeats(c, -count):
        return b"-ERR value is out of range\r\n"
    picked = random_repeats(c, list(s), -count)
    return resp.EMPTY_ARRAY if picked is None else resp.bulks(picked)  # (None: disconnected)


def _sets(c: Any, keys: list[bytes]) -> list[set[bytes]]:
    return [_set(c, k) or set() for k in keys]


@command("SINTER", -2, "readonly", (1, -1, 1), G, "The intersection of sets")
def sinter(c: Any, a: list[bytes]) -> bytes:
    sets = sorted(_sets(c, a[1:]), key=len)
    return resp.set_(set.intersection(*sets) if sets[0] else (), c.proto)


@command("SUNION", -2, "readonly", (1, -1, 1), G, "The union of sets")
def sunion(c: Any, a: list[bytes]) -> bytes:
    return resp.set_(set().union(*_sets(c, a[1:])), c.proto)


@command("SDIFF", -2, "readonly", (1, -1, 1), G, "The members of the first set not in the others")
def sdiff(c: Any, a: list[bytes]) -> bytes:
    first, *rest = _sets(c, a[1:])
    return resp.set_(first.difference(*rest), c.proto)


SSCAN_ALL_AT_ONCE = 128  # a small set is returned in one call (Redis: a listpack or intset)


@command("SSCAN", -3, "readonly", (1, 1, 1), G, "Incrementally iterate set members")
def sscan(c: Any, a: list[bytes]) -> bytes:
    """Like HSCAN: beyond the compact size the cursor is a position in the set's iteration
    order, stable while the set is not changed (Redis's reverse-binary cursor also survives
    a rehash; here members added during a scan may shift it)."""
    cursor = parse_cursor(a[2])
    match, count, _ = parse_scan_options(a, 3)
    members = list(_set(c, a[1]) or ())
    if len(members) <= SSCAN_ALL_AT_ONCE:
        chunk, nxt = members, 0
    else:
        chunk = members[cursor : cursor + count]
        nxt = cursor + count if cursor + count < len(members) else 0
    found = [m for m in chunk if match is None or match(m)]
    return b"*2\r\n" + resp.bulk(b"%d" % nxt) + resp.bulks(found)
