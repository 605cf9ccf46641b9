"""The LSM store's commands on the respkit registry.

``s.db`` is the open ``storage.lsm.LSM``. Point reads and writes run on the
event loop (a memtable insert plus a WAL append; the fsync under ``--sync
always``). KEYS, DBSIZE and INFO walk the whole store through merged
iterators and COMPACT rewrites every table, so they run in a worker thread
(``answer_in_thread``): other connections keep being served meanwhile.

SCAN's cursor is the next key itself, as a decimal number (the bytes of
``0x01 || key`` read big-endian), not an index into a table that changes:
since the store is ordered, every key present for the whole iteration is
returned exactly once, whatever is written meanwhile. (Redis's cursors fit in
64 bits; ours grow with the key. redis-cli and redis-py treat them as opaque.)
"""

from __future__ import annotations

import itertools
from typing import Any

from netlib import resp
from servers.respkit import BASE, SYNTAX, CommandError, Registry, to_int
from servers.respkit.glob import compile_glob
from storage.lsm import MAX_KEY_SIZE, MAX_VALUE_SIZE

REGISTRY = Registry(include=BASE)
command = REGISTRY.command
NO = (0, 0, 0)


def storable(key: bytes) -> bool:
    return 0 < len(key) <= MAX_KEY_SIZE


@command("GET", 2, "readonly fast", group="string", syntax="key")
def get(s: Any, args: list[bytes]) -> bytes:
    """Get the value of a key"""
    return resp.bulk(s.db.get(args[1]) if storable(args[1]) else None, s.proto)


@command("SET", 3, "write", group="string", syntax="key value")
def set_(s: Any, args: list[bytes]) -> bytes:
    """Set the value of a key (WAL, then memtable)"""
    key, value = args[1], args[2]
    if not storable(key):
        return resp.error(f"key length must be 1..{MAX_KEY_SIZE} bytes")
    if len(value) > MAX_VALUE_SIZE:
        return resp.error(f"value longer than {MAX_VALUE_SIZE} bytes")
    s.db.put(key, value)
    return resp.OK


@command("DEL", -2, "write", (1, -1, 1), "generic", syntax="key [key ...]")
def delete(s: Any, args: list[bytes]) -> bytes:
    """Delete keys (a tombstone each)"""
    return resp.integer(sum(s.db.delete(k) for k in args[1:] if storable(k)))


@command("EXISTS", -2, "readonly fast", (1, -1, 1), "generic", syntax="key [key ...]")
def exists(s: Any, args: list[bytes]) -> bytes:
    """Count the given keys that exist"""
    return resp.integer(sum(storable(k) and k in s.db for k in args[1:]))


@command("KEYS", 2, "readonly", NO, "generic", syntax="pattern")
def keys(s: Any, args: list[bytes]) -> None:
    """Keys matching a glob pattern, in key order"""
    matches = compile_glob(args[1])
    s.answer_in_thread(lambda: [k for k, _ in s.db.scan() if matches(k)],
                       lambda ks: resp.bulks(ks, s.proto))  # fmt: skip


def cursor_key(cursor: bytes) -> bytes | None:
    if not cursor.isdigit():
        raise CommandError(b"-ERR invalid cursor\r\n")
    n = int(cursor)
    if n == 0:
        return None
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if raw[:1] != b"\x01":
        raise CommandError(b"-ERR invalid cursor\r\n")
    return raw[1:]


@command("SCAN", -2, "readonly", NO, "generic", syntax="cursor [MATCH pattern] [COUNT count]")
def scan(s: Any, args: list[bytes]) -> bytes:
    """Iterate the keys in order; the cursor is the next key"""
    start = cursor_key(args[1])
    match, count = None, 10
    for opt, val in zip(args[2::2], args[3::2], strict=False):
        if opt.upper() == b"MATCH":
            match = compile_glob(val)
        elif opt.upper() == b"COUNT":
            count = to_int(val)
            if count < 1:
                raise CommandError(SYNTAX)
        else:
            raise CommandError(SYNTAX)
    if len(args) % 2:
        raise CommandError(SYNTAX)
    page = list(itertools.islice(s.db.scan(start), count + 1))
    nxt = b"0" if len(page) <= count else b"%d" % int.from_bytes(b"\x01" + page[count][0], "big")
    found = [k for k, _ in page[:count] if match is None or match(k)]
    return b"*2\r\n" + resp.bulk(nxt) + resp.bulks(found, s.proto)


@command("DBSIZE", 1, "readonly", NO, "server")
def dbsize(s: Any, args: list[bytes]) -> None:
    """The number of live keys (a merged scan)"""
    s.answer_in_thread(lambda: len(s.db), resp.integer)


@command("INFO", -1, "", NO, "server", syntax="[section [section ...]]")
def info(s: Any, args: list[bytes]) -> None:
    """Server and LSM statistics: tables per level, write and space amplification"""
    state = s.state

    def text(stats: dict[str, Any]) -> bytes:
        lsm = {k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in stats.items()}
        sections = {"server": state.info_server(), "lsm": lsm,
                    "keyspace": {"db0": f"keys={stats['keys']},expires=0"}}  # fmt: skip
        wanted = [a.decode(errors="replace").lower() for a in args[1:]] or list(sections)
        if any(w in ("all", "default", "everything") for w in wanted):
            wanted = list(sections)
        body = "\r\n".join(
            f"# {n.capitalize()}\r\n" + "".join(f"{k}:{v}\r\n" for k, v in sections[n].items())
            for n in wanted
            if n in sections
        )
        return resp.verbatim(body, s.proto)

    s.answer_in_thread(s.db.stats, text)


@command("COMPACT", 1, "write", NO, "server")
def compact(s: Any, args: list[bytes]) -> None:
    """Flush the memtable and merge every table into one sorted run"""

    def reply(r: dict[str, Any]) -> bytes:
        return resp.simple(
            "OK compacted {tables_before} tables ({bytes_before} bytes) into "
            "{tables_after} ({bytes_after} bytes)".format(**r)
        )

    s.answer_in_thread(s.db.compact, reply)
