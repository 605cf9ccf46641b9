"""Runs of plain calls: a pipeline of SETs (GETs, INCRs, LPUSHes) executed in one go.

Strategy. ``redis-benchmark -P 16`` and most real pipelines send the same
command many times in a row. The kit's session loop hands such a run to the
command's run handler while nothing needs to see single calls (no MONITOR,
slow log and latency thresholds of 1 ms or more, no guard: MULTI, ACL limits,
pause...; no maxmemory; no blocked client waiting for a push). The AOF is no
reason: it logs what a run ran in one go (``saving.Persistence.log_calls`` and
``log_wire``, the same bytes as call by call), so runs of the commands it logs
as sent (all four) are taken with it on; a key with a TTL then ends a run that
goes call by call (``_calls``), so its expiry's DEL is logged before the call. The
per-call dispatch (table lookup, arity test, clock reading, statistics test)
is then paid once per run, and the statistics are counted once for the run.

Two ways in, one execution. A read that is nothing but calls of one layout
(``RequestParser.take_grid``: 16 SETs of the same key and value lengths) comes
as *rows*, each call's arguments cut by one regex, and goes to the command's
``columns`` handler (``Session.run_grid``). A run inside a mixed pipeline
(``Session.run``) goes to ``many``, which takes the calls' lists apart into the
same rows. Either way the run is executed by columns: its keys and values as
lists, the keyspace read and written with C-level calls over them
(``map(data.get, keys)``, ``dict.update``, ``sum(map(len, ...))``), so a call
costs a few list slots instead of a handler's Python frame. The effect is the
one the calls would have had in order: a SET run writes each key's last value
(``dict(rows)``), counts one dirty write per call and sizes the memory
estimate by the keys' final values; an INCR run of distinct keys (or of one
key: a hot counter) adds one to each; an LPUSH run to one list is one
``extendleft``. What the columns cannot do exactly goes call by call (the
``*_calls`` loops): LRU/LFU tracking, WATCHed keys, keys with a TTL a call
could find expired, an INCR run repeating some of its keys, an LPUSH run over
several lists.

A run takes a call only when the handler cannot answer it with an error (a
value of the wrong type, an INCR of a value that is not a canonical integer,
options or a wrong arity): that call, unchecked by any side effect, goes to the
ordinary path, which counts its error as it would. tests/test_cache_runs.py
checks runs against the ordinary path, reply by reply and counter by counter,
and against a real redis-server.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import compress, repeat
from operator import add, is_, itemgetter
from typing import Any, cast

from netlib.resp import NULL3, NULL_BULK, OK, integer
from servers.respkit.registry import RunHandler

from .commands import lists, strings
from .keyspace import KEY_OVERHEAD, LIST_ELEM_OVERHEAD
from .table import REGISTRY

_Answer = Callable[[Any, list[bytes]], bytes]
_name = itemgetter(0)
_BULK = b"$%d\r\n%b\r\n"  # a bulk reply: % (len(v), v)
_INT = b":%d\r\n"  # an integer reply
_DIGITS = b"%d"
_DIGITS_SPACE = b"%d "
_STRINGS = {bytes}
_STRINGS_OR_MISSING = {bytes, type(None)}


def _plain(cmds: list[list[bytes]], start: int, stop: int, arity: int) -> list[list[bytes]]:
    """The calls from ``cmds[start]`` on (before ``stop``) with exactly ``arity`` words
    and the name spelled as ``cmds[start]`` spells it: the run's candidates."""
    seg = cmds[start:stop]
    lens = list(map(len, seg))
    if lens.count(arity) != len(seg):
        del seg[next(i for i, n in enumerate(lens) if n != arity) :]
        if not seg:
            return seg
    names = list(map(_name, seg))
    if names.count(names[0]) != len(names):
        del seg[next(i for i, n in enumerate(names) if n != names[0]) :]
    return seg


def _runs_of(columns: Any, arity: int) -> RunHandler:
    """The ``many`` handler of a command whose runs ``columns`` executes: the plain calls
    of the run (``_plain``, of ``arity`` words) taken apart into its columns."""
    cuts = [itemgetter(i) for i in range(1, arity)]

    def many(
        c: Any, cmds: list[list[bytes]], start: int, stop: int, out: list[bytes], room: int
    ) -> tuple[int, int]:
        seg = _plain(cmds, start, stop, arity)
        if not seg:
            return 0, 0
        return cast(
            tuple[int, int], columns(c, seg[0][0], [list(map(cut, seg)) for cut in cuts], out, room)
        )

    return many


