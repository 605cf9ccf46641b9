"""INFO keyspace_hits / keyspace_misses move as in redis-server, command by command.

Redis counts a hit or a miss only in a read lookup (lookupKeyRead*: GET, EXISTS,
TYPE, TTL, DUMP, OBJECT, PFCOUNT, COPY's source, ``SET ... GET``, the sources of
SUNIONSTORE...); a write lookup (lookupKeyWrite*: INCR, LPUSH, SADD, ZADD, HSET,
LPOP, XADD...) counts nothing. The table below runs each command on an existing
key and on a missing one, against our server and a private redis-server started
here, and compares the (hits, misses) delta of every single command; then the
same commands as one pipeline (runs of INCR / LPUSH / GET / SET are executed at
once by servers/cache/runs.py) must end on the same totals.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from cache_support import Raw

from harness.procs import python_module
from harness.services import RedisServer
from netlib.resp import encode_command

SLEEP = ("__sleep__",)  # not a command: wait for the PX 1 keys to expire

# (command, ...) in order; each is measured alone. Keys: s string, n counter, l list,
# st set, z zset, h hash, x stream, p HLL; "nope*" never exist.
TABLE: list[tuple[str, ...]] = [
    # strings
    ("SET", "s", "v"), ("SET", "s", "w", "GET"), ("SET", "nope1", "v", "GET"),
    ("SET", "s", "v", "XX"), ("SET", "nope2", "v", "NX"), ("DEL", "nope2"),
    ("GET", "s"), ("GET", "nope"), ("MGET", "s", "nope"), ("GETSET", "s", "v2"),
    ("GETSET", "nope3", "v"), ("DEL", "nope3"),
    ("APPEND", "s", "x"), ("APPEND", "nope4", "x"), ("DEL", "nope4"),
    ("STRLEN", "s"), ("STRLEN", "nope"), ("GETRANGE", "s", "0", "1"),
    ("SETRANGE", "s", "0", "x"), ("SETRANGE", "nope5", "0", "x"), ("DEL", "nope5"),
    ("INCR", "n"), ("INCR", "n"), ("DECR", "n"), ("DECR", "nope6"), ("DEL", "nope6"),
    ("INCRBY", "n", "5"), ("DECRBY", "n", "2"), ("INCRBYFLOAT", "f", "1.5"),
    ("INCRBYFLOAT", "f", "1.5"), ("SETNX", "s", "x"), ("MSETNX", "s", "x", "nope7", "y"),
    ("GETDEL", "nope"), ("SET", "gd", "v"), ("GETDEL", "gd"), ("GETEX", "n"),
    ("GETEX", "nope"), ("SETBIT", "b", "1", "1"), ("SETBIT", "b", "2", "1"),
    ("GETBIT", "b", "1"), ("GETBIT", "nope", "1"), ("BITCOUNT", "b"), ("BITPOS", "b", "1"),
    ("BITFIELD", "b", "GET", "u4", "0"), ("BITFIELD", "b", "SET", "u4", "0", "3"),
    ("BITFIELD", "nope8", "INCRBY", "u4", "0", "1"), ("DEL", "nope8"),
    ("BITOP", "AND", "d", "b", "nope"), ("LCS", "s", "n"),
    # generic
    ("EXISTS", "s"), ("EXISTS", "nope"), ("EXISTS", "s", "nope", "n"),
    ("TYPE", "s"), ("TYPE", "nope"), ("TTL", "s"), ("TTL", "nope"), ("PTTL", "s"),
    ("EXPIRE", "n", "100"), ("EXPIRE", "nope", "100"), ("TTL", "n"), ("EXPIRETIME", "n"),
    ("PEXPIRETIME", "nope"), ("PERSIST", "n"), ("PERSIST", "nope"),
    ("DUMP", "s"), ("DUMP", "nope"), ("OBJECT", "ENCODING", "s"),
    ("OBJECT", "ENCODING", "nope"), ("OBJECT", "REFCOUNT", "s"), ("OBJECT", "IDLETIME", "s"),
    ("OBJECT", "FREQ", "nope"), ("OBJECT", "FREQ", "s"),
    ("COPY", "s", "s2"), ("COPY", "nope", "s3"), ("COPY", "s", "s2"),
    ("RENAME", "s2", "s4"), ("RENAMENX", "s4", "s"), ("MOVE", "s4", "1"),
    ("TOUCH", "s", "nope"), ("UNLINK", "s4", "nope"), ("DEL", "nope"),
    ("MEMORY", "USAGE", "s"), ("SORT", "nope"),
    # lists
    ("LPUSH", "l", "a"), ("LPUSH", "l", "b"), ("RPUSH", "l", "c"), ("LPUSHX", "l", "d"),
    ("LPUSHX", "nope", "d"), ("RPUSHX", "nope", "d"), ("LLEN", "l"), ("LRANGE", "l", "0", "-1"),
    ("LINDEX", "l", "0"), ("LPOS", "l", "a"), ("LSET", "l", "0", "q"), ("LSET", "nope", "0", "q"),
    ("LINSERT", "l", "BEFORE", "a", "z"), ("LINSERT", "nope", "BEFORE", "a", "z"),
    ("LREM", "l", "1", "z"), ("LREM", "nope", "1", "z"), ("LTRIM", "l", "0", "10"),
    ("LPOP", "l"), ("LPOP", "nope"), ("RPOP", "l"), ("RPOP", "nope", "2"),
    ("RPOPLPUSH", "l", "l2"), ("RPOPLPUSH", "nope", "l2"),
    ("LMOVE", "l", "l3", "LEFT", "LEFT"), ("LMOVE", "nope", "l3", "LEFT", "LEFT"),
    ("LMPOP", "2", "nope", "l3", "LEFT"), ("BLPOP", "l2", "0.01"), ("SORT", "l"),
    ("LPUSH", "l", "1", "2"), ("SORT", "l", "STORE", "sorted"),
    # sets
    ("SADD", "st", "1", "2"), ("SADD", "st2", "1"), ("SADD", "st", "3"), ("SREM", "st", "3"),
    ("SREM", "nope", "3"), ("SISMEMBER", "st", "1"), ("SCARD", "nope"), ("SMEMBERS", "st"),
    ("SUNIONSTORE", "st3", "st", "st2"), ("SUNIONSTORE", "st4", "st", "nope"),
    ("SINTERSTORE", "st5", "st", "st2"), ("SDIFFSTORE", "st6", "st", "nope"),
    ("SINTERCARD", "2", "st", "st2"), ("SINTER", "st", "st2"), ("SUNION", "st", "nope"),
    ("SDIFF", "st", "st2"), ("SSCAN", "st", "0"), ("SSCAN", "nope", "0"), ("SMOVE", "st", "st2", "2"), ("SMOVE", "nope", "st2", "2"),
    ("SPOP", "st3"), ("SPOP", "nope"), ("SRANDMEMBER", "st2"),
    # sorted sets
    ("ZADD", "z", "1", "m"), ("ZADD", "z", "2", "m"), ("ZADD", "z", "XX", "3", "m"),
    ("ZADD", "nope9", "XX", "1", "m"), ("ZADD", "z", "1.5", "m2"), ("ZINCRBY", "z", "1", "m"),
    ("ZINCRBY", "z2", "1", "m"), ("ZSCORE", "z", "m"), ("ZCARD", "nope"),
    ("ZRANGE", "z", "0", "-1"), ("ZRANGESTORE", "z3", "z", "0", "-1"),
    ("ZUNIONSTORE", "z4", "2", "z", "nope"), ("ZINTERSTORE", "z5", "2", "z", "z2"),
    ("ZREM", "z", "m2"), ("ZREM", "nope", "m"), ("ZREMRANGEBYRANK", "z3", "0", "0"),
    ("ZPOPMIN", "z4"), ("ZPOPMAX", "nope"), ("ZMPOP", "2", "nope", "z5", "MIN"),
    ("GEOADD", "g", "13.361389", "38.115556", "pa"), ("GEOPOS", "g", "pa"),
    # hashes
    ("HSET", "h", "f", "v"), ("HSET", "h", "g", "1"), ("HSETNX", "h", "f", "v"),
    ("HSETNX", "h2", "f", "v"), ("HINCRBY", "h", "g", "1"), ("HINCRBY", "h3", "g", "1"),
    ("HINCRBYFLOAT", "h", "g", "1.5"), ("HGET", "h", "f"), ("HGET", "nope", "f"),
    ("HGETALL", "h"), ("HDEL", "h", "f"), ("HDEL", "nope", "f"), ("HLEN", "h"),
    # streams
    ("XADD", "x", "1-1", "a", "1"), ("XADD", "x", "2-1", "a", "2"),
    ("XADD", "nope", "NOMKSTREAM", "*", "a", "1"), ("XLEN", "x"), ("XRANGE", "x", "-", "+"),
    ("XGROUP", "CREATE", "x", "g", "0"), ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">"),
    ("XACK", "x", "g", "1-1"), ("XPENDING", "x", "g"), ("XREAD", "STREAMS", "x", "0"),
    ("XTRIM", "x", "MAXLEN", "5"), ("XDEL", "x", "1-1"), ("XSETID", "x", "9-9"),
    ("XINFO", "STREAM", "x"),
    # hyperloglog
    ("PFADD", "p", "a"), ("PFADD", "p", "b"), ("PFCOUNT", "p"), ("PFCOUNT", "nope"),
    ("PFCOUNT", "p", "nope"), ("PFMERGE", "p2", "p", "nope"),
    # lazy expiry: a write lookup of an expired key counts nothing, a read one a miss
    ("SET", "e1", "v", "PX", "1"), ("SET", "e2", "v", "PX", "1"), ("SET", "e3", "v", "PX", "1"),
    ("SET", "e4", "0", "PX", "1"), SLEEP, ("INCR", "e4"), ("LPUSH", "e1", "a"),
    ("GET", "e2"), ("EXISTS", "e3"),
]  # fmt: skip


def _stats(c: Raw) -> tuple[int, int]:
    info = c.call("INFO", "stats").decode()
    return tuple(  # type: ignore[return-value]
        int(re.search(k + r":(\d+)", info)[1])  # type: ignore[index]
        for k in ("keyspace_hits", "keyspace_misses")
    )


def _deltas(port: int) -> list[tuple[tuple[str, ...], int, int]]:
    c = Raw(port, 2)
    try:
        c.call("FLUSHALL")
        c.call("CONFIG", "RESETSTAT")
        out = []
        for cmd in TABLE:
            if cmd is SLEEP:
                time.sleep(0.02)
                continue
            h0 = _stats(c)
            c.call(*cmd)
            h1 = _stats(c)
            out.append((cmd, h1[0] - h0[0], h1[1] - h0[1]))
        return out
    finally:
        c.close()


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[int, int]]:
    with RedisServer() as real, python_module("servers.cache", port=0) as ours:
        yield ours.port, real.port


def test_every_command_counts_hits_and_misses_as_redis(ports):
    ours, real = ports
    got, want = _deltas(ours), _deltas(real)
    assert [(g, w[1:]) for g, w in zip(got, want, strict=True) if g != w] == []
    # the table exercises both sides: reads that count, writes that do not
    assert any(h for _, h, _ in want) and any(m for _, _, m in want)
    assert any(cmd[0] == "INCR" and (h, m) == (0, 0) for cmd, h, m in want)


def _pipelined_totals(port: int, cmds: list[tuple[str, ...]]) -> tuple[int, int]:
    c = Raw(port, 2)
    try:
        c.call("FLUSHALL")
        c.call("CONFIG", "RESETSTAT")
        c.sock.sendall(b"".join(encode_command(*a) for a in cmds) + encode_command("PING"))
        buf = b""
        while not buf.endswith(b"+PONG\r\n"):
            chunk = c.sock.recv(65536)
            assert chunk
            buf += chunk
        return _stats(c)
    finally:
        c.close()


def test_pipelined_runs_count_as_redis(ports):
    """Runs of INCR / LPUSH (write lookups: nothing) and GET (a hit or a miss each)."""
    cmds: list[tuple[str, ...]] = []
    for i in range(30):
        cmds += [("INCR", f"n{i % 4}")] * 5
        cmds += [("LPUSH", f"l{i % 3}", "x")] * 5
        cmds += [("GET", f"n{i % 6}")] * 5
        cmds += [("SET", f"s{i}", "v")] * 3
    ours, real = ports
    want = _pipelined_totals(real, cmds)
    assert want[0] > 0 and want[1] > 0
    assert _pipelined_totals(ours, cmds) == want
