"""Generic key commands: DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, the EXPIRE family, TTL, PERSIST;
OBJECT FREQ and MEMORY USAGE (what eviction sees of a key)."""

from __future__ import annotations

from typing import Any

from netlib import resp
from servers.respkit.glob import compile_glob

from ..encoding import encoding
from ..eviction import LfuTracker
from ..keyspace import TYPE_NAMES
from ..table import NO_SUCH_KEY, SYNTAX, CommandError, command, container, to_int

G = "generic"
MS_MAX = 2**63 - 1


@command("DEL", -2, "write", (1, -1, 1), G, "Delete keys")
def delete(c: Any, a: list[bytes]) -> bytes:
    db = c.db
    n = 0
    for k in a[1:]:
        if db.peek(k) is not None:
            db.delete(k)
            n += 1
    return resp.integer(n)


command("UNLINK", -2, "write fast", (1, -1, 1), G, "Delete keys (in Redis: in the background)")(
    delete
)


@command("EXISTS", -2, "readonly fast", (1, -1, 1), G, "Count the keys that exist")
def exists(c: Any, a: list[bytes]) -> bytes:
    db = c.db
    return resp.integer(sum(1 for k in a[1:] if db.peek_counted(k) is not None))


@command("TYPE", 2, "readonly fast", (1, 1, 1), G, "The type of the value at key")
def type_(c: Any, a: list[bytes]) -> bytes:
    v = c.db.peek_counted(a[1])
    return b"+none\r\n" if v is None else b"+" + TYPE_NAMES[type(v)] + b"\r\n"


@command("KEYS", 2, "readonly", (0, 0, 0), G, "Find all keys matching a pattern")
def keys(c: Any, a: list[bytes]) -> bytes:
    match = compile_glob(a[1])
    return resp.bulks([k for k in c.db.live_keys() if match(k)])


@command("RANDOMKEY", 1, "readonly", (0, 0, 0), G, "A random key")
def randomkey(c: Any, a: list[bytes]) -> bytes:
    db = c.db
    while db.keylog:
        (k,) = db.keylog.sample(1, db.ks.rng)
        if db.peek(k) is not None:
            return resp.bulk(k)
    return resp.null(c.proto)