def _by_columns(db: Any, keys: Any) -> bool:
    """Whether the columns can stand for the calls on ``keys``: no LRU/LFU tracking, no
    WATCH, and no key among them with a TTL (whose lazy expiry a call would trigger)."""
    return (
        db.ks.tracker is None
        and not db.watchers
        and (not db.expires or db.expires.keys().isdisjoint(keys))
    )


def _calls(
    c: Any, calls: list[list[bytes]], out: list[bytes], room: int, handler: Any, takes: Any
) -> tuple[int, int]:
    """The handler call by call, while ``takes`` says the key's raw value gives no error
    and the replies fit ``room`` (the ordinary path's check). While expiries are logged
    (the AOF: ``Keyspace.on_expire``) it stops at a key with a TTL: its expiry's DEL must
    be logged before the call, and a run's calls are logged after it ran."""
    fn = cast(_Answer, handler)
    db = c.db
    data = db.data
    expires = db.expires if db.ks.on_expire is not None else {}
    size = done = 0
    for a in calls:
        if size > room or not takes(data.get(a[1])) or a[1] in expires:
            break
        r = fn(c, a)
        out.append(r)
        size += len(r)
        done += 1
    return done, size


def _one_key(name: bytes, keys: Sequence[bytes]) -> list[list[bytes]]:
    return [[name, key] for key in keys]


def _created(db: Any, keys: Iterable[bytes], olds: list[Any]) -> int:
    """Log the ``keys`` whose old value is None (created now, as strings); their memory
    estimate but for the values' bytes: KEY_OVERHEAD and the key's length each."""
    created = list(compress(keys, map(is_, olds, repeat(None))))
    db.keylog.extend(created)
    return KEY_OVERHEAD * len(created) + sum(map(len, created))


# -- SET ----------------------------------------------------------------------------------


def _set_columns(
    c: Any, name: bytes, columns: list[Sequence[bytes]], out: list[bytes], room: int
) -> tuple[int, int]:
    """SET key value, no options: what the SET handler does then, a ``Database.put`` per
    call (it cannot fail), done for the run's keys at once."""
    if len(columns) != 2:  # (options: the ordinary path)
        return 0, 0
    keys, values = columns
    db = c.db
    if db.expires and not db.expires.keys().isdisjoint(keys):
        # A key with a TTL: each SET looks it up first (expired if past its TTL, as
        # Redis's lookupKeyWrite) at its own moment of the run: call by call.
        calls = [[name, key, value] for key, value in zip(keys, values, strict=True)]
        return _calls(c, calls, out, room, strings.set_, _any)
    ks = db.ks
    m = len(keys)
    blocking = ks.blocking
    final = None
    if ks.tracker is None and not db.watchers and (blocking is None or not blocking.waiters):
        final = dict(zip(keys, values, strict=True))  # each key's last value, in order
        data = db.data
        olds = list(map(data.get, final))  # (warms the entries ``update`` replaces)
        if not _STRINGS_OR_MISSING.issuperset(map(type, olds)):
            final = None  # SET over an aggregate: its stored size goes (``put``)
    if final is None:
        put = db.put
        for key, value in zip(keys, values, strict=True):
            put(key, value, KEY_OVERHEAD + len(key) + len(value))
    else:
        grown = sum(map(len, final.values())) - sum(map(len, filter(None, olds)))
        if not all(olds):  # (cheaper than ``None in olds``; b"" is no new key to _created)
            grown += _created(db, final, olds)
        ks.used += grown
        ks.dirty += m
        data.update(final)
    out.append(OK * m)
    return m, len(OK) * m


def _any(v: Any) -> bool:
    return True  # (SET takes any old value: it cannot fail)


# -- GET ----------------------------------------------------------------------------------


