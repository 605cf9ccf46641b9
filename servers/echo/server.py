"""Echo every byte back, with backpressure: a slow reader slows the writer.

At shutdown an idle peer is closed at once (``recv(or_shutdown=True)``): an idle
``nc`` must not hold the server for the whole grace period, then get an RST."""

from __future__ import annotations

from netlib.shell import Connection, Server, ShellConfig, start


async def echo(conn: Connection) -> None:
    while data := await conn.recv(or_shutdown=True):
        conn.write(data)
        await conn.drain()


async def serve(config: ShellConfig) -> Server:
    """Start echoing; returns once listening."""
    return await start(echo, config)
