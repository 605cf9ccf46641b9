"""D7's commands on the respkit registry: GET, SET (EX/PX/NX/XX), DEL, EXISTS, EXPIRE, TTL, ...

Every command is a few SQL statements on a MariaDB shard, milliseconds of
waiting on a socket, so each runs in a worker thread
(``s.answer_in_thread``): the event loop keeps reading every other
connection while this one's query is on the wire, and this connection's
next command waits for its reply (pipelined replies keep their order).
``s.db`` is the ``KVSql`` engine (``engine.py``), shared by all sessions;
its connection pools are thread-safe.
"""

from __future__ import annotations

from typing import Any

from netlib import resp
from servers.respkit import BASE, SYNTAX, CommandError, Registry, to_int
from servers.respkit.glob import compile_glob

from .engine import MAX_KEY, MAX_VALUE

REGISTRY = Registry(include=BASE)
command = REGISTRY.command
NO = (0, 0, 0)
INVALID_EXPIRE = "invalid expire time in '{}' command"


def check_key(key: bytes) -> None:
    if not 0 < len(key) <= MAX_KEY:
        raise CommandError(f"key length must be 1..{MAX_KEY} bytes (a VARBINARY({MAX_KEY}) primary key)")


@command("GET", 2, "readonly fast", group="string", syntax="key")
def get(s: Any, args: list[bytes]) -> bytes | None:
    """Get the value of a key (a SELECT on its shard)"""
    key = args[1]
    if not 0 < len(key) <= MAX_KEY:
        return resp.bulk(None, s.proto)  # a key that could never be stored
    proto = s.proto
    s.answer_in_thread(lambda: s.db.get(key), lambda v: resp.bulk(v, proto))
    return None


def parse_set_options(args: list[bytes]) -> tuple[int | None, str | None]:
    """SET key value [NX | XX] [EX seconds | PX milliseconds]: (ttl_ms, only)."""
    ttl_ms: int | None = None
    only: str | None = None
    i = 3
    while i < len(args):
        opt = args[i].upper()
        if opt in (b"NX", b"XX") and only is None:
            only = opt.decode().lower()
        elif opt in (b"EX", b"PX") and ttl_ms is None and i + 1 < len(args):
            n = to_int(args[i + 1])
            if n <= 0 or n > 2**62 // 1000:
                raise CommandError(INVALID_EXPIRE.format("set"))
            ttl_ms = n * 1000 if opt == b"EX" else n
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    return ttl_ms, only


@command("SET", -3, "write denyoom", group="string", syntax="key value [NX | XX] [EX seconds | PX milliseconds]")
def set_(s: Any, args: list[bytes]) -> None:
    """Set a key (INSERT ... ON DUPLICATE KEY UPDATE; NX/XX in a transaction with FOR UPDATE)"""
    key, value = args[1], args[2]
    check_key(key)
    if len(value) > MAX_VALUE:
        raise CommandError(f"value longer than {MAX_VALUE} bytes")
    ttl_ms, only = parse_set_options(args)
    proto = s.proto
    s.answer_in_thread(lambda: s.db.set(key, value, ttl_ms, only),
              lambda done: resp.OK if done else resp.bulk(None, proto))  # fmt: skip
    return None


def storable(keys: list[bytes]) -> list[bytes]:
    return [k for k in keys if 0 < len(k) <= MAX_KEY]


@command("DEL", -2, "write", (1, -1, 1), "generic", syntax="key [key ...]")
def delete(s: Any, args: list[bytes]) -> None:
    """Delete keys (soft: the row is stamped deleted_at; the cleaner removes it)"""
    keys = storable(args[1:])
    s.answer_in_thread(lambda: sum(s.db.delete(k) for k in keys), resp.integer)
    return None


@command("EXISTS", -2, "readonly fast", (1, -1, 1), "generic", syntax="key [key ...]")
def exists(s: Any, args: list[bytes]) -> None:
    """Count the given keys that exist (live: not deleted, not expired)"""
    keys = storable(args[1:])
    s.answer_in_thread(lambda: sum(s.db.pttl(k) != -2 for k in keys), resp.integer)
    return None


