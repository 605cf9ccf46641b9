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
a million deep runs as in Redis. Followed (``_Proto._is_api``): a local holding the
API (``local f = redis.call; return f(...)``), an upvalue that held it where the
closure was made (``local function g() return f('x') end``), a field of a table built
in the same function (``{c = redis.call}``). Not seen (the position is lost, as the
suffix): a table built elsewhere, a metatable, a value chosen at run time.
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
OP_MOVE, OP_LOADK, OP_GETUPVAL, OP_GETGLOBAL, OP_GETTABLE = 0, 1, 4, 5, 6
OP_SETTABLE, OP_NEWTABLE, OP_SELF, OP_CALL, OP_TAILCALL, OP_CLOSURE = 9, 10, 11, 28, 29, 36
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
    main, end = _read(out, len(HEADER))
    if end != len(out):
        raise BadChunk(f"{len(out) - end} bytes after the main function")
    main.patch(out, frozenset())
    return bytes(out)


class _Proto:
    """One function of the chunk: its code (and where it is), constants, and functions."""

    def __init__(self, nups: int, code_at: int, code: list[int], consts: list[object]) -> None:
        self.nups, self.code_at, self.code, self.consts = nups, code_at, code, consts
        self.protos: list[_Proto] = []
        self.pseudo: set[int] = set()  # the MOVE/GETUPVAL lines after a CLOSURE: not writes
        self.api_upvalues: frozenset[int] = frozenset()

    def patch(self, b: bytearray, api_upvalues: frozenset[int]) -> None:
        """Make the API's tail calls plain, here and in the functions defined here (their
        upvalues holding the API known from the CLOSURE that makes them)."""
        self.api_upvalues = api_upvalues
        code = self.code
        closures: list[tuple[int, int]] = []
        for pc, ins in enumerate(code):
            if ins & 0x3F == OP_CLOSURE:
                child = self.protos[ins >> 14]
                self.pseudo.update(range(pc + 1, pc + 1 + child.nups))
                closures.append((pc, ins >> 14))
        for pc, ins in enumerate(code):
            if ins & 0x3F == OP_TAILCALL and pc not in self.pseudo:
                if self._is_api(pc, (ins >> 6) & 0xFF):
                    _INSN.pack_into(b, self.code_at + 4 * pc, (ins & ~0x3F) | OP_CALL)
        given: dict[int, frozenset[int]] = {}
        for pc, k in closures:  # each upvalue: a register here (MOVE) or our upvalue (GETUPVAL)
            api = set()
            for u in range(self.protos[k].nups):
                w = code[pc + 1 + u]
                source = (w >> 23) & 0x1FF
                if (w & 0x3F == OP_MOVE and self._is_api(pc, source)) or (
                    w & 0x3F == OP_GETUPVAL and source in api_upvalues
                ):
                    api.add(u)
            given[k] = frozenset(api)
        for k, child in enumerate(self.protos):
            child.patch(b, given.get(k, frozenset()))

    def _is_api(self, pc: int, reg: int) -> bool:
        """Whether register ``reg`` holds one of the API's Lua wrappers at ``pc``, as far as
        its writers in this function tell: ``redis.call`` (GETTABLE/SELF of a KEYS field
        from a LIBS global), through locals (MOVE: ``local f = redis.call``), an upvalue
        (GETUPVAL) that held it where the function was made, or a field of a table built
        here (``local t = {c = redis.call}; t.c``: its last SETTABLE of that key). Each
        step looks further back in the code, so it ends."""
        code = self.code
        g = self._writer(pc, reg)
        if g < 0:
            return False
        w = code[g]
        op = w & 0x3F
        if op == OP_MOVE:
            return self._is_api(g, (w >> 23) & 0x1FF)
        if op == OP_GETUPVAL:
            return (w >> 23) & 0x1FF in self.api_upvalues
        if op not in (OP_GETTABLE, OP_SELF):
            return False
        key = self._const(g, (w >> 14) & 0x1FF, OP_LOADK)
        table = (w >> 23) & 0x1FF
        if self._const(g, table, OP_GETGLOBAL) in LIBS:
            return key in KEYS
        built = self._writer(g, table)
        if key is None or built < 0 or code[built] & 0x3F != OP_NEWTABLE:
            return False
        for s in range(g - 1, built, -1):  # the field's last store before the read
            st = code[s]
            if st & 0x3F != OP_SETTABLE or (st >> 6) & 0xFF != table or s in self.pseudo:
                continue
            if self._const(s, (st >> 23) & 0x1FF, OP_LOADK) != key:
                continue
            value = (st >> 14) & 0x1FF
            return value < BITRK and self._is_api(s, value)
        return False

    def _writer(self, pc: int, reg: int) -> int:
        """The last instruction before ``pc`` that wrote register ``reg`` (-1: none)."""
        code, pseudo = self.code, self.pseudo
        for back in range(pc - 1, -1, -1):
            w = code[back]
            if w & 0x3F in _WRITES_A and (w >> 6) & 0xFF == reg and back not in pseudo:
                return back
        return -1

    def _const(self, pc: int, rk: int, op: int) -> object:
        """The constant an operand of the instruction at ``pc`` holds: an RK constant, or a
        register last filled by ``op`` (LOADK: a key past the 256 RK constants; GETGLOBAL:
        the table, so that a user's own table with a ``call`` field keeps its tail calls)."""
        if rk >= BITRK:
            return self.consts[rk - BITRK] if op == OP_LOADK else None
        w = self._writer(pc, rk)
        code = self.code
        return self.consts[code[w] >> 14] if w >= 0 and code[w] & 0x3F == op else None


def _string(b: bytearray, i: int) -> tuple[bytes | None, int]:
    (n,) = _SIZE.unpack_from(b, i)
    i += 8
    if n == 0:
        return None, i
    return bytes(b[i : i + n - 1]), i + n  # stored with its NUL


def _int(b: bytearray, i: int) -> tuple[int, int]:
    return _INT.unpack_from(b, i)[0], i + 4


def _read(b: bytearray, i: int) -> tuple[_Proto, int]:
    """The function at ``i`` and where it ends."""
    _, i = _string(b, i)  # source
    nups = b[i + 8]
    i += 4 + 4 + 4  # linedefined, lastlinedefined, nups/numparams/is_vararg/maxstacksize
    ncode, i = _int(b, i)
    code_at = i
    code = [_INSN.unpack_from(b, code_at + 4 * k)[0] for k in range(ncode)]
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
    fn = _Proto(nups, code_at, code, consts)
    nprotos, i = _int(b, i)
    for _ in range(nprotos):
        child, i = _read(b, i)
        fn.protos.append(child)
    n, i = _int(b, i)  # lineinfo
    i += 4 * n
    n, i = _int(b, i)  # locvars
    for _ in range(n):
        _, i = _string(b, i)
        i += 8
    n, i = _int(b, i)  # upvalue names
    for _ in range(n):
        _, i = _string(b, i)
    return fn, i
