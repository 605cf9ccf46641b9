"""A text-row scanner generated per result-set shape (the hot loop, unrolled).

The scanner reads packet headers and length-encoded fields straight out of
the receive buffer (one ``bytes`` object): no per-packet payload copy, no
``struct`` call per field, no Reader object per row; slices of ``bytes`` are
``bytes``, and ``int()``/``float()`` take them without a ``str`` first. It
stops at anything that is not a plain row (EOF/OK, ERR, a >16MB row) and
leaves that to the protocol's general path, so the loop stays small.

Its first version looped over the columns calling one converter each.
Profiling a 100,000-row fetch (py-spy) put most of the time in that inner
loop's bookkeeping: the per-field iteration, ``row.append``, ``tuple(row)``
and a call per converter even when the converter is ``int`` or a plain
slice (about 1.2x slower than this). So,
like ``collections.namedtuple`` and ``dataclasses``, we write the function's
source for the exact column list once per distinct shape, with every field
unrolled into straight-line code, common converters inlined (``int(...)``,
``float(...)``, ``.decode()``, the bare slice for binary columns) and the
tuple built in one expression; then ``exec`` it and cache it by shape.

Dates and datetimes are parsed inline with ``fromisoformat``, which rejects
MySQL's zero dates: when any inlined conversion fails, that one row is decoded
again by ``resultset.decode_text_row`` with the safe converters (which return
zero dates as strings, or raise ``ProtocolError`` if the packet really is
malformed), and the fast loop resumes after it.

Bounds: at most ``SCANNER_CACHE_SIZE`` shapes are kept; results wider than
``MAX_UNROLLED_COLUMNS`` get ``_wide_scanner`` (plain code, same contract)
instead of generated code. The generated source is built only from the
templates below and column indexes: nothing from the server reaches it.

Contract (the tests check it against ``decode_text_row`` on the same bytes):
returns the new (pos, seq), stops before anything that is not a complete
plain row, raises only ``ProtocolError``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from .errors import ProtocolError
from .resultset import Converter, decode_text_row, long_length, to_date, to_datetime, to_str

Scanner = Callable[[bytes, int, int, list, int], tuple[int, int]]

# Distinct result-set shapes kept compiled; cleared past this (an app has few).
SCANNER_CACHE_SIZE = 512
# Wider results are not unrolled: the source grows ~12 lines a column (4096 columns,
# MySQL's maximum, took 0.4s to compile and a large code object per shape), while
# per-row overhead, the thing unrolling saves, matters less the wider the row.
MAX_UNROLLED_COLUMNS = 128
_cache: dict[tuple[Converter, ...], Scanner] = {}

_INLINE: dict[Any, str] = {
    bytes: "{s}",
    to_str: "{s}.decode()",
    int: "int({s})",
    float: "float({s})",
    to_datetime: "_datetime_iso({s}.decode())",
    to_date: "_date_iso({s}.decode())",
}

_HEAD = """\
def scan(buf, pos, seq, rows, eof_limit):
    n = len(buf)
    append = rows.append
    while True:
        try:
            while pos + 4 <= n:
                plen = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
                start = pos + 4
                end = start + plen
                if end > n or plen == 0 or plen == 0xFFFFFF:
                    break
                first = buf[start]
                if (first == 0xFE and plen < eof_limit) or first == 0xFF:
                    break
                if buf[pos + 3] != seq:
                    raise ProtocolError(f"row packet sequence {buf[pos + 3]}, expected {seq}")
                p = start
"""
_FIELD = """\
                ln = buf[p]
                if ln < 251:
                    p += 1 + ln
                    v{i} = {expr}
                elif ln == 251:
                    v{i} = None
                    p += 1
                else:
                    ln, p = long_length(buf, p)
                    p += ln
                    v{i} = {expr}
"""
_TAIL = """\
                if p != end:
                    raise ProtocolError("row packet length does not match its fields")
                append(({values},))
                pos = end
                seq = (seq + 1) & 0xFF
            return pos, seq
        except (IndexError, ValueError, ArithmeticError):  # this row again, the safe way
            pos, seq = _safe_row(buf, pos, seq, convs, rows)
"""


def _source(convs: tuple[Converter, ...]) -> str:
    fields = []
    for i, conv in enumerate(convs):
        template = _INLINE.get(conv, "c" + str(i) + "({s})")
        fields.append(_FIELD.format(i=i, expr=template.format(s="buf[p - ln : p]")))
    values = ", ".join(f"v{i}" for i in range(len(convs)))
    return _HEAD + "".join(fields) + _TAIL.format(values=values)


def _safe_row(buf: bytes, pos: int, seq: int, convs: list, rows: list) -> tuple[int, int]:
    """Decode the (complete, in-sequence) row packet at ``pos`` the bounds-checked way."""
    end = pos + 4 + (buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16)
    rows.append(decode_text_row(buf[pos + 4 : end], convs))
    return end, (seq + 1) & 0xFF


def _wide_scanner(convs: list[Converter]) -> Scanner:
    """The same contract without code generation: one ``decode_text_row`` per row."""

    def scan(buf: bytes, pos: int, seq: int, rows: list, eof_limit: int) -> tuple[int, int]:
        n = len(buf)
        while pos + 4 <= n:
            plen = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
            end = pos + 4 + plen
            if end > n or plen == 0 or plen == 0xFFFFFF:
                break
            first = buf[pos + 4]
            if (first == 0xFE and plen < eof_limit) or first == 0xFF:
                break
            if buf[pos + 3] != seq:
                raise ProtocolError(f"row packet sequence {buf[pos + 3]}, expected {seq}")
            rows.append(decode_text_row(buf[pos + 4 : end], convs))
            pos, seq = end, (seq + 1) & 0xFF
        return pos, seq

    return scan


def row_scanner(convs: list[Converter]) -> Scanner:
    """The compiled scanner for this list of column converters (cached by shape)."""
    if len(convs) > MAX_UNROLLED_COLUMNS:
        return _wide_scanner(convs)
    key = tuple(convs)
    scan = _cache.get(key)
    if scan is None:
        if len(_cache) >= SCANNER_CACHE_SIZE:
            _cache.clear()
        namespace: dict[str, Any] = {
            "ProtocolError": ProtocolError,
            "long_length": long_length,
            "_safe_row": _safe_row,
            "_datetime_iso": datetime.datetime.fromisoformat,
            "_date_iso": datetime.date.fromisoformat,
            "convs": list(key),
        }
        namespace.update((f"c{i}", c) for i, c in enumerate(convs))
        exec(compile(_source(key), f"<text row scanner {len(key)} cols>", "exec"), namespace)
        scan = _cache[key] = namespace["scan"]
    return scan
