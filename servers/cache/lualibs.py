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


SPARSE_RATIO, SPARSE_SAFE = 2, 10  # lua-cjson's encode_sparse_array defaults


def _array_len(t: Any) -> int | None:
    """lua-cjson's rule: a table whose keys are all integers >= 1 is an array up to its
    largest key (holes encode as null), unless it is excessively sparse (largest key over
    twice the count and over 10: an error, as cjson's default); anything else is None."""
    top = items = 0
    for k in t.keys():
        if type(k) is int or (type(k) is float and k.is_integer()):
            if k < 1:
                return None
            top = max(top, int(k))
            items += 1
        else:
            return None
    if top > items * SPARSE_RATIO and top > SPARSE_SAFE:
        raise LibError("Cannot serialise table: excessively sparse array")
    return top


def _dense_len(t: Any) -> int | None:
    """lua-cmsgpack's rule: n if the keys are exactly 1..n (a hole makes it a map)."""
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


class JsonConfig:
    """lua-cjson's per-state settings (``cjson.encode_max_depth(n)`` and friends)."""

    def __init__(self) -> None:
        self.encode_max_depth = MAX_DEPTH
        self.decode_max_depth = MAX_DEPTH
        self.encode_invalid_numbers: bool | str = False

    def functions(self) -> dict[str, Callable[..., Any]]:
        def setter(attr: str) -> Callable[..., Any]:
            def f(value: Any = None, *_: Any) -> Any:
                if value is not None:
                    if attr == "encode_invalid_numbers":
                        setattr(self, attr, value if isinstance(value, bool) else "null")
                    else:
                        if not isinstance(value, (int, float)) or value < 1:
                            raise LibError(f"bad argument #1 to '{attr}' (expected integer >= 1)")
                        setattr(self, attr, int(value))
                return getattr(self, attr)

            return f

        return {
            "encode_max_depth": setter("encode_max_depth"),
            "decode_max_depth": setter("decode_max_depth"),
            "encode_invalid_numbers": setter("encode_invalid_numbers"),
            "encode_keep_buffer": lambda *_: True,  # buffer reuse: nothing to configure here
            "encode_sparse_array": lambda *_: (False, 2, 10),
            "decode_invalid_numbers": lambda *_: True,
            "encode_number_precision": lambda *_: 14,
        }


def _fmt_number(x: float | int, cfg: JsonConfig) -> str:
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            if cfg.encode_invalid_numbers is False:
                raise LibError("Cannot serialise number: must not be NaN or Inf")
            if cfg.encode_invalid_numbers == "null":
                return "null"
            return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.14g}"
    return str(x)


def _json_str(b: bytes) -> str:
    s = json.dumps(b.decode("utf-8", "surrogateescape"), ensure_ascii=False)
    return s.replace("/", "\\/")


def json_encode(cfg: JsonConfig, null: Any, v: Any, depth: int = 0) -> str:
    if v is None or v is null:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return _fmt_number(v, cfg)
    if isinstance(v, bytes):
        return _json_str(v)
    if lua_kind(v) == "table":
        if depth + 1 > cfg.encode_max_depth:
            raise LibError(f"Cannot serialise, excessive nesting ({depth + 1})")
        n = _array_len(v)
        if n is not None and n > 0:
            items = (json_encode(cfg, null, v[i], depth + 1) for i in range(1, n + 1))
            return "[" + ",".join(items) + "]"
        parts = []
        for k, item in v.items():
            if isinstance(k, (int, float)) and not isinstance(k, bool):
                key = _fmt_number(k, cfg)
            elif isinstance(k, bytes):
                key = k.decode("utf-8", "surrogateescape")
            else:
                raise LibError("Cannot serialise table: table key must be a number or string")
            parts.append(_json_str(key.encode("utf-8", "surrogateescape")) + ":"
                         + json_encode(cfg, null, item, depth + 1))  # fmt: skip
        return "{" + ",".join(parts) + "}"
    raise LibError(f"Cannot serialise {lua_kind(v)}: type not supported")


def _depth(v: Any) -> int:
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    return 0


def json_decode(cfg: JsonConfig, lua: Any, null: Any, text: bytes) -> Any:
    try:
        value = json.loads(text.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError) as e:
        raise LibError(f"Expected value but found invalid token ({e})") from None
    if _depth(value) > cfg.decode_max_depth:
        raise LibError(f"Found too many nested data structures ({cfg.decode_max_depth + 1})")
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
    if v is None:
        return None
    if isinstance(v, float):
        return int(v) if v.is_integer() and abs(v) < 2**63 else v
    if isinstance(v, (bool, int, bytes)):
        return v
    if lua_kind(v) == "table":
        if depth >= 16:  # lua-cmsgpack packs tables 16 levels down as nil (no cycles)
            return None
        n = _dense_len(v)
        if n is not None:  # {} too: lua-cmsgpack packs it as an empty array
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


def msgpack_unpack_limit(lua: Any, data: bytes, limit: Any = 0, offset: Any = 0) -> tuple[Any, ...]:
    """cmsgpack.unpack_limit(s, limit, offset): (next offset or -1, up to ``limit`` objects)."""
    start = int(offset or 0)
    if start < 0 or start > len(data):
        raise LibError("Start offset greater than input length")
    limit = int(limit or 0)
    unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
    unpacker.feed(data[start:])
    out: list[Any] = []
    try:
        while limit <= 0 or len(out) < limit:
            try:
                out.append(to_lua(lua, unpacker.unpack(), None))
            except msgpack.OutOfData:
                break
    except (ValueError, msgpack.ExtraData) as e:
        raise LibError(f"Bad data format in input ({e})") from None
    used = start + unpacker.tell()
    return (used if used < len(data) else -1, *out)


def msgpack_unpack_one(lua: Any, data: bytes, offset: Any = 0) -> tuple[Any, ...]:
    return msgpack_unpack_limit(lua, data, 1, offset)


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
