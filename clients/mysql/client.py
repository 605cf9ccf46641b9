"""The blocking client: a socket (TCP or unix) driving ``ClientProtocol``.

Every command is: write the bytes the protocol hands back, then read until the
protocol's events complete a ``ResultBuilder``. Transport failures are mapped
here, at the boundary, into ``ConnectError`` (cannot reach the server),
``ConnectionLostError`` (it went away mid-command) or ``OperationalError``
(read timeout); after any of them the connection is closed and ``usable`` is
False, which is what a pool checks before handing it out again.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .constants import RECV_SIZE
from .errors import (
    ConnectError,
    ConnectionLostError,
    DatabaseError,
    InterfaceError,
    MySQLError,
    OperationalError,
)
from .guards import check_not_in_transaction, check_open_statement
from .protocol import NEED_DATA, ClientProtocol, Prepared, ResultHeader, Rows
from .responses import OkPacket
from .result import Result, ResultBuilder
from .resultset import Column
from .session import Session
from .statements import StatementCache

log = logging.getLogger(__name__)


class Connection(Session):
    """A blocking connection. ``Connection(host, port, user, password, database)``."""

    def __init__(
        self,
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
        statement_cache: int = 64,
    ) -> None:
        self.host, self.port, self.unix_socket = host, port, unix_socket
        self._proto = ClientProtocol(
            user, password, database, deprecate_eof=deprecate_eof, auth_plugin=auth_plugin
        )
        self._sock: socket.socket | None = None
        # recv() into one reusable buffer, then copy out exactly what arrived:
        # sock.recv(256KB) would malloc (mmap) 256KB per call and shrink it, which
        # costs more than the round trip for small replies.
        self._rbuf = bytearray(RECV_SIZE)
        self._rview = memoryview(self._rbuf)
        self._statements = StatementCache(statement_cache, self._close_statement_id)
        self._stream: weakref.ref[Stream] | None = None  # the last stream opened
        self._connect(connect_timeout, read_timeout)
        if autocommit is not None:
            self.set_autocommit(autocommit)

    @classmethod
    def from_address(cls, addr: Any, **kw: Any) -> Connection:
        """From anything with host/port/user/password/database (e.g. a ServiceAddress)."""
        return cls(addr.host, addr.port, addr.user, addr.password, addr.database, **kw)

    # -- transport ---------------------------------------------------------------------

    def _connect(self, connect_timeout: float, read_timeout: float | None) -> None:
        where = self.unix_socket or f"{self.host}:{self.port}"
        try:
            if self.unix_socket:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(connect_timeout)
                sock.connect(self.unix_socket)
            else:
                sock = socket.create_connection((self.host, self.port), connect_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise ConnectError(f"cannot connect to MySQL at {where}: {e}") from e
        self._sock = sock
        try:
            while True:  # greeting, login, maybe an auth switch
                ev = self._proto.next_event()
                out = self._proto.data_to_send()
                if out:
                    self._send(out)
                if ev is not NEED_DATA:
                    break
                self._recv()
        except BaseException:
            self._drop()
            raise
        sock.settimeout(read_timeout)

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise InterfaceError("connection is closed")
        try:
            self._sock.sendall(data)
        except OSError as e:
            self._drop()
            raise ConnectionLostError(f"connection lost while sending: {e}") from e

    def _recv(self) -> None:
        if self._sock is None:
            raise InterfaceError("connection is closed")
        try:
            n = self._sock.recv_into(self._rbuf)
        except TimeoutError as e:
            self._drop()
            raise OperationalError("timed out waiting for the server") from e
        except OSError as e:
            self._drop()
            raise ConnectionLostError(f"connection lost: {e}") from e
        if not n:
            self._drop()
            raise ConnectionLostError("connection lost: the server closed the connection")
        self._proto.receive_data(self._rview[:n].tobytes())

    def _drop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _run(self, command: Callable[..., bytes], *args: Any) -> ResultBuilder:
        """Build one command (only once the connection is free), send it, read the response."""
        self._settle()
        self._send(command(*args))
        return self._response()

    def _settle(self) -> None:
        """Before a command: drain a stream its owner dropped without reading it to the end.

        ``for row in conn.stream(sql): break`` leaves the rest of the result on the
        wire with nobody left to read it; without this the connection would refuse
        every later command ("another command is in progress") for good. A stream
        still referenced (being iterated, or inside its ``with``) is not touched:
        the new command is refused instead, as the protocol requires.
        """
        if self._stream is None or self._stream() is not None or self._proto.idle:
            return
        self._stream = None
        log.warning("draining a stream that was dropped before its end")
        while not self._proto.broken and not self._proto.idle:
            with contextlib.suppress(DatabaseError):  # its error is nobody's now
                if self._proto.next_event() is NEED_DATA:
                    self._recv()

    def _response(self) -> ResultBuilder:
        builder = ResultBuilder()
        feed, proto = builder.feed, self._proto
        while True:
            ev = proto.next_event()
            if ev is NEED_DATA:
                self._recv()
            elif feed(ev):
                return builder

    # -- commands -----------------------------------------------------------------------

    def query(self, sql: str, params: Any = None) -> Result:
        """COM_QUERY with client-side ``%s`` interpolation; every result set is read."""
        return self._run(self._query_bytes, sql, params).result

    def insert_many(self, prefix: str, rows: Any) -> int:
        """Multi-row INSERTs (``prefix`` ends with VALUES), ~1MB each; rows affected."""
        total = 0
        for sql in self._multirow(prefix, rows):
            total += self._run(self._proto.query, sql).result.affected_rows
        return total

    def execute(self, sql: str, params: Any = ()) -> Result:
        """A server-side prepared statement (cached per SQL text), binary protocol."""
        stmt = self._statements.get(sql)
        if stmt is None:
            stmt = self._statements.put(sql, self._prepare(sql))
        return self._run(self._proto.execute, stmt, params).result

    def executemany(self, sql: str, params_seq: Sequence[Any]) -> int:
        """One prepared statement run for every parameter set; rows affected.

        On MariaDB the parameter sets go as COM_STMT_BULK_EXECUTE commands of
        ~1MB (the server runs the statement for each set in one command; a failed
        set fails its command). Elsewhere, or when a column mixes value types,
        executes are pipelined: sent in windows (protocol.PIPELINE_COMMANDS)
        without waiting, then the answers read; one round trip per window. If
        some fail, the rest of that window still runs, later windows are not
        sent, and the first error is raised. Either way: run it inside a
        transaction to get all-or-nothing.
        """
        stmt = self._statements.get(sql)
        if stmt is None:
            stmt = self._statements.put(sql, self._prepare(sql))
        bulk = self._bulk_plan(stmt, params_seq)
        if bulk:  # MariaDB: the rows travel as ~1MB bulk commands, one OK each
            return sum(self._run(self._proto.bulk_execute, p).result.affected_rows for p in bulk)
        total, done = 0, 0
        self._settle()
        while done < len(params_seq):
            data, n = self._proto.execute_pipeline(stmt, params_seq[done:])
            self._send(data)
            done += n
            total += self._pipeline_responses(n)
        return total

    def _pipeline_responses(self, n: int) -> int:
        total, first_error = 0, None
        for _ in range(n):
            try:
                total += sum(r.affected_rows for r in self._response().result.all())
            except DatabaseError as e:  # the connection is fine; later answers still come
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        return total

    def prepare(self, sql: str) -> Statement:
        """A prepared statement you hold and close yourself."""
        return Statement(self, sql, self._prepare(sql))

    def _prepare(self, sql: str) -> Prepared:
        prepared = self._run(self._proto.prepare, sql).prepared
        assert prepared is not None
        return prepared

    def _close_statement_id(self, stmt_id: int) -> None:
        if self.usable:
            self._send(self._proto.close_statement(stmt_id))

    def stream(self, sql: str, params: Any = None) -> Stream:
        """Unbuffered rows of the first result set: ``with conn.stream(sql) as rows:``."""
        self._settle()
        self._send(self._query_bytes(sql, params))
        stream = Stream(self)
        self._stream = weakref.ref(stream)
        return stream

    def ping(self) -> None:
        self._run(self._proto.ping)

    def select_db(self, database: str) -> None:
        self._run(self._proto.init_db, database)

    # -- transactions --------------------------------------------------------------------

    def begin(self) -> None:
        self.query("BEGIN")

    def commit(self) -> None:
        self.query("COMMIT")

    def rollback(self) -> None:
        self.query("ROLLBACK")

    def set_autocommit(self, on: bool) -> None:
        self.query(f"SET autocommit={int(on)}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN; COMMIT on success, ROLLBACK on any exception (then re-raise).

        Refused inside an open transaction: BEGIN would silently commit it.
        """
        check_not_in_transaction(self.in_transaction)
        self.begin()
        try:
            yield self
        except BaseException:
            self._abort()
            raise
        self.commit()

    def _abort(self) -> None:
        """ROLLBACK after a failed transaction body, without hiding why it failed.

        When the ROLLBACK cannot run (a stream still open, the server gone) or
        fails, the connection is closed: the server rolls back a session that
        ends, and a transaction left open here would swallow later statements.
        """
        if self.usable:
            try:
                self.rollback()
                return
            except MySQLError as e:
                log.warning("ROLLBACK failed (%s): closing the connection instead", e)
        self.close()

    # -- state ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._sock is None

    @property
    def usable(self) -> bool:
        """Open, not broken, and not in the middle of a command."""
        return self._sock is not None and not self._proto.broken and self._proto.idle

    def close(self) -> None:
        """COM_QUIT (best effort) and close the socket."""
        if self._sock is not None and self.usable:
            with contextlib.suppress(OSError, InterfaceError):
                self._sock.sendall(self._proto.quit())
        self._drop()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Statement:
    """A prepared statement bound to its connection."""

    def __init__(self, conn: Connection, sql: str, prepared: Prepared) -> None:
        self.conn, self.sql, self._prepared = conn, sql, prepared
        self.closed = False

    @property
    def param_count(self) -> int:
        return len(self._prepared.params)

    @property
    def columns(self) -> list[Column]:
        return self._prepared.columns

    def execute(self, params: Any = ()) -> Result:
        check_open_statement(self.closed)
        return self.conn._run(self.conn._proto.execute, self._prepared, params).result

    def close(self) -> None:
        """COM_STMT_CLOSE, once; later executes raise InterfaceError."""
        if not self.closed:
            self.closed = True
            self.conn._close_statement_id(self._prepared.stmt_id)

    def __enter__(self) -> Statement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Stream:
    """Rows as they arrive; the rest of the response is drained on close."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.columns: list[Column] = []
        self.ok: OkPacket | None = None  # set when the result set has ended
        self._done = False
        self._batch: list[tuple] = []  # rows received, handed out up to _i
        self._i = 0
        ev = self._next()
        if isinstance(ev, ResultHeader):
            self.columns = ev.columns
        else:  # a statement without rows
            self._end(ev)

    def _next(self) -> Any:
        proto = self._conn._proto
        while True:
            ev = proto.next_event()
            if ev is not NEED_DATA:
                return ev
            self._conn._recv()

    def _end(self, ok: OkPacket) -> None:
        self.ok = ok
        self._done = True
        if ok.more_results:  # later result sets are read and dropped
            builder = ResultBuilder()
            while not builder.feed(self._next()):
                pass

    def batches(self) -> Iterator[list[tuple]]:
        """Rows in the batches the receive buffer held (fewer Python calls than rows)."""
        if self._i < len(self._batch):  # what a row iterator left of its batch
            rest, self._batch = self._batch[self._i :], []
            yield rest
        while not self._done:
            ev = self._next()
            if type(ev) is Rows:
                yield ev.rows
            else:
                self._end(ev)

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> tuple:
        """The next row. The current batch lives on the stream, not in a generator, so
        ``next(iter(stream))`` twice, or a loop left and re-entered, loses no rows."""
        while self._i >= len(self._batch):
            if self._done:
                raise StopIteration
            ev = self._next()
            if type(ev) is Rows:
                self._batch, self._i = ev.rows, 0
            else:
                self._end(ev)
        self._i += 1
        return self._batch[self._i - 1]

    def close(self) -> None:
        for _ in self.batches():
            pass

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._done or self._conn.closed:
            return
        if exc_type is None:
            self.close()  # an error while draining is the caller's to see
        else:
            with contextlib.suppress(MySQLError):  # do not mask the error in flight
                self.close()
