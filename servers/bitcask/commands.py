"""Bitcask's commands on the respkit registry: MERGE, beside the engine family's GET, SET,
DEL, EXISTS, KEYS, SCAN, DBSIZE and INFO (``servers.respkit.kv``).

The connection commands redis-cli and redis-py send on connect (HELLO,
CLIENT, COMMAND, ...) come from ``servers.respkit``. ``s.db`` is the open
``Bitcask``. MERGE reads and rewrites whole files, so it runs in a worker
thread (``answer_in_thread``): this connection's later commands wait for its
reply while every other connection goes on reading and writing.
"""

from __future__ import annotations

from typing import Any

from netlib import resp
from servers.respkit import BASE, Registry
from servers.respkit.kv import KV

REGISTRY = Registry(include=BASE)
REGISTRY.include(KV)  # GET SET DEL EXISTS KEYS SCAN DBSIZE INFO, as every engine on files
command = REGISTRY.command
NO = (0, 0, 0)


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
