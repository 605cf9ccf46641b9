"""Sorted set commands (Redis's t_zset.c): ZADD ... ZSCAN, the blocking pops, the set algebra.

A sorted set is a ``skiplist.SortedSet`` (skip list + dict). Every command
parses its arguments fully before touching the keyspace (a bad score in the
third pair leaves the set as it was), then changes the set, then encodes
its reply.

Scores are doubles. Input is read as Redis's strtod check does (``inf``,
``-inf``, ``1e3`` allowed; NaN and trailing garbage refused); output is
``%.17g`` (Redis 7.0's addReplyDouble): a bulk string in RESP2, a RESP3
double (``,1.5``) in RESP3, ``inf``/``-inf`` spelled out. An INCR that would
produce NaN (``inf`` + ``-inf``) is refused; in ZUNIONSTORE's SUM and in
weights Redis turns NaN into 0, and so do we.

Encoding. ``SortedSet.listpack`` records what OBJECT ENCODING says, under
Redis 7.0's rules: a new set starts as a listpack unless
zset-max-listpack-entries is 0 or its first member is longer than
zset-max-listpack-value; it becomes a skiplist once it grows past either
limit and never goes back; a stored result (ZUNIONSTORE, ZRANGESTORE, ...)
is a listpack when it fits. The config names have the old ``ziplist``
aliases too.

ZSCAN answers the whole set in one reply with cursor 0, in score order
(allowed: COUNT is only a hint, and every member present for the whole scan
is returned); Redis does that for listpack sets and walks its hash table
otherwise, so a big set's ZSCAN costs one O(n) reply here.
"""

from __future__ import annotations

import math
import re
from typing import Any

from netlib import resp

from ..keyspace import ELEMENT_SIZES, ENCODINGS, TYPE_NAMES, WrongType
from ..skiplist import LexRange, Node, ScoreRange, SortedSet
from ..table import (
    INT64_MAX,
    INT64_MIN,
    NOT_FLOAT,
    REGISTRY,
    SYNTAX,
    CommandError,
    command,
    to_float,
    to_int,
)
from . import server as server_commands
from .keys import parse_cursor, parse_scan_options
from .lists import parse_timeout

G = "sorted-set"
TYPE_NAMES[SortedSet] = b"zset"

# A skip list node, a dict entry and the member's sds header, roughly.
ZSET_MEMBER_OVERHEAD = 48

NOT_FLOAT_RANGE = b"-ERR min or max is not a float\r\n"
NOT_LEX_RANGE = b"-ERR min or max not valid string range item\r\n"
NAN_RESULT = b"-ERR resulting score is not a number (NaN)\r\n"
MAX_RANDOM_REPEATS = 10_000_000  # as SRANDMEMBER: a bound on a negative count's reply

# --- configuration: zset-max-listpack-entries / -value (and their ziplist aliases) ----

DEFAULT_MAX_ENTRIES = 128
DEFAULT_MAX_VALUE = 64


def _limits(c: Any) -> tuple[int, int]:
    st = c.state
    return (
        getattr(st, "zset_max_listpack_entries", DEFAULT_MAX_ENTRIES),
        getattr(st, "zset_max_listpack_value", DEFAULT_MAX_VALUE),
    )


def _setter(attr: str) -> Any:
    def set_(st: Any, v: str) -> None:
        n = int(v)
        if n < 0:
            raise ValueError(v)
        setattr(st, attr, n)

    return set_


def _getter(attr: str, default: int) -> Any:
    return lambda st: str(getattr(st, attr, default))


for _suffix, _attr, _default in (
    ("entries", "zset_max_listpack_entries", DEFAULT_MAX_ENTRIES),
    ("value", "zset_max_listpack_value", DEFAULT_MAX_VALUE),
):
    for _name in (f"zset-max-listpack-{_suffix}", f"zset-max-ziplist-{_suffix}"):
        server_commands.SETTERS[_name] = _setter(_attr)
        server_commands.GETTERS[_name] = _getter(_attr, _default)


def encoding(zs: SortedSet) -> bytes:
    """What OBJECT ENCODING reports."""
    return b"listpack" if zs.listpack else b"skiplist"


ENCODINGS[SortedSet] = encoding
ELEMENT_SIZES[SortedSet] = lambda zs: sum(len(m) + ZSET_MEMBER_OVERHEAD for m in zs.scores)


# --- scores: parsing and formatting -----------------------------------------------------


def strict_float(b: bytes, err: bytes = NOT_FLOAT) -> float:
    """Redis's getDoubleFromObject: strtod, refusing NaN and what over- or underflows
    (``1e309``, ``1e-400``, ``0x1p1024``); ``inf`` itself is fine, and so is a C99 hex
    float (``0x10``, ``-0x1.8p3``), which strtod reads too."""
    if _is_hex(b):
        x = _hex_float(b, err)
        if math.isinf(x) or (x == 0.0 and b.lower().split(b"p")[0].translate(None, b"+-.0x")):
            raise CommandError(err)  # strtod's ERANGE: an overflow, or an underflow to 0
        return x
    x = to_float(b, err)
    if math.isinf(x) and b"inf" not in b.lower():
        raise CommandError(err)
    # 0 from a mantissa with a non-zero digit: an underflow. (float() took it, so the
    # mantissa holds only a sign, digits and a point.)
    if x == 0.0 and b.lower().split(b"e")[0].translate(None, b"+-.0"):
        raise CommandError(err)
    return x


