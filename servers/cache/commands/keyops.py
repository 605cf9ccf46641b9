"""More key commands: COPY, MOVE, SWAPDB, TOUCH, OBJECT IDLETIME/REFCOUNT, LCS,
DUMP (RESTORE is commands/restore.py).

COPY duplicates the value (aggregates are copied, strings are immutable and
shared) with its TTL; MOVE and SWAPDB move keys between databases through
``Database`` methods, so sizes, TTLs and the SCAN log stay consistent.
SWAPDB swaps the two databases' contents (not the objects clients hold), wakes
clients blocked on keys that now have data, and fails WATCHes on both, as
Redis does.

OBJECT ENCODING is keys.py's, answered by ``servers/cache/encoding.py``; the
thresholds it reads (``hash-max-listpack-entries``, ``set-max-intset-entries``...
and their old ziplist names) are CONFIG GET/SET-able from here.

OBJECT IDLETIME is exact under an LRU maxmemory policy (the keyspace then
records each access); under other policies no access times are kept and it
answers 0.
"""

from __future__ import annotations

import copy
from typing import Any

from netlib import resp

from .. import rdbvalue
from ..encoding import ALIASES, LIMITS, is_int, limit
from ..eviction import LfuTracker, LruTracker
from ..keyspace import Database
from ..table import SYNTAX, CommandError, command, to_int
from . import server as server_commands
from .keys import OBJECT

G = "generic"
SAME_OBJECT = b"-ERR source and destination objects are the same\r\n"
DB_RANGE = b"-ERR DB index is out of range\r\n"


def _register_config() -> None:
    def getter(name: str) -> Any:
        return lambda st: str(limit(st, name))

    def setter(name: str) -> Any:
        def set_(st: Any, v: str) -> None:
            n = int(v)
            if not hasattr(st, "encoding_limits"):
                st.encoding_limits = {}
            st.encoding_limits[name] = n

        return set_

    for name in LIMITS:
        if name not in server_commands.SETTERS:
            server_commands.GETTERS[name] = getter(name)
            server_commands.SETTERS[name] = setter(name)
    for alias, name in ALIASES.items():
        if alias not in server_commands.SETTERS:
            server_commands.GETTERS[alias] = getter(name)
            server_commands.SETTERS[alias] = setter(name)


_register_config()


def _db(c: Any, b: bytes) -> Database:
    n = to_int(b)
    dbs = c.state.keyspace.dbs
    if not 0 <= n < len(dbs):
        raise CommandError(DB_RANGE)
    return dbs[n]  # type: ignore[no-any-return]


def _clone(value: Any) -> Any:
    return value if type(value) is bytes else copy.copy(value)


def _wake(c: Any, db: Database, key: bytes) -> None:
    blocking = c.state.blocking
    if blocking.waiters:
        blocking.signal(db.index, key)


def place(c: Any, db: Database, key: bytes, value: Any, size: int, ttl_at: int | None) -> None:
    """Store ``value`` at ``key`` of ``db`` (replacing), with an absolute expiry or none."""
    if db.peek(key) is not None:
        db.delete(key)
    db.put(key, value, size)
    if ttl_at is not None:
        db.set_expiry(key, ttl_at)
    _wake(c, db, key)


