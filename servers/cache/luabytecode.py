"""Lua 5.1 bytecode: ``untail`` turns ``return t.call(...)`` tail calls into plain calls.

Why. In Redis ``redis.call`` is a C function, and Lua 5.1 never drops a frame to
tail-call a C function: an error it raises is reported "on @user_script:N", N
the caller's line. Ours is a Lua function (lupa cannot pass a Python callable the
7999 arguments ``unpack`` may give, which Redis's own tests use), and a Lua tail
call replaces the caller's frame: the position would be lost. A compiled script
is dumped (``string.dump``), each ``TAILCALL`` whose function register was last
loaded by ``GETTABLE``/``SELF`` with a constant key in ``KEYS`` (``call``, ``pcall``,
the library functions that are Lua wrappers too) becomes
a ``CALL`` (C stays 0, all results, and the ``RETURN A 0`` after it returns them
all: the same results), and the chunk is loaded again. Nothing is inserted or
moved, so line info and jumps stay valid. Other tail calls keep Lua's semantics
(a user's own ``return t.pack(...)`` made plain costs a stack frame, nothing else).

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
OP_GETTABLE, OP_SELF, OP_CALL, OP_TAILCALL = 6, 11, 28, 29
BITRK = 1 << 8  # an RK operand at or above this is a constant index
# The functions of the sandbox that are Lua wrappers (redis.call/pcall; the cjson,
# cmsgpack and bit functions over Python: see lualibs.py), by their field names.
KEYS = frozenset(
    b"call pcall encode decode pack unpack unpack_one unpack_limit tobit tohex bnot band bor "
    b"bxor lshift rshift arshift rol ror bswap".split()
)
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
        if ins & 0x3F != OP_TAILCALL:
            continue
        a = (ins >> 6) & 0xFF
        for back in range(pc - 1, -1, -1):  # the last instruction that wrote R(A)
            w = code[back]
            op = w & 0x3F
            if op not in _WRITES_A or (w >> 6) & 0xFF != a:
                continue
            c = (w >> 14) & 0x1FF
            if op in (OP_GETTABLE, OP_SELF) and c >= BITRK and consts[c - BITRK] in KEYS:
                _INSN.pack_into(b, at + 4 * pc, (ins & ~0x3F) | OP_CALL)
            break
