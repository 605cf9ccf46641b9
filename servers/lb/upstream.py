"""One keep-alive HTTP connection to a backend: an ``asyncio.Protocol`` around the
client side of ``netlib.http.core``.

Why not ``netlib.http.HTTPClient``: the proxy needs things a general client
hides. It must know whether a single byte of the request left (a request never
sent may go to another backend whatever its method), wait for response events
with a read timeout of its own, stop reading the backend while the client is
slow (backpressure end to end), and keep idle connections per backend object so
a drained or failed backend's pool goes with it. A Protocol (not streams)
keeps the per-request cost to one future at most.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from netlib.http import core as h11

if TYPE_CHECKING:
    from .backends import Backend
    from .fast import FastExchange
    from .rawpath import RawPath

# Unparsed response bytes held before we stop reading the backend (the client is
# slower than the backend): the shell's own read high-water mark.
READ_HIGH_WATER = 256 * 1024


class UpstreamError(Exception):
    """The backend failed this exchange. ``sent``: request bytes may have reached it."""

    def __init__(self, msg: str, sent: bool, timeout: bool = False) -> None:
        super().__init__(msg)
        self.sent = sent
        self.timeout = timeout


class Upstream(asyncio.Protocol):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.h = h11.Connection(h11.CLIENT, max_body=None)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle = False  # sitting in the backend's pool
        self.fast: FastExchange | None = None  # the fast-path exchange using it, if any
        self.raw: RawPath | None = None  # the byte-path session using it, if any
        self.received = 0  # bytes from the backend: none since a request = it never answered
        self._waiter: asyncio.Future[bool] | None = None  # its result: timed out
        self._drain: asyncio.Future[None] | None = None
        self._paused = False

    @classmethod
    async def open(cls, backend: Backend, timeout: float) -> Upstream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, proto = await loop.create_connection(
                    lambda: cls(backend), backend.host, backend.port
                )
        except TimeoutError:
            raise UpstreamError(f"connect timed out after {timeout:g}s", False, True) from None
        except OSError as e:
            raise UpstreamError(f"connect failed: {e.strerror or e}", False) from None
        backend.opened += 1
        return proto

    # -- asyncio.Protocol ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        raw = self.raw
        if raw is not None:
            raw.raw_data(data)
            return
        self.h.receive_data(data)
        if self.fast is not None:
            self.fast.progress()
            return
        if len(self.h.unparsed) > READ_HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        if self.raw is not None:
            self.raw.raw_closed()  # (it lets go of us)
        self.h.receive_data(b"")
        if self.fast is not None:
            self.fast.progress()
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.idle:
            self.backend.forget(self)
        if self.raw is not None:
            self.raw.raw_closed()
        if self.fast is not None:
            self.fast.progress()
        self._wake()
        d = self._drain
        if d is not None and not d.done():
            d.set_result(None)

    def pause_writing(self) -> None:
        self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        d, self._drain = self._drain, None
        if d is not None and not d.done():
            d.set_result(None)

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(False)

    # -- used by the proxy -------------------------------------------------------------
    def usable(self) -> bool:
        h = self.h
        t = self.transport
        # Bytes the backend sent beyond its last response (or while idle) would be read as
        # the answer to the next request sent on it: such a connection is not reused.
        return (not self.closed and t is not None and not t.is_closing()  # (EOF seen: closing)
                and h.our_state == h11.IDLE and h.their_state == h11.IDLE
                and not h.unparsed)  # fmt: skip

    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise UpstreamError("backend closed the connection", True)
        self.transport.write(data)

    async def drain(self) -> None:
        d = self._drain
        if d is not None:
            await d
        if self.closed:
            raise UpstreamError("backend closed the connection", True)

    def poll(self) -> h11.Event | None:
        """The next response event if it has arrived already, else None (never waits)."""
        try:
            ev = self.h.next_event()
        except h11.RemoteProtocolError as e:
            raise UpstreamError(f"bad response: {e}", True) from None
        if ev is h11.NEED_DATA:
            if not self.closed:
                return None
            self.h.receive_data(b"")
            return self.poll()
        if type(ev) is h11.ConnectionClosed:
            raise UpstreamError("backend closed the connection before answering", True)
        return ev  # type: ignore[return-value]

    async def next_event(self, timeout: float) -> h11.Event:
        """The next response event; UpstreamError on a timeout, a close or bad framing."""
        h = self.h
        while True:
            try:
                ev = h.next_event()
            except h11.RemoteProtocolError as e:
                raise UpstreamError(f"bad response: {e}", True) from None
            if ev is h11.NEED_DATA:
                if self._paused and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                if self.closed:
                    h.receive_data(b"")
                    continue
                loop = asyncio.get_running_loop()
                w = self._waiter = loop.create_future()
                # A timer on the future itself: cheaper than wait_for's extra task and callbacks.
                timer = loop.call_later(timeout, _expire, w)
                try:
                    await w
                finally:
                    timer.cancel()
                    self._waiter = None
                if w.result():
                    raise UpstreamError(f"no answer within {timeout:g}s", True, True)
                continue
            if type(ev) is h11.ConnectionClosed:
                raise UpstreamError("backend closed the connection before answering", True)
            return ev  # type: ignore[return-value]

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(w: asyncio.Future[bool]) -> None:
    if not w.done():
        w.set_result(True)
