"""The client's errors: one small flat hierarchy, mapped once at the boundary.

``MySQLError`` is the root. Errors the server sends (ERR packets) carry the
numeric ``code`` and the five-character ``sqlstate``; ``from_server`` picks the
class from the code, so callers catch ``DuplicateKeyError`` or ``DeadlockError``
instead of comparing numbers. Transport failures are ``ConnectionLostError`` /
``ConnectError`` (both ``OperationalError``), and a malformed byte stream is
``ProtocolError``: the codec raises nothing else on bad input.
"""

from __future__ import annotations


class MySQLError(Exception):
    """Root of every error this client raises."""

    def __init__(self, message: str = "", code: int = 0, sqlstate: str = "") -> None:
        super().__init__(f"({code}, {sqlstate}) {message}" if code else message)
        self.message = message
        self.code = code
        self.sqlstate = sqlstate


class InterfaceError(MySQLError):
    """Misuse of the client: a closed connection, a busy connection, bad arguments."""


class ProtocolError(MySQLError):
    """The server's bytes do not follow the protocol (malformed or truncated packet)."""


class DatabaseError(MySQLError):
    """An error reported by the server."""


class OperationalError(DatabaseError):
    """Connection-level trouble: lost connection, lock waits, access denied."""


class ConnectError(OperationalError):
    """Could not establish a connection (refused, unreachable, timed out)."""


class ConnectionLostError(OperationalError):
    """The connection broke during a command (server killed, socket reset)."""


class AuthError(OperationalError):
    """Authentication failed or needs a plugin this client does not speak."""


class AccessDeniedError(AuthError):
    """Server error 1045 (ER_ACCESS_DENIED_ERROR) and friends."""


class LockWaitTimeoutError(OperationalError):
    """Server error 1205: innodb_lock_wait_timeout expired."""


class DeadlockError(OperationalError):
    """Server error 1213: InnoDB chose this transaction as the deadlock victim."""


class ProgrammingError(DatabaseError):
    """Bad SQL, unknown table or column, wrong number of parameters."""


class IntegrityError(DatabaseError):
    """A constraint failed (NOT NULL, foreign key, unique)."""


class DuplicateKeyError(IntegrityError):
    """Server error 1062 (ER_DUP_ENTRY)."""


class DataError(DatabaseError):
    """A value out of range or of the wrong type for its column."""


class NotSupportedError(DatabaseError):
    """A feature the server or this client does not support."""


# Server error codes -> class (MariaDB's include/mysqld_error.h).
_BY_CODE: dict[int, type[DatabaseError]] = {
    1044: AccessDeniedError,  # ER_DBACCESS_DENIED_ERROR
    1045: AccessDeniedError,  # ER_ACCESS_DENIED_ERROR
    1062: DuplicateKeyError,  # ER_DUP_ENTRY
    1205: LockWaitTimeoutError,  # ER_LOCK_WAIT_TIMEOUT
    1213: DeadlockError,  # ER_LOCK_DEADLOCK
    1048: IntegrityError,  # ER_BAD_NULL_ERROR
    1451: IntegrityError,  # ER_ROW_IS_REFERENCED_2
    1452: IntegrityError,  # ER_NO_REFERENCED_ROW_2
    1586: DuplicateKeyError,  # ER_DUP_ENTRY_WITH_KEY_NAME
    1064: ProgrammingError,  # ER_PARSE_ERROR
    1146: ProgrammingError,  # ER_NO_SUCH_TABLE
    1054: ProgrammingError,  # ER_BAD_FIELD_ERROR
    1049: ProgrammingError,  # ER_BAD_DB_ERROR
    1050: ProgrammingError,  # ER_TABLE_EXISTS_ERROR
    1210: ProgrammingError,  # ER_WRONG_ARGUMENTS (e.g. parameter count)
    1243: ProgrammingError,  # ER_UNKNOWN_STMT_HANDLER
    1264: DataError,  # ER_WARN_DATA_OUT_OF_RANGE
    1406: DataError,  # ER_DATA_TOO_LONG
    1366: DataError,  # ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
    1235: NotSupportedError,  # ER_NOT_SUPPORTED_YET
    1040: OperationalError,  # ER_CON_COUNT_ERROR
    1053: OperationalError,  # ER_SERVER_SHUTDOWN
    1927: OperationalError,  # ER_CONNECTION_KILLED
    1317: OperationalError,  # ER_QUERY_INTERRUPTED
    3024: OperationalError,  # ER_QUERY_TIMEOUT (MySQL)
    1969: OperationalError,  # ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
}


def from_server(code: int, sqlstate: str, message: str) -> DatabaseError:
    """The exception for an ERR packet: by code, else by SQLSTATE class, else generic."""
    cls = _BY_CODE.get(code)
    if cls is None:
        klass = sqlstate[:2]
        if klass == "23":
            cls = IntegrityError
        elif klass == "42":
            cls = ProgrammingError
        elif klass == "22":
            cls = DataError
        elif klass in ("08", "HY", "40"):
            cls = OperationalError
        else:
            cls = DatabaseError
    return cls(message, code, sqlstate)
