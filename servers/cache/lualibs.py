"""The libraries Redis links into its Lua: ``cjson``, ``cmsgpack`` and ``bit``, in Python.

Redis compiles lua-cjson, lua-cmsgpack and LuaBitOp into its interpreter as
C modules. lupa's bundled Lua 5.1 cannot load C modules built elsewhere, so
these are written here against Python's ``json`` and ``msgpack`` and handed to
Lua as functions (``scripting.Engine`` wraps them in read-only tables).
What they do follows the C libraries where scripts can see it:

* ``cjson.encode``: a table whose keys are exactly 1..n is an array, any
  other non-empty table an object (integer keys become strings), an empty
  table ``{}``; numbers print with ``%.14g`` as lua-cjson does; ``/`` is
  escaped as ``\\/``; ``cjson.null`` encodes ``null``. Nesting past 1000
  levels is refused ("Cannot serialise, excessive nesting"). ``decode``
  gives tables, Lua numbers and ``cjson.null``.
* ``cmsgpack.pack(v, ...)`` packs each argument (an array-like table as an
  array, others as maps, integral numbers as integers, others as doubles,
  strings as raw); ``unpack`` returns every object in the buffer.
* ``bit``: LuaBitOp's 32-bit operations (tobit, tohex, bnot, band, bor, bxor,
  lshift, rshift, arshift, rol, ror, bswap).

Missing: Redis's ``struct`` library and cjson's configuration functions
(``encode_keep_buffer``, ``encode_max_depth``, ...).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import lupa.lua51 as lua51
import msgpack

MAX_DEPTH = 1000  # lua-cjson's default encode/decode nesting limit


class LibError(Exception):
    """Raised in a library function; the Lua wrapper turns it into ``error(message)``."""


def lua_kind(v: Any) -> str | None:
    return lua51.lua_type(v)


def _array_len(t: Any) -> int | None:
    """n if the table's keys are exactly 1..n, else None."""
    n = 0
    for k in t.keys():
        if type(k) is int or (type(k) is float and k.is_integer()):
            if k < 1:
                return None
            n += 1
        else:
            return None
    for i in range(1, n + 1):
        if t[i] is None:
            return None
    return n


def _fmt_number(x: float | int) -> str:
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            raise LibError("Cannot serialise number: must not be NaN or Inf")
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.14g}"
    return str(x)


def _json_str(b: bytes) -> str:
    s = json.dumps(b.decode("utf-8", "surrogateescape"), ensure_ascii=False)
    return s.replace("/", "\\/")


def json_encode(null: Any, v: Any, depth: int = 0) -> str:
    if depth > MAX_DEPTH:
        raise LibError("Cannot serialise, excessive nesting (1001)")
    if v is None or v is null:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return _fmt_number(v)
    if isinstance(v, bytes):
        return _json_str(v)
    if lua_kind(v) == "table":
        n = _array_len(v)
        if n is not None and n > 0:
            return "[" + ",".join(json_encode(null, v[i], depth + 1) for i in range(1, n + 1)) + "]"
        parts = []
        for k, item in v.items():
            if isinstance(k, (int, float)):
                key = _fmt_number(k)
            elif isinstance(k, bytes):
                key = k.decode("utf-8", "surrogateescape")
            else:
                raise LibError("Cannot serialise table: table key must be a number or string")
            parts.append(_json_str(key.encode("utf-8", "surrogateescape")) + ":"
                         + json_encode(null, item, depth + 1))  # fmt: skip
        return "{" + ",".join(parts) + "}"
    raise LibError(f"Cannot serialise {lua_kind(v)}: type not supported")


def json_decode(lua: Any, null: Any, text: bytes) -> Any:
    try:
        value = json.loads(text.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError) as e:
        raise LibError(f"Expected value but found invalid token at character 1 ({e})") from None
    return to_lua(lua, value, null)


