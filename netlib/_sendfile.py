"""The shell's zero-copy file sender: ``os.sendfile`` from a file to a transport's socket.

Strategy. ``loop.sendfile`` would do this, but uvloop (what production runs on)
does not implement it (``NotImplementedError``), and asyncio's version pauses
reading and takes the transport out of the loop for the duration. So the shell
calls ``os.sendfile`` itself, on the socket under the transport, under one rule:
the transport's own buffer must be empty first, or the file's bytes would
overtake bytes written earlier (the response head). When the socket is full
(``EAGAIN``), or the transport still holds bytes, we wait for the socket to be
writable on a *duplicate* of its descriptor: both loops refuse ``add_writer``
on a descriptor a transport owns, and a dup is a different number for the same
socket. The dup lives only for the wait and is closed before we return, so it
never keeps a socket open behind a transport that closed it.

Fallback: where ``os.sendfile`` cannot write to the socket (TLS, a transport
with no socket, a file system that refuses it), the range is read in blocks and
written through the transport with its flow control (``drain``).

What nginx does differently: ``TCP_CORK`` (``tcp_nopush``) so the head and the
first file bytes share a segment. Measured here (1 MiB files on loopback, CPU
per response), corking or writing the head together with the first 16 KiB cost
more than a head write of its own followed by ``sendfile``, so neither is done.
Each ``sendfile`` call is bounded by ``CHUNK`` (nginx's ``sendfile_max_chunk``),
and other connections run between calls whenever the socket fills.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Awaitable, Callable
from typing import Any

# Bytes per os.sendfile call: other connections get the loop between calls; the
# kernel caps one call near 2 GiB anyway. 1 MiB is about what a loopback socket
# buffer takes in one go.
CHUNK = 1024 * 1024
# Blocks read and written through the transport when sendfile cannot be used.
FALLBACK_BLOCK = 64 * 1024
# errno values meaning "sendfile does not work here": use the copying path.
_NO_SENDFILE = frozenset((errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK, errno.EOPNOTSUPP))


def socket_fd(transport: Any) -> int | None:
    """The descriptor os.sendfile may write to, or None (TLS, no socket)."""
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    return None if sock is None else int(sock.fileno())


async def sendfile(
    transport: Any, drain: Callable[[], Awaitable[None]], fd: int, offset: int, count: int
) -> None:
    """Write ``count`` bytes of file ``fd`` from ``offset`` after what the transport holds.

    Raises ConnectionResetError if the transport closes meanwhile and OSError if the
    file ends early (it shrank after its length was promised in Content-Length).
    """
    out = socket_fd(transport)
    end = offset + count
    while offset < end:
        if transport.is_closing():
            raise ConnectionResetError("the connection closed during a file")
        if out is not None and not transport.get_write_buffer_size():
            try:
                n = os.sendfile(out, fd, offset, min(end - offset, CHUNK))
            except BlockingIOError:
                n = -1
            except OSError as e:
                if e.errno not in _NO_SENDFILE:
                    raise
                out = None
                continue
            if n == 0:
                raise OSError(f"file ended {end - offset} bytes early (it shrank)")
            if n > 0:
                offset += n
                continue
        if out is None:
            offset = await _copy_block(transport, drain, fd, offset, end)
        else:
            await _writable(out)


async def _copy_block(
    transport: Any, drain: Callable[[], Awaitable[None]], fd: int, offset: int, end: int
) -> int:
    block = os.pread(fd, min(end - offset, FALLBACK_BLOCK), offset)
    if not block:
        raise OSError(f"file ended {end - offset} bytes early (it shrank)")
    transport.write(block)
    await drain()
    return offset + len(block)


async def _writable(fd: int) -> None:
    """Until the socket under ``fd`` has room (or the wait is cancelled)."""
    loop = asyncio.get_running_loop()
    dup = os.dup(fd)
    ready = loop.create_future()
    loop.add_writer(dup, _set_done, ready)
    try:
        await ready
    finally:
        loop.remove_writer(dup)  # before close: the loop must forget it while it is valid
        os.close(dup)


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
