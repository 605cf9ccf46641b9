"""TCP mode: each client connection is piped, byte for byte, to one backend.

The balancer picks per connection (the hash key is the client address), so it
can front anything that speaks TCP: the cache (RESP), MariaDB, another proxy.
A connect failure is retried once on another backend (nothing was sent yet);
once bytes flow the backend is committed. Each direction is copied with its
own backpressure (``drain``), and a half-close travels through: the client's
FIN becomes our FIN to the backend and the other way round, so protocols that
signal "no more requests" with a half-close (``nc -N``) work.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from netlib.shell import Connection

from .forwarding import client_ip

if TYPE_CHECKING:
    from .backends import Backend
    from .server import LoadBalancer

READ_SIZE = 64 * 1024


async def _connect(lb: LoadBalancer, conn: Connection) -> tuple[Backend, asyncio.StreamReader,
                                                                asyncio.StreamWriter] | None:  # fmt: skip
    key = client_ip(conn.peer)
    tried: list[Backend] = []
    while len(tried) < 2:
        backend = lb.choose(key, tried)
        if backend is None:
            break
        tried.append(backend)
        try:
            async with asyncio.timeout(lb.cfg.connect_timeout):
                reader, writer = await asyncio.open_connection(backend.host, backend.port)
            return backend, reader, writer
        except (OSError, TimeoutError) as e:
            backend.failed(f"connect failed: {e!r}")
            lb.done(backend)
    conn.log.warning("no backend could take the connection")
    return None


async def pipe(lb: LoadBalancer, conn: Connection) -> None:
    """The shell's coroutine handler in TCP mode."""
    got = await _connect(lb, conn)
    if got is None:
        return
    backend, reader, writer = got
    try:
        up = asyncio.create_task(_upstream(conn, writer))
        try:
            while data := await reader.read(READ_SIZE):
                conn.write(data)
                await conn.drain()
            conn.write_eof()
            await up
        finally:
            up.cancel()
            with contextlib.suppress(BaseException):
                await up
    finally:
        writer.close()
        lb.done(backend)


async def _upstream(conn: Connection, writer: asyncio.StreamWriter) -> None:
    """Client -> backend, then a half-close."""
    while data := await conn.recv(READ_SIZE):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()
