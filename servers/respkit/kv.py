"""The commands of a key-value engine on files: GET SET DEL EXISTS KEYS SCAN DBSIZE INFO.

``KV`` is a registry any server over a ``storage.engines`` engine includes
(``servers.bptree`` and ``servers.bitcask`` all of it, beside their CHECKPOINT
and MERGE; ``servers.lsm`` the point commands and SCAN, with KEYS, DBSIZE and
INFO of its own that walk the store in a worker thread). ``s.db`` is the
engine: ``get``, ``put``, ``delete``, ``scan``, ``in`` and ``len``; its limits
are its ``max_key`` and ``max_value`` attributes, and INFO's ``# Engine``
section comes from its ``stats()`` when it has one.

SCAN's cursor is stateless: 0 starts, and every other cursor is the next
key to visit, as an integer (``0x01 || key`` read big-endian, so a key's
leading zero bytes survive). Engines scan in key order, so a key present
for the whole iteration is returned exactly once, as Redis promises. What it
gives up: cursors grow with key length (Redis's are 64-bit); redis-cli and
redis-py pass them back as they came.
"""

from __future__ import annotations

import os
from typing import Any

from netlib import resp

from .errors import SYNTAX, CommandError, to_int
from .glob import compile_glob
from .registry import Registry

KV = Registry()
command = KV.command
NO = (0, 0, 0)
SCAN_COUNT = 10  # Redis's default COUNT


def storable(s: Any, key: bytes) -> bool:
    """Within the engine's key limits (a key outside them cannot be stored, so is never there)."""
    return 0 < len(key) <= s.db.max_key


@command("GET", 2, "readonly fast", group="string", syntax="key")
def get(s: Any, args: list[bytes]) -> bytes:
    """Get the value of a key"""
    return resp.bulk(s.db.get(args[1]) if storable(s, args[1]) else None, s.proto)


@command("SET", 3, "write", group="string", syntax="key value")
def set_(s: Any, args: list[bytes]) -> bytes:
    """Set the value of a key"""
    key, value = args[1], args[2]
    if not storable(s, key):
        return resp.error(f"key length must be 1..{s.db.max_key} bytes")
    if len(value) > s.db.max_value:
        return resp.error(f"value longer than {s.db.max_value} bytes")
    try:
        s.db.put(key, value)
    except ValueError as e:  # an engine limit the generic checks do not know (key + value)
        return resp.error(str(e))
    return resp.OK


@command("DEL", -2, "write", (1, -1, 1), "generic", syntax="key [key ...]")
def delete(s: Any, args: list[bytes]) -> bytes:
    """Delete keys"""
    return resp.integer(sum(bool(s.db.delete(k)) for k in args[1:] if storable(s, k)))


@command("EXISTS", -2, "readonly fast", (1, -1, 1), "generic", syntax="key [key ...]")
def exists(s: Any, args: list[bytes]) -> bytes:
    """Count the given keys that exist"""
    return resp.integer(sum(storable(s, k) and k in s.db for k in args[1:]))


@command("KEYS", 2, "readonly", NO, "generic", syntax="pattern")
def keys(s: Any, args: list[bytes]) -> bytes:
    """Keys matching a glob pattern, in key order"""
    matches = compile_glob(args[1])
    return resp.bulks([k for k, _ in s.db.scan() if matches(k)], s.proto)


@command("SCAN", -2, "readonly", NO, "generic", syntax="cursor [MATCH pattern] [COUNT count]")
def scan(s: Any, args: list[bytes]) -> bytes:
    """Iterate the keys in order, COUNT at a time"""
    start = _cursor_key(args[1])
    match, count = _scan_options(args)
    found, nxt = [], 0
    for k, _ in s.db.scan(start):
        if count == 0:
            nxt = int.from_bytes(b"\x01" + k, "big")
            break
        count -= 1
        if match is None or match(k):
            found.append(k)
    return b"*2\r\n" + resp.bulk(str(nxt).encode(), s.proto) + resp.bulks(found, s.proto)


def _cursor_key(raw: bytes) -> bytes | None:
    if not raw.isdigit():
        raise CommandError(b"-ERR invalid cursor\r\n")
    n = int(raw)
    if n == 0:
        return None
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if b[0] != 1:
        raise CommandError(b"-ERR invalid cursor\r\n")
    return b[1:]


def _scan_options(args: list[bytes]) -> tuple[Any, int]:
    match, count = None, SCAN_COUNT
    for i in range(2, len(args), 2):
        if i + 1 >= len(args):
            raise CommandError(SYNTAX)
        opt = args[i].upper()
        if opt == b"MATCH":
            match = compile_glob(args[i + 1])
        elif opt == b"COUNT":
            count = to_int(args[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        else:
            raise CommandError(SYNTAX)
    return match, count


@command("DBSIZE", 1, "readonly fast", NO, "server")
def dbsize(s: Any, args: list[bytes]) -> bytes:
    """The number of keys"""
    return resp.integer(len(s.db))


@command("INFO", -1, "", NO, "server", syntax="[section ...]")
def info(s: Any, args: list[bytes]) -> bytes:
    """Server, keyspace and engine statistics"""
    st = s.state
    sections: dict[str, dict[str, Any]] = {
        "server": st.info_server(),
        "stats": {"total_connections_received": st.connections_received,
                  "total_commands_processed": st.commands_processed},
        "keyspace": {"db0": f"keys={len(s.db)},expires=0,avg_ttl=0"},
        "engine": {"engine": type(s.db).__name__, "dir": os.path.abspath(str(s.db.dir)),
                   **(s.db.stats() if hasattr(s.db, "stats") else {})},
    }  # fmt: skip
    wanted = [a.decode(errors="replace").lower() for a in args[1:]]
    return resp.verbatim(info_text(sections, wanted), s.proto)


def info_text(sections: dict[str, dict[str, Any]], wanted: list[str]) -> str:
    """INFO's text: ``# Section`` headers and ``field:value`` lines, the sections asked for."""
    if not wanted or any(w in ("all", "default", "everything") for w in wanted):
        wanted = list(sections)
    out = []
    for name in wanted:
        if name in sections:
            body = "".join(f"{k}:{v}\r\n" for k, v in sections[name].items())
            out.append(f"# {name.capitalize()}\r\n{body}")
    return "\r\n".join(out)