# The rest of a hex float after its "0x" (and optional sign):
# hex digits with at most one point (at least one digit), then an optional binary exponent.
_HEX_REST = re.compile(rb"(?=\.?[0-9a-fA-F])[0-9a-fA-F]*(?:\.[0-9a-fA-F]*)?(?:[pP][+-]?[0-9]+)?")


def _is_hex(b: bytes) -> bool:
    """Starts as strtod's hex floats do: "0x" or "0X", after an optional sign."""
    return b[:2] in (b"0x", b"0X") or (b[:1] in (b"+", b"-") and b[1:3] in (b"0x", b"0X"))


def _hex_float(b: bytes, err: bytes) -> float:
    """A C99 hex float as strtod reads it, whole (trailing junk refused); an overflow
    is an infinity of its sign (strtod's HUGE_VAL), an underflow 0."""
    sign = b[:1] if b[:1] in (b"+", b"-") else b""
    rest = b[len(sign) + 2 :]
    if not _HEX_REST.fullmatch(rest):
        raise CommandError(err)
    try:
        return float.fromhex((sign + b"0x" + rest).decode())
    except OverflowError:
        return -math.inf if sign == b"-" else math.inf


def parse_score(b: bytes) -> float:
    return strict_float(b)


def format_score(x: float) -> bytes:
    """``%.17g``, which spells the infinities ``inf``/``-inf`` as Redis does (NaN never gets here)."""
    return b"%.17g" % (x + 0.0)  # (+ 0.0: -0 is spelled 0, as redis-server 7.0 does)


def score_reply(x: float, proto: int) -> bytes:
    s = b"%.17g" % (x + 0.0)  # (-0 is spelled 0, as redis-server 7.0 does)
    if proto == 3:
        return b",%s\r\n" % s
    return b"$%d\r\n%s\r\n" % (len(s), s)


def pairs_reply(items: list[tuple[bytes, float]], withscores: bool, proto: int) -> bytes:
    """Members, or members with scores: flat in RESP2, [member, score] pairs in RESP3."""
    if not withscores:
        return resp.bulks([m for m, _ in items])
    parts = []
    if proto == 3:
        parts.append(b"*%d\r\n" % len(items))
        for m, s in items:
            parts.append(b"*2\r\n$%d\r\n%s\r\n,%.17g\r\n" % (len(m), m, s + 0.0))
    else:
        parts.append(b"*%d\r\n" % (2 * len(items)))
        for m, s in items:
            t = b"%.17g" % (s + 0.0)
            parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(m), m, len(t), t))
    return b"".join(parts)


def _range_float(b: bytes) -> float:
    """strtod as zslParseRange uses it: leading spaces allowed, NaN and trailing junk not."""
    if not b:
        return 0.0  # strtod of "" converts nothing and stops at the end: Redis reads 0
    if b"_" in b or b.rstrip() != b:
        raise CommandError(NOT_FLOAT_RANGE)
    h = b.lstrip()
    if _is_hex(h):
        return _hex_float(h, NOT_FLOAT_RANGE)  # (an overflow is an infinity, as strtod's)
    try:
        x = float(b)
    except ValueError:
        raise CommandError(NOT_FLOAT_RANGE) from None
    if math.isnan(x):
        raise CommandError(NOT_FLOAT_RANGE)
    return x


def parse_score_range(lo: bytes, hi: bytes) -> ScoreRange:
    lo_ex, hi_ex = lo[:1] == b"(", hi[:1] == b"("
    return ScoreRange(
        _range_float(lo[1:] if lo_ex else lo), _range_float(hi[1:] if hi_ex else hi), lo_ex, hi_ex
    )


def _lex_item(b: bytes) -> tuple[str, bytes, bool]:
    """('-'|'+'|'v', value, exclusive) for one ZRANGEBYLEX bound."""
    if b == b"-":
        return "-", b"", False
    if b == b"+":
        return "+", b"", False
    if b[:1] == b"(":
        return "v", b[1:], True
    if b[:1] == b"[":
        return "v", b[1:], False
    raise CommandError(NOT_LEX_RANGE)


def parse_lex_range(lo: bytes, hi: bytes) -> LexRange:
    k1, v1, ex1 = _lex_item(lo)
    k2, v2, ex2 = _lex_item(hi)
    return LexRange(
        None if k1 == "-" else v1,
        None if k2 == "+" else v2,
        ex1,
        ex2,
        min_is_plus=k1 == "+",
        max_is_minus=k2 == "-",
    )


# --- keyspace helpers ------------------------------------------------------------------


def _zset(c: Any, key: bytes) -> SortedSet | None:
    return c.db.get_typed(key, SortedSet)


def _zset_for_write(c: Any, key: bytes) -> SortedSet | None:
    """The write lookup (no hit/miss counted): ZADD, ZINCRBY, ZREM*, the pops."""
    return c.db.get_typed_for_write(key, SortedSet)


def new_zset(c: Any, first_member_len: int) -> SortedSet:
    entries, value = _limits(c)
    return SortedSet(listpack=entries > 0 and first_member_len <= value, rng=c.db.ks.rng)


def zset_add(c: Any, key: bytes, zs: SortedSet, member: bytes, score: float) -> bool:
    """Add or rescore one member, keeping memory and encoding right; True when new."""
    if zs.add(member, score):
        c.db.grow(key, len(member) + ZSET_MEMBER_OVERHEAD)
        if zs.listpack:
            entries, value = _limits(c)
            if len(zs) > entries or len(member) > value:
                zs.listpack = False
        return True
    c.db.grow(key, 0)  # a write all the same (WATCH)
    return False


