"""The binary protocol of prepared statements: parameter encoding, row decoding.

COM_STMT_EXECUTE sends each parameter with a type (two bytes: the field type,
and 0x80 when unsigned) and a NULL bitmap; binary result rows carry a NULL
bitmap offset by two bits and then the non-NULL values in fixed-width little
endian (numbers), a length-prefixed date/time structure, or a length-encoded
string. Decoders are chosen once per result set, like the text ones; they
take ``(payload, pos)`` and return ``(value, new pos)``.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from . import constants as C
from .errors import ProgrammingError, ProtocolError
from .packets import Reader, lenenc_bytes
from .resultset import Column, text_converter

Decoder = Callable[[bytes, int], tuple[Any, int]]

# -- parameters -----------------------------------------------------------------------


def _datetime_bytes(v: datetime.datetime) -> bytes:
    head = struct.pack("<HBBBBB", v.year, v.month, v.day, v.hour, v.minute, v.second)
    if v.microsecond:
        return b"\x0b" + head + struct.pack("<I", v.microsecond)
    return b"\x07" + head


def _timedelta_bytes(v: datetime.timedelta) -> bytes:
    neg = v < datetime.timedelta(0)
    if neg:
        v = -v
    hours, rem = divmod(v.seconds, 3600)
    minutes, seconds = divmod(rem, 60)
    body = struct.pack("<BIBBBI", neg, v.days, hours, minutes, seconds, v.microseconds)
    return b"\x0c" + body


def encode_param(v: Any, encoding: str = "utf-8") -> tuple[int, int, bytes]:
    """One parameter -> (field type, unsigned flag byte, value bytes)."""
    if isinstance(v, bool):
        return C.T_TINY, 0, bytes((int(v),))
    if isinstance(v, int):
        if -(1 << 63) <= v < 1 << 63:
            return C.T_LONGLONG, 0, struct.pack("<q", v)
        if 0 <= v < 1 << 64:
            return C.T_LONGLONG, 0x80, struct.pack("<Q", v)
        return C.T_NEWDECIMAL, 0, lenenc_bytes(str(v).encode())
    if isinstance(v, float):
        return C.T_DOUBLE, 0, struct.pack("<d", v)
    if isinstance(v, str):
        return C.T_VAR_STRING, 0, lenenc_bytes(v.encode(encoding))
    if isinstance(v, bytes | bytearray | memoryview):
        return C.T_BLOB, 0, lenenc_bytes(bytes(v))
    if isinstance(v, Decimal):
        return C.T_NEWDECIMAL, 0, lenenc_bytes(str(v).encode())
    if isinstance(v, datetime.datetime):
        return C.T_DATETIME, 0, _datetime_bytes(v)
    if isinstance(v, datetime.date):
        return C.T_DATE, 0, struct.pack("<BHBB", 4, v.year, v.month, v.day)
    if isinstance(v, datetime.timedelta):
        return C.T_TIME, 0, _timedelta_bytes(v)
    if isinstance(v, datetime.time):
        return (
            C.T_TIME,
            0,
            struct.pack("<BBIBBBI", 12, 0, 0, v.hour, v.minute, v.second, v.microsecond),
        )
    raise ProgrammingError(f"cannot bind a parameter of type {type(v).__name__}")


def execute_payload(
    stmt_id: int, params: Sequence[Any], n_params: int, encoding: str = "utf-8"
) -> bytes:
    """COM_STMT_EXECUTE with every parameter bound (new-params-bound flag = 1)."""
    if len(params) != n_params:
        raise ProgrammingError(f"statement takes {n_params} parameters, got {len(params)}")
    head = struct.pack("<BIBI", C.COM_STMT_EXECUTE, stmt_id, 0, 1)
    if not n_params:
        return head
    nulls = bytearray((n_params + 7) // 8)
    types = bytearray()
    values = []
    for i, v in enumerate(params):
        if v is None:
            nulls[i >> 3] |= 1 << (i & 7)
            types += bytes((C.T_NULL, 0))
            continue
        t, unsigned, data = encode_param(v, encoding)
        types += bytes((t, unsigned))
        values.append(data)
    return b"".join([head, bytes(nulls), b"\x01", bytes(types), *values])


# -- COM_STMT_BULK_EXECUTE (MariaDB) ------------------------------------------------------

COM_STMT_BULK_EXECUTE = 0xFA
BULK_SEND_TYPES = 128  # bulk flag: parameter types follow the header
INDICATOR_NONE, INDICATOR_NULL = b"\x00", b"\x01"
# Rows per bulk command are cut at this many bytes: under MariaDB's default
# max_allowed_packet (16MB) with room to spare, and big enough to amortise.
BULK_BYTES = 1024 * 1024


def bulk_payloads(
    stmt_id: int, rows: Sequence[Sequence[Any]], n_params: int, encoding: str = "utf-8"
) -> list[bytes] | None:
    """COM_STMT_BULK_EXECUTE payloads for ``rows``, or None if a column's values do
    not share one wire type (bulk sends the types once, for every row)."""
    if not n_params or not rows:
        return None
    types: list[tuple[int, int] | None] = [None] * n_params
    encoded: list[bytes] = []
    for row in rows:
        if len(row) != n_params:
            raise ProgrammingError(f"statement takes {n_params} parameters, got {len(row)}")
        parts = []
        for i, v in enumerate(row):
            if v is None:
                parts.append(INDICATOR_NULL)
                continue
            t, unsigned, data = encode_param(v, encoding)
            if types[i] is None:
                types[i] = (t, unsigned)
            elif types[i] != (t, unsigned):
                return None
            parts.append(INDICATOR_NONE + data)
        encoded.append(b"".join(parts))
    head = struct.pack("<BIH", COM_STMT_BULK_EXECUTE, stmt_id, BULK_SEND_TYPES) + b"".join(
        bytes(t or (C.T_NULL, 0)) for t in types
    )
    return _cut(head, encoded)


def _cut(head: bytes, encoded: list[bytes]) -> list[bytes]:
    out, chunk, size = [], [head], len(head)
    for e in encoded:
        if len(chunk) > 1 and size + len(e) > BULK_BYTES:
            out.append(b"".join(chunk))
            chunk, size = [head], len(head)
        chunk.append(e)
        size += len(e)
    out.append(b"".join(chunk))
    return out


# -- result rows -----------------------------------------------------------------------


def _fixed(fmt: str) -> Decoder:
    s = struct.Struct("<" + fmt)
    size, unpack = s.size, s.unpack_from

    def dec(buf: bytes, p: int) -> tuple[Any, int]:
        if p + size > len(buf):
            raise ProtocolError("binary row truncated in a number")
        return unpack(buf, p)[0], p + size

    return dec


def _temporal_parts(buf: bytes, p: int) -> tuple[bytes, int]:
    n = buf[p]
    end = p + 1 + n
    if end > len(buf):
        raise ProtocolError("binary row truncated in a date/time")
    return buf[p + 1 : end], end


def _dec_datetime(buf: bytes, p: int) -> tuple[Any, int]:
    b, p = _temporal_parts(buf, p)
    if len(b) == 0:
        return "0000-00-00 00:00:00", p
    year, month, day = struct.unpack_from("<HBB", b)
    h = mi = s = us = 0
    if len(b) >= 7:
        h, mi, s = b[4], b[5], b[6]
    if len(b) >= 11:
        us = struct.unpack_from("<I", b, 7)[0]
    try:
        return datetime.datetime(year, month, day, h, mi, s, us), p
    except ValueError:
        return f"{year:04d}-{month:02d}-{day:02d} {h:02d}:{mi:02d}:{s:02d}", p


def _dec_date(buf: bytes, p: int) -> tuple[Any, int]:
    v, p = _dec_datetime(buf, p)
    return (v.date() if isinstance(v, datetime.datetime) else v[:10]), p


def _dec_time(buf: bytes, p: int) -> tuple[Any, int]:
    b, p = _temporal_parts(buf, p)
    if len(b) == 0:
        return datetime.timedelta(0), p
    if len(b) < 8:
        raise ProtocolError("binary TIME shorter than 8 bytes")
    neg, days, h, mi, s = struct.unpack_from("<BIBBB", b)
    us = struct.unpack_from("<I", b, 8)[0] if len(b) >= 12 else 0
    td = datetime.timedelta(days=days, hours=h, minutes=mi, seconds=s, microseconds=us)
    return (-td if neg else td), p


def _dec_string(col: Column, encoding: str) -> Decoder:
    conv = text_converter(col, encoding)

    def dec(buf: bytes, p: int) -> tuple[Any, int]:
        r = Reader(buf, p)
        raw = r.lenenc_bytes()
        return conv(raw), r.pos

    return dec


_FIXED = {
    C.T_TINY: ("b", "B"),
    C.T_SHORT: ("h", "H"),
    C.T_YEAR: ("h", "H"),
    C.T_LONG: ("i", "I"),
    C.T_INT24: ("i", "I"),
    C.T_LONGLONG: ("q", "Q"),
    C.T_FLOAT: ("f", "f"),
    C.T_DOUBLE: ("d", "d"),
}
_TEMPORAL = {
    C.T_DATETIME: _dec_datetime,
    C.T_TIMESTAMP: _dec_datetime,
    C.T_DATE: _dec_date,
    C.T_NEWDATE: _dec_date,
    C.T_TIME: _dec_time,
}


def binary_decoder(col: Column, encoding: str = "utf-8") -> Decoder:
    if col.type in _FIXED:
        signed, unsigned = _FIXED[col.type]
        return _fixed(unsigned if col.unsigned else signed)
    if col.type in _TEMPORAL:
        return _TEMPORAL[col.type]
    return _dec_string(col, encoding)  # DECIMAL, strings, blobs, JSON, BIT, ENUM, SET, GEOMETRY


def binary_decoders(columns: list[Column], encoding: str = "utf-8") -> list[Decoder]:
    return [binary_decoder(c, encoding) for c in columns]


def decode_binary_row(payload: bytes, decoders: list[Decoder]) -> tuple:
    """A binary result row: 0x00, NULL bitmap (offset 2 bits), then the values."""
    n = len(decoders)
    p = 1 + (n + 9) // 8
    if len(payload) < p or payload[0] != 0:
        raise ProtocolError("binary row: bad header or short NULL bitmap")
    out: list[Any] = []
    try:
        for i, dec in enumerate(decoders):
            bit = i + 2
            if payload[1 + (bit >> 3)] & (1 << (bit & 7)):
                out.append(None)
                continue
            v, p = dec(payload, p)
            out.append(v)
    except (IndexError, ValueError, ArithmeticError, struct.error) as e:
        raise ProtocolError(f"malformed binary row: {e}") from None
    if p != len(payload):
        raise ProtocolError("binary row: trailing bytes after the last value")
    return tuple(out)


def parse_prepare_ok(payload: bytes) -> tuple[int, int, int, int]:
    """COM_STMT_PREPARE_OK -> (statement id, columns, params, warnings)."""
    r = Reader(payload, 1)
    stmt_id = r.uint(4)
    n_cols = r.uint(2)
    n_params = r.uint(2)
    warnings = 0
    if r.remaining() >= 3:
        r.u8()
        warnings = r.uint(2)
    return stmt_id, n_cols, n_params, warnings
