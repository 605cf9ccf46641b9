"""The asyncio client: ``ClientProtocol`` driven by an asyncio Protocol (``aiowire``).

The same commands, results and errors as the blocking ``Connection`` (see the
package docstring), with ``await``: ``conn = await aconnect(...)``,
``await conn.query(sql, params)``, ``async with conn.stream(sql) as rows:
async for row in rows``. One command at a time per connection, as the
protocol requires; concurrent callers serialise on a lock instead of
interleaving bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from .aiowire import Login, Pipeline, Wire
from .errors import (
    ConnectError,
    MySQLError,
    OperationalError,
)
from .guards import check_not_in_transaction, check_not_streaming, check_open_statement
from .protocol import ClientProtocol, Prepared, ResultHeader, Rows
from .responses import OkPacket
from .result import Result, ResultBuilder
from .resultset import Column
from .session import Session
from .statements import StatementCache

log = logging.getLogger(__name__)


class _Turn(asyncio.Lock):
    """The command lock, with a way in that costs no coroutine when it is free.

    ``async with lock`` creates and runs three coroutines (``__aenter__``,
    ``acquire``, ``__aexit__``): ~6% of a ``SELECT 1``'s client instructions.
    ``try_acquire`` takes the lock only if nobody holds it and nobody waits
    (not even a cancelled waiter: then the caller falls back to ``acquire()``,
    which sorts those out), so FIFO fairness is asyncio.Lock's own.
    """

    def try_acquire(self) -> bool:
        # asyncio.Lock's own state (the same attributes in 3.10-3.13)
        if self._locked or self._waiters:  # type: ignore[has-type]
            return False
        self._locked = True
        return True


class AsyncConnection(Session):
    """Use ``await AsyncConnection.connect(...)`` (or ``aconnect``), not the constructor."""

    def __init__(self, proto: ClientProtocol, read_timeout: float | None) -> None:
        self._proto = proto
        self._wire = Wire(proto)
        self._read_timeout = read_timeout
        self._lock = _Turn()
        self._stream_task: asyncio.Task[Any] | None = None  # holds the lock for a stream
        self._pending_closes: list[int] = []
        self._statements = StatementCache(64, self._pending_closes.append)

    @classmethod
    async def connect(
        cls,
        host: str = "127.0.0.1",
        port: int = 3306,
        user: str = "root",
        password: str = "",
        database: str = "",
        *,
        unix_socket: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float | None = None,
        autocommit: bool | None = None,
        deprecate_eof: bool = True,
        auth_plugin: str | None = None,
    ) -> AsyncConnection:
        proto = ClientProtocol(
            user, password, database, deprecate_eof=deprecate_eof, auth_plugin=auth_plugin
        )
        self = cls(proto, read_timeout)
        loop = asyncio.get_running_loop()
        where = unix_socket or f"{host}:{port}"
        try:
            if unix_socket:
                opening = loop.create_unix_connection(lambda: self._wire, unix_socket)
            else:
                opening = loop.create_connection(lambda: self._wire, host, port)
            await asyncio.wait_for(opening, connect_timeout)
        except (OSError, TimeoutError) as e:
            raise ConnectError(f"cannot connect to MySQL at {where}: {e!r}") from e
        try:
            await self._wire.command(b"", Login(), connect_timeout)
        except BaseException as e:
            self._wire.close()
            if isinstance(e, OperationalError) and "timed out" in str(e):
                raise ConnectError(f"MySQL at {where} did not complete the handshake") from e
            raise
        if autocommit is not None:
            await self.set_autocommit(autocommit)
        return self

    @classmethod
    async def from_address(cls, addr: Any, **kw: Any) -> AsyncConnection:
        return await cls.connect(
            addr.host, addr.port, addr.user, addr.password, addr.database, **kw
        )

    # -- transport ---------------------------------------------------------------------

    async def _next(self) -> Any:
        return await self._wire.next_event(self._read_timeout)

    async def _run(self, command: Callable[..., bytes], *args: Any) -> ResultBuilder:
        """Build the command's bytes only once the lock is ours: the protocol state
        (and the escaping mode) belong to whoever holds it."""
        async with self._turn():
            return await self._run_locked(command(*args))

    def _turn(self) -> asyncio.Lock:
        """The command lock, refused to the one task that could never get it: the one
        holding it for an open stream (it would wait on itself forever)."""
        task = self._stream_task
        check_not_streaming(task is not None and task is asyncio.current_task())
        return self._lock

    async def _run_locked(self, data: bytes) -> ResultBuilder:
        self._flush_closes()
        builder: ResultBuilder = await self._wire.command(data, ResultBuilder(), self._read_timeout)
        return builder

    def _flush_closes(self) -> None:
        """COM_STMT_CLOSE for statements evicted from the cache (no reply to wait for)."""
        while self._pending_closes and self.usable:
            self._wire.write(self._proto.close_statement(self._pending_closes.pop()))

    # -- commands ---------------------------------------------------------------------------

    async def query(self, sql: str, params: Any = None) -> Result:
        # _run's steps written out: the hottest call (a SELECT 1 is mostly overhead),
        # and each coroutine level is a frame created, resumed and finished per query.
        lock = self._lock
        if self._stream_task is not None or not lock.try_acquire():
            await self._turn().acquire()
        try:
            data = self._query_bytes(sql, params)
            if self._pending_closes:
                self._flush_closes()
            builder = await self._wire.command(data, ResultBuilder(), self._read_timeout)
        finally:
            lock.release()
        return builder.result  # type: ignore[no-any-return]

    async def insert_many(self, prefix: str, rows: Any) -> int:
        """Multi-row INSERTs (``prefix`` ends with VALUES), ~1MB each; rows affected."""
        total = 0
        async with self._turn():
            for sql in self._multirow(prefix, rows):
                builder = await self._run_locked(self._proto.query(sql))
                total += builder.result.affected_rows
        return total

    async def execute(self, sql: str, params: Any = ()) -> Result:
        async with self._turn():
            stmt = self._statements.get(sql)
            if stmt is None:
                stmt = self._statements.put(sql, await self._prepare_locked(sql))
            return (await self._run_locked(self._proto.execute(stmt, params))).result

    async def _prepare_locked(self, sql: str) -> Prepared:
        prepared = (await self._run_locked(self._proto.prepare(sql))).prepared
        assert prepared is not None
        return prepared

    async def executemany(self, sql: str, params_seq: Sequence[Any]) -> int:
        """Pipelined executes of one prepared statement (see ``Connection.executemany``)."""
        total, done = 0, 0
        async with self._turn():
            stmt = self._statements.get(sql)
            if stmt is None:
                stmt = self._statements.put(sql, await self._prepare_locked(sql))
            bulk = self._bulk_plan(stmt, params_seq)
            for payload in bulk or ():
                builder = await self._run_locked(self._proto.bulk_execute(payload))
                total += builder.result.affected_rows
            if bulk:
                return total
            while done < len(params_seq):
                data, n = self._proto.execute_pipeline(stmt, params_seq[done:])
                done += n
                pipe: Pipeline = await self._wire.command(data, Pipeline(n), self._read_timeout)
                if pipe.error is not None:
                    raise pipe.error
                total += pipe.affected
        return total

    async def prepare(self, sql: str) -> AsyncStatement:
        async with self._turn():
            return AsyncStatement(self, await self._prepare_locked(sql))

    def stream(self, sql: str, params: Any = None) -> AsyncStream:
        """Unbuffered rows: ``async with conn.stream(sql) as rows: async for row in rows``."""
        return AsyncStream(self, sql, params)

    async def ping(self) -> None:
        await self._run(self._proto.ping)

    async def select_db(self, database: str) -> None:
        await self._run(self._proto.init_db, database)

    async def begin(self) -> None:
        await self.query("BEGIN")

    async def commit(self) -> None:
        await self.query("COMMIT")

    async def rollback(self) -> None:
        await self.query("ROLLBACK")

    async def set_autocommit(self, on: bool) -> None:
        await self.query(f"SET autocommit={int(on)}")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        check_not_in_transaction(self.in_transaction)  # BEGIN would commit it
        await self.begin()
        try:
            yield self
        except BaseException:
            await self._abort()
            raise
        await self.commit()

    async def _abort(self) -> None:
        """ROLLBACK, or close when it cannot run (see ``Connection._abort``)."""
        if self.usable:
            try:
                await self.rollback()
                return
            except MySQLError as e:
                log.warning("ROLLBACK failed (%s): closing the connection instead", e)
        await self.close()

    # -- state ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._wire.transport is None

    @property
    def usable(self) -> bool:
        """Open, not broken, and not in the middle of a command."""
        return self._wire.transport is not None and not self._proto.broken and self._proto.idle

    async def close(self) -> None:
        """COM_QUIT (best effort) and close the transport."""
        if self.usable:
            with contextlib.suppress(MySQLError, OSError, RuntimeError):
                self._wire.write(self._proto.quit())
        self._wire.close()

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def aconnect(*args: Any, **kw: Any) -> AsyncConnection:
    """``await aconnect(host, port, user, password, database, ...)``."""
    return await AsyncConnection.connect(*args, **kw)


class AsyncStatement:
    def __init__(self, conn: AsyncConnection, prepared: Prepared) -> None:
        self.conn, self._prepared = conn, prepared
        self.closed = False

    @property
    def param_count(self) -> int:
        return len(self._prepared.params)

    @property
    def columns(self) -> list[Column]:
        return self._prepared.columns

    async def execute(self, params: Any = ()) -> Result:
        check_open_statement(self.closed)
        return (await self.conn._run(self.conn._proto.execute, self._prepared, params)).result

    async def close(self) -> None:
        """COM_STMT_CLOSE, once; later executes raise InterfaceError."""
        if self.closed:
            return
        self.closed = True
        async with self.conn._turn():
            if self.conn.usable:
                self.conn._wire.write(self.conn._proto.close_statement(self._prepared.stmt_id))


class AsyncStream:
    """Rows of the first result set as they arrive; holds the connection's lock until closed."""

    def __init__(self, conn: AsyncConnection, sql: str, params: Any) -> None:
        self._conn, self._sql, self._params = conn, sql, params
        self.columns: list[Column] = []
        self.ok: OkPacket | None = None
        self._done = False

    async def __aenter__(self) -> AsyncStream:
        await self._conn._turn().acquire()
        self._conn._stream_task = asyncio.current_task()
        try:
            self._conn._wire.write(self._conn._query_bytes(self._sql, self._params))
            ev = await self._conn._next()
        except BaseException:
            self._release()
            raise
        if isinstance(ev, ResultHeader):
            self.columns = ev.columns
        else:
            await self._end(ev)
        return self

    async def _end(self, ok: OkPacket) -> None:
        self.ok = ok
        self._done = True
        if ok.more_results:
            builder = ResultBuilder()
            while not builder.feed(await self._conn._next()):
                pass

    async def batches(self) -> AsyncIterator[list[tuple]]:
        while not self._done:
            ev = await self._conn._next()
            if type(ev) is Rows:
                yield ev.rows
            else:
                await self._end(ev)

    async def __aiter__(self) -> AsyncIterator[tuple]:
        async for batch in self.batches():
            for row in batch:
                yield row

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        try:
            if not self._done and not self._conn.closed:
                if exc_type is None:
                    async for _ in self.batches():  # an error while draining is the caller's
                        pass
                else:
                    with contextlib.suppress(MySQLError):  # do not mask the error in flight
                        async for _ in self.batches():
                            pass
        finally:
            self._release()

    def _release(self) -> None:
        self._conn._stream_task = None
        self._conn._lock.release()
