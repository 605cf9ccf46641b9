"""RESP encoding, sans-IO: Python values and commands -> bytes, RESP2 or RESP3.

Small functions, one per wire type; those whose shape differs between
versions take ``proto`` (a map is a flat array in RESP2, a double a bulk
string, a boolean an integer, a null ``$-1``). Common replies are constants.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._types import CRLF, Attributed, Push, ReplyError, RespSet, SimpleString, Verbatim

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
    b = msg.encode("utf-8", "surrogateescape") if isinstance(msg, str) else msg  # bytes kept
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
