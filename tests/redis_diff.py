"""Differential checks: the same commands on servers.cache and a real redis-server, replies compared.

``same(ours, real, *cmd)`` runs one command on both with redis-py (RESP2,
raw bytes) and asserts equal replies, errors included (compared by their
message). Tests of the cache's newer families use it for scenarios where
Redis's answer is the specification.
"""

from __future__ import annotations

from typing import Any

import redis


def reply(r: redis.Redis, *cmd: Any) -> Any:
    """The raw reply (redis-py's per-command reshaping switched off), or ("error", message)."""
    callbacks = r.response_callbacks
    r.response_callbacks = {}  # type: ignore[assignment]
    try:
        return r.execute_command(*cmd)
    except redis.ResponseError as e:
        return ("error", str(e))
    finally:
        r.response_callbacks = callbacks


def same(ours: redis.Redis, real: redis.Redis, *cmd: Any) -> Any:
    mine, theirs = reply(ours, *cmd), reply(real, *cmd)
    assert mine == theirs, f"{cmd!r}: ours {mine!r} != redis {theirs!r}"
    return mine


def script(ours: redis.Redis, real: redis.Redis, lines: str) -> None:
    """One command per line, words split on spaces ("" for an empty argument); a line
    starting with ``~`` compares the replies as unordered collections (SMEMBERS...)."""
    for line in lines.strip().splitlines():
        line = line.strip()
        unordered = line.startswith("~")
        words = [w if w != '""' else "" for w in line.removeprefix("~").split()]
        if not words:
            continue
        if unordered:
            mine, theirs = reply(ours, *words), reply(real, *words)
            assert sorted(mine) == sorted(theirs), f"{words!r}: ours {mine!r} != redis {theirs!r}"
        else:
            same(ours, real, *words)