def to_lua(lua: Any, v: Any, null: Any) -> Any:
    """A decoded JSON/msgpack value as a Lua value (tables built bottom-up)."""
    if v is None:
        return null
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    if isinstance(v, bool) or isinstance(v, bytes):
        return v
    if isinstance(v, int):
        return float(v) if abs(v) >= 2**53 else v
    if isinstance(v, float):
        return v
    if isinstance(v, (list, tuple)):
        return lua.table_from([to_lua(lua, x, null) for x in v])
    if isinstance(v, dict):
        t = lua.table()
        for k, x in v.items():
            t[to_lua(lua, k, null)] = to_lua(lua, x, null)
        return t
    return null


# -- cmsgpack ------------------------------------------------------------------------


def _to_msgpack(v: Any, depth: int = 0) -> Any:
    if v is None or depth > 16:  # lua-cmsgpack packs tables deeper than 16 levels as nil
        return None
    if isinstance(v, float):
        return int(v) if v.is_integer() and abs(v) < 2**63 else v
    if isinstance(v, (bool, int, bytes)):
        return v
    if lua_kind(v) == "table":
        n = _array_len(v)
        if n is not None and n > 0:
            return [_to_msgpack(v[i], depth + 1) for i in range(1, n + 1)]
        return {_to_msgpack(k, depth + 1): _to_msgpack(x, depth + 1) for k, x in v.items()}
    return None


def msgpack_pack(*values: Any) -> bytes:
    if not values:
        raise LibError("MessagePack pack needs input.")
    return b"".join(msgpack.packb(_to_msgpack(v), use_bin_type=False) for v in values)


def msgpack_unpack(lua: Any, data: bytes) -> tuple[Any, ...]:
    unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
    unpacker.feed(data)
    try:
        out = [to_lua(lua, v, None) for v in unpacker]
    except (ValueError, msgpack.ExtraData) as e:
        raise LibError(f"Bad data format in input ({e})") from None
    return tuple(out)


# -- bit (LuaBitOp) -------------------------------------------------------------------


def tobit(x: Any) -> int:
    if not isinstance(x, (int, float)):
        raise LibError("bad argument to bit operation (number expected)")
    n = int(math.floor(x + 0.5)) if isinstance(x, float) else x  # LuaBitOp rounds
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


def _u(x: Any) -> int:
    return tobit(x) & 0xFFFFFFFF


def tohex(x: Any, n: Any = 8) -> bytes:
    n = tobit(n)
    upper = n < 0
    n = min(abs(n), 8)  # LuaBitOp clamps; Redis's fix makes -2^31 mean 8 upper-case digits
    s = (f"{_u(x):08x}")[8 - n :] if n else ""
    return (s.upper() if upper else s).encode()


def bnot(x: Any) -> int:
    return tobit(~tobit(x))


def band(*xs: Any) -> int:
    r = -1
    for x in xs:
        r &= tobit(x)
    return tobit(r)


def bor(*xs: Any) -> int:
    r = 0
    for x in xs:
        r |= tobit(x)
    return tobit(r)


def bxor(*xs: Any) -> int:
    r = 0
    for x in xs:
        r ^= tobit(x)
    return tobit(r)


def lshift(x: Any, n: Any) -> int:
    return tobit(_u(x) << (tobit(n) & 31))


def rshift(x: Any, n: Any) -> int:
    return tobit(_u(x) >> (tobit(n) & 31))


def arshift(x: Any, n: Any) -> int:
    return tobit(tobit(x) >> (tobit(n) & 31))


def rol(x: Any, n: Any) -> int:
    n = tobit(n) & 31
    u = _u(x)
    return tobit((u << n) | (u >> (32 - n)))


def ror(x: Any, n: Any) -> int:
    n = tobit(n) & 31
    u = _u(x)
    return tobit((u >> n) | (u << (32 - n)))


def bswap(x: Any) -> int:
    return tobit(int.from_bytes(_u(x).to_bytes(4, "little"), "big"))


BIT: dict[str, Callable[..., Any]] = {
    "tobit": tobit, "tohex": tohex, "bnot": bnot, "band": band, "bor": bor, "bxor": bxor,
    "lshift": lshift, "rshift": rshift, "arshift": arshift, "rol": rol, "ror": ror,
    "bswap": bswap,
}  # fmt: skip
