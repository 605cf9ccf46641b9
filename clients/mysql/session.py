"""What both clients share above the protocol: session state, SQL text, plans.

Sans-IO like ``protocol.py``: ``Session`` reads the ``ClientProtocol`` both
clients hold (``self._proto``) and turns arguments into the bytes or
statements to send; ``Connection`` and ``AsyncConnection`` inherit it and add
only the I/O (a blocking socket, an asyncio transport).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .binary import bulk_payloads
from .escape import interpolate, multirow_statements
from .protocol import ClientProtocol, Prepared


class Session:
    _proto: ClientProtocol

    # -- state the server reports -------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._proto.in_transaction

    @property
    def autocommit(self) -> bool:
        return self._proto.autocommit

    @property
    def server_version(self) -> str:
        return self._proto.greeting.server_version if self._proto.greeting else ""

    @property
    def connection_id(self) -> int:
        return self._proto.greeting.connection_id if self._proto.greeting else 0

    # -- what to send ---------------------------------------------------------------------

    def _interpolate(self, sql: str, params: Any) -> str:
        """``%s`` placeholders filled under the session's escaping mode and charset."""
        if params is None:
            return sql
        proto = self._proto
        return interpolate(sql, params, proto.no_backslash_escapes, proto.client_charset)

    def _query_bytes(self, sql: str, params: Any) -> bytes:
        if params is None:  # (the common case, without _interpolate's call)
            return self._proto.query(sql)
        return self._proto.query(self._interpolate(sql, params))

    def _multirow(self, prefix: str, rows: Any) -> Iterator[str]:
        """The ~1MB multi-row INSERT statements of ``insert_many``."""
        proto = self._proto
        return multirow_statements(  # type: ignore[no-any-return]
            prefix, rows, proto.no_backslash_escapes, charset=proto.client_charset
        )

    def _bulk_plan(self, stmt: Prepared, params_seq: Sequence[Any]) -> list[bytes] | None:
        """COM_STMT_BULK_EXECUTE payloads for ``executemany``, or None: pipeline instead
        (not MariaDB, a statement returning rows, or a column mixing value types)."""
        if not self._proto.bulk or stmt.columns:
            return None
        proto = self._proto
        return bulk_payloads(stmt.stmt_id, params_seq, len(stmt.params), proto.out_encoding)
