"""The asyncio flavour: the same client on asyncio streams.

It mirrors ``sync.py`` call for call (``await connect_async(...)``, ``await
conn.execute(...)``, ``conn.pipeline()``, ``await conn.pubsub()`` and ``async
for msg in pubsub``); the handshake, pipeline bookkeeping, pub/sub state and
error mapping come from ``core.py``, so the two cannot drift apart.

Concurrency: coroutines sharing one connection take turns through a lock
around "write, then read my replies", so replies can never be handed to the
wrong caller. A client that wanted automatic pipelining across coroutines
would instead keep a FIFO of futures and one reader task (as redis-py's
cluster and hiredis-based clients do); for a thin client the lock is the
honest, obviously-correct choice, and ``pipeline()`` is there for batches.

Timeouts use ``asyncio.timeout``; cancelling ``StreamReader.read`` loses no
bytes, so an idle ``get_message(timeout)`` keeps a half-received message.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .core import (
    DEFAULT_TIMEOUT,
    NEED_DATA,
    READ_SIZE,
    Arg,
    Command,
    Message,
    Options,
    PipelineBase,
    PubSubBase,
    Replies,
    encode_many,
    is_push,
    result,
)
from .errors import ConnectionError, InvalidReply, TimeoutError

_DEFAULT: Any = object()


async def connect_async(
    host: str = "127.0.0.1",
    port: int = 6379,
    db: int = 0,
    protocol: int = 2,
    timeout: float | None = DEFAULT_TIMEOUT,
    username: str | None = None,
    password: str | None = None,
    client_name: str | None = None,
) -> AsyncConnection:
    """A ready connection: connected (TCP_NODELAY is asyncio's default), handshake done."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except builtins.TimeoutError as exc:
        raise TimeoutError(f"connecting to {host}:{port} timed out") from exc
    except OSError as exc:
        raise ConnectionError(f"cannot connect to {host}:{port}: {exc}") from exc
    options = Options(db, protocol, timeout, username, password, client_name)
    conn = AsyncConnection(reader, writer, host, port, options)
    try:
        for cmd in options.handshake():
            await conn.execute(*cmd)
    except BaseException:
        await conn.close()
        raise
    return conn


class AsyncConnection:
    """One asyncio connection to a RESP server."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        port: int,
        options: Options,
    ) -> None:
        self._reader = reader
        self._writer: asyncio.StreamWriter | None = writer
        self.host, self.port = host, port
        self.options = options
        self.protocol = options.protocol
        self.timeout = options.timeout
        self._replies = Replies()
        self._lock = asyncio.Lock()  # one "write, read my replies" at a time
        self.pushes: deque[Any] = deque()

    async def execute(self, *args: Arg) -> Any:
        """Send one command, return its reply; an error reply raises ResponseError."""
        async with self._lock:
            await self.send([args])
            return result(await self.read_reply())

    def pipeline(self, transaction: bool = False) -> AsyncPipeline:
        return AsyncPipeline(self, transaction)

    async def pubsub(self) -> AsyncPubSub:
        """An AsyncPubSub on a new connection with this one's settings."""
        return AsyncPubSub(await connect_async(self.host, self.port, **vars(self.options)))

    async def ping(self) -> Any:
        return await self.execute("PING")

    async def publish(self, channel: Arg, message: Arg) -> int:
        return int(await self.execute("PUBLISH", channel, message))

    # -- the wire -------------------------------------------------------------------

    async def send(self, commands: Sequence[Command]) -> None:
        await self._write(encode_many(commands))

    async def _write(self, data: bytes) -> None:
        writer = self._live()
        try:
            writer.write(data)
            async with asyncio.timeout(self.timeout):
                await writer.drain()
        except builtins.TimeoutError as exc:
            await self.close()
            raise TimeoutError(f"writing to {self.host}:{self.port} timed out") from exc
        except OSError as exc:
            await self.close()
            raise ConnectionError(f"writing to {self.host}:{self.port}: {exc}") from exc

    async def read_reply(self, timeout: float | None = _DEFAULT) -> Any:
        """The next value that is not a RESP3 push (pushes go to ``self.pushes``)."""
        while True:
            value = await self.read_value(timeout)
            if not is_push(value):
                return value
            self.pushes.append(value)

    async def read_value(self, timeout: float | None = _DEFAULT) -> Any:
        """The next value of any kind; a timeout closes the connection."""
        wait = self.timeout if timeout is _DEFAULT else timeout
        try:
            async with asyncio.timeout(wait):
                return await self._next_value()
        except builtins.TimeoutError as exc:
            await self.close()
            raise TimeoutError(f"no reply from {self.host}:{self.port} in time") from exc

    async def _next_value(self) -> Any:
        while True:
            try:
                value = self._replies.next()
            except InvalidReply:
                await self.close()  # the stream cannot be resynchronised
                raise
            if value is not NEED_DATA:
                return value
            self._live()
            try:
                data = await self._reader.read(READ_SIZE)
            except OSError as exc:
                await self.close()
                raise ConnectionError(f"reading from {self.host}:{self.port}: {exc}") from exc
            if not data:
                await self.close()
                raise ConnectionError(f"{self.host}:{self.port} closed the connection")
            self._replies.feed(data)

    def _live(self) -> asyncio.StreamWriter:
        if self._writer is None:
            raise ConnectionError(f"connection to {self.host}:{self.port} is closed")
        return self._writer

    @property
    def closed(self) -> bool:
        return self._writer is None

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncPipeline(PipelineBase):
    """``p = conn.pipeline(); p.command("INCR", "n"); await p.execute()``."""

    def __init__(self, conn: AsyncConnection, transaction: bool = False) -> None:
        super().__init__(transaction)
        self._conn = conn

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        """One write, N reads, holding the connection for the whole batch."""
        data, count = self.wire()
        async with self._conn._lock:
            await self._conn._write(data)
            replies = [await self._conn.read_reply() for _ in range(count)]
        return self.results(replies, raise_on_error)


class AsyncPubSub(PubSubBase):
    """Subscriptions on a dedicated connection; ``async for msg in pubsub``."""

    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__()
        self.conn = conn

    async def subscribe(self, *channels: Arg) -> None:
        await self._request("subscribe", channels)

    async def psubscribe(self, *patterns: Arg) -> None:
        await self._request("psubscribe", patterns)

    async def unsubscribe(self, *channels: Arg) -> None:
        await self._request("unsubscribe", channels)

    async def punsubscribe(self, *patterns: Arg) -> None:
        await self._request("punsubscribe", patterns)

    async def _request(self, kind: str, names: Sequence[Arg]) -> None:
        """Send, and return once every confirmation arrived (messages meanwhile are kept)."""
        await self.conn.send([self.subscriptions.request(kind, names)])
        while self.subscriptions.awaiting:
            self._keep(await self.conn.read_value())

    async def get_message(self, timeout: float | None = 0.0) -> Message | None:
        """The next data message, or None when none arrives within ``timeout`` seconds."""
        if self._pending:
            return self._pending.popleft()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    msg = self._take(await self.conn.read_value(None))
                    if msg is not None:
                        return msg
        except builtins.TimeoutError:
            return None

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            msg = await self.get_message(timeout=None)
            if msg is not None:
                yield msg

    async def close(self) -> None:
        await self.conn.close()

    async def __aenter__(self) -> AsyncPubSub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
