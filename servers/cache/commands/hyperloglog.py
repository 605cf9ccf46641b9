"""HyperLogLog commands: PFADD, PFCOUNT (one key or the union of several), PFMERGE, PFDEBUG, PFSELFTEST.

An HLL is a string value in Redis's own format (``servers.cache.hll`` says
which), so GET, SET, APPEND, SETRANGE and TYPE ("string") see it as Redis
does, and a value copied between this cache and a redis-server in either
direction keeps counting. Every command first checks the string is an HLL
(WRONGTYPE "Key is not a valid HyperLogLog string value." if not; the
usual WRONGTYPE wording for a value that is no string) and
refuses registers that don't add up (INVALIDOBJ), the two errors Redis
gives. Writes keep the key's TTL: Redis changes the string in place.

PFCOUNT on one key is a write in disguise, as in Redis: when the cached
cardinality in the header is stale it computes it and stores it back.
"""

from __future__ import annotations

import random
from typing import Any

from netlib import resp

from .. import hll
from ..keyspace import KEY_OVERHEAD, WrongType
from ..table import REGISTRY, CommandError, command
from . import server as server_commands

G = "hyperloglog"


def _sparse_max(c: Any) -> int:
    return getattr(c.state, "hll_sparse_max_bytes", hll.SPARSE_MAX_BYTES)


def _set_sparse_max(st: Any, v: str) -> None:
    n = int(v)
    if n < 0:
        raise ValueError(v)
    st.hll_sparse_max_bytes = n


# CONFIG GET/SET hll-sparse-max-bytes (Redis's name), without touching server.py's tables' owners.
server_commands.GETTERS["hll-sparse-max-bytes"] = lambda st: str(
    getattr(st, "hll_sparse_max_bytes", hll.SPARSE_MAX_BYTES)
)
server_commands.SETTERS["hll-sparse-max-bytes"] = _set_sparse_max


def _lookup(c: Any, key: bytes, read: bool = True) -> bytes | None:
    """The HLL string at ``key`` (None if missing), or raise Redis's WRONGTYPE wording.

    A read lookup (hit or miss counted) by default: PFCOUNT's and PFMERGE's
    inputs; PFADD looks its key up for writing (not counted), as Redis does."""
    v = c.db.get(key) if read else c.db.get_for_write(key)
    if v is None:
        return None
    if type(v) is not bytes:  # not a string at all: checkType's own wording, as Redis
        raise WrongType()
    try:
        hll.check(v)
    except hll.Invalid:
        raise CommandError(hll.INVALID_HLL) from None
    return v  # type: ignore[no-any-return]


def _store(c: Any, key: bytes, value: bytes) -> None:
    c.db.put(key, value, KEY_OVERHEAD + len(key) + len(value), keep_ttl=True)


def _view(c: Any, value: bytes | None) -> hll.Hll:
    try:
        return hll.Hll(value, _sparse_max(c))
    except hll.Corrupted:
        raise CommandError(hll.CORRUPTED) from None


@command("PFADD", -2, "write denyoom fast", (1, 1, 1), G, "Add elements to a HyperLogLog")
def pfadd(c: Any, a: list[bytes]) -> bytes:
    key = a[1]
    old = _lookup(c, key, False)
    h = _view(c, old)
    try:
        changed = h.add(a[2:]) + (old is None)  # Redis: creation and each register changed
    except hll.Corrupted:
        raise CommandError(hll.CORRUPTED) from None
    if changed:
        _store(c, key, h.value())
        c.db.ks.dirty += changed - 1  # (put counted one)
    return resp.ONE if changed else resp.ZERO


@command("PFCOUNT", -2, "readonly may_replicate", (1, -1, 1), G, "The approximate distinct count")
def pfcount(c: Any, a: list[bytes]) -> bytes:
    try:
        if len(a) == 2:
            v = _lookup(c, a[1])
            if v is None:
                return resp.ZERO
            card = hll.cached_card(v)
            if card is None:
                card = hll.estimate(hll.registers(v))
                _store(c, a[1], hll.with_card(v, card))
            return resp.integer(card)
        values = [v for v in (_lookup(c, k) for k in a[1:]) if v is not None]
        return resp.integer(hll.estimate(hll.union(values)))
    except hll.Corrupted:
        raise CommandError(hll.CORRUPTED) from None


