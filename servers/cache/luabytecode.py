"""Lua 5.1 bytecode: ``untail`` turns ``return t.call(...)`` tail calls into plain calls.

Why. In Redis ``redis.call`` is a C function, and Lua 5.1 never drops a frame to
tail-call a C function: an error it raises is reported "on @user_script:N", N
the caller's line. Ours is a Lua function (lupa cannot pass a Python callable the
7999 arguments ``unpack`` may give, which Redis's own tests use), and a Lua tail
call replaces the caller's frame: the position would be lost. A compiled script
is dumped (``string.dump``), each ``TAILCALL`` whose function register was last
loaded by ``GETTABLE``/``SELF`` with the key ``call``, ``pcall`` or a library function
that is a Lua wrapper too (``KEYS``; a constant operand, or past 256 constants a
register ``LOADK`` filled) from a table a ``GETGLOBAL`` of ``redis``, ``cjson``,
``cmsgpack`` or ``bit`` loaded, becomes a ``CALL`` (C stays 0, all results, and the
``RETURN A 0`` after it returns them all: the same results), and the chunk is loaded
again. Nothing is inserted or moved, so line info and jumps stay valid. Other tail
calls keep Lua's semantics: a user's table with a ``call`` field recursing through it
a million deep runs as in Redis. Not seen (the position is lost, as the suffix): the
API reached through an upvalue (``local f = redis.call`` outside the function that
calls it), a table that was not built in the same function, or a metatable; a local
holding it (``local f = redis.call; return f(...)``) and a field of a table built there
(``{c = redis.call}``) are followed (``_is_api``).
The writer of a register is the last one before, in code order, not in control flow.

The format (lundump.c / ldump.c, for the 64-bit little-endian build lupa ships):
a 12-byte header, then a function: source (string), linedefined, lastlinedefined
(int), nups, numparams, is_vararg, maxstacksize (byte), code (int n, n 4-byte
instructions), constants (int n; per constant a type byte and nil: -, boolean:
byte, number: 8 bytes, string: string), protos (int n, n functions), debug
(lineinfo: int n + n ints; locvars: int n + n (string, int, int); upvalues: int
n + n strings). A string is a size_t length (0: none) and that many bytes.
"""

from __future__ import annotations

import struct

HEADER = b"\x1bLua\x51\x00\x01\x04\x08\x04\x08\x00"  # 5.1, official, LE, int 4, size_t 8, ...
OP_MOVE, OP_LOADK, OP_GETGLOBAL, OP_GETTABLE, OP_SETTABLE, OP_NEWTABLE = 0, 1, 5, 6, 9, 10
OP_SELF, OP_CALL, OP_TAILCALL = 11, 28, 29
BITRK = 1 << 8  # an RK operand at or above this is a constant index
# The functions of the sandbox that are Lua wrappers (redis.call/pcall; the cjson,
# cmsgpack and bit functions over Python: see lualibs.py), by their field names.
KEYS = frozenset(
    b"call pcall encode decode pack unpack unpack_one unpack_limit tobit tohex bnot band bor "
    b"bxor lshift rshift arshift rol ror bswap".split()
)
LIBS = frozenset((b"redis", b"cjson", b"cmsgpack", b"bit"))  # the globals holding them
_INT = struct.Struct("<i")
_SIZE = struct.Struct("<Q")
_INSN = struct.Struct("<I")
# Opcodes that write R(A) (lopcodes.c's testAMode), to find a register's last writer.
_WRITES_A = frozenset({0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                       27, 28, 29, 31, 32, 33, 36, 37})  # fmt: skip


class BadChunk(ValueError):
    """Not a chunk this module reads (another Lua version or build)."""


def untail(chunk: bytes) -> bytes:
    """The dumped chunk with its ``return x.call(...)`` tail calls made plain calls."""
    if not chunk.startswith(HEADER):
        raise BadChunk("not a 64-bit little-endian Lua 5.1 chunk")
    out = bytearray(chunk)
    end = _function(out, len(HEADER))
    if end != len(out):
        raise BadChunk(f"{len(out) - end} bytes after the main function")
    return bytes(out)


def _string(b: bytearray, i: int) -> tuple[bytes | None, int]:
    (n,) = _SIZE.unpack_from(b, i)
    i += 8
    if n == 0:
        return None, i
    return bytes(b[i : i + n - 1]), i + n  # stored with its NUL


