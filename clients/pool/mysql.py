"""The MySQL flavour: pools of ``clients.mysql`` connections.

``mysql_pool(where)`` (threads) and ``async_mysql_pool(where)`` (asyncio)
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

from clients.address import address_from_url
from clients.mysql import (
    ConnectError,
    Connection,
    ConnectionLostError,
    InterfaceError,
    OperationalError,
    ProtocolError,
)
from clients.mysql.aio import AsyncConnection

from .aio import AsyncPool
from .core import AsyncConnectionOps, ConnectionOps, PoolConfig
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
    return ConnectionOps(**_ops(Connection, where, connect_kw), reset=_reset)


def _ops(cls: Any, where: Any, connect_kw: dict[str, Any]) -> dict[str, Any]:
    """What both flavours share: the class's own connect, ping and close."""
    addr = address(where)
    return {
        "connect": lambda: cls.from_address(addr, **connect_kw),
        "close": cls.close,
        "ping": cls.ping,
        "is_broken": is_broken,
        "usable": _usable,
    }


def mysql_pool(where: Any, config: PoolConfig | None = None, **connect_kw: Any) -> Pool[Connection]:
    """A thread-safe pool of blocking connections to ``where`` (address or mysql:// URL)."""
    return Pool(mysql_ops(where, **connect_kw), config)


async def _async_reset(conn: AsyncConnection) -> None:
    if conn.in_transaction:
        await conn.rollback()


def async_mysql_ops(where: Any, **connect_kw: Any) -> AsyncConnectionOps[AsyncConnection]:
    """The same for ``clients.mysql.aio.AsyncConnection``."""
    return AsyncConnectionOps(**_ops(AsyncConnection, where, connect_kw), reset=_async_reset)


def async_mysql_pool(
    where: Any, config: PoolConfig | None = None, **connect_kw: Any
) -> AsyncPool[AsyncConnection]:
    """A pool of asyncio connections for one event loop (``async with`` it, or ``await open()``)."""
    return AsyncPool(async_mysql_ops(where, **connect_kw), config)
