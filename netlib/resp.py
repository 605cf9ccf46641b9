"""RESP2/RESP3, sans-IO: the one codec the cache, the Bitcask server and clients/resp share.

Strategy. Two parsers, one per role, each fed bytes and handing back values:

* ``RequestParser`` (server role) turns bytes into commands (``list[bytes]``):
  multibulk arrays of bulk strings as every client library sends them, and
  *inline* commands (a line split on spaces, with Redis's quoting rules) so a
  human with ``nc`` or ``telnet`` can type ``SET k "hello world"``. It is the
  hot path of the cache, so ``commands()`` parses every complete command in the
  buffer in one tight loop and resumes a half-received command where it
  stopped (a 100k-argument MSET arriving in 64 KiB reads is parsed once, not
  re-parsed per read; a 100 MB bulk is joined once when complete).
* ``ReplyParser`` (client role) decodes every RESP2 and RESP3 type with an
  explicit stack of half-built aggregates (no recursion, resumable mid-reply).

Encoding is a set of small functions producing bytes; the ones whose shape
differs between protocol versions take ``proto`` (2 or 3): a map is a flat
array in RESP2, a double a bulk string, a boolean an integer, a null ``$-1``.

The parser contract (STYLE.md 5): incomplete input -> ``NEED_DATA``; complete
-> a value; bad input -> ``ProtocolError`` whose ``reply`` is what Redis would
answer (``-ERR Protocol error: ...``) before closing the connection. Nothing
else escapes; tests/test_resp_codec.py fuzzes that with Hypothesis.

What Redis does differently: it parses in C into a reusable query buffer and
answers protocol errors with the same wording; we mirror the wording and the
limits, not the memory layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

# --- limits (each a named constant with where its value comes from) -----------

# Largest bulk string accepted: Redis's ``proto-max-bulk-len`` default (512 MB).
MAX_BULK_LEN: Final = 512 * 1024 * 1024
# Most elements in one multibulk request: Redis rejects counts above 1024*1024
# ("invalid multibulk length") so one header line cannot make it reserve a huge array.
MAX_MULTIBULK_LEN: Final = 1024 * 1024
# Longest inline command line, and longest header line (``*N`` / ``$N``) we wait
# for: Redis's PROTO_INLINE_MAX_SIZE (64 KiB). Past it without a newline the
# peer is not speaking RESP (or is attacking the buffer).
MAX_INLINE_LEN: Final = 64 * 1024
# Elements in one aggregate reply a client accepts (ReplyParser): generous,
# replies like LRANGE of a big list are legitimate, but a header claiming 2**62
# elements must not be believed. 2**31 as hiredis/Redis use for aggregate sizes.
MAX_AGGREGATE_LEN: Final = 2**31 - 1

CRLF: Final = b"\r\n"


class _NeedData:
    """The sentinel type: more bytes are needed before anything can be returned."""

    _instance: _NeedData | None = None

    def __new__(cls) -> _NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __bool__(self) -> bool:
        return False


NEED_DATA: Final = _NeedData()


class ProtocolError(Exception):
    """The peer broke RESP; ``reply`` is what to send before closing the connection."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.reply = b"-ERR Protocol error: " + message.encode() + CRLF


# --- value types the client side decodes into ---------------------------------


class SimpleString(str):
    """A ``+...`` status reply (``+OK``, ``+PONG``), distinct from a bulk string."""

    __slots__ = ()


