"""Runs of plain calls: a pipeline of SETs (GETs, INCRs, LPUSHes) executed in one go.

Strategy. ``redis-benchmark -P 16`` and most real pipelines send the same
command many times in a row. The kit's session loop (``Session.run``) hands
such a run to the command's ``many`` handler while nothing needs to see single
calls (no MONITOR, no AOF, slow log and latency thresholds of 1 ms or more, no
guard: MULTI, ACL limits, pause...; no maxmemory; no blocked client waiting for
a push). The run handler loops over the calls itself, so the per-call dispatch
(table lookup, arity test, clock reading, statistics test) is paid once per
run, and the statistics are counted once for the run (calls and time).

Each call is still answered by the command's own handler, so every effect on
the keyspace (hits and misses, lazy expiry, dirty, memory, LRU/LFU, WATCH) is
the handler's. A run takes a call only when the handler cannot answer it with
an error (a value of the wrong type, an INCR of a value that is not a
canonical integer, options or a wrong arity): that call, unchecked by any
side effect, goes to the ordinary path, which counts its error as it would.
tests/test_cache_runs.py checks runs against the ordinary path, reply by reply
and counter by counter, and against a real redis-server.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, cast

from netlib.resp import NULL3, NULL_BULK, OK, integer

from .commands import lists, strings
from .keyspace import KEY_OVERHEAD, LIST_ELEM_OVERHEAD
from .table import REGISTRY

_Answer = Callable[[Any, list[bytes]], bytes]


def _set(
    c: Any, cmds: list[list[bytes]], start: int, stop: int, out: list[bytes], room: int
) -> tuple[int, int]:
    """SET key value, no options: what the SET handler does then, one ``Database.put``
    (it cannot fail), without a handler call per SET."""
    name = cmds[start][0]
    put = c.db.put
    append = out.append
    i = start
    while i < stop:
        a = cmds[i]
        if len(a) != 3 or a[0] != name:
            break
        key, value = a[1], a[2]
        put(key, value, KEY_OVERHEAD + len(key) + len(value))
        append(OK)
        i += 1
    return i - start, len(OK) * (i - start)


def _get(
    c: Any, cmds: list[list[bytes]], start: int, stop: int, out: list[bytes], room: int
) -> tuple[int, int]:
    """GET of a string or a missing key (a value of another type: WRONGTYPE, not taken).

    While no key of the database has a TTL and no LRU/LFU policy tracks reads,
    ``Database.get`` is the dict lookup and the hit or miss count, done here
    inline; otherwise each GET goes through the handler."""
    db = c.db
    if db.expires or db.ks.tracker is not None:
        return _calls(c, cmds, start, stop, out, room, strings.get, _is_string)
    name = cmds[start][0]
    data = db.data
    ks = db.ks
    null = NULL3 if c.proto == 3 else NULL_BULK
    append = out.append
    size = hits = misses = 0
    i = start
    while i < stop and size <= room:
        a = cmds[i]
        if len(a) != 2 or a[0] != name:
            break
        v = data.get(a[1])
        if v is None:
            misses += 1
            r = null
        elif type(v) is bytes:
            hits += 1
            r = b"$%d\r\n%s\r\n" % (len(v), v)
        else:
            break
        append(r)
        size += len(r)
        i += 1
    ks.hits += hits
    ks.misses += misses
    return i - start, size


def _is_string(v: Any) -> bool:
    return v is None or type(v) is bytes


def _calls(
    c: Any,
    cmds: list[list[bytes]],
    start: int,
    stop: int,
    out: list[bytes],
    room: int,
    handler: Any,
    takes: Any,
) -> tuple[int, int]:
    """The handler call by call, while ``takes`` says the key's raw value gives no error."""
    name = cmds[start][0]
    fn = cast(_Answer, handler)
    arity = len(cmds[start])
    data = c.db.data
    append = out.append
    size = 0
    i = start
    while i < stop and size <= room:
        a = cmds[i]
        if len(a) != arity or a[0] != name or not takes(data.get(a[1])):
            break
        r = fn(c, a)
        append(r)
        size += len(r)
        i += 1
    return i - start, size


def _canonical_counter(v: Any) -> bool:
    """A missing key, or a string INCR reads and writes back without an error: the
    digits of a non-negative integer below 10**18, no leading zero (what INCR writes)."""
    return v is None or (
        type(v) is bytes and v.isdigit() and len(v) < 19 and (v[0] != 48 or len(v) == 1)
    )


def _incr(
    c: Any, cmds: list[list[bytes]], start: int, stop: int, out: list[bytes], room: int
) -> tuple[int, int]:
    """INCR of a missing key or a canonical counter (no overflow possible below 10**18):
    the INCR handler's write lookup (``Database.get_for_write``: the dict lookup while no
    key has a TTL and no LRU/LFU policy tracks access; no hit or miss counted, as
    Redis's lookupKeyWrite), sum and write."""
    db = c.db
    if db.expires or db.ks.tracker is not None:
        return _calls(c, cmds, start, stop, out, room, strings.incr, _canonical_counter)
    name = cmds[start][0]
    data = db.data
    put = db.put
    append = out.append
    size = 0
    i = start
    while i < stop:
        a = cmds[i]
        if len(a) != 2 or a[0] != name:
            break
        key = a[1]
        v = data.get(key)
        if v is None:
            n = 1
        elif _canonical_counter(v):
            n = int(v) + 1
        else:
            break
        value = b"%d" % n
        put(key, value, KEY_OVERHEAD + len(key) + len(value), True)
        r = b":%s\r\n" % value
        append(r)
        size += len(r)
        i += 1
    return i - start, size


def _is_list(v: Any) -> bool:
    return v is None or type(v) is deque


def _lpush(
    c: Any, cmds: list[list[bytes]], start: int, stop: int, out: list[bytes], room: int
) -> tuple[int, int]:
    """LPUSH of one element to a list or a missing key, while no client is blocked on a
    list: the LPUSH handler's write lookup (inline as in ``_incr``: no hit or miss
    counted), creation, push and growth."""
    if c.state.blocking.waiters:
        return 0, 0
    db = c.db
    if db.expires or db.ks.tracker is not None:
        return _calls(c, cmds, start, stop, out, room, lists.lpush, _is_list)
    name = cmds[start][0]
    data = db.data
    put_new, grow = db.put_new, db.grow
    append = out.append
    size = 0
    i = start
    while i < stop:
        a = cmds[i]
        if len(a) != 3 or a[0] != name:
            break
        key = a[1]
        lst = data.get(key)
        if lst is None:
            lst = deque()
            put_new(key, lst)
        elif type(lst) is not deque:
            break
        item = a[2]
        lst.appendleft(item)
        grow(key, len(item) + LIST_ELEM_OVERHEAD)
        r = integer(len(lst))
        append(r)
        size += len(r)
        i += 1
    return i - start, size


def install() -> None:
    """Give SET, GET, INCR and LPUSH their run handlers (idempotent)."""
    for name, many in ((b"set", _set), (b"get", _get), (b"incr", _incr), (b"lpush", _lpush)):
        cmd = REGISTRY.get(name)
        assert cmd is not None
        cmd.many = many


install()
