"""The RPC core's asyncio side: a netlib.shell handler that serves methods, and a
multiplexing client (one connection, many calls in flight, matched by id)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from netlib.shell import Connection

from ._core import (
    DEFAULT_MAX_FRAME,
    AppError,
    BadFrame,
    BadParams,
    ConnectionLost,
    FrameDecoder,
    Request,
    Response,
    RpcError,
    UnknownMethod,
    encode_request,
    encode_response,
    remote_error,
)

log = logging.getLogger("netlib.rpc")

Method = Callable[..., Awaitable[Any]]
# Calls one connection may have running at once; past it the shell stops reading
# that socket (TCP flow control slows the peer) until some finish.
MAX_INFLIGHT = 64


def serve_methods(methods: dict[str, Method], max_frame: int = DEFAULT_MAX_FRAME) -> Callable[[Connection], Awaitable[None]]:
    """A netlib.shell coroutine handler calling ``methods[name](**params)``, each
    call in its own task so a slow one does not hold up the connection."""
    signatures = {name: inspect.signature(fn) for name, fn in methods.items()}

    async def handle(conn: Connection) -> None:
        dec = FrameDecoder(max_frame)
        tasks: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(MAX_INFLIGHT)

        async def one(req: Request) -> None:
            try:
                fn = methods.get(req.method)
                if fn is None:
                    raise UnknownMethod(f"no method {req.method!r}")
                try:
                    signatures[req.method].bind(**req.params)
                except TypeError as e:
                    raise BadParams(f"{req.method}: {e}") from None
                out = encode_response(req.id, await fn(**req.params))
            except RpcError as e:
                out = encode_response(req.id, error=e)
            except Exception as e:  # a bug in a method: the caller is told, the server lives on
                conn.log.exception("%s crashed", req.method)
                out = encode_response(req.id, error=AppError(repr(e), type="InternalError"))
            finally:
                slots.release()
            conn.write(out)
            with contextlib.suppress(Exception):
                await conn.drain()

        try:
            while True:
                data = await conn.recv(1 << 20, or_shutdown=True)
                if not data:
                    break
                dec.feed(data)
                while True:
                    try:
                        msg = dec.next()
                    except BadFrame as e:
                        conn.log.warning("bad frame: %s", e)
                        conn.write(encode_response(0, error=e))
                        if getattr(e, "fatal", False):
                            conn.close()
                            return
                        continue
                    if msg is None:
                        break
                    if isinstance(msg, Response):
                        conn.write(encode_response(msg.id, error=BadFrame("a server takes requests only")))
                        continue
                    await slots.acquire()
                    t = asyncio.ensure_future(one(msg))
                    tasks.add(t)
                    t.add_done_callback(tasks.discard)
        finally:
            if tasks:  # the peer half-closed or left: let what runs finish (its writes are dropped)
                await asyncio.gather(*tasks, return_exceptions=True)

    return handle


class RpcClient:
    """One connection to one server; ``await call(method, **params)`` from any task."""

    def __init__(self, host: str, port: int, timeout: float = 10.0, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.max_frame = max_frame
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.closed = False

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    async def connect(self) -> RpcClient:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout)  # fmt: skip
        except (TimeoutError, OSError) as e:
            self.closed = True
            raise ConnectionLost(f"cannot connect to {self.addr}: {e!r}") from None
        self._writer = writer
        sock = writer.get_extra_info("socket")
        if sock is not None:  # small requests and answers: never wait for Nagle's timer
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader_task = asyncio.ensure_future(self._read(reader))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        dec = FrameDecoder(self.max_frame)
        why = "closed by the server"
        try:
            while data := await reader.read(1 << 20):
                dec.feed(data)
                while (msg := dec.next()) is not None:
                    if isinstance(msg, Response):
                        fut = self._pending.pop(msg.id, None)
                        if fut is not None and not fut.done():
                            if msg.error is None:
                                fut.set_result(msg.result)
                            else:
                                fut.set_exception(remote_error(msg.error))
        except (OSError, BadFrame) as e:
            why = repr(e)
        finally:
            self._fail_all(f"{self.addr}: {why}")

    def _fail_all(self, why: str) -> None:
        self.closed = True
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLost(why))
        if self._writer is not None:
            self._writer.close()

    async def call(self, method: str, /, timeout: float | None = None, **params: Any) -> Any:
        if self.closed or self._writer is None:
            raise ConnectionLost(f"{self.addr}: not connected")
        id_ = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[id_] = fut
        try:
            self._writer.write(encode_request(id_, method, params))
            await self._writer.drain()
            return await asyncio.wait_for(fut, timeout or self.timeout)
        except TimeoutError:
            raise ConnectionLost(f"{self.addr}: {method} timed out") from None
        except (OSError, RuntimeError) as e:
            self._fail_all(repr(e))
            raise ConnectionLost(f"{self.addr}: {e!r}") from None
        finally:
            self._pending.pop(id_, None)

    async def close(self) -> None:
        self._fail_all("closed by us")
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task


class Peers:
    """A connection per address, made on first use and again after it broke."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._clients: dict[str, RpcClient] = {}

    async def call(self, addr: str, method: str, /, timeout: float | None = None, **params: Any) -> Any:
        c = self._clients.get(addr)
        if c is None or c.closed:
            host, _, port = addr.rpartition(":")
            c = RpcClient(host, int(port), self.timeout)
            self._clients[addr] = c
            await c.connect()
        return await c.call(method, timeout, **params)

    async def close(self) -> None:
        for c in list(self._clients.values()):
            await c.close()
        self._clients.clear()