def _expire(s: Any, args: list[bytes], unit_ms: int) -> None:
    key = args[1]
    n = to_int(args[2])
    if abs(n) > 2**62 // 1000:
        raise CommandError(INVALID_EXPIRE.format(args[0].decode(errors="replace").lower()))
    if not 0 < len(key) <= MAX_KEY:
        s.answer_in_thread(lambda: 0, resp.integer)
        return

    def work() -> int:
        if n <= 0:  # Redis: a non-positive TTL deletes the key at once
            return int(s.db.delete(key))
        return int(s.db.expire(key, n * unit_ms))

    s.answer_in_thread(work, resp.integer)


@command("EXPIRE", 3, "write fast", group="generic", syntax="key seconds")
def expire(s: Any, args: list[bytes]) -> None:
    """Set a key's time to live in seconds (the expires_at column)"""
    _expire(s, args, 1000)


@command("PEXPIRE", 3, "write fast", group="generic", syntax="key milliseconds")
def pexpire(s: Any, args: list[bytes]) -> None:
    """Set a key's time to live in milliseconds"""
    _expire(s, args, 1)


@command("PERSIST", 2, "write fast", group="generic", syntax="key")
def persist(s: Any, args: list[bytes]) -> None:
    """Remove a key's expiry"""
    key = args[1]
    s.answer_in_thread(lambda: int(0 < len(key) <= MAX_KEY and s.db.persist(key)), resp.integer)


def _ttl(s: Any, key: bytes, seconds: bool) -> None:
    def encode(ms: int) -> bytes:
        return resp.integer(ms if ms < 0 or not seconds else (ms + 500) // 1000)

    s.answer_in_thread(lambda: s.db.pttl(key) if 0 < len(key) <= MAX_KEY else -2, encode)


@command("TTL", 2, "readonly fast", group="generic", syntax="key")
def ttl(s: Any, args: list[bytes]) -> None:
    """Seconds to live; -1 without expiry, -2 when the key does not exist"""
    _ttl(s, args[1], True)


@command("PTTL", 2, "readonly fast", group="generic", syntax="key")
def pttl(s: Any, args: list[bytes]) -> None:
    """Milliseconds to live; -1 without expiry, -2 when the key does not exist"""
    _ttl(s, args[1], False)


@command("DBSIZE", 1, "readonly", NO, "server")
def dbsize(s: Any, args: list[bytes]) -> None:
    """The number of live keys, counted on every shard"""
    s.answer_in_thread(s.db.count, resp.integer)


@command("KEYS", 2, "readonly", NO, "generic", syntax="pattern")
def keys(s: Any, args: list[bytes]) -> None:
    """Live keys matching a glob pattern (a merged scan of every shard: slow on big tables)"""
    matches = compile_glob(args[1])
    proto = s.proto
    s.answer_in_thread(lambda: [k for k, _ in s.db.scan() if matches(k)], lambda ks: resp.bulks(ks, proto))


@command("CLEAN", 1, "write", NO, "server")
def clean(s: Any, args: list[bytes]) -> None:
    """Run one cleaner round now: delete soft-deleted and expired rows in bounded batches"""
    s.answer_in_thread(s.db.clean_once, resp.integer)


@command("FLUSHDB", -1, "write", NO, "keyspace", syntax="[ASYNC | SYNC]")
def flushdb(s: Any, args: list[bytes]) -> None:
    """Delete every row on every shard"""
    s.answer_in_thread(s.db.flush, lambda _: resp.OK)


@command("INFO", -1, "loading stale", NO, "server", syntax="[section ...]")
def info(s: Any, args: list[bytes]) -> bytes:
    """The server, its shards and routing, and the cleaner's count"""
    db = s.db
    fields = dict(s.state.info_server())
    fields.update({
        "routing": db.routing.mode,
        "shards": ",".join(f"{name}={addr.host}:{addr.port}" for name, addr in db.addresses.items()),
        "range_boundaries": ",".join(b.decode(errors="replace") for b in db.routing.boundaries),
        "cleaner_rows_removed": db.cleaned,
        "connected_clients": len(s.state.clients),
        "total_commands_processed": s.state.commands_processed,
    })  # fmt: skip
    text = "# Server\r\n" + "".join(f"{k}:{v}\r\n" for k, v in fields.items())
    return resp.bulk(text.encode(), s.proto)
