"""RESP replies, sans-IO: bytes from a server -> RESP2/RESP3 values, one at a time.

The client role of the codec (see netlib/resp/__init__.py): a resumable parser with an
explicit stack of half-built aggregates, so a deep or huge reply costs no
recursion and no re-parse when it arrives in pieces.
"""

from __future__ import annotations

from typing import Any

from ._types import (
    MAX_AGGREGATE_LEN,
    MAX_BULK_LEN,
    MAX_INLINE_LEN,
    NEED_DATA,
    Attributed,
    ProtocolError,
    Push,
    ReplyError,
    RespSet,
    SimpleString,
    Verbatim,
    _NeedData,
)

# --- client role: replies ------------------------------------------------------

# Aggregate kinds on the ReplyParser stack.
_ARRAY, _SET, _MAP, _PUSH, _ATTR = range(5)
_AGGREGATES = {42: _ARRAY, 126: _SET, 37: _MAP, 62: _PUSH, 124: _ATTR}


class ReplyParser:
    """Bytes from a server -> reply values (RESP2 and RESP3), one at a time.

    Decoded types: ``+`` SimpleString, ``-``/``!`` ReplyError (returned, not
    raised), ``:`` int, ``$`` bytes, ``_``/``$-1``/``*-1`` None, ``*`` list,
    ``%`` dict, ``~`` set (RespSet when members are unhashable), ``,`` float,
    ``#`` bool, ``(`` int, ``=`` Verbatim, ``>`` Push. An attribute frame
    (``|``) is attached to the value it precedes as ``Attributed``.

    The buffer is a bytearray consumed from the front lazily, so a 100 MB bulk
    arriving in 64 KiB reads costs linear time, not a copy per read.
    """

    __slots__ = ("_buf", "_pos", "_stack", "_attrs", "_attrs_depth")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        # [kind, elements still expected, items so far]
        self._stack: list[list[Any]] = []
        self._attrs: dict[Any, Any] | None = None
        self._attrs_depth = 0  # the stack depth of the value the attributes annotate

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos * 2 >= len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_reply(self) -> Any:
        """The next complete reply, or NEED_DATA."""
        while True:
            item = self._token()
            if item is NEED_DATA:
                return NEED_DATA
            value = self._complete(item)
            if value is not NEED_DATA:
                return value

    def _complete(self, value: Any) -> Any:
        """Hand a finished value to the aggregate being built; return it if top level."""
        stack = self._stack
        while True:
            if self._attrs is not None and self._attrs_depth == len(stack):
                value, self._attrs = Attributed(value, self._attrs), None
            if not stack:
                return value
            frame = stack[-1]
            frame[2].append(value)
            frame[1] -= 1
            if frame[1]:
                return NEED_DATA
            stack.pop()
            value = _build(frame[0], frame[2])
            if frame[0] == _ATTR:
                self._attrs, self._attrs_depth = value, len(stack)
                return NEED_DATA

    def _line(self) -> bytearray | _NeedData:
        buf, pos = self._buf, self._pos
        nl = buf.find(b"\r\n", pos)
        if nl < 0:
            if len(buf) - pos > MAX_INLINE_LEN:
                raise ProtocolError("too big reply line")
            return NEED_DATA
        self._pos = nl + 2
        return buf[pos + 1 : nl]

    def _token(self) -> Any:
        """One scalar value, or an opened aggregate (then loops), or NEED_DATA."""
        while True:
            if self._pos >= len(self._buf):
                return NEED_DATA
            start = self._pos
            kind = self._buf[start]
            line = self._line()
            if isinstance(line, _NeedData):
                return NEED_DATA
            agg = _AGGREGATES.get(kind)
            if agg is None:
                return self._scalar(kind, line, start)
            count = _reply_int(line)
            if kind == 42 and count < 0:
                return None  # RESP2 null array
            if count < 0 or count > MAX_AGGREGATE_LEN:
                raise ProtocolError("invalid aggregate length")
            elements = count * 2 if agg in (_MAP, _ATTR) else count
            if elements:
                self._stack.append([agg, elements, []])
            elif agg == _ATTR:
                self._attrs, self._attrs_depth = {}, len(self._stack)
            else:
                return _build(agg, [])

    def _scalar(self, kind: int, line: bytearray, start: int) -> Any:
        if kind == 36 or kind == 33 or kind == 61:  # $ ! =
            return self._bulk(kind, line, start)
        parse = _SCALARS.get(kind)
        if parse is None:
            raise ProtocolError(f"unknown reply type {chr(kind)!r}")
        return parse(line)

    def _bulk(self, kind: int, line: bytearray, start: int) -> Any:
        size = _reply_int(line)
        if size < 0:
            if kind == 36:
                return None  # RESP2 null bulk
            raise ProtocolError("invalid bulk length")
        if size > MAX_BULK_LEN:
            raise ProtocolError("invalid bulk length")
        begin = self._pos
        end = begin + size
        if end + 2 > len(self._buf):
            self._pos = start  # rewind: the header is re-read when the rest arrives
            return NEED_DATA
        if self._buf[end : end + 2] != b"\r\n":
            raise ProtocolError("expected CRLF after bulk string")
        self._pos = end + 2
        data = bytes(self._buf[begin:end])
        if kind == 36:
            return data
        if kind == 33:
            return ReplyError(data.decode("utf-8", "replace"))
        if size < 4 or data[3:4] != b":":
            raise ProtocolError("invalid verbatim string")
        text = data[4:].decode("utf-8", "surrogateescape")
        return Verbatim(text, data[:3].decode("ascii", "replace"))


def _reply_int(line: bytes | bytearray) -> int:
    body = line[1:] if line[:1] in (b"-", b"+") else line
    if not body.isdigit() or len(body) > 4096:
        raise ProtocolError("invalid integer")
    return int(line)


def _double(line: bytes | bytearray) -> float:
    text = line.decode("ascii", "replace").lower()
    if not text or "_" in text or text != text.strip():
        raise ProtocolError("invalid double")
    try:
        return float(text)
    except ValueError:
        raise ProtocolError("invalid double") from None


def _boolean(line: bytes | bytearray) -> bool:
    if line == b"t":
        return True
    if line == b"f":
        return False
    raise ProtocolError("invalid boolean")


def _null(line: bytes | bytearray) -> None:
    if line:
        raise ProtocolError("invalid null")
    return None


_SCALARS = {
    43: lambda line: SimpleString(line.decode("utf-8", "surrogateescape")),  # +
    45: lambda line: ReplyError(line.decode("utf-8", "surrogateescape")),  # -
    58: _reply_int,  # :
    40: _reply_int,  # ( big number
    44: _double,  # ,
    35: _boolean,  # #
    95: _null,  # _
}


def _freeze(v: Any) -> Any:
    """A hashable stand-in for an unhashable map key (arrays -> tuples, ...)."""
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple((_freeze(k), _freeze(x)) for k, x in v.items())
    if isinstance(v, set):
        return frozenset(v)
    return v


def _build(kind: int, items: list[Any]) -> Any:
    if kind == _ARRAY:
        return items
    if kind == _PUSH:
        return Push(items)
    if kind == _SET:
        try:
            return set(items)
        except TypeError:
            return RespSet(items)
    it = iter(items)
    out = {}
    for k in it:
        try:
            out[k] = next(it)
        except TypeError:
            out[_freeze(k)] = next(it)
    return out