def zset_remove(c: Any, key: bytes, zs: SortedSet, member: bytes) -> bool:
    if zs.remove(member):
        c.db.grow(key, -(len(member) + ZSET_MEMBER_OVERHEAD))
        return True
    return False


def store(c: Any, dst: bytes, items: list[tuple[bytes, float]], changes: int = 1) -> int:
    """Replace ``dst`` with a set of ``items`` (deleting it when empty); the new length.
    ``changes`` is what Redis counts for a stored result (one; GEO*STORE: the items);
    an empty result counts one when it deleted ``dst``."""
    db = c.db
    if not items:
        db.delete(dst)
        return 0
    if db.delete(dst):
        db.ks.dirty -= 1  # the replacement is the change
    entries, value = _limits(c)
    zs = SortedSet(rng=db.ks.rng)
    size = 0
    for m, s in items:
        if zs.add(m, s):
            size += len(m) + ZSET_MEMBER_OVERHEAD
    zs.listpack = len(zs) <= entries and max(len(m) for m, _ in items) <= value
    db.put_new(dst, zs)
    db.grow(dst, size, changes)
    signal(c, dst)
    return len(zs)


def signal(c: Any, key: bytes) -> None:
    blocking = c.state.blocking
    if blocking.waiters:
        blocking.signal(c.db.index, key)


# --- ZADD, ZINCRBY, ZREM, reads ----------------------------------------------------------


