"""Bitcask's shared state on the respkit kit, and ``serve``.

Reads and writes run on the event loop: a Bitcask get is one dict lookup and
one pread, a put one write(2) (plus an fsync with ``--sync always``), short
enough not to need a thread (MERGE is the exception, see commands.py).
Storage errors (a corrupt record, a full disk) answer ``-ERR storage error``
on the command that hit them (``EngineState``): a corrupt record is
reported, never returned; a protocol error answers and closes only that
connection (the kit's session does both).
"""

from __future__ import annotations

from netlib.shell import Server, ShellConfig
from servers.respkit import EngineState
from servers.respkit import serve as serve_resp
from storage.bitcask import Bitcask, StorageError

from .commands import REGISTRY


async def serve(config: ShellConfig, db: Bitcask) -> Server:
    """Start serving ``db``; returns once listening (``server.port`` is the real port)."""
    state = EngineState(
        db, REGISTRY, errors=(StorageError, OSError), implementation="syslab servers.bitcask"
    )
    return await serve_resp(config, state)
