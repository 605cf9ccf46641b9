"""The LSM server's shared state on the respkit kit, and ``serve``.

Storage errors (a corrupt block met by a read, a full disk refusing a write,
a background flush that failed) answer ``-ERR storage error: ...`` on the
command that hit them; reads go on being served.
"""

from __future__ import annotations

from netlib.shell import Server, ShellConfig
from servers.respkit import EngineState
from servers.respkit import serve as serve_resp
from storage.lsm import LSM, StorageError

from .commands import REGISTRY


async def serve(config: ShellConfig, db: LSM) -> Server:
    """Start serving ``db``; returns once listening (``server.port`` is the real port)."""
    state = EngineState(
        db, REGISTRY, errors=(StorageError, OSError), implementation="syslab servers.lsm"
    )
    return await serve_resp(config, state)