def _int(b: bytearray, i: int) -> tuple[int, int]:
    return _INT.unpack_from(b, i)[0], i + 4


def _function(b: bytearray, i: int) -> int:
    _, i = _string(b, i)  # source
    i += 4 + 4 + 4  # linedefined, lastlinedefined, nups/numparams/is_vararg/maxstacksize
    ncode, i = _int(b, i)
    code_at = i
    i += 4 * ncode
    consts: list[object] = []
    nk, i = _int(b, i)
    for _ in range(nk):
        t = b[i]
        i += 1
        if t == 0:  # nil
            consts.append(None)
        elif t == 1:  # boolean
            consts.append(bool(b[i]))
            i += 1
        elif t == 3:  # number
            consts.append(None)
            i += 8
        elif t == 4:  # string
            s, i = _string(b, i)
            consts.append(s)
        else:
            raise BadChunk(f"constant of type {t}")
    _patch(b, code_at, ncode, consts)
    nprotos, i = _int(b, i)
    for _ in range(nprotos):
        i = _function(b, i)
    n, i = _int(b, i)  # lineinfo
    i += 4 * n
    n, i = _int(b, i)  # locvars
    for _ in range(n):
        _, i = _string(b, i)
        i += 8
    n, i = _int(b, i)  # upvalue names
    for _ in range(n):
        _, i = _string(b, i)
    return i


def _patch(b: bytearray, at: int, n: int, consts: list[object]) -> None:
    code = [_INSN.unpack_from(b, at + 4 * k)[0] for k in range(n)]
    for pc, ins in enumerate(code):
        if ins & 0x3F == OP_TAILCALL and _is_api(code, pc, (ins >> 6) & 0xFF, consts):
            _INSN.pack_into(b, at + 4 * pc, (ins & ~0x3F) | OP_CALL)


def _is_api(code: list[int], pc: int, reg: int, consts: list[object]) -> bool:
    """Whether register ``reg`` holds one of the API's Lua wrappers at ``pc``, as far as its
    writers in this function tell: ``redis.call`` (GETTABLE/SELF of a KEYS field from a
    LIBS global), through locals (MOVE: ``local f = redis.call``) or a field of a table
    built here (``local t = {c = redis.call}; t.c``: its last SETTABLE of that key).
    Each step looks further back in the code, so it ends."""
    g = _writer(code, pc, reg)
    if g < 0:
        return False
    w = code[g]
    op = w & 0x3F
    if op == OP_MOVE:
        return _is_api(code, g, (w >> 23) & 0x1FF, consts)
    if op not in (OP_GETTABLE, OP_SELF):
        return False
    key = _const(code, g, (w >> 14) & 0x1FF, OP_LOADK, consts)
    table = (w >> 23) & 0x1FF
    if _const(code, g, table, OP_GETGLOBAL, consts) in LIBS:
        return key in KEYS
    built = _writer(code, g, table)
    if key is None or built < 0 or code[built] & 0x3F != OP_NEWTABLE:
        return False
    for s in range(g - 1, built, -1):  # the field's last store before the read
        st = code[s]
        if st & 0x3F != OP_SETTABLE or (st >> 6) & 0xFF != table:
            continue
        if _const(code, s, (st >> 23) & 0x1FF, OP_LOADK, consts) != key:
            continue
        value = (st >> 14) & 0x1FF
        return value < BITRK and _is_api(code, s, value, consts)
    return False


def _writer(code: list[int], pc: int, reg: int) -> int:
    """The index of the last instruction before ``pc`` that wrote register ``reg`` (-1: none)."""
    for back in range(pc - 1, -1, -1):
        w = code[back]
        if w & 0x3F in _WRITES_A and (w >> 6) & 0xFF == reg:
            return back
    return -1


def _const(code: list[int], pc: int, rk: int, op: int, consts: list[object]) -> object:
    """The constant an operand of the instruction at ``pc`` holds: an RK constant, or a
    register last filled by ``op`` (LOADK: a key past the 256 RK constants; GETGLOBAL:
    the table, so that a user's own table with a ``call`` field keeps its tail calls)."""
    if rk >= BITRK:
        return consts[rk - BITRK] if op == OP_LOADK else None
    w = _writer(code, pc, rk)
    return consts[code[w] >> 14] if w >= 0 and code[w] & 0x3F == op else None
