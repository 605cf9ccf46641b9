"""The B+ tree's shared state on the respkit kit, and ``serve``.

Storage errors (a page failing its checksum, a full disk) answer ``-ERR
storage error: ...`` on the command that hit them (``EngineState``); a
corrupt page is reported, never returned as data.
"""

from __future__ import annotations

from netlib.shell import Server, ShellConfig
from servers.respkit import EngineState
from servers.respkit import serve as serve_resp
from storage.bptree import BPlusTree, StorageError

from .commands import REGISTRY


async def serve(config: ShellConfig, db: BPlusTree) -> Server:
    """Start serving ``db``; returns once listening (``server.port`` is the real port)."""
    state = EngineState(
        db, REGISTRY, errors=(StorageError, OSError), implementation="syslab servers.bptree"
    )
    return await serve_resp(config, state)