def _get_columns(
    c: Any, name: bytes, columns: list[Sequence[bytes]], out: list[bytes], room: int
) -> tuple[int, int]:
    """GET of a string or a missing key (a value of another type: WRONGTYPE, not taken):
    the values looked up at once and the replies formatted by one ``map``, hits and
    misses counted as ``Database.get`` would."""
    if len(columns) != 1:  # (more arguments: the ordinary path's arity error)
        return 0, 0
    (keys,) = columns
    db = c.db
    if not _by_columns(db, keys):
        return _calls(c, _one_key(name, keys), out, room, strings.get, _is_string)
    values = list(map(db.data.get, keys))
    kinds = set(map(type, values))  # {bytes}: all hits; with NoneType: some misses
    if kinds == _STRINGS:
        misses = 0
        lengths = list(map(len, values))
        if sum(lengths) > room:  # (not formatted first: 256 replies of a big value)
            return _calls(c, _one_key(name, keys), out, room, strings.get, _is_string)
        if lengths.count(lengths[0]) == len(lengths):  # values of one size: one join
            head = b"$%d\r\n" % lengths[0]
            replies = [b"%s%s\r\n" % (head, (b"\r\n" + head).join(values))]
        else:
            replies = list(map(_BULK.__mod__, zip(lengths, values, strict=True)))
    elif kinds <= _STRINGS_OR_MISSING:
        misses = values.count(None)
        if sum(map(len, filter(None, values))) > room:  # (as above)
            return _calls(c, _one_key(name, keys), out, room, strings.get, _is_string)
        null = NULL3 if c.proto == 3 else NULL_BULK
        replies = [null if v is None else _BULK % (len(v), v) for v in values]
    else:  # a key of another type: WRONGTYPE, from the handler where the path gives it
        return _calls(c, _one_key(name, keys), out, room, strings.get, _is_string)
    size = sum(map(len, replies))
    if size > room:  # (the headers' bytes crossed it): call by call, as the path stops
        return _calls(c, _one_key(name, keys), out, room, strings.get, _is_string)
    ks = db.ks
    ks.hits += len(values) - misses
    ks.misses += misses
    out += replies
    return len(values), size


def _is_string(v: Any) -> bool:
    return v is None or type(v) is bytes


# -- INCR ---------------------------------------------------------------------------------


def _canonical_counter(v: Any) -> bool:
    """A missing key, or a string INCR reads and writes back without an error: the
    digits of a non-negative integer below 10**18, no leading zero (what INCR writes)."""
    return v is None or (
        type(v) is bytes and v.isdigit() and len(v) < 19 and (v[0] != 48 or len(v) == 1)
    )


def _counters(values: list[Any], spaced: bytes) -> tuple[tuple[int, ...], int] | None:
    """The integers of INCR's old values (b"0" for a missing key) and the length of the
    values joined by spaces, or None unless every one is a string INCR reads and writes
    back unchanged: what ``b"%d" % n`` writes (``spaced``, the run's ``b"%d %d ..."``,
    formats them all at once), of at most 18 characters, so under 10**18 in magnitude
    (adding a run of at most a few hundred cannot overflow).

    One join and one format stand for a format per value (``b"%d".__mod__`` in a ``map``
    is a method-wrapper call, an argument tuple each): the joined text equals the
    canonical one only if each value does, since a canonical value holds no space and
    ``int`` accepts none inside a value."""
    try:
        text = b" ".join(values)
        ints = tuple(map(int, values))
    except (TypeError, ValueError):  # (a list, a hash...; not an integer)
        return None
    if spaced % ints != text or max(ints) >= 10**18 or min(ints) <= -(10**17):
        return None
    return ints, len(text)


def _incr_columns(
    c: Any, name: bytes, columns: list[Sequence[bytes]], out: list[bytes], room: int
) -> tuple[int, int]:
    """INCR of missing keys or canonical counters, by columns when the run's keys are
    distinct or all one key (a hot counter); else call by call. INCR's write lookup
    (``Database.get_for_write``) counts no hit or miss, as Redis's lookupKeyWrite."""
    if len(columns) != 1:  # (more arguments: the ordinary path's arity error)
        return 0, 0
    (keys,) = columns
    db = c.db
    if not _by_columns(db, keys):
        return _calls(c, _one_key(name, keys), out, room, strings.incr, _canonical_counter)
    m = len(keys)
    distinct = len(set(keys))
    if distinct == 1:
        return _incr_one(db, keys[0], m, out)
    data = db.data
    olds = list(map(data.get, keys))
    fresh = not all(olds)  # (some missing: cheaper than ``None in olds``)
    spaced = (_DIGITS_SPACE * m)[:-1]  # b"%d %d ... %d"
    counted = None
    if distinct == m:
        counted = _counters([b"0" if v is None else v for v in olds] if fresh else olds, spaced)
    if counted is None:
        return _incr_calls(db, keys, out)
    ints, old_length = counted
    text = spaced % tuple(map(add, ints, repeat(1)))  # the new values, formatted at once
    grown = len(text) - old_length
    if fresh:  # (the b"0" that stood for each missing value is no old byte)
        grown += _created(db, keys, olds) + olds.count(None)
    ks = db.ks
    ks.used += grown
    ks.dirty += m
    data.update(zip(keys, text.split(b" "), strict=True))
    reply = b":%b\r\n" % text.replace(b" ", b"\r\n:")  # the m integer replies
    out.append(reply)
    return m, len(reply)


