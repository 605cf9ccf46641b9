"""An asyncio HTTP/1.1 client on the same protocol core as the server.

Strategy. One ``HTTPClient`` keeps a small pool of idle keep-alive connections
per (host, port); a request takes one (or opens one), sends through
``netlib.http.core``, and gives it back once the response body has been read to
the end and both sides agreed to keep the connection. Bodies stream both ways:
a request body may be an (async) iterable (sent chunked) and a response read
with ``stream=True`` is handed out piece by piece.

A pooled connection may have been closed by the server while idle (its
keep-alive timeout); an idempotent request that fails on a *reused* connection
before any response byte arrives is retried once on a fresh one, as browsers
and urllib3 do, when its body can be replayed.

Used by the tests, the load balancer and the CDN. What production clients add:
TLS, proxies, HTTP/2, per-host connection limits with queueing.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from . import core as h11
from .messages import Headers

# Idle connections kept per (host, port); more are closed when given back.
MAX_IDLE_PER_HOST = 8
READ_SIZE = 64 * 1024
# Methods safe to send twice (RFC 9110 §9.2.2): only these are retried on a fresh
# connection when a reused one dies before answering, as urllib3 does.
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"))
# Left as they are in a URL's path and query: RFC 3986 pchar delimiters, "/", "?",
# and "%" (an escape already made); a space or non-ASCII is percent-encoded.
_URL_SAFE = "/?:@!$&'()*+,;=%"
Body = bytes | str | Iterable[bytes] | AsyncIterable[bytes] | None


class _Conn:
    """One TCP connection and its protocol state."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_body: int | None
    ) -> None:
        self.reader, self.writer = reader, writer
        self.h = h11.Connection(h11.CLIENT, max_body=max_body)
        self.reused = False

    async def send(self, event: h11.Event) -> None:
        self.writer.write(self.h.send(event))
        await self.writer.drain()

    async def next_event(self) -> h11.Event:
        while True:
            ev = self.h.next_event()
            if ev is h11.NEED_DATA:
                self.h.receive_data(await self.reader.read(READ_SIZE))
                continue
            if ev is h11.PAUSED:
                raise h11.RemoteProtocolError("response before the request was sent")
            assert isinstance(ev, h11.Event)
            return ev

    def close(self) -> None:
        self.writer.close()


