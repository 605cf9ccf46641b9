"""Echo every byte back, with backpressure: a slow reader slows the writer."""

from __future__ import annotations

from netlib.shell import Connection, Server, ShellConfig, start


async def echo(conn: Connection) -> None:
    while data := await conn.recv():
        conn.write(data)
        await conn.drain()


async def serve(config: ShellConfig) -> Server:
    """Start echoing; returns once listening."""
    return await start(echo, config)