@command("PFMERGE", -2, "write denyoom", (1, -1, 1), G, "Merge HyperLogLogs into the first key")
def pfmerge(c: Any, a: list[bytes]) -> bytes:
    values = [v for v in (_lookup(c, k) for k in a[1:]) if v is not None]
    try:
        merged = hll.union(values)
    except hll.Corrupted:
        raise CommandError(hll.CORRUPTED) from None
    dest = _view(c, c.db.get_for_write(a[1]))
    if any(v[4] == hll.DENSE for v in values) and not dest.dense:
        dest.to_dense()  # one dense input makes the result dense at once, as Redis
    try:
        for i in (j for j in range(hll.M) if merged[j]) if not dest.dense else ():
            dest.set(i, merged[i])
    except hll.Corrupted:
        raise CommandError(hll.CORRUPTED) from None
    if dest.dense:
        dest.set_all(merged)
    _store(c, a[1], dest.value())
    return resp.OK


@command("PFDEBUG", 3, "write denyoom admin", (2, 2, 1), G, "Internals of a HyperLogLog")
def pfdebug(c: Any, a: list[bytes]) -> bytes:
    sub, key = a[1].lower(), a[2]
    v = c.db.peek(key)
    if v is None:
        return b"-ERR The specified key does not exist\r\n"
    _lookup(c, key, False)
    if sub == b"getreg":
        h = _view(c, v)
        if not h.dense:
            h.to_dense()
            _store(c, key, h.value(invalidate=False))
        return b"*%d\r\n" % hll.M + b"".join(b":%d\r\n" % r for r in h.regs)
    if sub == b"decode":
        if v[4] != hll.SPARSE:
            return b"-ERR HLL encoding is not sparse\r\n"
        return resp.bulk(hll.decode_sparse(v).encode())
    if sub == b"encoding":
        return b"+sparse\r\n" if v[4] == hll.SPARSE else b"+dense\r\n"
    if sub == b"todense":
        h = _view(c, v)
        if h.dense:
            return resp.ZERO
        h.to_dense()
        _store(c, key, h.value(invalidate=False))
        return resp.ONE
    return b"-ERR Unknown PFDEBUG subcommand '%s'\r\n" % a[1]


@command("PFSELFTEST", 1, "admin", (0, 0, 0), G, "Check the HyperLogLog internals")
def pfselftest(c: Any, a: list[bytes]) -> bytes:
    """Our own self test: dense packing round-trips, sparse and dense agree register by register."""
    rng = random.Random(1)
    for _ in range(4):
        regs = bytearray(rng.randrange(hll.REG_MAX + 1) for _ in range(hll.M))
        if hll.unpack_dense(hll.pack_dense(regs)) != regs:
            return b"-ERR TESTFAILED Register error\r\n"
    sparse = hll.Hll(None, hll.DENSE_SIZE)
    dense = hll.Hll(None)
    dense.to_dense()
    for i in range(2000):
        e = b"%d" % rng.randrange(10**9)
        if sparse.add([e]) != dense.add([e]) or i % 97 == 0 and sparse.regs != dense.regs:
            return b"-ERR TESTFAILED sparse and dense disagree\r\n"
    if hll.registers(sparse.value()) != dense.regs:
        return b"-ERR TESTFAILED sparse encoding\r\n"
    return resp.OK


# The argument lines of COMMAND DOCS (redis-cli's hints), as Redis's docs write them.
REGISTRY.syntax.update({
    "pfadd": "key [element [element ...]]",
    "pfcount": "key [key ...]",
    "pfmerge": "destkey [sourcekey [sourcekey ...]]",
    "pfdebug": "subcommand key",
})  # fmt: skip