class ClientResponse:
    """Status, headers and the body (``body`` when read, or ``stream()``)."""

    def __init__(
        self, head: h11.Response, conn: _Conn, client: HTTPClient, key: tuple[str, int]
    ) -> None:
        self.status = head.status_code
        self.reason = head.reason.decode("latin-1")
        self.http_version = head.http_version.decode()
        self.headers = Headers(head.headers)
        self.body = b""
        self._conn: _Conn | None = conn
        self._client, self._key = client, key

    async def stream(self) -> AsyncIterator[bytes]:
        """The body piece by piece; the connection is reused (or closed) at the end."""
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                ev = await conn.next_event()
                if type(ev) is h11.Data:
                    yield ev.data  # type: ignore[attr-defined]
                elif type(ev) is h11.EndOfMessage:
                    break
                else:
                    raise h11.RemoteProtocolError(f"unexpected {ev!r} in a response body")
        except BaseException:
            self.close()
            raise
        self._conn = None
        self._client._release(self._key, conn)

    async def read(self) -> bytes:
        parts = [chunk async for chunk in self.stream()]
        self.body = b"".join(parts)
        return self.body

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def text(self) -> str:
        return self.body.decode()

    def close(self) -> None:
        """Give up on the rest of the body: the connection is closed, not reused."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __repr__(self) -> str:
        return f"<ClientResponse {self.status} {self.reason}>"


class HTTPClient:
    """``await client.get(url)``; reuses keep-alive connections per host:port."""

    def __init__(self, *, timeout: float = 30.0, max_body: int | None = None) -> None:
        self.timeout = timeout
        self.max_body = max_body
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self.opened = 0  # TCP connections opened (tests check reuse with it)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        json: Any = None,
        stream: bool = False,
        timeout: float | None = None,
    ) -> ClientResponse:
        """Send a request; the body is read into ``.body`` unless ``stream``."""
        key, head, body = _prepare(method, url, headers, body, json)
        async with asyncio.timeout(timeout or self.timeout):
            for attempt in range(2):
                conn = await self._acquire(key)
                try:
                    resp = await self._exchange(conn, head, body, key)
                    break
                except (ConnectionError, h11.RemoteProtocolError, _NoResponse) as e:
                    conn.close()
                    retry = (
                        conn.reused
                        and attempt == 0
                        and isinstance(e, ConnectionError | _NoResponse)
                        and head.method in IDEMPOTENT
                        and isinstance(body, bytes | None)
                    )
                    if not retry:
                        raise ConnectionError(f"{method} {url}: {e}") from e
            if not stream:
                await resp.read()
        return resp

    async def _exchange(
        self, conn: _Conn, head: h11.Request, body: Body, key: tuple[str, int]
    ) -> ClientResponse:
        await conn.send(head)
        if isinstance(body, bytes):
            if body:
                conn.writer.write(conn.h.send(h11.Data(body)))
        elif body is not None and not isinstance(body, str):
            await self._send_stream(conn, body)
        await conn.send(h11.EndOfMessage())
        while True:
            ev = await conn.next_event()
            if type(ev) is h11.Response:
                return ClientResponse(ev, conn, self, key)  # type: ignore[arg-type]
            if type(ev) is h11.ConnectionClosed:
                raise _NoResponse("server closed the connection before answering")
            # InformationalResponse (100 Continue): keep waiting for the real one

    @staticmethod
    async def _send_stream(conn: _Conn, body: Iterable[bytes] | AsyncIterable[bytes]) -> None:
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                await conn.send(h11.Data(chunk))
        else:
            for chunk in body:
                await conn.send(h11.Data(chunk))

    async def _acquire(self, key: tuple[str, int]) -> _Conn:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                conn.reused = True
                return conn
            conn.close()
        reader, writer = await asyncio.open_connection(*key, limit=READ_SIZE)
        self.opened += 1
        return _Conn(reader, writer, self.max_body)

    def _release(self, key: tuple[str, int], conn: _Conn) -> None:
        h = conn.h
        idle = self._idle.setdefault(key, [])
        if h.our_state == h11.IDLE and h.their_state == h11.IDLE and len(idle) < MAX_IDLE_PER_HOST:
            idle.append(conn)
        else:
            conn.close()

    async def get(self, url: str, **kw: Any) -> ClientResponse:
        return await self.request("GET", url, **kw)

    async def head(self, url: str, **kw: Any) -> ClientResponse:
        return await self.request("HEAD", url, **kw)

    async def post(self, url: str, **kw: Any) -> ClientResponse:
        return await self.request("POST", url, **kw)

    async def put(self, url: str, **kw: Any) -> ClientResponse:
        return await self.request("PUT", url, **kw)

    async def delete(self, url: str, **kw: Any) -> ClientResponse:
        return await self.request("DELETE", url, **kw)

    async def close(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()

    async def __aenter__(self) -> HTTPClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _prepare(
    method: str, url: str, headers: Mapping[str, str] | None, body: Body, json: Any
) -> tuple[tuple[str, int], h11.Request, Body]:
    """(host, port), the request head and the body to send, with framing headers set."""
    u = urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise ValueError(f"only http:// URLs are supported: {url!r}")
    target = quote(u.path or "/", _URL_SAFE) + (f"?{quote(u.query, _URL_SAFE)}" if u.query else "")
    hdrs = {"host": u.netloc, **{k.lower(): v for k, v in (headers or {}).items()}}
    if json is not None:
        body = jsonlib.dumps(json).encode()
        hdrs.setdefault("content-type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes):
        hdrs["content-length"] = str(len(body))
    elif body is not None:
        hdrs["transfer-encoding"] = "chunked"
    raw = [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in hdrs.items()]
    head = h11.Request(method.upper().encode(), target.encode(), raw)
    return (u.hostname, u.port or 80), head, body


class _NoResponse(Exception):
    """The connection ended before any response: safe to retry on a fresh one."""
