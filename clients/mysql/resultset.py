"""Result-set metadata, text-protocol converters, and the general row decoder.

Converters are chosen once per result set, one per column
(``text_converters``); the hot loop that calls them is generated per shape in
``textrows.py``. Values a converter cannot represent (MySQL's zero dates)
come back as the raw string instead of failing the whole result; anything
that does not parse as the protocol says becomes a ``ProtocolError``.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import constants as C
from .errors import ProtocolError
from .packets import Reader

Converter = Callable[[bytes], Any]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a result set (the fields of a column definition packet we keep)."""

    name: str
    table: str
    type: int
    flags: int
    charset: int
    length: int
    decimals: int
    format: str = ""  # MariaDB extended metadata: "json" for JSON columns

    @property
    def is_binary(self) -> bool:
        return self.charset == C.BINARY_CHARSET

    @property
    def unsigned(self) -> bool:
        return bool(self.flags & C.FLAG_UNSIGNED)


# Parsed column definitions by their exact bytes: a repeated query (the common case
# in a service) sends byte-identical definitions, so parsing them becomes a dict hit.
# Bounded: cleared when it reaches this many entries.
COLUMN_CACHE_SIZE = 2048
_column_cache: dict[tuple[bytes, bool, str], Column] = {}


def parse_column(payload: bytes, extended: bool = False, encoding: str = "utf-8") -> Column:
    """Column definition packet (Protocol::ColumnDefinition41 + MariaDB extension).

    Names arrive in character_set_results (``encoding``); a name that does not
    decode is metadata, not data: it is shown with replacement characters.
    """
    key = (payload, extended, encoding)
    col = _column_cache.get(key)
    if col is None:
        if len(_column_cache) >= COLUMN_CACHE_SIZE:
            _column_cache.clear()
        col = _column_cache[key] = _parse_column(payload, extended, encoding)
    return col


def _parse_column(payload: bytes, extended: bool, encoding: str) -> Column:
    r = Reader(payload)
    for _ in range(2):  # catalog ("def"), schema
        r.lenenc_bytes()
    table = r.lenenc_bytes().decode(encoding, "replace")
    r.lenenc_bytes()  # original table
    name = r.lenenc_bytes().decode(encoding, "replace")
    r.lenenc_bytes()  # original name
    fmt = ""
    if extended:
        ext = Reader(r.lenenc_bytes())
        while ext.remaining():
            kind = ext.u8()
            value = ext.lenenc_str()
            if kind == 1:  # 0: type name, 1: format name
                fmt = value
    if (r.lenenc_int() or 0) < 12:
        raise ProtocolError("column definition: short fixed-length block")
    charset = r.uint(2)
    length = r.uint(4)
    ctype = r.u8()
    flags = r.uint(2)
    decimals = r.u8()
    return Column(name, table, ctype, flags, charset, length, decimals, fmt)


# -- text protocol converters ------------------------------------------------------


def to_decimal(b: bytes) -> Decimal:
    return Decimal(b.decode())


def to_bit_int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def to_datetime(b: bytes) -> datetime.datetime | str:
    try:
        return datetime.datetime.fromisoformat(b.decode())
    except ValueError:  # zero dates ('0000-00-00 00:00:00') have no Python value
        return b.decode()


def to_date(b: bytes) -> datetime.date | str:
    try:
        return datetime.date.fromisoformat(b.decode())
    except ValueError:
        return b.decode()


def parse_time(s: str) -> datetime.timedelta | str:
    """MySQL TIME ('-838:59:59.000000'..'838:59:59') is a duration, not a time of day."""
    neg = s.startswith("-")
    body = s[1:] if neg else s
    try:
        hms, _, frac = body.partition(".")
        h, m, sec = (int(x) for x in hms.split(":"))
        us = int((frac + "000000")[:6]) if frac else 0
    except ValueError:
        return s
    td = datetime.timedelta(hours=h, minutes=m, seconds=sec, microseconds=us)
    return -td if neg else td


def to_timedelta(b: bytes) -> datetime.timedelta | str:
    return parse_time(b.decode())