class ReplyError(Exception):
    """A ``-ERR ...`` (or RESP3 ``!``) reply: returned by the parser, not raised."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        """The error's first word: ERR, WRONGTYPE, MOVED, OOM, ..."""
        return self.message.split(" ", 1)[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReplyError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


class Verbatim(str):
    """A RESP3 verbatim string (``=``) with its three-letter format (``txt``, ``mkd``)."""

    fmt: str  # not ``format``: that would shadow str.format

    def __new__(cls, text: str, fmt: str = "txt") -> Verbatim:
        self = super().__new__(cls, text)
        self.fmt = fmt
        return self


class Push(list):  # type: ignore[type-arg]
    """A RESP3 out-of-band push (``>``): pub/sub messages, invalidations."""


class RespSet(list):  # type: ignore[type-arg]
    """A RESP3 set whose members are unhashable (e.g. arrays): kept as a list."""


class Attributed:
    """Wraps a value that came with a RESP3 attribute frame (``|``)."""

    __slots__ = ("value", "attributes")

    def __init__(self, value: Any, attributes: dict[Any, Any]) -> None:
        self.value = value
        self.attributes = attributes

    def __repr__(self) -> str:
        return f"Attributed({self.value!r}, {self.attributes!r})"


# --- helpers -------------------------------------------------------------------


def _header_int(s: bytes, what: str) -> int:
    """A strict decimal like Redis's string2ll: optional '-', digits, nothing else."""
    body = s[1:] if s[:1] == b"-" else s
    if not body.isdigit() or len(body) > 18:
        raise ProtocolError(f"invalid {what}")
    return int(s)


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \t\n\r\x0b\x0c\x00"


def split_inline(line: bytes) -> list[bytes]:
    """Split one inline command line the way Redis's sdssplitargs does.

    Tokens are separated by whitespace; ``"..."`` accepts \\n \\r \\t \\b \\a \\xHH
    and \\<char>; ``'...'`` accepts only \\'. A closing quote must be followed by
    whitespace or the end. Unbalanced quotes raise ProtocolError.
    """
    if b'"' not in line and b"'" not in line:
        return line.split()
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        tok, i = _inline_token(line, i)
        args.append(tok)


def _inline_token(line: bytes, i: int) -> tuple[bytes, int]:
    out = bytearray()
    n = len(line)
    while i < n and line[i] not in _SPACE:
        c = line[i]
        if c == 34:  # "
            i = _double_quoted(line, i + 1, out)
        elif c == 39:  # '
            i = _single_quoted(line, i + 1, out)
        else:
            out.append(c)
            i += 1
    return bytes(out), i


def _close_quote(line: bytes, i: int) -> int:
    if i + 1 < len(line) and line[i + 1] not in _SPACE:
        raise ProtocolError("unbalanced quotes in request")
    return i + 1


def _double_quoted(line: bytes, i: int, out: bytearray) -> int:
    n = len(line)
    while i < n:
        c = line[i]
        if (
            c == 92
            and i + 3 < n
            and line[i + 1] == 120
            and line[i + 2] in _HEX
            and line[i + 3] in _HEX
        ):
            out.append(int(line[i + 2 : i + 4], 16))  # \xHH
            i += 4
        elif c == 92 and i + 1 < n:
            out.append(_ESCAPES.get(line[i + 1], line[i + 1]))
            i += 2
        elif c == 34:
            return _close_quote(line, i)
        else:
            out.append(c)
            i += 1
    raise ProtocolError("unbalanced quotes in request")


def _single_quoted(line: bytes, i: int, out: bytearray) -> int:
    n = len(line)
    while i < n:
        c = line[i]
        if c == 92 and i + 1 < n and line[i + 1] == 39:
            out.append(39)
            i += 2
        elif c == 39:
            return _close_quote(line, i)
        else:
            out.append(c)
            i += 1
    raise ProtocolError("unbalanced quotes in request")


# --- server role: requests -----------------------------------------------------

# The split fast path recognises canonical headers by table lookup: "*1".."*1023"
# and "$0".."$1023" (bigger commands and values take the general parser, where
# the per-token cost is small next to the bytes).
SPLIT_MAX = 1024
_SPLIT_COUNTS: Final = {b"*%d" % n: n for n in range(1, SPLIT_MAX)}
_SPLIT_HEADERS: Final = [b"$%d" % n for n in range(SPLIT_MAX)]


class RequestParser:
    """Bytes from a client -> commands (each a ``list[bytes]``), pipelining included.

    Call ``feed(data)`` with what arrived, then ``commands()`` for every complete
    command buffered (or ``next_command()`` for one). When a protocol error
    follows complete commands, those are returned first and the error is raised
    by the next call (``failed`` tells whether one is pending), so the server
    answers what came before the garbage, as Redis does.
    """

    __slots__ = ("_buf", "_chunks", "_have", "_need", "_args", "_remaining", "_ready", "error")

    def __init__(self) -> None:
        self._buf = b""  # starts at the first unconsumed byte
        self._chunks: list[bytes] = []  # arrived but not yet joined into _buf
        self._have = 0  # len(_buf) + bytes in _chunks
        self._need = 0  # total buffered bytes before parsing can progress
        self._args: list[bytes] | None = None  # the half-received multibulk command
        self._remaining = 0  # bulks it still misses
        self._ready: list[list[bytes]] = []  # parsed, not yet taken (next_command)
        self.error: ProtocolError | None = None  # pending: raised by the next call

    @property
    def failed(self) -> bool:
        """True when a protocol error is waiting to be raised by the next call."""
        return self.error is not None

    def feed(self, data: bytes) -> None:
        if self.error is not None or not data:
            return
        if not self._have:
            self._buf = bytes(data)
        else:
            self._chunks.append(bytes(data))
        self._have += len(data)

    def buffered(self) -> int:
        """Bytes received but not yet part of a returned command."""
        return self._have

    def next_command(self) -> list[bytes] | _NeedData:
        if not self._ready:
            self._ready = self.commands()
            self._ready.reverse()
            if not self._ready:
                return NEED_DATA
        return self._ready.pop()

    def commands(self) -> list[list[bytes]]:
        """Every complete command buffered, in order (possibly none)."""
        if self._ready:
            out = self._ready[::-1]
            self._ready = []
            try:
                return out + self._parse_all()
            except ProtocolError:
                return out  # the error stays pending for the next call
        return self._parse_all()

    def _parse_all(self) -> list[list[bytes]]:
        out: list[list[bytes]] = []
        if self.error is not None:
            raise self.error
        if self._have < self._need or not self._have:
            return out
        if self._chunks:
            self._buf = b"".join([self._buf, *self._chunks])
            self._chunks = []
        try:
            if self._args is None and self._buf[0] == 42:  # '*': try the split fast path
                self._parse_split(out)
            if self._buf:
                self._parse(out)
        except ProtocolError as e:
            self.error = e
            self._buf, self._have = b"", 0
            if not out:
                raise
        return out

    def _parse_split(self, out: list[list[bytes]]) -> None:
        """The hot path: split the buffer on CRLF once and take whole commands from the parts.

        A command is taken only when it is plainly well-formed: every header
        equals what ``encode_command`` would write for its value (so values
        containing CRLF, odd headers and incomplete commands are left to the
        general parser, which also produces the errors). This turns per-token
        ``find``/``int`` calls into one C-level split plus list comparisons.
        """
        parts = self._buf.split(b"\r\n")
        last = len(parts) - 1  # parts[last] is the unterminated tail (often b"")
        i = 0
        append = out.append
        counts, header = _SPLIT_COUNTS, _SPLIT_HEADERS.__getitem__
        while i < last:
            count = counts.get(parts[i])
            if count is None:
                break  # not a small canonical "*N": the general parser decides
            end = i + 1 + 2 * count
            if end > last:
                break  # incomplete
            args = parts[i + 2 : end : 2]
            try:
                if list(map(header, map(len, args))) != parts[i + 1 : end : 2]:
                    break
            except IndexError:
                break  # a value of SPLIT_MAX bytes or more: the general parser takes it
            append(args)
            i = end
        if i:
            self._buf = b"\r\n".join(parts[i:])
            self._have = len(self._buf)

    def _parse(self, out: list[list[bytes]]) -> None:
        buf = self._buf
        n = len(buf)
        pos = 0
        args = self._args
        remaining = self._remaining
        need = 0
        while True:
            if args is None:
                if pos >= n:
                    break
                if buf[pos] != 42:  # not '*': an inline command
                    nxt, cmd = self._inline(buf, pos, n)
                    if nxt < 0:
                        need = n + 1
                        break
                    pos = nxt
                    if cmd:
                        out.append(cmd)
                    continue
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    if n - pos > MAX_INLINE_LEN:
                        raise ProtocolError("too big mbulk count string")
                    need = n + 1
                    break
                count = _header_int(buf[pos + 1 : nl], "multibulk length")
                if count > MAX_MULTIBULK_LEN:
                    raise ProtocolError("invalid multibulk length")
                pos = nl + 2
                if count <= 0:
                    continue  # "*0" / "*-1": an empty command, ignored like Redis
                args, remaining = [], count
            # the bulks of the current command
            while remaining:
                if pos >= n:
                    need = n + 1
                    break
                if buf[pos] != 36:  # '$'
                    raise ProtocolError(f"expected '$', got '{chr(buf[pos])}'")
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    if n - pos > MAX_INLINE_LEN:
                        raise ProtocolError("too big bulk count string")
                    need = n + 1
                    break
                size = _header_int(buf[pos + 1 : nl], "bulk length")
                if size < 0 or size > MAX_BULK_LEN:
                    raise ProtocolError("invalid bulk length")
                end = nl + 2 + size
                if end + 2 > n:
                    need = end + 2
                    break
                if buf[end : end + 2] != b"\r\n":
                    raise ProtocolError("expected CRLF after bulk string")
                args.append(buf[nl + 2 : end])
                pos = end + 2
                remaining -= 1
            if remaining:
                break
            out.append(args)
            args = None
        self._args, self._remaining = args, remaining
        self._buf = buf[pos:] if pos < n else b""
        self._have = n - pos
        self._need = need - pos if need else 0

    @staticmethod
    def _inline(buf: bytes, pos: int, n: int) -> tuple[int, list[bytes]]:
        """One inline line from ``pos``; returns (-1, []) when the line is incomplete."""
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if n - pos > MAX_INLINE_LEN:
                raise ProtocolError("too big inline request")
            return -1, []
        if nl - pos > MAX_INLINE_LEN:
            raise ProtocolError("too big inline request")
        end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
        return nl + 1, split_inline(buf[pos:end])


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


# --- encoding --------------------------------------------------------------------

OK: Final = b"+OK\r\n"
PONG: Final = b"+PONG\r\n"
QUEUED: Final = b"+QUEUED\r\n"
NULL_BULK: Final = b"$-1\r\n"  # RESP2 null (bulk)
NULL_ARRAY: Final = b"*-1\r\n"  # RESP2 null (array): BLPOP timeout, ...
NULL3: Final = b"_\r\n"  # RESP3 null
EMPTY_ARRAY: Final = b"*0\r\n"
EMPTY_BULK: Final = b"$0\r\n\r\n"
ZERO: Final = b":0\r\n"
ONE: Final = b":1\r\n"
# Small integers are answered from a table: INCR, LPUSH, DEL, EXISTS replies.
_SMALL_INTS: Final = [b":%d\r\n" % i for i in range(-1, 10_000)]


def _b(x: bytes | str | int | float) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode()
    if isinstance(x, bool):
        return b"1" if x else b"0"
    if isinstance(x, int):
        return b"%d" % x
    if isinstance(x, float):
        return format_double(x).encode()
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"cannot send {type(x).__name__} as a RESP argument")


