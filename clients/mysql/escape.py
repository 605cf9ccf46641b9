"""Client-side parameter interpolation: ``%s`` placeholders, SQL literals.

Style: DB-API "format" (``%s`` positional, ``%(name)s`` named; a literal
``%`` is written ``%%`` when parameters are given). Each value becomes a
complete SQL literal, so a value can never end its literal early:

* strings go between single quotes. With the server's default sql_mode the
  characters that could end or bend the literal (``'`` ``"`` ``\\``, NUL,
  newline, CR, Ctrl-Z 0x1a) are backslash-escaped; when the server reports
  NO_BACKSLASH_ESCAPES (status flag 512, tracked from every OK packet) a
  backslash is an ordinary character there, so the only escape is doubling
  ``'``. Using the backslash rules under that mode would let ``\\'`` end the
  literal: the mode must come from the server, not a guess.
* the connection is utf8mb4 and strings are sent UTF-8-encoded. In UTF-8 no
  byte of a multibyte character is below 0x80, so the classic GBK trick
  (0xbf 0x27: the server reads 0xbf 0x5c as one character and the quote after
  the escaping backslash ends the literal) cannot happen. If the session
  switches ``character_set_client`` (``SET NAMES gbk``; the server reports it
  through session tracking), interpolation is refused for any charset not in
  ``SAFE_CHARSETS``, rather than guessing how it splits bytes: use
  ``execute`` (the server binds parameters) there.
* bytes are sent as hex literals ``X'..'``: no escaping at all, safe under
  any charset or mode.
* numbers are formatted by Python (no quotes); inf/nan are refused; dates and
  times are quoted ISO strings; lists/tuples become ``(a, b, ...)`` for IN.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .errors import InterfaceError, ProgrammingError

_BACKSLASH_TABLE = str.maketrans(
    {
        "\0": "\\0",
        "\n": "\\n",
        "\r": "\\r",
        "\x1a": "\\Z",
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
    }
)


def escape_string(s: str, no_backslash_escapes: bool = False) -> str:
    """The body of a single-quoted literal for ``s`` (without the quotes)."""
    if no_backslash_escapes:
        return s.replace("'", "''")
    return s.translate(_BACKSLASH_TABLE)


def _quote_backslash(s: str) -> str:
    return "'" + s.translate(_BACKSLASH_TABLE) + "'"


def _quote_doubling(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _float_literal(v: float) -> str:
    if not math.isfinite(v):
        raise ProgrammingError(f"{v!r} has no SQL literal")
    return repr(v)


def _quoted_iso(v: datetime.date) -> str:
    return "'" + (v.isoformat(" ") if isinstance(v, datetime.datetime) else v.isoformat()) + "'"


# Exact type -> formatter: one dict lookup instead of an isinstance chain for the
# common types (multi-row INSERTs format every value of every row). Subclasses
# and rarer types take ``_slow_literal``.
_COMMON: dict[type, Any] = {
    type(None): lambda v: "NULL",
    bool: lambda v: "1" if v else "0",
    int: int.__repr__,
    float: _float_literal,
    datetime.datetime: _quoted_iso,
    datetime.date: _quoted_iso,
}
_BY_TYPE = {False: {**_COMMON, str: _quote_backslash}, True: {**_COMMON, str: _quote_doubling}}


def literal(v: Any, no_backslash_escapes: bool = False) -> str:
    """``v`` as a complete SQL literal."""
    fmt = _BY_TYPE[no_backslash_escapes].get(type(v))
    return fmt(v) if fmt is not None else _slow_literal(v, no_backslash_escapes)


def _slow_literal(v: Any, no_backslash_escapes: bool) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + escape_string(v, no_backslash_escapes) + "'"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return _float_literal(float(v))
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ProgrammingError(f"{v!r} has no SQL literal")
        return str(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return "X'" + bytes(v).hex() + "'"
    return _other_literal(v, no_backslash_escapes)


def _other_literal(v: Any, nbe: bool) -> str:
    if isinstance(v, datetime.datetime | datetime.date | datetime.time):
        text = v.isoformat(" ") if isinstance(v, datetime.datetime) else v.isoformat()
        return "'" + text + "'"
    if isinstance(v, datetime.timedelta):
        return "'" + _timedelta_text(v) + "'"
    if isinstance(v, list | tuple | set | frozenset):
        if not v:
            raise ProgrammingError("an empty sequence has no SQL literal (IN () is invalid)")
        return "(" + ", ".join(literal(x, nbe) for x in v) + ")"
    raise ProgrammingError(f"cannot interpolate a value of type {type(v).__name__}")


def _timedelta_text(v: datetime.timedelta) -> str:
    neg = v < datetime.timedelta(0)
    if neg:
        v = -v
    total = v.days * 86400 + v.seconds
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    frac = f".{v.microseconds:06d}" if v.microseconds else ""
    return f"{'-' if neg else ''}{h:02d}:{m:02d}:{s:02d}{frac}"


# character_set_client values under which the escaping above is proven safe: UTF-8
# (no byte of a multibyte character is ASCII), single-byte charsets, and binary.
SAFE_CHARSETS = frozenset({"utf8mb4", "utf8mb3", "utf8", "ascii", "latin1", "binary"})


def check_charset(charset: str) -> None:
    if charset not in SAFE_CHARSETS:
        raise InterfaceError(
            f"refusing client-side interpolation under character_set_client={charset}: "
            "multibyte charsets like gbk/big5/sjis can hide a quote inside a character; "
            "use execute() (server-side binding) or SET NAMES utf8mb4"
        )


def interpolate(
    sql: str, params: Any, no_backslash_escapes: bool = False, charset: str = "utf8mb4"
) -> str:
    """``sql`` with its ``%s`` / ``%(name)s`` placeholders replaced by literals."""
    if params is None:
        return sql
    check_charset(charset)
    nbe = no_backslash_escapes
    try:
        if isinstance(params, Mapping):
            return sql % {k: literal(v, nbe) for k, v in params.items()}
        if isinstance(params, Sequence) and not isinstance(params, str | bytes):
            return sql % tuple(literal(v, nbe) for v in params)
        return sql % (literal(params, nbe),)
    except (TypeError, ValueError, KeyError) as e:
        raise ProgrammingError(f"parameters do not match the placeholders: {e}") from None


# A multi-row INSERT stays under this size: MariaDB's default max_allowed_packet is
# 16MB, and 1MB statements already amortise the round trip (PyMySQL uses 1MB too).
MAX_STATEMENT_BYTES = 1024 * 1024


def multirow_statements(
    prefix: str,
    rows: Any,
    no_backslash_escapes: bool = False,
    max_bytes: int = MAX_STATEMENT_BYTES,
    charset: str = "utf8mb4",
) -> Any:
    """Yield ``prefix (row1), (row2), ...`` statements, each at most ~``max_bytes``.

    ``prefix`` is everything up to and including ``VALUES``, e.g.
    ``"INSERT INTO t (a, b) VALUES"``; each row is a sequence of values.
    """
    check_charset(charset)
    nbe = no_backslash_escapes
    get = _BY_TYPE[nbe].get
    parts: list[str] = []
    size = len(prefix)
    for row in rows:
        group = (
            "(" + ",".join([f(v) if (f := get(type(v))) else literal(v, nbe) for v in row]) + ")"
        )
        if parts and size + len(group) + 1 > max_bytes:
            yield prefix + " " + ",".join(parts)
            parts, size = [], len(prefix)
        parts.append(group)
        size += len(group) + 1
    if parts:
        yield prefix + " " + ",".join(parts)