def zadd_generic(c: Any, a: list[bytes], incr: bool) -> bytes:
    nx = xx = gt = lt = ch = False
    i = 2
    while i < len(a):
        o = a[i].upper()
        if o == b"NX":
            nx = True
        elif o == b"XX":
            xx = True
        elif o == b"GT":
            gt = True
        elif o == b"LT":
            lt = True
        elif o == b"CH":
            ch = True
        elif o == b"INCR":
            incr = True
        else:
            break
        i += 1
    rest = a[i:]
    if not rest or len(rest) % 2:
        raise CommandError(SYNTAX)
    if nx and xx:
        raise CommandError("XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError("GT, LT, and/or NX options at the same time are not compatible")
    if incr and len(rest) > 2:
        raise CommandError("INCR option supports a single increment-element pair")
    pairs = [(parse_score(rest[j]), rest[j + 1]) for j in range(0, len(rest), 2)]
    db, key = c.db, a[1]
    zs = _zset_for_write(c, key)
    if zs is None:
        if xx:
            return resp.null(c.proto) if incr else resp.ZERO
        zs = new_zset(c, len(pairs[0][1]))
        db.put_new(key, zs)
    added = updated = 0
    result: float | None = None
    for score, member in pairs:
        cur = zs.scores.get(member)
        if cur is not None:
            if nx:
                continue
            new = cur + score if incr else score
            if math.isnan(new):
                db.delete_if_empty(key, zs)
                raise CommandError(NAN_RESULT)
            if (lt and new >= cur) or (gt and new <= cur):
                continue
            result = new
            if new != cur:
                zset_add(c, key, zs, member, new)
                updated += 1
        else:
            if xx:
                continue
            zset_add(c, key, zs, member, score)
            result = score
            added += 1
    db.delete_if_empty(key, zs)
    if added:
        signal(c, key)
    if incr:
        return resp.null(c.proto) if result is None else score_reply(result, c.proto)
    return resp.integer(added + updated if ch else added)


@command("ZADD", -4, "write denyoom fast", (1, 1, 1), G, "Add members or update their scores")
def zadd(c: Any, a: list[bytes]) -> bytes:
    """``ZADD key score member`` with a plain decimal score takes the short way: what
    ``zadd_generic`` does for it (one write lookup, no hit or miss counted), without its
    option and pair loops; every other form the general one."""
    if len(a) == 4:
        b = a[2]
        # Digits only: no option word, and float() reads them as strtod does (a value
        # that is 0 is all zeros, and a finite one; 300 digits stay below 1e309).
        if b.isdigit() and len(b) < 300:
            db, key = c.db, a[1]
            score, member = float(b), a[3]
            zs = db.get_for_write(key)
            if zs is None:
                zs = new_zset(c, len(member))
                db.put_new(key, zs)
            elif type(zs) is not SortedSet:
                raise WrongType()
            cur = zs.scores.get(member)
            if cur is None:
                zset_add(c, key, zs, member, score)
                signal(c, key)
                return resp.ONE
            if cur != score:  # a new score: a write (an equal one is none, as in Redis)
                zset_add(c, key, zs, member, score)
            return resp.ZERO
    return zadd_generic(c, a, False)


@command("ZINCRBY", 4, "write denyoom fast", (1, 1, 1), G, "Increment a member's score")
def zincrby(c: Any, a: list[bytes]) -> bytes:
    return zadd_generic(c, [a[0], a[1], b"INCR", a[2], a[3]], True)


@command("ZREM", -3, "write fast", (1, 1, 1), G, "Remove members")
def zrem(c: Any, a: list[bytes]) -> bytes:
    zs = _zset_for_write(c, a[1])
    if zs is None:
        return resp.ZERO
    n = sum(zset_remove(c, a[1], zs, m) for m in a[2:])
    c.db.delete_if_empty(a[1], zs)
    return resp.integer(n)


@command("ZCARD", 2, "readonly fast", (1, 1, 1), G, "The number of members")
def zcard(c: Any, a: list[bytes]) -> bytes:
    zs = _zset(c, a[1])
    return resp.integer(len(zs) if zs else 0)


@command("ZSCORE", 3, "readonly fast", (1, 1, 1), G, "A member's score")
def zscore(c: Any, a: list[bytes]) -> bytes:
    zs = _zset(c, a[1])
    s = zs.scores.get(a[2]) if zs else None
    return resp.null(c.proto) if s is None else score_reply(s, c.proto)


@command("ZMSCORE", -3, "readonly fast", (1, 1, 1), G, "The scores of several members")
def zmscore(c: Any, a: list[bytes]) -> bytes:
    zs = _zset(c, a[1])
    scores = zs.scores if zs else {}
    out = [b"*%d\r\n" % (len(a) - 2)]
    for m in a[2:]:
        s = scores.get(m)
        out.append(resp.null(c.proto) if s is None else score_reply(s, c.proto))
    return b"".join(out)


def _rank(c: Any, a: list[bytes], rev: bool) -> bytes:
    zs = _zset(c, a[1])
    r = zs.rank(a[2]) if zs else None
    if r is None:
        return resp.null(c.proto)
    return resp.integer(len(zs) - 1 - r if rev and zs else r)


@command("ZRANK", 3, "readonly fast", (1, 1, 1), G, "A member's rank, lowest score first")
def zrank(c: Any, a: list[bytes]) -> bytes:
    return _rank(c, a, False)


@command("ZREVRANK", 3, "readonly fast", (1, 1, 1), G, "A member's rank, highest score first")
def zrevrank(c: Any, a: list[bytes]) -> bytes:
    return _rank(c, a, True)


def _count_nodes(zs: SortedSet, first: Node | None, last: Node | None) -> int:
    if first is None or last is None:
        return 0
    return zs.node_rank(last) - zs.node_rank(first) + 1


@command("ZCOUNT", 4, "readonly fast", (1, 1, 1), G, "Count the members in a score range")
def zcount(c: Any, a: list[bytes]) -> bytes:
    r = parse_score_range(a[2], a[3])
    zs = _zset(c, a[1])
    if not zs:
        return resp.ZERO
    return resp.integer(_count_nodes(zs, zs.zsl.first_in_score(r), zs.zsl.last_in_score(r)))


@command("ZLEXCOUNT", 4, "readonly fast", (1, 1, 1), G, "Count the members in a lex range")
def zlexcount(c: Any, a: list[bytes]) -> bytes:
    r = parse_lex_range(a[2], a[3])
    zs = _zset(c, a[1])
    if not zs:
        return resp.ZERO
    return resp.integer(_count_nodes(zs, zs.zsl.first_in_lex(r), zs.zsl.last_in_lex(r)))


# --- ranges ---------------------------------------------------------------------------------


def rank_bounds(n: int, start: int, stop: int) -> tuple[int, int] | None:
    """Redis's index rules (negatives from the end, clamped); None when empty."""
    if start < 0:
        start += n
    if stop < 0:
        stop += n
    start = max(start, 0)
    if start > stop or start >= n:
        return None
    return start, min(stop, n - 1)


def walk(node: Node | None, rev: bool, count: int) -> list[tuple[bytes, float]]:
    out = []
    while node is not None and count:
        out.append((node.member, node.score))
        count -= 1
        node = node.backward if rev else node.forward[0]
    return out


def by_rank(zs: SortedSet, start: int, stop: int, rev: bool) -> list[tuple[bytes, float]]:
    bounds = rank_bounds(len(zs), start, stop)
    if bounds is None:
        return []
    lo, hi = bounds
    n = len(zs)
    first = zs.node_at(n - 1 - lo if rev else lo)
    return walk(first, rev, hi - lo + 1)


def _skip(zs: SortedSet, node: Node | None, offset: int, rev: bool) -> Node | None:
    """The node ``offset`` places further on (by rank: O(log n), not a walk)."""
    if node is None or offset <= 0:
        return node
    r = zs.node_rank(node) + (-offset if rev else offset)
    return zs.node_at(r) if 0 <= r < len(zs) else None


def by_score(
    zs: SortedSet, r: ScoreRange, rev: bool, offset: int, count: int
) -> list[tuple[bytes, float]]:
    if offset < 0:
        return []
    zsl = zs.zsl
    node = _skip(zs, zsl.last_in_score(r) if rev else zsl.first_in_score(r), offset, rev)
    out: list[tuple[bytes, float]] = []
    while node is not None and count != 0:
        if not (r.above_min(node.score) if rev else r.below_max(node.score)):
            break
        out.append((node.member, node.score))
        count -= 1
        node = node.backward if rev else node.forward[0]
    return out


def by_lex(
    zs: SortedSet, r: LexRange, rev: bool, offset: int, count: int
) -> list[tuple[bytes, float]]:
    if offset < 0:
        return []
    zsl = zs.zsl
    node = _skip(zs, zsl.last_in_lex(r) if rev else zsl.first_in_lex(r), offset, rev)
    out: list[tuple[bytes, float]] = []
    while node is not None and count != 0:
        if not (r.above_min(node.member) if rev else r.below_max(node.member)):
            break
        out.append((node.member, node.score))
        count -= 1
        node = node.backward if rev else node.forward[0]
    return out


def zrange_generic(
    c: Any,
    a: list[bytes],
    key_at: int,
    kind: str,
    rev: bool,
    opts_from: int,
    store_to: bytes | None,
) -> bytes:
    """ZRANGE and every older form: ``kind`` is "rank", "score" or "lex" unless BY* says."""
    withscores = False
    offset, count = 0, -1
    auto = a[0].upper() in (b"ZRANGE", b"ZRANGESTORE")  # BY*/REV only there, as in Redis
    kind_given = rev_given = not auto
    i = opts_from
    while i < len(a):
        o = a[i].upper()
        if o == b"WITHSCORES" and store_to is None:
            withscores = True
        elif o == b"LIMIT" and i + 2 < len(a):
            offset, count = to_int(a[i + 1]), to_int(a[i + 2])
            i += 2
        elif o == b"REV" and not rev_given:
            rev = rev_given = True
        elif o in (b"BYSCORE", b"BYLEX") and not kind_given:
            kind = "score" if o == b"BYSCORE" else "lex"
            kind_given = True
        else:
            raise CommandError(SYNTAX)
        i += 1
    if count != -1 and kind == "rank":  # Redis checks the count, not whether LIMIT was given
        raise CommandError(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    if withscores and kind == "lex":
        raise CommandError("syntax error, WITHSCORES not supported in combination with BYLEX")
    lo, hi = a[key_at + 1], a[key_at + 2]
    if rev and kind != "rank":
        lo, hi = hi, lo  # ZREVRANGEBYSCORE key max min
    key = a[key_at]
    items: list[tuple[bytes, float]]
    if kind == "rank":
        start, stop = to_int(lo), to_int(hi)
        zs = _zset(c, key)
        items = by_rank(zs, start, stop, rev) if zs else []
    elif kind == "score":
        sr = parse_score_range(lo, hi)
        zs = _zset(c, key)
        items = by_score(zs, sr, rev, offset, count) if zs else []
    else:
        lr = parse_lex_range(lo, hi)
        zs = _zset(c, key)
        items = by_lex(zs, lr, rev, offset, count) if zs else []
    if store_to is not None:
        return resp.integer(store(c, store_to, items))
    return pairs_reply(items, withscores, c.proto)


@command("ZRANGE", -4, "readonly", (1, 1, 1), G, "A range of members by rank, score or lex")
def zrange(c: Any, a: list[bytes]) -> bytes:
    return zrange_generic(c, a, 1, "rank", False, 4, None)


@command("ZRANGESTORE", -5, "write denyoom", (1, 2, 1), G, "Store a range of members")
def zrangestore(c: Any, a: list[bytes]) -> bytes:
    return zrange_generic(c, a, 2, "rank", False, 5, a[1])


@command("ZREVRANGE", -4, "readonly", (1, 1, 1), G, "A range of members by rank, highest first")
def zrevrange(c: Any, a: list[bytes]) -> bytes:
    return zrange_generic(c, a, 1, "rank", True, 4, None)


@command("ZRANGEBYSCORE", -4, "readonly", (1, 1, 1), G, "Members in a score range")
def zrangebyscore(c: Any, a: list[bytes]) -> bytes:
    return zrange_generic(c, a, 1, "score", False, 4, None)


@command("ZREVRANGEBYSCORE", -4, "readonly", (1, 1, 1), G, "Members in a score range, reversed")
def zrevrangebyscore(c: Any, a: list[bytes]) -> bytes:
    return zrange_generic(c, a, 1, "score", True, 4, None)


@command("ZRANGEBYLEX", -4, "readonly", (1, 1, 1), G, "Members in a lex range")
def zrangebylex(c: Any, a: list[bytes]) -> bytes:
    return zrange_generic(c, a, 1, "lex", False, 4, None)


@command("ZREVRANGEBYLEX", -4, "readonly", (1, 1, 1), G, "Members in a lex range, reversed")
def zrevrangebylex(c: Any, a: list[bytes]) -> bytes:
    return zrange_generic(c, a, 1, "lex", True, 4, None)


def _remove_items(c: Any, key: bytes, zs: SortedSet, items: list[tuple[bytes, float]]) -> bytes:
    for m, _ in items:
        zset_remove(c, key, zs, m)
    c.db.delete_if_empty(key, zs)
    return resp.integer(len(items))


@command("ZREMRANGEBYRANK", 4, "write", (1, 1, 1), G, "Remove members in a rank range")
def zremrangebyrank(c: Any, a: list[bytes]) -> bytes:
    start, stop = to_int(a[2]), to_int(a[3])
    zs = _zset_for_write(c, a[1])
    if not zs:
        return resp.ZERO
    return _remove_items(c, a[1], zs, by_rank(zs, start, stop, False))


@command("ZREMRANGEBYSCORE", 4, "write", (1, 1, 1), G, "Remove members in a score range")
def zremrangebyscore(c: Any, a: list[bytes]) -> bytes:
    r = parse_score_range(a[2], a[3])
    zs = _zset_for_write(c, a[1])
    if not zs:
        return resp.ZERO
    return _remove_items(c, a[1], zs, by_score(zs, r, False, 0, -1))


@command("ZREMRANGEBYLEX", 4, "write", (1, 1, 1), G, "Remove members in a lex range")
def zremrangebylex(c: Any, a: list[bytes]) -> bytes:
    r = parse_lex_range(a[2], a[3])
    zs = _zset_for_write(c, a[1])
    if not zs:
        return resp.ZERO
    return _remove_items(c, a[1], zs, by_lex(zs, r, False, 0, -1))


# --- pops ---------------------------------------------------------------------------------


def pop(c: Any, key: bytes, zs: SortedSet, maximum: bool, count: int) -> list[tuple[bytes, float]]:
    out: list[tuple[bytes, float]] = []
    zsl = zs.zsl
    for _ in range(min(count, len(zs))):
        node = zsl.tail if maximum else zsl.first()
        assert node is not None
        out.append((node.member, node.score))
        zset_remove(c, key, zs, node.member)
    c.db.delete_if_empty(key, zs)
    return out


def _first_zset(c: Any, keys: list[bytes]) -> tuple[bytes, SortedSet] | None:
    for k in keys:
        zs = _zset_for_write(c, k)
        if zs:
            return k, zs
    return None


def _keyed_pairs(key: bytes, items: list[tuple[bytes, float]], proto: int) -> bytes:
    """ZMPOP's reply: [key, [[member, score], ...]] in both protocols."""
    body = b"".join(b"*2\r\n$%d\r\n%s\r\n" % (len(m), m) + score_reply(s, proto) for m, s in items)
    return b"*2\r\n" + resp.bulk(key) + b"*%d\r\n" % len(items) + body


def _zpop(c: Any, a: list[bytes], maximum: bool) -> bytes:
    if len(a) > 3:
        raise CommandError(SYNTAX)
    count = None
    if len(a) == 3:
        count = to_int(a[2], resp.error("value is out of range, must be positive"))
        if count < 0:
            raise CommandError("value is out of range, must be positive")
    zs = _zset_for_write(c, a[1])
    if zs is None or count == 0:
        return resp.EMPTY_ARRAY
    items = pop(c, a[1], zs, maximum, 1 if count is None else count)
    if count is not None and c.proto == 3:
        return pairs_reply(items, True, 3)
    return b"*%d\r\n" % (2 * len(items)) + b"".join(
        resp.bulk(m) + score_reply(s, c.proto) for m, s in items
    )


@command("ZPOPMIN", -2, "write fast", (1, 1, 1), G, "Remove and return the lowest members")
def zpopmin(c: Any, a: list[bytes]) -> bytes:
    return _zpop(c, a, False)


@command("ZPOPMAX", -2, "write fast", (1, 1, 1), G, "Remove and return the highest members")
def zpopmax(c: Any, a: list[bytes]) -> bytes:
    return _zpop(c, a, True)


def _parse_mpop(a: list[bytes], numkeys_at: int) -> tuple[list[bytes], bool, int]:
    numkeys = to_int(a[numkeys_at], resp.error("numkeys should be greater than 0"))
    if numkeys < 1:
        raise CommandError("numkeys should be greater than 0")
    where_at = numkeys_at + numkeys + 1
    if where_at >= len(a):
        raise CommandError(SYNTAX)
    keys = a[numkeys_at + 1 : where_at]
    where = a[where_at].upper()
    if where not in (b"MIN", b"MAX"):
        raise CommandError(SYNTAX)
    count = -1
    i = where_at + 1
    while i < len(a):
        if count == -1 and a[i].upper() == b"COUNT" and i + 1 < len(a):
            count = to_int(a[i + 1], resp.error("count should be greater than 0"))
            if count < 1:
                raise CommandError("count should be greater than 0")
            i += 2
        else:
            raise CommandError(SYNTAX)
    return keys, where == b"MAX", max(count, 1)


@command("ZMPOP", -4, "write", (0, 0, 0), G, "Pop members from the first non-empty set")
def zmpop(c: Any, a: list[bytes]) -> bytes:
    keys, maximum, count = _parse_mpop(a, 1)
    found = _first_zset(c, keys)
    if found is None:
        return resp.null_array(c.proto)
    key, zs = found
    return _keyed_pairs(key, pop(c, key, zs, maximum, count), c.proto)


def _block(c: Any, keys: list[bytes], timeout: float, serve: Any) -> bytes | None:
    if c.in_exec:
        return resp.null_array(c.proto)
    c.park(keys, False, timeout)
    c.blocked.serve = lambda db, key: (
        None if (value := db.peek(key)) is None else serve(db, key, value)
    )
    return None  # answered by a ZADD (blocking.serve_ready) or the timeout


def _bzpop(c: Any, a: list[bytes], maximum: bool) -> bytes | None:
    timeout = parse_timeout(a[-1])
    keys = a[1:-1]
    found = _first_zset(c, keys)
    if found is not None:
        key, zs = found
        return _bzpop_reply(key, pop(c, key, zs, maximum, 1), c.proto)

    def serve(db: Any, key: bytes, value: Any) -> bytes | None:
        if type(value) is not SortedSet or not value:
            return None
        return _bzpop_reply(key, pop(c, key, value, maximum, 1), c.proto)

    return _block(c, keys, timeout, serve)


def _bzpop_reply(key: bytes, items: list[tuple[bytes, float]], proto: int) -> bytes:
    ((m, s),) = items
    return b"*3\r\n" + resp.bulk(key) + resp.bulk(m) + score_reply(s, proto)


@command("BZPOPMIN", -3, "write blocking fast", (1, -2, 1), G, "ZPOPMIN, or block")
def bzpopmin(c: Any, a: list[bytes]) -> bytes | None:
    return _bzpop(c, a, False)


@command("BZPOPMAX", -3, "write blocking fast", (1, -2, 1), G, "ZPOPMAX, or block")
def bzpopmax(c: Any, a: list[bytes]) -> bytes | None:
    return _bzpop(c, a, True)


@command("BZMPOP", -5, "write blocking", (0, 0, 0), G, "ZMPOP, or block")
def bzmpop(c: Any, a: list[bytes]) -> bytes | None:
    timeout = parse_timeout(a[1])
    keys, maximum, count = _parse_mpop(a, 2)
    found = _first_zset(c, keys)
    if found is not None:
        key, zs = found
        return _keyed_pairs(key, pop(c, key, zs, maximum, count), c.proto)

    def serve(db: Any, key: bytes, value: Any) -> bytes | None:
        if type(value) is not SortedSet or not value:
            return None
        return _keyed_pairs(key, pop(c, key, value, maximum, count), c.proto)

    return _block(c, keys, timeout, serve)


# --- ZRANDMEMBER ------------------------------------------------------------------------------


@command("ZRANDMEMBER", -2, "readonly", (1, 1, 1), G, "Random members")
def zrandmember(c: Any, a: list[bytes]) -> bytes:
    count = to_int(a[2]) if len(a) >= 3 else 0
    if count == INT64_MIN:  # Redis takes -LONG_MAX..LONG_MAX
        raise CommandError(
            f"value is out of range, value must between {-INT64_MAX} and {INT64_MAX}"
        )
    if len(a) > 4 or (len(a) == 4 and a[3].upper() != b"WITHSCORES"):
        raise CommandError(SYNTAX)
    if len(a) == 2:
        zs = _zset(c, a[1])
        if not zs:
            return resp.null(c.proto)
        node = zs.node_at(c.db.ks.rng.randrange(len(zs)))
        assert node is not None
        return resp.bulk(node.member)
    withscores = len(a) == 4
    if withscores and not -(INT64_MAX // 2) <= count <= INT64_MAX // 2:
        raise CommandError("value is out of range")
    zs = _zset(c, a[1])
    if not zs or count == 0:
        return resp.EMPTY_ARRAY
    rng, n = c.db.ks.rng, len(zs)
    if count < 0:
        if -count > MAX_RANDOM_REPEATS:
            raise CommandError("value is out of range")
        picks = [rng.randrange(n) for _ in range(-count)]
    elif count >= n:  # the whole set, highest first: Redis's set iterator walks backwards
        return pairs_reply(walk(zs.zsl.tail, True, n), withscores, c.proto)
    else:
        picks = rng.sample(range(n), count)
    items = []
    for i in picks:
        node = zs.node_at(i)
        assert node is not None
        items.append((node.member, node.score))
    return pairs_reply(items, withscores, c.proto)


# --- set algebra: ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD ------------------------


def _sources(c: Any, keys: list[bytes]) -> list[dict[bytes, float]]:
    """Each input as member -> score; a plain set counts every member with score 1."""
    out: list[dict[bytes, float]] = []
    for k in keys:
        v = c.db.get(k)
        if v is None:
            out.append({})
        elif type(v) is SortedSet:
            out.append(v.scores)
        elif type(v) is set:
            out.append(dict.fromkeys(v, 1.0))
        else:
            raise WrongType()
    return out


def _aggregate(how: bytes, acc: float, v: float) -> float:
    if how == b"SUM":
        s = acc + v
        return 0.0 if math.isnan(s) else s
    if how == b"MIN":
        return v if v < acc else acc
    return v if v > acc else acc


def _weighted(s: float, w: float) -> float:
    x = s * w
    return 0.0 if math.isnan(x) else x


def setop(
    c: Any, a: list[bytes], numkeys_at: int, op: str, store_to: bytes | None, card: bool = False
) -> bytes:
    name = a[0].decode(errors="replace").lower()
    numkeys = to_int(a[numkeys_at])
    if numkeys < 1:
        raise CommandError(f"at least 1 input key is needed for '{name}' command")
    if numkeys > len(a) - numkeys_at - 1:
        raise CommandError(SYNTAX)
    keys = a[numkeys_at + 1 : numkeys_at + 1 + numkeys]
    sources = _sources(c, keys)
    weights = [1.0] * numkeys
    how, withscores, limit = b"SUM", False, 0
    j = numkeys_at + 1 + numkeys
    while j < len(a):
        o = a[j].upper()
        remaining = len(a) - j
        if op != "diff" and not card and o == b"WEIGHTS" and remaining > numkeys:
            weights = [strict_float(w, resp.error("weight value is not a float"))
                       for w in a[j + 1 : j + 1 + numkeys]]  # fmt: skip
            j += 1 + numkeys
        elif op != "diff" and not card and o == b"AGGREGATE" and remaining >= 2:
            how = a[j + 1].upper()
            if how not in (b"SUM", b"MIN", b"MAX"):
                raise CommandError(SYNTAX)
            j += 2
        elif store_to is None and not card and o == b"WITHSCORES":
            withscores = True
            j += 1
        elif card and o == b"LIMIT" and remaining >= 2:
            limit = to_int(a[j + 1], resp.error("LIMIT can't be negative"))
            if limit < 0:
                raise CommandError("LIMIT can't be negative")
            j += 2
        else:
            raise CommandError(SYNTAX)
    result: dict[bytes, float] = {}
    if op == "diff":
        first, rest = sources[0], sources[1:]
        result = {m: s for m, s in first.items() if not any(m in r for r in rest)}
    else:
        order = sorted(range(numkeys), key=lambda i: len(sources[i]))
        if op == "inter":
            small = sources[order[0]]
            found = 0
            for m, s in small.items():
                score = _weighted(s, weights[order[0]])
                for i in order[1:]:
                    v = sources[i].get(m)
                    if v is None:
                        break
                    score = _aggregate(how, score, _weighted(v, weights[i]))
                else:
                    if card:
                        found += 1
                        if limit and found >= limit:
                            break
                    else:
                        result[m] = score
            if card:
                return resp.integer(found)
        else:
            for i in order:
                w = weights[i]
                for m, s in sources[i].items():
                    score = _weighted(s, w)
                    acc = result.get(m)
                    result[m] = score if acc is None else _aggregate(how, acc, score)
    items = sorted(result.items(), key=lambda p: (p[1], p[0]))
    if store_to is not None:
        return resp.integer(store(c, store_to, items))
    return pairs_reply(items, withscores, c.proto)


@command("ZUNION", -3, "readonly", (0, 0, 0), G, "The union of sorted sets")
def zunion(c: Any, a: list[bytes]) -> bytes:
    return setop(c, a, 1, "union", None)


@command("ZINTER", -3, "readonly", (0, 0, 0), G, "The intersection of sorted sets")
def zinter(c: Any, a: list[bytes]) -> bytes:
    return setop(c, a, 1, "inter", None)


@command("ZDIFF", -3, "readonly", (0, 0, 0), G, "The difference of sorted sets")
def zdiff(c: Any, a: list[bytes]) -> bytes:
    return setop(c, a, 1, "diff", None)


@command("ZUNIONSTORE", -4, "write denyoom", (1, 1, 1), G, "Store the union of sorted sets")
def zunionstore(c: Any, a: list[bytes]) -> bytes:
    return setop(c, a, 2, "union", a[1])


@command("ZINTERSTORE", -4, "write denyoom", (1, 1, 1), G, "Store the intersection")
def zinterstore(c: Any, a: list[bytes]) -> bytes:
    return setop(c, a, 2, "inter", a[1])


@command("ZDIFFSTORE", -4, "write denyoom", (1, 1, 1), G, "Store the difference")
def zdiffstore(c: Any, a: list[bytes]) -> bytes:
    return setop(c, a, 2, "diff", a[1])


@command("ZINTERCARD", -3, "readonly", (0, 0, 0), G, "The size of the intersection")
def zintercard(c: Any, a: list[bytes]) -> bytes:
    return setop(c, a, 1, "inter", None, card=True)


# --- ZSCAN -------------------------------------------------------------------------------------


@command("ZSCAN", -3, "readonly", (1, 1, 1), G, "Iterate members and scores")
def zscan(c: Any, a: list[bytes]) -> bytes:
    parse_cursor(a[2])
    match, _count, typ = parse_scan_options(a, 3)
    if typ is not None:
        raise CommandError(SYNTAX)
    zs = _zset(c, a[1])
    out: list[bytes] = []
    for m, s in zs.items() if zs else ():
        if match is None or match(m):
            out += (m, format_score(s))
    return b"*2\r\n$1\r\n0\r\n" + resp.bulks(out)


# The argument lines of COMMAND DOCS (redis-cli's hints), as Redis's docs write them.
_RANGE_OPTS = "[BYSCORE|BYLEX] [REV] [LIMIT offset count]"
REGISTRY.syntax.update({
    "zadd": "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]",
    "zrem": "key member [member ...]",
    "zscore": "key member",
    "zmscore": "key member [member ...]",
    "zincrby": "key increment member",
    "zcard": "key",
    "zcount": "key min max",
    "zlexcount": "key min max",
    "zrange": f"key start stop {_RANGE_OPTS} [WITHSCORES]",
    "zrangestore": f"dst src min max {_RANGE_OPTS}",
    "zrangebyscore": "key min max [WITHSCORES] [LIMIT offset count]",
    "zrevrangebyscore": "key max min [WITHSCORES] [LIMIT offset count]",
    "zrangebylex": "key min max [LIMIT offset count]",
    "zrevrangebylex": "key max min [LIMIT offset count]",
    "zrevrange": "key start stop [WITHSCORES]",
    "zrank": "key member",
    "zrevrank": "key member",
    "zpopmin": "key [count]",
    "zpopmax": "key [count]",
    "bzpopmin": "key [key ...] timeout",
    "bzpopmax": "key [key ...] timeout",
    "zmpop": "numkeys key [key ...] MIN|MAX [COUNT count]",
    "bzmpop": "timeout numkeys key [key ...] MIN|MAX [COUNT count]",
    "zrandmember": "key [count [WITHSCORES]]",
    "zunion": "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
    "zinter": "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
    "zdiff": "numkeys key [key ...] [WITHSCORES]",
    "zunionstore": "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
    "zinterstore": "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
    "zdiffstore": "destination numkeys key [key ...]",
    "zintercard": "numkeys key [key ...] [LIMIT limit]",
    "zremrangebyrank": "key start stop",
    "zremrangebyscore": "key min max",
    "zremrangebylex": "key min max",
    "zscan": "key cursor [MATCH pattern] [COUNT count]",
})  # fmt: skip
