"""SORT and SORT_RO: sort a list, set or sorted set, by itself or by other keys, and fetch other keys.

    SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dest]

A pattern names other keys by substituting the element for the first ``*``:
``BY weight_*`` sorts element ``3`` by the value of ``weight_3``; with
``->field`` after the star it reads that field of a hash (``BY obj_*->age``);
``GET #`` is the element itself. A BY pattern without a star means "don't
sort" (Redis's ``BY nosort``), except that a set stored or sorted for a script
is sorted anyway so the result is deterministic.

Order, as Redis's sortCompare: numeric by default (each weight read as a
double; one that is not a number fails the whole command), equal weights by
the elements' bytes; ALPHA compares bytes (Redis's strcoll in the C locale),
a missing BY key sorting first; DESC reverses. LIMIT is applied after the
sort. STORE writes the result as a list (a missing GET becomes "") and
answers its length.

Sources: any value type registered in ``SORT_SOURCES`` (type -> function
giving its members in their natural order): lists, sets and sorted sets (in
score order; ``BY nosort DESC`` walks a sorted set from the top, as Redis).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from netlib import resp
from servers.respkit.introspect import KEY_FINDERS

from ..keyspace import LIST_ELEM_OVERHEAD, WrongType
from ..skiplist import SortedSet
from ..table import SYNTAX, CommandError, command, to_int

G = "generic"
NOT_DOUBLE = b"-ERR One or more scores can't be converted into double\r\n"

# type of value -> its members in order. The sorted-set module adds its own:
#   sort.SORT_SOURCES[ZSet] = lambda z: z.members()
SORT_SOURCES: dict[type, Callable[[Any], Iterable[bytes]]] = {
    deque: lambda v: list(v),
    set: lambda v: list(v),
}
# Types whose natural order is arbitrary: with BY nosort and STORE they are sorted anyway.
UNORDERED: set[type] = {set}
# Types whose natural order is a ranking: BY nosort DESC walks it backwards (sorted sets).
RANKED: set[type] = set()

SORT_SOURCES[SortedSet] = lambda z: [node.member for node in z.zsl]  # by score, as ZRANGE
RANKED.add(SortedSet)


def lookup(db: Any, pattern: bytes, element: bytes) -> bytes | None:
    """The value a BY/GET pattern names for ``element`` (Redis's lookupKeyByPattern)."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2 :]
        key = pattern[:star] + element + pattern[star + 1 : arrow]
    else:
        key = pattern[:star] + element + pattern[star + 1 :]
    v = db.get(key)
    if v is None:
        return None
    if field is not None:
        return v.get(field) if type(v) is dict else None
    return v if type(v) is bytes else None


def _double(b: bytes) -> float:
    """strtod's reading as Redis checks it: leading spaces ok, nothing after, no NaN."""
    s = b.lstrip(b" \t\n\r\f\v")
    if not s or b"_" in s or s != s.rstrip():
        raise CommandError(NOT_DOUBLE)
    try:
        x = float(s)
    except ValueError:
        raise CommandError(NOT_DOUBLE) from None
    if math.isnan(x):
        raise CommandError(NOT_DOUBLE)
    return x


def _reads_every_key(c: Any) -> bool:
    """BY and GET patterns name keys no ACL check saw: Redis allows them only to a user
    who may read every key (a script runs as its caller)."""
    user = getattr(c, "user", None) or getattr(getattr(c, "caller", None), "user", None)
    return user is None or user.reads_every_key()


def _sort(c: Any, a: list[bytes], readonly: bool) -> bytes:
    db = c.db
    by: bytes | None = None
    gets: list[bytes] = []
    desc = alpha = False
    offset, count = 0, -1
    store: bytes | None = None
    dontsort = False
    j = 2
    while j < len(a):
        opt, left = a[j].upper(), len(a) - j - 1
        if opt == b"ASC":
            desc = False
        elif opt == b"DESC":
            desc = True
        elif opt == b"ALPHA":
            alpha = True
        elif opt == b"LIMIT" and left >= 2:
            offset, count = to_int(a[j + 1]), to_int(a[j + 2])
            j += 2
        elif opt == b"STORE" and left >= 1 and not readonly:
            store = a[j + 1]
            j += 1
        elif opt == b"BY" and left >= 1:
            by = a[j + 1]
            dontsort = b"*" not in by
            j += 1
        elif opt == b"GET" and left >= 1:
            gets.append(a[j + 1])
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    for opt, patterns in ((b"BY", [by] if by and not dontsort else []), (b"GET", gets)):
        if patterns and not _reads_every_key(c):
            raise CommandError(
                b"-ERR %s option of SORT denied due to insufficient ACL permissions.\r\n" % opt
            )
    value = db.get(a[1])
    if value is None:
        elements: list[bytes] = []
    else:
        source = SORT_SOURCES.get(type(value))
        if source is None:
            raise WrongType()
        elements = list(source(value))
        stable = store is not None or getattr(c, "in_script", False)  # as Redis: STORE, scripts
        if dontsort and stable and type(value) in UNORDERED:
            dontsort, alpha, by = False, True, None  # a deterministic result
    if not dontsort:
        elements = _ordered(db, elements, by, alpha, desc)
    elif desc and type(value) in RANKED:
        elements.reverse()
    n = len(elements)
    start = max(offset, 0)
    end = n - 1 if count < 0 else start + count - 1
    if start >= n:
        start, end = n - 1, n - 2
    end = min(end, n - 1)
    elements = elements[start : end + 1] if start <= end else []
    if gets:
        out: list[bytes | None] = [lookup(db, g, e) for e in elements for g in gets]
    else:
        out = list(elements)
    if store is None:
        return resp.bulks(out, c.proto)
    if db.peek(store) is not None and db.delete(store) and out:
        db.ks.dirty -= 1  # Redis counts the stored length, or one for a deleted destination
    if out:
        lst = deque(x if x is not None else b"" for x in out)
        db.put_new(store, lst)
        db.grow(store, sum(len(x) + LIST_ELEM_OVERHEAD for x in lst), len(lst))
        if c.state.blocking.waiters:
            c.state.blocking.signal(db.index, store)
    return resp.integer(len(out))


def _ordered(
    db: Any, elements: list[bytes], by: bytes | None, alpha: bool, desc: bool
) -> list[bytes]:
    if alpha:
        if by is None:
            return sorted(elements, reverse=desc)
        keyed = []
        for e in elements:
            w = lookup(db, by, e)
            keyed.append(((0, b"") if w is None else (1, w), e))
        keyed.sort(key=lambda p: p[0], reverse=desc)
        return [e for _, e in keyed]
    scored = []
    for e in elements:
        w = e if by is None else lookup(db, by, e)
        scored.append((0.0 if w is None else _double(w), e))
    scored.sort(reverse=desc)
    return [e for _, e in scored]


@command("SORT", -2, "write denyoom", (1, 1, 1), G, "Sort a list, set or sorted set")
def sort(c: Any, a: list[bytes]) -> bytes:
    return _sort(c, a, False)


@command("SORT_RO", -2, "readonly", (1, 1, 1), G, "Sort a list, set or sorted set (no STORE)")
def sort_ro(c: Any, a: list[bytes]) -> bytes:
    return _sort(c, a, True)


def sort_keys(args: list[bytes]) -> list[bytes]:
    """COMMAND GETKEYS for SORT: the key, and the last STORE's destination (Redis's sortGetKeys)."""
    store = None
    i = 2
    while i < len(args):
        word = args[i].lower()
        if word == b"limit":
            i += 2
        elif word in (b"get", b"by"):
            i += 1
        elif word == b"store" and i + 1 < len(args):
            store = args[i + 1]
        i += 1
    return [args[1]] + ([store] if store is not None else [])


KEY_FINDERS["sort"] = sort_keys
KEY_FINDERS["sort_ro"] = sort_keys
