"""Bitcask's commands on the respkit registry: GET, SET, DEL, EXISTS, KEYS, DBSIZE, MERGE
(and SCAN and INFO from ``servers.respkit.kv``).

Each is a small function from the session and its arguments to reply bytes
(the connection commands redis-cli and redis-py send on connect, HELLO,
CLIENT, COMMAND, ..., come from ``servers.respkit``). ``s.db`` is the open
``Bitcask``. MERGE reads and rewrites whole files, so it runs in a worker
thread (``answer_in_thread``): this connection's later commands wait for its
reply while every other connection goes on reading and writing.
"""

from __future__ import annotations

from typing import Any

from netlib import resp
from servers.respkit import BASE, Registry
from servers.respkit.glob import compile_glob
from servers.respkit.kv import KV
from storage.bitcask import format as fmt

REGISTRY = Registry(include=BASE)
REGISTRY.include(KV, names=["scan", "info"])  # the engine family's SCAN (key order) and INFO
command = REGISTRY.command
NO = (0, 0, 0)


def storable(key: bytes) -> bool:
    """Within the engine's key limits (a key outside them cannot be stored, so is never there)."""
    return 0 < len(key) <= fmt.MAX_KEY_SIZE


@command("GET", 2, "readonly fast", group="string", syntax="key")
def get(s: Any, args: list[bytes]) -> bytes:
    """Get the value of a key"""
    return resp.bulk(s.db.get(args[1]), s.proto)


@command("SET", 3, "write", group="string", syntax="key value")
def set_(s: Any, args: list[bytes]) -> bytes:
    """Set the value of a key (appended to the active file)"""
    key, value = args[1], args[2]
    if not storable(key):
        return resp.error(f"key length must be 1..{fmt.MAX_KEY_SIZE} bytes")
    if len(value) > fmt.MAX_VALUE_SIZE:
        return resp.error(f"value longer than {fmt.MAX_VALUE_SIZE} bytes")
    s.db.put(key, value)
    return resp.OK


@command("DEL", -2, "write", (1, -1, 1), "generic", syntax="key [key ...]")
def delete(s: Any, args: list[bytes]) -> bytes:
    """Delete keys (a tombstone each)"""
    return resp.integer(sum(s.db.delete(k) for k in args[1:] if storable(k)))


@command("EXISTS", -2, "readonly fast", (1, -1, 1), "generic", syntax="key [key ...]")
def exists(s: Any, args: list[bytes]) -> bytes:
    """Count the given keys that exist"""
    return resp.integer(sum(k in s.db for k in args[1:]))


@command("KEYS", 2, "readonly", NO, "generic", syntax="pattern")
def keys(s: Any, args: list[bytes]) -> bytes:
    """Keys matching a glob pattern"""
    matches = compile_glob(args[1])
    return resp.bulks([k for k in s.db.keys() if matches(k)], s.proto)


@command("DBSIZE", 1, "readonly fast", NO, "server")
def dbsize(s: Any, args: list[bytes]) -> bytes:
    """The number of keys"""
    return resp.integer(len(s.db))


@command("MERGE", 1, "write", NO, "server")
def merge(s: Any, args: list[bytes]) -> bytes | None:
    """Rewrite the immutable files without dead records"""
    if s.db.merging:
        return resp.error("merge already in progress")
    s.answer_in_thread(s.db.merge, merge_reply)
    return None


def merge_reply(stats: dict[str, int]) -> bytes:
    return resp.simple(
        "OK merged {files_merged} files into {files_written}: {keys_copied} live keys, "
        "{bytes_before} -> {bytes_after} bytes".format(**stats)
    )