@command("COPY", -3, "write denyoom", (1, 2, 1), G, "Copy a key's value to another key")
def copy_(c: Any, a: list[bytes]) -> bytes:
    src_db, dst_db, replace = c.db, c.db, False
    i = 3
    while i < len(a):
        opt = a[i].upper()
        if opt == b"REPLACE":
            replace = True
        elif opt == b"DB" and i + 1 < len(a):
            dst_db = _db(c, a[i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if src_db is dst_db and a[1] == a[2]:
        return SAME_OBJECT
    value = src_db.get(a[1])  # Redis's COPY reads its source (lookupKeyRead)
    if value is None:
        return resp.ZERO
    if dst_db.peek(a[2]) is not None and not replace:
        return resp.ZERO
    size = src_db.size_of(a[1]) - len(a[1]) + len(a[2])
    place(c, dst_db, a[2], _clone(value), size, src_db.expires.get(a[1]))
    return resp.ONE


@command("MOVE", 3, "write fast", (1, 1, 1), G, "Move a key to another database")
def move(c: Any, a: list[bytes]) -> bytes:
    dst = _db(c, a[2])
    src = c.db
    if dst is src:
        return SAME_OBJECT
    value = src.peek(a[1])
    if value is None or dst.peek(a[1]) is not None:
        return resp.ZERO
    size, at = src.size_of(a[1]), src.expires.get(a[1])
    src.delete(a[1])
    place(c, dst, a[1], value, size, at)
    return resp.ONE


_SWAPPED = ("data", "expires", "sizes", "keylog", "volatile", "meta", "sticky")


@command("SWAPDB", 3, "write fast", (0, 0, 0), "server", "Swap two databases")
def swapdb(c: Any, a: list[bytes]) -> bytes:
    n1 = to_int(a[1], b"-ERR invalid first DB index\r\n")
    n2 = to_int(a[2], b"-ERR invalid second DB index\r\n")
    dbs = c.state.keyspace.dbs
    if not (0 <= n1 < len(dbs) and 0 <= n2 < len(dbs)):
        return DB_RANGE
    x, y = dbs[n1], dbs[n2]
    if x is y:
        return resp.OK
    for db in (x, y):  # WATCHed keys on both sides see a change
        for key in list(db.watchers):
            db.touched(key)
    for attr in _SWAPPED:
        vx, vy = getattr(x, attr), getattr(y, attr)
        setattr(x, attr, vy)
        setattr(y, attr, vx)
    for db in (x, y):
        for key in list(db.data):
            _wake(c, db, key)
    return resp.OK


@command(
    "TOUCH", -2, "readonly fast", (1, -1, 1), G, "Count existing keys, updating their access time"
)
def touch(c: Any, a: list[bytes]) -> bytes:
    db = c.db
    return resp.integer(sum(1 for k in a[1:] if db.get(k) is not None))


# --- OBJECT --------------------------------------------------------------------------


@command("IDLETIME", 3, "readonly", (2, 2, 1), G, "Seconds since the key was last used", OBJECT)
def object_idletime(c: Any, a: list[bytes]) -> bytes:
    db = c.db
    if db.peek_counted(a[2]) is None:  # Redis's OBJECT: a read lookup, LRU untouched
        return resp.null(c.proto)
    tracker = db.ks.tracker
    if isinstance(tracker, LfuTracker):
        raise CommandError(
            "An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
            "switching between policies at runtime LRU and LFU data will take some time to adjust."
        )
    if isinstance(tracker, LruTracker) and a[2] in db.meta:
        return resp.integer(max(db.ks.clock() - db.meta[a[2]], 0) // 1000)
    return resp.ZERO


@command("REFCOUNT", 3, "readonly", (2, 2, 1), G, "The reference count of a value", OBJECT)
def object_refcount(c: Any, a: list[bytes]) -> bytes:
    v = c.db.peek_counted(a[2])
    if v is None:
        return resp.null(c.proto)
    shared = type(v) is bytes and is_int(v) and 0 <= int(v) < 10000  # Redis's shared integers
    return resp.integer(2147483647 if shared else 1)


# --- LCS -----------------------------------------------------------------------------

LCS_MAX_CELLS = 512 * 1024 * 1024 // 4  # Redis refuses a table past proto-max-bulk-len bytes


@command(
    "LCS", -3, "readonly", (1, 2, 1), "string", "The longest common subsequence of two strings"
)
def lcs(c: Any, a: list[bytes]) -> bytes:
    x, y = c.db.get(a[1]), c.db.get(a[2])
    if (x is not None and type(x) is not bytes) or (y is not None and type(y) is not bytes):
        return b"-ERR The specified keys must contain string values\r\n"
    x, y = x or b"", y or b""
    getlen = getidx = withlen = False
    minlen = 0
    i = 3
    while i < len(a):
        opt = a[i].upper()
        if opt == b"IDX":
            getidx = True
        elif opt == b"LEN":
            getlen = True
        elif opt == b"WITHMATCHLEN":
            withlen = True
        elif opt == b"MINMATCHLEN" and i + 1 < len(a):
            minlen = max(to_int(a[i + 1]), 0)
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if getlen and getidx:
        return b"-ERR If you want both the length and indexes, please just use IDX.\r\n"
    if (len(x) + 1) * (len(y) + 1) > LCS_MAX_CELLS:
        return (b"-ERR Insufficient memory, transient memory for LCS exceeds "
                b"proto-max-bulk-len\r\n")  # fmt: skip
    table = _lcs_table(x, y)
    total = table[len(x)][len(y)]
    if getlen:
        return resp.integer(total)
    text, matches = _lcs_walk(x, y, table, total, minlen, withlen)
    if not getidx:
        return resp.bulk(text)
    body = b"*%d\r\n" % len(matches) + b"".join(matches)
    head = b"%2\r\n" if c.proto == 3 else b"*4\r\n"
    return head + resp.bulk(b"matches") + body + resp.bulk(b"len") + resp.integer(total)


def _lcs_table(x: bytes, y: bytes) -> list[list[int]]:
    """table[i][j]: the LCS length of x[:i] and y[:j] (the textbook dynamic program)."""
    prev = [0] * (len(y) + 1)
    table = [prev]
    for i in range(1, len(x) + 1):
        row = [0] * (len(y) + 1)
        xc = x[i - 1]
        for j in range(1, len(y) + 1):
            if xc == y[j - 1]:
                row[j] = prev[j - 1] + 1
            else:
                row[j] = prev[j] if prev[j] > row[j - 1] else row[j - 1]
        table.append(row)
        prev = row
    return table


def _lcs_walk(
    x: bytes, y: bytes, table: list[list[int]], total: int, minlen: int, withlen: bool
) -> tuple[bytes, list[bytes]]:
    """Walk back from the end as Redis does: the LCS text and the matched ranges, last first."""
    out = bytearray(total)
    idx, i, j = total, len(x), len(y)
    unset = len(x)
    a_start, a_end, b_start, b_end = unset, 0, 0, 0
    matches: list[bytes] = []
    while i > 0 and j > 0:
        emit = False
        if x[i - 1] == y[j - 1]:
            out[idx - 1] = x[i - 1]
            if a_start == unset:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            idx, i, j = idx - 1, i - 1, j - 1
        else:
            if table[i - 1][j] > table[i][j - 1]:
                i -= 1
            else:
                j -= 1
            if a_start != unset:
                emit = True
        if emit:
            length = a_end - a_start + 1
            if minlen == 0 or length >= minlen:
                parts = [b"*2\r\n:%d\r\n:%d\r\n" % (a_start, a_end),
                         b"*2\r\n:%d\r\n:%d\r\n" % (b_start, b_end)]  # fmt: skip
                if withlen:
                    parts.append(b":%d\r\n" % length)
                matches.append(b"*%d\r\n" % len(parts) + b"".join(parts))
            a_start = unset
    return bytes(out), matches


# --- DUMP / RESTORE ------------------------------------------------------------------


@command("DUMP", 2, "readonly", (1, 1, 1), G, "A key's value serialized in Redis's RDB format")
def dump(c: Any, a: list[bytes]) -> bytes:
    v = c.db.get(a[1])
    if v is None:
        return resp.null(c.proto)
    try:
        return resp.bulk(rdbvalue.dump(v))
    except rdbvalue.BadFormat:
        return b"-ERR DUMP is not supported for this value type\r\n"
