"""D1: a thin MySQL/MariaDB wire client, blocking and asyncio, on one sans-IO codec.

Layout (from the user down to the bytes):

* ``client.py``: the blocking ``Connection`` (TCP or unix socket), ``Statement``, ``Stream``.
* ``aio.py``: ``AsyncConnection`` / ``aconnect``, the same API with ``await``, on
  ``aiowire.py`` (an ``asyncio.Protocol`` that parses as bytes arrive).
* ``result.py``: ``Result`` and the ``ResultBuilder`` both clients feed with events.
* ``escape.py``: client-side ``%s`` interpolation into SQL literals.
* ``retry.py``: ``run_transaction``: a whole transaction rerun after a deadlock (1213)
  or a lock wait timeout (1205), with jittered exponential backoff.
* ``statements.py``: the LRU cache of server-side prepared statements.
* ``guards.py``: misuse refused before it reaches the wire (nested transaction(),
  a closed statement, a command from the task holding an open stream).
* ``protocol.py``: ``ClientProtocol``, the sans-IO state machine (bytes in, events out).
* ``events.py``: the events it hands back (``ResultHeader``, ``Rows``, ``Prepared``).
* ``session.py``: what both clients share above the protocol (state, SQL text, plans).
* ``plans.py``: columns and row decoding cached by a header's exact bytes.
* ``handshake.py`` (login, auth plugins), ``resultset.py`` (columns, converters),
  ``textrows.py`` (the generated text-row scanner: the hot path), ``binary.py``
  (prepared statements), ``responses.py`` (OK/EOF/ERR),
  ``packets.py`` (framing, bounds-checked reading), ``constants.py``, ``errors.py``.

API (blocking; the asyncio one is identical with ``await`` and ``async with``)::

    from clients.mysql import connect, DuplicateKeyError
    conn = connect(host="127.0.0.1", port=3306, user="root", password="",
                   database="test")            # or unix_socket="/path/mysqld.sock"
    conn = Connection.from_address(addr)       # anything with host/port/user/password/database
    r = conn.query("SELECT id, name FROM t WHERE id > %s", (10,))   # -> Result
    r.rows            # list of tuples, values decoded to Python types
    r.columns         # list[Column] (.name, .type, .flags, .charset); r.column_names
    r.scalar(), r.first(), r.dicts()
    r.affected_rows, r.insert_id, r.warnings, r.status, r.info
    r.next            # the next Result of a multi-statement query; r.all() lists them
    conn.execute("INSERT INTO t VALUES (?, ?)", (1, "x"))   # server-side prepared, cached
    conn.executemany("INSERT INTO t VALUES (?, ?)", rows)   # MariaDB bulk / pipelined
    conn.insert_many("INSERT INTO t (a, b) VALUES", rows)   # ~1MB multi-row INSERTs
    stmt = conn.prepare("SELECT ?"); stmt.execute((1,)); stmt.close()
    with conn.stream("SELECT * FROM big") as rows:          # unbuffered
        for row in rows: ...                                 # or rows.batches()
    conn.ping(); conn.select_db("other")
    conn.begin(); conn.commit(); conn.rollback(); conn.set_autocommit(False)
    with conn.transaction(): ...               # COMMIT, or ROLLBACK on an exception
    conn.in_transaction, conn.autocommit, conn.usable, conn.closed, conn.connection_id
    conn.close()                               # also ``with connect(...) as conn:``

    conn = await aconnect(host=..., port=...)  # or await AsyncConnection.from_address(addr)
    r = await conn.query(...); async with conn.stream(sql) as rows: async for row in rows: ...

A connection runs one command at a time and is not thread-safe: one per
thread (or task), or take them from ``clients/pool``. Concurrent tasks on one
``AsyncConnection`` are serialised by its lock. Keyword options:
``unix_socket``, ``connect_timeout`` (10s), ``read_timeout`` (None: wait
forever), ``autocommit`` (None: the server's default), ``deprecate_eof``.

Placeholders: ``query`` uses ``%s`` / ``%(name)s`` (client-side escaping, see
escape.py; write ``%%`` for a literal % when passing params); ``execute`` and
``prepare`` use ``?`` (the server binds them). Types: integers -> int,
DECIMAL -> Decimal, FLOAT/DOUBLE -> float, text -> str, binary columns
(charset 63) -> bytes, DATE -> date, DATETIME/TIMESTAMP -> datetime, TIME ->
timedelta, JSON -> parsed value, BIT -> int, NULL -> None; zero dates stay strings.

Errors (all ``MySQLError``; server errors carry ``.code`` and ``.sqlstate``):
``OperationalError`` > ``ConnectError``, ``ConnectionLostError``, ``AuthError`` >
``AccessDeniedError`` (1045), ``LockWaitTimeoutError`` (1205), ``DeadlockError``
(1213); ``IntegrityError`` > ``DuplicateKeyError`` (1062); ``ProgrammingError``,
``DataError``, ``NotSupportedError``; ``InterfaceError`` (misuse: closed or
busy connection); ``ProtocolError`` (malformed bytes from the server). After a
transport error the connection is closed (``usable`` is False); after a server
error it stays usable.
"""

from .aio import AsyncConnection, aconnect
from .client import Connection, Statement, Stream
from .errors import (
    AccessDeniedError,
    AuthError,
    ConnectError,
    ConnectionLostError,
    DatabaseError,
    DataError,
    DeadlockError,
    DuplicateKeyError,
    IntegrityError,
    InterfaceError,
    LockWaitTimeoutError,
    MySQLError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    ProtocolError,
)
from .result import Result
from .resultset import Column
from .retry import RetryPolicy, RetryStats, run_transaction, run_transaction_async

connect = Connection

__all__ = [
    "AccessDeniedError",
    "AsyncConnection",
    "AuthError",
    "Column",
    "ConnectError",
    "Connection",
    "ConnectionLostError",
    "DataError",
    "DatabaseError",
    "DeadlockError",
    "DuplicateKeyError",
    "IntegrityError",
    "InterfaceError",
    "LockWaitTimeoutError",
    "MySQLError",
    "NotSupportedError",
    "OperationalError",
    "ProgrammingError",
    "ProtocolError",
    "Result",
    "RetryPolicy",
    "RetryStats",
    "Statement",
    "Stream",
    "aconnect",
    "connect",
    "run_transaction",
    "run_transaction_async",
]
