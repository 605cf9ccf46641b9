"""Bitcask's shared state on the respkit kit, and ``serve``.

Reads and writes run on the event loop: a Bitcask get is one dict lookup and
one pread, a put one write(2) (plus an fsync with ``--sync always``), short
enough not to need a thread (MERGE is the exception, see commands.py).
Storage errors answer ``-ERR`` on the connection that hit them (a corrupt
record is reported, never returned); a protocol error answers and closes only
that connection (the kit's session does both).
"""

from __future__ import annotations

import logging

from netlib import resp
from netlib.shell import Server, ShellConfig
from servers.respkit import ServerState
from servers.respkit import serve as serve_resp
from storage.bitcask import Bitcask, StorageError

from .commands import REGISTRY

log = logging.getLogger("servers.bitcask")


class BitcaskState(ServerState):
    """One open Bitcask shared by every connection (one database: SELECT 0 only)."""

    implementation = "syslab servers.bitcask (Python)"
    # A corrupt record, a full disk (OSError from write/fsync): this reply only.
    errors = (StorageError, OSError)

    def __init__(self, db: Bitcask) -> None:
        self.bitcask = db
        super().__init__(REGISTRY, databases=1)

    def database(self, index: int) -> Bitcask:
        return self.bitcask

    def error_reply(self, exc: BaseException, args: list[bytes]) -> bytes:
        name = args[0].decode(errors="replace") if args else "command"
        log.error("%s failed: %s", name, exc)
        return resp.error(f"storage error: {exc}")


async def serve(config: ShellConfig, db: Bitcask) -> Server:
    """Start serving ``db``; returns once listening (``server.port`` is the real port)."""
    return await serve_resp(config, BitcaskState(db))
