"""The B+ tree's commands: the respkit key-value family plus CHECKPOINT.

``s.db`` is the open ``BPlusTree``. Its calls run on the event loop: a get is
a few cached page lookups, a put one WAL append plus page work in memory;
the occasional checkpoint (a few ms of writes and two fsyncs) is the one
pause, and CHECKPOINT runs it in a worker thread like Bitcask's MERGE.
"""

from __future__ import annotations

from typing import Any

from netlib import resp
from servers.respkit import BASE, Registry
from servers.respkit.kv import KV

REGISTRY = Registry(include=BASE)
REGISTRY.include(KV)
NO = (0, 0, 0)


@REGISTRY.command("CHECKPOINT", 1, "write", NO, "server")
def checkpoint(s: Any, args: list[bytes]) -> bytes | None:
    """Write the changed pages to the page file and truncate the WAL"""
    s.answer_in_thread(s.db.checkpoint, lambda n: resp.simple(f"OK {n} pages written"))
    return None
