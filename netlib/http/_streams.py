"""How a response body leaves: a producer's chunks, paced by the response's
keep-alive and shutdown policies, and file ranges by ``sendfile``.

``paced`` wraps a producer when its response has a ``Heartbeat`` or an
``on_shutdown``: it races the producer's next chunk against the heartbeat
timer and the server's shutdown signal. That costs a task per chunk, so a
plain stream (a file, a fast generator) never goes through it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any

from netlib.shell import Connection

from . import core as h11
from .messages import FileResponse, Heartbeat, StreamingResponse, TCPKeepAlive


def with_policies(chunks: AsyncGenerator[bytes, None], resp: StreamingResponse, conn: Connection,
                  last: Callable[[], None]) -> AsyncGenerator[bytes, None]:  # fmt: skip
    """``chunks`` under the response's keep-alive and shutdown policies."""
    k = resp.keepalive
    if isinstance(k, TCPKeepAlive):
        conn.tcp_keepalive(k.idle, k.interval, k.count)
    if resp.on_shutdown is not None or isinstance(k, Heartbeat):
        return paced(chunks, resp, conn, last)
    return chunks


async def paced(source: AsyncGenerator[bytes, None], resp: StreamingResponse,
                conn: Connection, last: Callable[[], None]) -> AsyncGenerator[bytes, None]:  # fmt: skip
    """``source``'s chunks, plus heartbeats while it is silent; at shutdown, the
    response's last words, then the end (``last()`` makes it the connection's last)."""
    beat = resp.keepalive if isinstance(resp.keepalive, Heartbeat) else None
    stop = asyncio.ensure_future(conn.wait_shutdown()) if resp.on_shutdown else None
    nxt: asyncio.Future[bytes] | None = None
    try:
        while True:
            if nxt is None:
                nxt = asyncio.ensure_future(source.__anext__())
            waits: set[asyncio.Future[Any]] = {nxt} if stop is None else {nxt, stop}
            done, _ = await asyncio.wait(waits, timeout=beat.every if beat else None,
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if nxt in done:
                try:
                    chunk = nxt.result()
                except StopAsyncIteration:
                    return
                nxt = None
                yield chunk
            elif stop is not None and stop in done:
                assert resp.on_shutdown is not None
                words = resp.on_shutdown()
                last()
                if words:
                    yield words
                return
            else:
                assert beat is not None
                yield beat.make()
    finally:
        if stop is not None:
            stop.cancel()
        if nxt is not None and not nxt.done():
            nxt.cancel()  # the producer's own finally runs (it is cancelled where it waits)
            with contextlib.suppress(BaseException):
                await nxt
        await source.aclose()


async def nothing() -> AsyncGenerator[bytes, None]:
    """The body of a HEAD response: none."""
    return
    yield b""


async def send_file(conn: Connection, h: h11.Connection, resp: FileResponse, head: bytes) -> int:
    """A file body after its head: literal pieces (the head, multipart part heads) are
    gathered into one write before each file range, which goes by ``conn.sendfile``."""
    sent = 0
    out = [head]
    with resp.open() as fd:
        for piece in resp.pieces():
            if isinstance(piece, bytes):
                out.append(h.send(h11.Data(piece)))
                sent += len(piece)
                continue
            conn.write(b"".join(out))
            out = []
            h.send_counted(piece[1])
            await conn.sendfile(fd, piece[0], piece[1])
            sent += piece[1]
    if out:
        conn.write(b"".join(out))
    return sent


async def body_of(resp: StreamingResponse | FileResponse) -> AsyncGenerator[bytes, None]:
    """A streamed response's producer as bytes (str pieces encoded, empty ones skipped),
    closed with the response (``aclose``), sync or async alike."""
    content = resp.content  # type: ignore[union-attr]
    if hasattr(content, "__aiter__"):
        try:
            async for chunk in content:
                if chunk:
                    yield chunk.encode() if isinstance(chunk, str) else chunk
        finally:
            aclose = getattr(content, "aclose", None)
            if aclose is not None:
                await aclose()
    else:
        for chunk in content:  # type: ignore[union-attr]
            if chunk:
                yield chunk.encode() if isinstance(chunk, str) else chunk


def run_eagerly(
    coro: Coroutine[Any, Any, Any], then: Callable[[], None]
) -> asyncio.Task[None] | None:
    """Run ``coro`` now, in the caller, up to its first suspension (3.12's eager tasks,
    by hand). None if it finished without one (its outcome is then the caller's: an
    exception propagates); else a task that drives it on from there, then calls
    ``then()``. A file the socket takes in one ``os.sendfile`` thus costs no task."""
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_drive(coro, yielded, then))


async def _drive(coro: Coroutine[Any, Any, Any], yielded: Any, then: Callable[[], None]) -> None:
    """Carry ``coro`` on from its suspension on ``yielded`` as its own task would: wait
    for the future, then resume it (it reads the outcome itself); a cancellation of this
    task that did not cancel that future is thrown in."""
    try:
        while True:
            exc: BaseException | None = None
            try:
                if yielded is None:  # a bare yield (sleep(0)): just give the loop a turn
                    await asyncio.sleep(0)
                else:
                    yielded._asyncio_future_blocking = False  # taken, as Task.__step does
                    await yielded
            except asyncio.CancelledError as e:
                if yielded is None or not yielded.cancelled():
                    exc = e
            except Exception:
                pass  # the future's own failure: coro sees it when it resumes
            try:
                yielded = coro.throw(exc) if exc is not None else coro.send(None)
            except StopIteration:
                break
    except BaseException:
        coro.close()
        raise
    then()
