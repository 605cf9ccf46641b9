"""The MySQL flavour: pools of ``clients.mysql`` connections.

``mysql_pool(address)`` (threads) and ``async_mysql_pool(address)`` (asyncio)
take anything with host/port/user/password/database (a ``ServiceAddress``) or a
``mysql://user:pass@host:port/db`` URL. What "broken" means for MySQL:

* a transport failure (``ConnectionLostError``, ``ConnectError``), a malformed
  stream (``ProtocolError``), or a server error saying the session is gone
  (1927 connection killed, 1053 server shutdown) discards the connection;
* a connection the client itself marked unusable (closed after such an error,
  or left mid-result) is discarded on release even if the caller swallowed it;
* any other failed use leaves the session possibly inside a transaction, so
  it is rolled back before reuse (the pool's ``reset``);
* the idle check is ``COM_PING``: one round trip, no SQL parsing on the server.
"""

from __future__ import annotations

from typing import Any

from clients.mysql import (
    ConnectError,
    Connection,
    ConnectionLostError,
    InterfaceError,
    OperationalError,
    ProtocolError,
)
from netlib.services import address_from_url

from .core import ConnectionOps, PoolConfig
from .pool import Pool

MYSQL_PORT = 3306
# Server errors after which the session is gone (MariaDB's include/mysqld_error.h).
SESSION_GONE_CODES = frozenset({1053, 1927})  # ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED


def address(where: Any) -> Any:
    """A URL string becomes a ServiceAddress; anything else is taken as one."""
    return address_from_url(where, MYSQL_PORT) if isinstance(where, str) else where


def is_broken(exc: BaseException) -> bool:
    """Whether an error during use means this connection must not be reused."""
    if isinstance(exc, (ConnectionLostError, ConnectError, ProtocolError, InterfaceError)):
        return True
    return isinstance(exc, OperationalError) and exc.code in SESSION_GONE_CODES


def _reset(conn: Any) -> None:
    if conn.in_transaction:
        conn.rollback()


def _usable(conn: Any) -> bool:
    return bool(conn.usable)


def mysql_ops(where: Any, **connect_kw: Any) -> ConnectionOps[Connection]:
    """How to open, ping, reset and close blocking ``clients.mysql`` connections."""
    addr = address(where)
    return ConnectionOps(
        connect=lambda: Connection.from_address(addr, **connect_kw),
        close=Connection.close,
        ping=Connection.ping,
        is_broken=is_broken,
        reset=_reset,
        usable=_usable,
    )


def mysql_pool(where: Any, config: PoolConfig | None = None, **connect_kw: Any) -> Pool[Connection]:
    """A thread-safe pool of blocking connections to ``where`` (address or mysql:// URL)."""
    return Pool(mysql_ops(where, **connect_kw), config)