def parse_scan_options(a: list[bytes], start: int) -> tuple[Any, int, bytes | None]:
    """MATCH / COUNT / TYPE options shared by SCAN and HSCAN."""
    match, count, typ = None, 10, None
    i = start
    while i < len(a):
        opt = a[i].upper()
        if i + 1 >= len(a):
            raise CommandError(SYNTAX)
        if opt == b"MATCH":
            match = compile_glob(a[i + 1])
        elif opt == b"COUNT":
            count = to_int(a[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif opt == b"TYPE":
            typ = a[i + 1].lower()
        else:
            raise CommandError(SYNTAX)
        i += 2
    return match, count, typ


def parse_cursor(b: bytes) -> int:
    if not b.isdigit() or int(b) > 2**64 - 1:
        raise CommandError(b"-ERR invalid cursor\r\n")
    return int(b)


@command("SCAN", -2, "readonly", (0, 0, 0), G, "Incrementally iterate the keys")
def scan(c: Any, a: list[bytes]) -> bytes:
    cursor = parse_cursor(a[1])
    match, count, typ = parse_scan_options(a, 2)
    db = c.db
    nxt, found = db.keylog.scan(cursor, count)
    out = []
    for k in found:
        v = db.peek(k)
        if v is None or (match is not None and not match(k)):
            continue
        if typ is not None and TYPE_NAMES[type(v)] != typ:
            continue
        out.append(k)
    return b"*2\r\n" + resp.bulk(b"%d" % nxt) + resp.bulks(out)


@command("RENAME", 3, "write", (1, 2, 1), G, "Rename a key")
def rename(c: Any, a: list[bytes]) -> bytes:
    db = c.db
    if db.peek(a[1]) is None:
        return NO_SUCH_KEY
    if a[1] != a[2]:
        db.peek(a[2])
        db.rename(a[1], a[2])
        _renamed(c, a[2])
    return resp.OK


def _renamed(c: Any, key: bytes) -> None:
    """A key appeared under a new name: clients blocked on it (BZPOPMIN, BLPOP) may be served."""
    blocking = c.state.blocking
    if blocking.waiters:
        blocking.signal(c.db.index, key)


@command("RENAMENX", 3, "write fast", (1, 2, 1), G, "Rename a key if the new name is free")
def renamenx(c: Any, a: list[bytes]) -> bytes:
    db = c.db
    if db.peek(a[1]) is None:
        return NO_SUCH_KEY
    if db.peek(a[2]) is not None:
        return resp.ZERO
    db.rename(a[1], a[2])
    _renamed(c, a[2])
    return resp.ONE


# --- expiry ---------------------------------------------------------------------


def _expire_flags(a: list[bytes]) -> set[bytes]:
    flags = set()
    for opt in a[3:]:
        o = opt.upper()
        if o not in (b"NX", b"XX", b"GT", b"LT"):
            raise CommandError(f"Unsupported option {opt.decode(errors='replace')}")
        flags.add(o)
    if b"NX" in flags and len(flags) > 1:
        raise CommandError("NX and XX, GT or LT options at the same time are not compatible")
    if b"GT" in flags and b"LT" in flags:
        raise CommandError("GT and LT options at the same time are not compatible")
    return flags


def _expire(c: Any, a: list[bytes], unit_ms: int, absolute: bool) -> bytes:
    """EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: one routine, as Redis's expireGenericCommand."""
    n = to_int(a[2])
    flags = _expire_flags(a)
    name = a[0].decode(errors="replace").lower()
    invalid = b"-ERR invalid expire time in '%s' command\r\n" % name.encode()
    when = n * unit_ms
    if not absolute:
        when += c.db.ks.clock()
    if abs(n) > MS_MAX // unit_ms or abs(when) > MS_MAX:
        return invalid
    db = c.db
    if db.peek(a[1]) is None:
        return resp.ZERO
    current = db.expires.get(a[1])  # None = never expires (infinite)
    if (
        (b"NX" in flags and current is not None)
        or (b"XX" in flags and current is None)
        or (b"GT" in flags and (current is None or when <= current))
        or (b"LT" in flags and current is not None and when >= current)
    ):
        return resp.ZERO
    if when <= db.ks.clock() and not db.ks.loading:
        db.delete(a[1])  # a time in the past deletes the key, as in Redis (not while loading)
    else:
        db.set_expiry(a[1], when)
    return resp.ONE


@command("EXPIRE", -3, "write fast", (1, 1, 1), G, "Set a key's time to live in seconds")
def expire(c: Any, a: list[bytes]) -> bytes:
    return _expire(c, a, 1000, False)


@command("PEXPIRE", -3, "write fast", (1, 1, 1), G, "Set a key's time to live in ms")
def pexpire(c: Any, a: list[bytes]) -> bytes:
    return _expire(c, a, 1, False)


@command("EXPIREAT", -3, "write fast", (1, 1, 1), G, "Expire a key at a unix time (s)")
def expireat(c: Any, a: list[bytes]) -> bytes:
    return _expire(c, a, 1000, True)


@command("PEXPIREAT", -3, "write fast", (1, 1, 1), G, "Expire a key at a unix time (ms)")
def pexpireat(c: Any, a: list[bytes]) -> bytes:
    return _expire(c, a, 1, True)


def _ttl(c: Any, key: bytes, seconds: bool) -> bytes:
    db = c.db
    if db.peek_counted(key) is None:
        return resp.integer(-2)
    ms = db.ttl_ms(key)
    if ms is None:
        return resp.integer(-1)
    return resp.integer((ms + 500) // 1000 if seconds else ms)


@command("TTL", 2, "readonly fast", (1, 1, 1), G, "Time to live in seconds")
def ttl(c: Any, a: list[bytes]) -> bytes:
    return _ttl(c, a[1], True)


@command("PTTL", 2, "readonly fast", (1, 1, 1), G, "Time to live in milliseconds")
def pttl(c: Any, a: list[bytes]) -> bytes:
    return _ttl(c, a[1], False)


def _expiretime(c: Any, key: bytes, div: int) -> bytes:
    db = c.db
    if db.peek_counted(key) is None:
        return resp.integer(-2)
    at = db.expires.get(key)
    return resp.integer(-1 if at is None else at // div)


@command("EXPIRETIME", 2, "readonly fast", (1, 1, 1), G, "Expiry as a unix time (s)")
def expiretime(c: Any, a: list[bytes]) -> bytes:
    return _expiretime(c, a[1], 1000)


@command("PEXPIRETIME", 2, "readonly fast", (1, 1, 1), G, "Expiry as a unix time (ms)")
def pexpiretime(c: Any, a: list[bytes]) -> bytes:
    return _expiretime(c, a[1], 1)


@command("PERSIST", 2, "write fast", (1, 1, 1), G, "Remove a key's time to live")
def persist(c: Any, a: list[bytes]) -> bytes:
    db = c.db
    if db.peek(a[1]) is None:
        return resp.ZERO
    return resp.ONE if db.persist(a[1]) else resp.ZERO


# --- introspection: what eviction sees --------------------------------------------

OBJECT = container("OBJECT", G, "A container for object introspection commands")
MEMORY = container("MEMORY", "server", "A container for memory diagnostics commands")
NOT_LFU = (
    "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that "
    "when switching between policies at runtime LRU and LFU data will take some time to adjust."
)


@command("FREQ", 3, "readonly", (2, 2, 1), G, "The LFU access frequency of a key", OBJECT)
def object_freq(c: Any, a: list[bytes]) -> bytes:
    # Redis looks the key up first (a read lookup, counted), then tests the policy.
    if c.db.peek_counted(a[2]) is None:
        return resp.null(c.proto)
    tracker = c.db.ks.tracker
    if not isinstance(tracker, LfuTracker):
        raise CommandError(NOT_LFU)
    return resp.integer(tracker.frequency(c.db, a[2]))


@command("ENCODING", 3, "readonly", (2, 2, 1), G, "The internal encoding of a value", OBJECT)
def object_encoding(c: Any, a: list[bytes]) -> bytes:
    """Redis 7.0's encoding name for the value (servers/cache/encoding.py says how)."""
    v = c.db.peek_counted(a[2])
    return resp.null(c.proto) if v is None else resp.bulk(encoding(c.state, c.db, a[2], v))


@command("USAGE", -3, "readonly", (2, 2, 1), "server", "Estimated memory of a key", MEMORY)
def memory_usage(c: Any, a: list[bytes]) -> bytes:
    if c.db.peek(a[2]) is None:
        return resp.null(c.proto)
    return resp.integer(c.db.size_of(a[2]))
