"""clients/websocket: an asyncio WebSocket client, on netlib.http's core for the
opening request and netlib.websocket for everything after it.

``ws = await connect("ws://127.0.0.1:8098/ws/echo")`` sends the GET with a fresh
``Sec-WebSocket-Key`` (and a permessage-deflate offer unless
``compression=None``), checks the 101 (``HandshakeError`` otherwise, carrying
the server's status and body; ``compression`` may list several offers, in order
of preference), and returns a ``netlib.websocket.WebSocket``:
``await ws.send(...)``, ``await ws.recv()``, ``async for msg in ws``, ``await
ws.close()``. ``async with await connect(url) as ws`` closes on the way out.
Only ``ws://`` (no TLS here). Used by the tests of servers/chat and bench/chat,
and run against the Autobahn fuzzing server (``kosoku -m fuzzingserver``).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from urllib.parse import urlsplit

from netlib.http import core as h11
from netlib.websocket import handshake
from netlib.websocket.aio import ConnectionClosed, WebSocket
from netlib.websocket.core import CLIENT, MAX_FRAME, MAX_MESSAGE
from netlib.websocket.core import Connection as WSConnection
from netlib.websocket.deflate import DeflateParams, PerMessageDeflate
from netlib.websocket.handshake import HandshakeError

__all__ = ["ClientWebSocket", "ConnectionClosed", "HandshakeError", "connect"]

MAX_ERROR_BODY = 64 * 1024  # of a refused handshake's body, kept for the error message


class _Link(asyncio.Protocol):
    """The transport side: bytes to the handshake parser, then to the WebSocket."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.ws: WebSocket | None = None
        self.head_buf: list[bytes] = []
        self.head_event = asyncio.Event()
        self.eof = False
        self.exc: BaseException | None = None
        self.peer = ""
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def data_received(self, data: bytes) -> None:
        if self.ws is not None:
            self.ws.feed(data)
        else:
            self.head_buf.append(data)
            self.head_event.set()

    def eof_received(self) -> bool:
        self.eof = True
        if self.ws is not None:
            self.ws.feed_eof()
        self.head_event.set()
        return False  # the server ended TCP (after its close, §7.1.1): so do we

    def connection_lost(self, exc: Exception | None) -> None:
        self.exc = exc
        self.eof = True
        self.transport = None
        self.head_event.set()
        if self.ws is not None:
            self.ws.connection_lost(exc)
        self._wake_drain(ConnectionError("connection lost"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain(None)

    def _wake_drain(self, exc: Exception | None) -> None:
        w = self._drain_waiter
        if w is not None and not w.done():
            if exc is None:
                w.set_result(None)
            else:
                w.set_exception(exc)

    # -- the Link interface of netlib.websocket.aio --------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        if self.transport is None:
            raise ConnectionError("connection lost")
        if self._write_paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    def write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


class ClientWebSocket(WebSocket):
    """A ``WebSocket`` that is also an async context manager (closes on exit)."""

    async def __aenter__(self) -> ClientWebSocket:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        await self.close()


def _split(url: str) -> tuple[str, int, str]:
    u = urlsplit(url)
    if u.scheme != "ws":
        raise ValueError(f"only ws:// URLs are supported, not {url!r}")
    if not u.hostname:
        raise ValueError(f"no host in {url!r}")
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return u.hostname, u.port or 80, target


async def connect(url: str, *, subprotocols: list[str] | None = None,
                  compression: DeflateParams | list[DeflateParams] | None = DeflateParams(),
                  headers: list[tuple[bytes, bytes]] | None = None,
                  max_frame: int = MAX_FRAME, max_message: int = MAX_MESSAGE,
                  ping_interval: float | None = 20.0, ping_timeout: float = 20.0,
                  close_timeout: float = 5.0, open_timeout: float = 10.0,
                  max_queue: int = 64) -> ClientWebSocket:  # fmt: skip
    """Open a WebSocket to ``url``; returns once the handshake is done."""
    host, port, target = _split(url)
    loop = asyncio.get_running_loop()
    _, link = await asyncio.wait_for(loop.create_connection(_Link, host, port), open_timeout)
    try:
        return await asyncio.wait_for(
            _open(link, host, port, target, subprotocols, compression, headers,
                  (max_frame, max_message, ping_interval, ping_timeout, close_timeout,
                   max_queue)), open_timeout)  # fmt: skip
    except BaseException:
        link.abort()
        raise


async def _open(link: _Link, host: str, port: int, target: str, subprotocols: list[str] | None,
                compression: DeflateParams | list[DeflateParams] | None, extra: list[tuple[bytes, bytes]] | None,
                opts: tuple) -> ClientWebSocket:  # type: ignore[type-arg]  # fmt: skip
    max_frame, max_message, ping_interval, ping_timeout, close_timeout, max_queue = opts
    h = h11.Connection(h11.CLIENT, max_body=MAX_ERROR_BODY)
    key = handshake.new_key()
    authority = host if port == 80 else f"{host}:{port}"
    hdrs = handshake.client_headers(authority, key, subprotocols=subprotocols,
                                    deflate=compression, extra=extra)  # fmt: skip
    link.write(h.send(h11.Request(b"GET", target.encode(), hdrs)))
    link.write(h.send(h11.EndOfMessage()))
    head = await _response(link, h)
    if not isinstance(head, h11.InformationalResponse) or head.status_code != 101:
        body = await _body(link, h)
        status = head.status_code
        raise HandshakeError(status, f"server answered {status}: {body[:200]!r}")
    acc = handshake.check_response(101, head.headers, key, subprotocols=subprotocols,
                                   deflate=compression)  # fmt: skip
    deflate = PerMessageDeflate(acc.deflate, server=False) if acc.deflate else None
    core = WSConnection(CLIENT, deflate=deflate, max_frame=max_frame, max_message=max_message)
    ws = ClientWebSocket(link, core, subprotocol=acc.subprotocol, ping_interval=ping_interval,
                         ping_timeout=ping_timeout, close_timeout=close_timeout,
                         max_queue=max_queue)  # fmt: skip
    link.ws = ws
    rest, eof = h.trailing_data
    if rest:
        ws.feed(rest)
    if eof or link.transport is None:
        ws.feed_eof()
        if link.transport is None:
            ws.connection_lost(link.exc)
    return ws


async def _next(link: _Link, h: h11.Connection) -> object:
    while True:
        try:
            ev = h.next_event()
        except h11.RemoteProtocolError as e:
            raise HandshakeError(0, f"bad HTTP answer: {e}") from None
        if ev is not h11.NEED_DATA:
            return ev
        if not link.head_buf:
            if link.eof:
                h.receive_data(b"")
                ev = h.next_event()
                if ev is h11.NEED_DATA or isinstance(ev, h11.ConnectionClosed):
                    raise HandshakeError(0, "connection closed during the handshake")
                return ev
            link.head_event.clear()
            await link.head_event.wait()
            continue
        h.receive_data(b"".join(link.head_buf))
        link.head_buf.clear()


async def _response(link: _Link, h: h11.Connection) -> h11.Response | h11.InformationalResponse:
    while True:
        ev = await _next(link, h)
        if isinstance(ev, h11.InformationalResponse) and ev.status_code != 101:
            continue  # 100 Continue and friends: not the answer
        if isinstance(ev, h11.Response | h11.InformationalResponse):
            return ev
        raise HandshakeError(0, f"unexpected {ev!r} before the response")


async def _body(link: _Link, h: h11.Connection) -> bytes:
    parts = []
    try:
        while True:
            ev = await _next(link, h)
            if isinstance(ev, h11.Data):
                parts.append(ev.data)
            else:
                break
    except HandshakeError:
        pass
    return b"".join(parts)
