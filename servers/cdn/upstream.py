"""Asking an origin (or a peer edge): one request, its body whole or still streaming.

``fetch_one`` sends the request, reads the head within the client's timeout,
adds a Date if the origin gave none (RFC 9111 §4.2.3 needs one), and then

* buffers the body when it fits in ``max_object`` (each piece within
  ``idle_timeout`` of the last: a stalled origin must not hold the client and
  every coalesced waiter forever), or
* hands it on as a stream when the Content-Length, or the bytes seen so far,
  say it is too big to store: the edge passes it to the client as it arrives.

Every failure is an ``OriginDown`` with the status the client would get: 504
when the origin timed out, 502 when it refused, reset or broke off its body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from netlib.http import HTTPClient

from . import policy
from .policy import Fields


class OriginDown(Exception):
    """Every origin failed; ``status`` is what the client gets (502 refused, 504 timeout)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass
class Fetched:
    """An origin's answer: whole (``body``) or still streaming (``stream``)."""

    status: int
    headers: policy.HeaderList
    body: bytes | None
    stream: AsyncIterator[bytes] | None
    request_time: float
    response_time: float
    origin: str


async def fetch_one(client: HTTPClient, origin: str, target: bytes, headers: dict[str, str], method: str,
                    body: bytes | None, *, max_object: int, idle_timeout: float,
                    clock: Callable[[], float]) -> Fetched:  # fmt: skip
    url = origin.rstrip("/") + target.decode("latin-1")
    sent = clock()
    try:
        r = await client.request(method, url, headers=headers, body=body, stream=True)
    except TimeoutError:
        raise OriginDown(504, f"origin {origin} timed out") from None
    except (OSError, ValueError) as e:  # ConnectionError, refused, bad framing from it
        raise OriginDown(502, f"origin {origin} failed: {e}") from None
    got_at = clock()
    raw = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in r.headers.raw]
    hdrs = policy.end_to_end(raw)
    if not any(k == "date" for k, _ in hdrs):
        hdrs.append(("date", policy.format_date(got_at)))
    if method == "HEAD" or r.status in (204, 304):
        await r.read()  # no body: this ends the message and gives the connection back to the pool
        return Fetched(r.status, hdrs, b"", None, sent, got_at, origin)
    chunks = r.stream()
    length = Fields(hdrs).first("content-length")
    if length is not None and length.isdigit() and int(length) > max_object:
        return Fetched(r.status, hdrs, None, _guarded(chunks), sent, got_at, origin)
    buf: list[bytes] = []
    size = 0
    try:
        async for chunk in _idle_limited(chunks, idle_timeout):
            buf.append(chunk)
            size += len(chunk)
            if size > max_object:  # no length said: too big after all
                return Fetched(r.status, hdrs, None, _chain(buf, _guarded(chunks)), sent, got_at, origin)
    except (OSError, ValueError, TimeoutError) as e:
        raise OriginDown(502, f"origin {origin} broke off its body: {e!r}") from None
    return Fetched(r.status, hdrs, b"".join(buf), None, sent, got_at, origin)


async def discard(got: Fetched) -> None:
    """Close a streamed answer nobody will read (its connection is not reused)."""
    if got.stream is not None:
        await got.stream.aclose()  # type: ignore[attr-defined]


async def nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that yields nothing


async def _guarded(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for c in chunks:
            yield c
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


async def _idle_limited(chunks: AsyncIterator[bytes], timeout: float) -> AsyncIterator[bytes]:
    """The body's pieces, each within ``timeout`` seconds of the last."""
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        yield chunk


async def _chain(first: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for c in first:
        yield c
    async for c in rest:
        yield c