def encode_command(*args: bytes | str | int | float) -> bytes:
    """A client request: a multibulk array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = _b(a)
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def format_double(x: float) -> str:
    """A double as Redis writes it: shortest round-trip form, inf/-inf/nan spelled out."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        return "nan"
    if x.is_integer() and abs(x) < 1e17:
        return str(int(x))
    return repr(x)


def simple(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return b"+" + b + CRLF


def error(msg: str | bytes, code: str = "ERR") -> bytes:
    """``-CODE MSG\\r\\n`` (CODE defaults to Redis's generic ``ERR``); CR/LF become spaces."""
    b = msg.encode() if isinstance(msg, str) else msg
    b = b.replace(b"\r", b" ").replace(b"\n", b" ")
    return b"-" + code.encode() + b" " + b + CRLF


def integer(n: int) -> bytes:
    if -1 <= n < 10_000:
        return _SMALL_INTS[n + 1]
    return b":%d\r\n" % n


def bulk(b: bytes | None, proto: int = 2) -> bytes:
    if b is None:
        return NULL3 if proto == 3 else NULL_BULK
    return b"$%d\r\n%s\r\n" % (len(b), b)


def null(proto: int = 2) -> bytes:
    return NULL3 if proto == 3 else NULL_BULK


def null_array(proto: int = 2) -> bytes:
    return NULL3 if proto == 3 else NULL_ARRAY


def bulks(items: Iterable[bytes | None], proto: int = 2) -> bytes:
    """An array of bulk strings (or nulls): the most common aggregate reply."""
    items = list(items)
    parts = [b"*%d\r\n" % len(items)]
    nil = NULL3 if proto == 3 else NULL_BULK
    for b in items:
        parts.append(nil if b is None else b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def array(items: Iterable[Any], proto: int = 2) -> bytes:
    """An array of Python values, each encoded with ``encode_reply``."""
    items = list(items)
    return b"*%d\r\n" % len(items) + b"".join(encode_reply(v, proto) for v in items)


def push(items: Iterable[Any], proto: int = 2) -> bytes:
    """An out-of-band push in RESP3; a plain array in RESP2 (subscribe mode)."""
    items = list(items)
    head = b">%d\r\n" if proto == 3 else b"*%d\r\n"
    return head % len(items) + b"".join(encode_reply(v, proto) for v in items)


def map_(d: Mapping[Any, Any] | Iterable[tuple[Any, Any]], proto: int = 2) -> bytes:
    """A RESP3 map; in RESP2 the flat array key1, value1, key2, value2, ..."""
    pairs = list(d.items()) if isinstance(d, Mapping) else list(d)
    head = b"%%%d\r\n" % len(pairs) if proto == 3 else b"*%d\r\n" % (2 * len(pairs))
    body = b"".join(encode_reply(k, proto) + encode_reply(v, proto) for k, v in pairs)
    return head + body


def set_(items: Iterable[Any], proto: int = 2) -> bytes:
    items = list(items)
    head = b"~%d\r\n" if proto == 3 else b"*%d\r\n"
    return head % len(items) + b"".join(encode_reply(v, proto) for v in items)


def double(x: float, proto: int = 2) -> bytes:
    s = format_double(x).encode()
    if proto == 3:
        return b"," + s + CRLF
    return b"$%d\r\n%s\r\n" % (len(s), s)


def boolean(b: bool, proto: int = 2) -> bytes:
    if proto == 3:
        return b"#t\r\n" if b else b"#f\r\n"
    return ONE if b else ZERO


def verbatim(text: str, proto: int = 2, fmt: str = "txt") -> bytes:
    data = text.encode("utf-8", "surrogateescape")
    if proto == 3:
        body = fmt.encode() + b":" + data
        return b"=%d\r\n%s\r\n" % (len(body), body)
    return bulk(data)


def big_number(n: int, proto: int = 2) -> bytes:
    if proto == 3:
        return b"(%d\r\n" % n
    return bulk(b"%d" % n)


def encode_reply(value: Any, proto: int = 2) -> bytes:
    """Any Python value as a reply; the inverse of ReplyParser (bytes for bulks)."""
    if value is None:
        return null(proto)
    if isinstance(value, bytes):
        return bulk(value)
    if isinstance(value, bool):
        return boolean(value, proto)
    if isinstance(value, int):
        return integer(value)
    if isinstance(value, float):
        return double(value, proto)
    if isinstance(value, SimpleString):
        return simple(value.encode("utf-8", "surrogateescape"))
    if isinstance(value, ReplyError):
        return b"-" + value.message.encode().replace(b"\r\n", b" ") + CRLF
    if isinstance(value, Verbatim):
        return verbatim(value, proto, value.fmt)
    if isinstance(value, str):
        return bulk(value.encode("utf-8", "surrogateescape"))
    return _encode_aggregate(value, proto)


def _encode_aggregate(value: Any, proto: int) -> bytes:
    if isinstance(value, Push):
        return push(value, proto)
    if isinstance(value, RespSet | set | frozenset):
        return set_(value, proto)
    if isinstance(value, list | tuple):
        return array(value, proto)
    if isinstance(value, Mapping):
        return map_(value, proto)
    if isinstance(value, Attributed):
        attrs = value.attributes
        head = b"|%d\r\n" % len(attrs) if proto == 3 else b""
        if proto == 3:
            head += b"".join(encode_reply(k, 3) + encode_reply(v, 3) for k, v in attrs.items())
        return head + encode_reply(value.value, proto)
    if isinstance(value, bytearray | memoryview):
        return bulk(bytes(value))
    raise TypeError(f"cannot encode {type(value).__name__} as RESP")
