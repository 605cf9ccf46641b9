"""Hash commands: HSET/HGET and friends, HINCRBY*, HSCAN. A hash is a Python dict."""

from __future__ import annotations

from typing import Any

from netlib import resp

from ..encoding import note_hash
from ..keyspace import HASH_FIELD_OVERHEAD
from ..table import INT64_MAX, INT64_MIN, arity_error, command, to_int
from .keys import parse_cursor, parse_scan_options
from .strings import incr_float

G = "hash"
# Up to this many fields HSCAN answers everything at once with cursor 0, as
# Redis does for a hash still in its compact listpack encoding
# (hash-max-listpack-entries 128).
HSCAN_ALL_AT_ONCE = 128


def _hash(c: Any, key: bytes) -> dict[bytes, bytes] | None:
    return c.db.get_typed(key, dict)


def _hash_written(c: Any, key: bytes) -> dict[bytes, bytes] | None:
    """The write lookup (no hit/miss counted, as Redis's lookupKeyWrite)."""
    return c.db.get_typed_for_write(key, dict)


def _hash_for_write(c: Any, key: bytes) -> dict[bytes, bytes]:
    h = _hash_written(c, key)
    if h is None:
        h = {}
        c.db.put_new(key, h)
    return h


def _set_field(c: Any, key: bytes, h: dict[bytes, bytes], f: bytes, v: bytes) -> bool:
    """Set one field, tracking memory; True when the field is new."""
    old = h.get(f)
    h[f] = v
    note_hash(c, key, h, (f, v))
    if old is None:
        c.db.grow(key, len(f) + len(v) + HASH_FIELD_OVERHEAD)
        return True
    c.db.grow(key, len(v) - len(old))
    return False


def _hset(c: Any, a: list[bytes], name: bytes) -> int | bytes:
    if len(a) % 2:
        return arity_error(name.decode())
    h = _hash_for_write(c, a[1])
    if len(a) == 4:  # one field: the common case, without the generator
        return 1 if _set_field(c, a[1], h, a[2], a[3]) else 0
    return sum(_set_field(c, a[1], h, a[i], a[i + 1]) for i in range(2, len(a), 2))


@command("HSET", -4, "write denyoom fast", (1, 1, 1), G, "Set hash fields")
def hset(c: Any, a: list[bytes]) -> bytes:
    n = _hset(c, a, b"hset")
    return n if isinstance(n, bytes) else resp.integer(n)


@command("HMSET", -4, "write denyoom fast", (1, 1, 1), G, "Set hash fields (old form)")
def hmset(c: Any, a: list[bytes]) -> bytes:
    n = _hset(c, a, b"hmset")
    return n if isinstance(n, bytes) else resp.OK


@command("HSETNX", 4, "write denyoom fast", (1, 1, 1), G, "Set a field if it is new")
def hsetnx(c: Any, a: list[bytes]) -> bytes:
    h = _hash_written(c, a[1])
    if h is not None and a[2] in h:
        return resp.ZERO
    _set_field(c, a[1], _hash_for_write(c, a[1]), a[2], a[3])
    return resp.ONE


@command("HGET", 3, "readonly fast", (1, 1, 1), G, "The value of a field")
def hget(c: Any, a: list[bytes]) -> bytes:
    h = _hash(c, a[1])
    return resp.bulk(h.get(a[2]) if h else None, c.proto)


@command("HMGET", -3, "readonly fast", (1, 1, 1), G, "The values of several fields")
def hmget(c: Any, a: list[bytes]) -> bytes:
    h = _hash(c, a[1]) or {}
    return resp.bulks([h.get(f) for f in a[2:]], c.proto)


@command("HDEL", -3, "write fast", (1, 1, 1), G, "Delete fields")
def hdel(c: Any, a: list[bytes]) -> bytes:
    h = _hash_written(c, a[1])
    if h is None:
        return resp.ZERO
    n = 0
    for f in a[2:]:
        v = h.pop(f, None)
        if v is not None:
            c.db.grow(a[1], -(len(f) + len(v) + HASH_FIELD_OVERHEAD))
            n += 1
    c.db.delete_if_empty(a[1], h)
    return resp.integer(n)