def to_json(b: bytes) -> Any:
    try:
        return json.loads(b)
    except RecursionError:  # nested deeper than Python's stack: malformed for us
        raise ValueError("JSON value nested too deeply") from None


def to_str(b: bytes) -> str:
    return b.decode()


_TEXT_BY_TYPE: dict[int, Converter] = {
    C.T_TINY: int,
    C.T_SHORT: int,
    C.T_LONG: int,
    C.T_INT24: int,
    C.T_LONGLONG: int,
    C.T_YEAR: int,
    C.T_FLOAT: float,
    C.T_DOUBLE: float,
    C.T_DECIMAL: to_decimal,
    C.T_NEWDECIMAL: to_decimal,
    C.T_DATE: to_date,
    C.T_NEWDATE: to_date,
    C.T_DATETIME: to_datetime,
    C.T_TIMESTAMP: to_datetime,
    C.T_TIME: to_timedelta,
    C.T_BIT: to_bit_int,
    C.T_JSON: to_json,
    C.T_GEOMETRY: bytes,
}


# MySQL charset names (character_set_results) -> Python codecs. MySQL's latin1 is
# really cp1252. Anything unlisted decodes as UTF-8 (and fails loudly if it is not).
CHARSET_CODECS = {
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8", "ascii": "ascii",
    "latin1": "cp1252", "latin2": "iso8859_2", "greek": "iso8859_7", "hebrew": "iso8859_8",
    "cp1250": "cp1250", "cp1251": "cp1251", "koi8r": "koi8_r", "gbk": "gbk",
    "gb2312": "gb2312", "gb18030": "gb18030", "big5": "big5", "sjis": "shift_jis",
    "cp932": "cp932", "ujis": "euc_jp", "eucjpms": "euc_jp", "euckr": "euc_kr",
}  # fmt: skip


def python_codec(charset: str) -> str:
    return CHARSET_CODECS.get(charset, "utf-8")


@functools.cache
def _decoder(encoding: str) -> Converter:
    """One function per encoding (the row scanners are cached by converter identity)."""

    def decode(b: bytes) -> str:
        return b.decode(encoding)

    return decode


def text_converter(col: Column, encoding: str = "utf-8") -> Converter:
    """The function that turns one text-protocol value of ``col`` into Python."""
    if col.format == "json":
        return to_json
    conv = _TEXT_BY_TYPE.get(col.type)
    if conv is not None:
        return conv
    if col.is_binary:
        return bytes
    return to_str if encoding == "utf-8" else _decoder(encoding)


def text_converters(columns: list[Column], encoding: str = "utf-8") -> list[Converter]:
    return [text_converter(c, encoding) for c in columns]


# -- rows, the general path ----------------------------------------------------------
# The fast path is the generated scanner in textrows.py; this one decodes a single
# payload with the bounds-checked Reader (rows over 16MB, and rows the fast path
# refused, e.g. zero dates).


def long_length(buf: bytes, p: int) -> tuple[int, int]:
    """A length-encoded integer with a 0xFC/0xFD/0xFE prefix at ``p``: (value, next pos)."""
    first = buf[p]
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}.get(first)
    if size is None:
        raise ProtocolError(f"bad length prefix 0x{first:02x} in a row")
    if p + 1 + size > len(buf):
        raise IndexError("length prefix past the end")
    return int.from_bytes(buf[p + 1 : p + 1 + size], "little"), p + 1 + size


def decode_text_row(payload: bytes, convs: list[Converter]) -> tuple:
    """The general path for one row payload (rows split over 16MB packets)."""
    r = Reader(payload)
    out: list[Any] = []
    for conv in convs:
        n = r.lenenc_int()
        if n is None:
            out.append(None)
            continue
        try:
            out.append(conv(r.fixed(n)))
        except (ValueError, ArithmeticError) as e:
            raise ProtocolError(f"malformed value in row: {e}") from None
    if r.remaining():
        raise ProtocolError("trailing bytes after the last field of a row")
    return tuple(out)
