"""Starting a RESP server on the netlib shell: Redis's connection cap and refusal, port 0.

``serve(config, state, session_class)`` starts the shell with one
``session_class(state, conn)`` per connection, records the bound port in
``state.port`` (INFO and CONFIG GET port report it) and returns once
listening. ``tasks`` are a server's periodic jobs (the cache's cron): started
with the server, cancelled when it shuts down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from netlib.shell import Connection, Server, ShellConfig, run, serve_until_signalled, start

from .errors import MAX_CLIENTS
from .session import Session
from .state import ServerState

MAX_CONNECTIONS = 10_000  # Redis's maxclients default

Task = Callable[[], Coroutine[Any, Any, None]]
S = TypeVar("S", bound=ServerState)


def shell_config(
    host: str = "127.0.0.1", port: int = 0, timeout: float = 0, maxclients: int = MAX_CONNECTIONS
) -> ShellConfig:
    """The shell settings a RESP server wants: Redis's maxclients, its refusal, its ``timeout``.

    ``timeout`` 0 means never close an idle client, as Redis's default: a
    subscriber or a BLPOP may legitimately wait for hours. (Redis also exempts
    blocked and subscribed clients from a non-zero timeout; the shell's idle
    sweep does not know about them.)
    """
    return ShellConfig(
        host=host,
        port=port,
        max_connections=maxclients,
        refuse_message=MAX_CLIENTS,
        idle_timeout=timeout if timeout > 0 else math.inf,
    )


async def serve(
    config: ShellConfig,
    state: S,
    session_class: Callable[[S, Connection], Session] = Session,
    tasks: Sequence[Task] = (),
) -> Server:
    """Start serving; returns once listening (``server.port`` is the real port)."""

    def factory(conn: Connection) -> Session:
        return session_class(state, conn)

    server = await start(config=config, session_factory=factory)
    state.port = server.port
    state.shell = server
    for t in tasks:  # the jobs stop with the server
        server.background(t(), getattr(t, "__name__", ""))
    return server


def run_engine(
    serve_engine: Callable[[ShellConfig, Any], Coroutine[Any, Any, Server]],
    db: Any,
    host: str,
    port: int,
) -> None:
    """A storage server's main loop: serve ``db`` until SIGINT/SIGTERM, then close it."""

    async def go() -> None:
        server = await serve_engine(shell_config(host, port), db)

        async def close_db() -> None:
            db.close()

        await serve_until_signalled(server, close_db)

    try:
        run(go)  # an address that cannot be bound is one line and exit 1 (netlib.shell.run)
    except SystemExit:
        db.close()  # it never served: close_db did not run
        raise