@command("HEXISTS", 3, "readonly fast", (1, 1, 1), G, "Whether a field exists")
def hexists(c: Any, a: list[bytes]) -> bytes:
    h = _hash(c, a[1])
    return resp.ONE if h and a[2] in h else resp.ZERO


@command("HLEN", 2, "readonly fast", (1, 1, 1), G, "The number of fields")
def hlen(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(len(_hash(c, a[1]) or ()))


@command("HSTRLEN", 3, "readonly fast", (1, 1, 1), G, "The length of a field's value")
def hstrlen(c: Any, a: list[bytes]) -> bytes:
    h = _hash(c, a[1]) or {}
    return resp.integer(len(h.get(a[2], b"")))


@command("HKEYS", 2, "readonly", (1, 1, 1), G, "All field names")
def hkeys(c: Any, a: list[bytes]) -> bytes:
    return resp.bulks(list(_hash(c, a[1]) or ()))


@command("HVALS", 2, "readonly", (1, 1, 1), G, "All values")
def hvals(c: Any, a: list[bytes]) -> bytes:
    return resp.bulks(list((_hash(c, a[1]) or {}).values()))


@command("HGETALL", 2, "readonly", (1, 1, 1), G, "All fields and values")
def hgetall(c: Any, a: list[bytes]) -> bytes:
    return resp.map_(_hash(c, a[1]) or {}, c.proto)


@command("HINCRBY", 4, "write denyoom fast", (1, 1, 1), G, "Increment an integer field")
def hincrby(c: Any, a: list[bytes]) -> bytes:
    delta = to_int(a[3])
    h = _hash_for_write(c, a[1])
    old = h.get(a[2])
    n = 0 if old is None else to_int(old, b"-ERR hash value is not an integer\r\n")
    n += delta
    if n < INT64_MIN or n > INT64_MAX:
        c.db.delete_if_empty(a[1], h)
        return b"-ERR increment or decrement would overflow\r\n"
    _set_field(c, a[1], h, a[2], b"%d" % n)
    return resp.integer(n)


@command("HINCRBYFLOAT", 4, "write denyoom fast", (1, 1, 1), G, "Increment a float field")
def hincrbyfloat(c: Any, a: list[bytes]) -> bytes:
    h = _hash_written(c, a[1])
    old = h.get(a[2]) if h else None
    if a[3].lower().lstrip(b"+-") in (b"inf", b"infinity"):  # Redis checks the increment first
        return b"-ERR value is NaN or Infinity\r\n"
    out = incr_float(old, a[3], b"-ERR hash value is not a float\r\n")
    _set_field(c, a[1], _hash_for_write(c, a[1]), a[2], out)
    return resp.bulk(out)


@command("HSCAN", -3, "readonly", (1, 1, 1), G, "Incrementally iterate fields and values")
def hscan(c: Any, a: list[bytes]) -> bytes:
    cursor = parse_cursor(a[2])
    match, count, _ = parse_scan_options(a, 3)
    h = _hash(c, a[1]) or {}
    items = list(h.items())
    if len(items) <= HSCAN_ALL_AT_ONCE:
        chunk, nxt = items, 0
    else:
        # Beyond the compact size the cursor is a position in the dict's order:
        # fields added or removed during the scan may shift it (Redis's
        # reverse-binary cursor over its hash table avoids that).
        chunk = items[cursor : cursor + count]
        nxt = cursor + count if cursor + count < len(items) else 0
    flat: list[bytes] = []
    for f, v in chunk:
        if match is None or match(f):
            flat += (f, v)
    return b"*2\r\n" + resp.bulk(b"%d" % nxt) + resp.bulks(flat)
