"""The KV-on-MySQL engine shared by every RESP connection, and ``serve``.

``KVSql`` calls block on MariaDB round trips, so the commands run them in
worker threads (``commands.py``). A database error (a shard down, a lock
wait timeout) answers ``-ERR storage error: ...`` on the command that hit
it and is logged; the connection and the server go on.
"""

from __future__ import annotations

from netlib.shell import Server, ShellConfig
from servers.respkit import EngineState
from servers.respkit import serve as serve_resp

from .commands import REGISTRY
from .engine import KVSql


async def serve(config: ShellConfig, db: KVSql) -> Server:
    """Start serving ``db``; returns once listening (``server.port`` is the real port)."""
    state = EngineState(db, REGISTRY, errors=(OSError,), implementation="syslab servers.kvsql")
    return await serve_resp(config, state)