def _incr_one(db: Any, key: bytes, m: int, out: list[bytes]) -> tuple[int, int]:
    """``m`` INCRs of one key: the counter goes up by ``m``, the replies count up to it."""
    old = db.data.get(key, b"0")
    if type(old) is not bytes or len(old) > 18:
        return 0, 0  # the first call's error is the ordinary path's to answer
    try:
        n = int(old)
    except ValueError:
        return 0, 0
    if _DIGITS % n != old:
        return 0, 0  # (not as INCR writes it: "007", " 7", "1_0")
    value = _DIGITS % (n + m)
    db.put(key, value, KEY_OVERHEAD + len(key) + len(value), True)
    db.ks.dirty += m - 1  # (put counted one)
    reply = (_INT * m) % tuple(range(n + 1, n + m + 1))
    out.append(reply)
    return m, len(reply)


def _incr_calls(db: Any, keys: Sequence[bytes], out: list[bytes]) -> tuple[int, int]:
    """INCR call by call (keys repeat, or a value to check one by one): the handler's
    write lookup (the dict, as ``_by_columns`` holds), sum and write."""
    data = db.data
    put = db.put
    append = out.append
    size = done = 0
    for key in keys:
        v = data.get(key)
        if v is None:
            n = 1
        elif _canonical_counter(v):
            n = int(v) + 1
        else:
            break
        value = _DIGITS % n
        put(key, value, KEY_OVERHEAD + len(key) + len(value), True)
        r = _INT % n
        append(r)
        size += len(r)
        done += 1
    return done, size


# -- LPUSH --------------------------------------------------------------------------------


def _is_list(v: Any) -> bool:
    return v is None or type(v) is deque


def _lpush_columns(
    c: Any, name: bytes, columns: list[Sequence[bytes]], out: list[bytes], room: int
) -> tuple[int, int]:
    """LPUSH of one element to a list or a missing key, while no client is blocked on a
    list: the LPUSH handler's write lookup (no hit or miss counted), creation, push and
    growth; a run to one list is one ``extendleft``."""
    if len(columns) != 2 or c.state.blocking.waiters:  # (more elements: ordinary path)
        return 0, 0
    db = c.db
    keys, items = columns
    if not _by_columns(db, keys):
        calls = [[name, k, v] for k, v in zip(keys, items, strict=True)]
        return _calls(c, calls, out, room, lists.lpush, _is_list)
    data = db.data
    key = keys[0]
    if keys.count(key) != len(keys):
        return _lpush_calls(db, zip(keys, items, strict=True), out)
    lst = data.get(key)
    if lst is None:
        lst = deque()
        db.put_new(key, lst)
    elif type(lst) is not deque:
        return 0, 0
    m, n = len(items), len(lst)
    lst.extendleft(items)
    grown = sum(map(len, items)) + LIST_ELEM_OVERHEAD * m
    db.sizes[key] += grown
    ks = db.ks
    ks.used += grown
    ks.dirty += m
    reply = (_INT * m) % tuple(range(n + 1, n + m + 1))
    out.append(reply)
    return m, len(reply)


def _lpush_calls(db: Any, rows: Iterable[tuple[bytes, bytes]], out: list[bytes]) -> tuple[int, int]:
    """LPUSH call by call to several lists: lookup, creation, push, growth."""
    data = db.data
    put_new, grow = db.put_new, db.grow
    append = out.append
    size = done = 0
    for key, item in rows:
        lst = data.get(key)
        if lst is None:
            lst = deque()
            put_new(key, lst)
        elif type(lst) is not deque:
            break
        lst.appendleft(item)
        grow(key, len(item) + LIST_ELEM_OVERHEAD)
        r = integer(len(lst))
        append(r)
        size += len(r)
        done += 1
    return done, size


_set = _runs_of(_set_columns, 3)
_get = _runs_of(_get_columns, 2)
_incr = _runs_of(_incr_columns, 2)
_lpush = _runs_of(_lpush_columns, 3)


def install() -> None:
    """Give SET, GET, INCR and LPUSH their run handlers (idempotent)."""
    for name, many, columns in (
        (b"set", _set, _set_columns),
        (b"get", _get, _get_columns),
        (b"incr", _incr, _incr_columns),
        (b"lpush", _lpush, _lpush_columns),
    ):
        cmd = REGISTRY.get(name)
        assert cmd is not None
        cmd.many, cmd.columns = many, columns


install()
