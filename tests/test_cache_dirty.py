"""The change counter (Redis's server.dirty) per write command, against redis-server 7.0.

INFO persistence ``rdb_changes_since_last_save`` and the ``save <seconds> <changes>``
points count what Redis's commands add to server.dirty: LPUSH the elements pushed,
HSET the pairs, SADD/ZADD/PFADD what changed, SORT STORE the stored length, a
*STORE or a move one. Ours counted one per Database write (a new aggregate counted
its creation and its first element: HSET h f v 2, Redis 1; LPUSH l a b c 2, Redis 3).
Each step below runs on both servers in the same order from an empty dataset and the
deltas must be equal, except the explicit table ``EXPECTED_DIFFERENT``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from harness.procs import python_module
from harness.services import RedisServer

LUA = "redis.call('set', KEYS[1], 'x'); redis.call('rpush', KEYS[2], 'a', 'b'); return 1"

# One step: a command (a list), or a tuple of commands sent as MULTI/EXEC.
# fmt: off
STEPS: list[list[str] | tuple[list[str], ...]] = [
    # strings
    ["SET", "k1", "v"], ["SET", "k1", "w", "NX"], ["SETNX", "k2", "v"], ["SETNX", "k2", "v"],
    ["MSET", "k3", "a", "k4", "b"], ["MSETNX", "k5", "a", "k6", "b"], ["GETSET", "k1", "z"],
    ["GETDEL", "k6"], ["GETEX", "k1", "EX", "100"], ["SETEX", "k7", "10", "v"],
    ["PSETEX", "k8", "10000", "v"], ["INCR", "n1"], ["INCRBY", "n1", "5"], ["DECR", "n1"],
    ["DECRBY", "n1", "2"], ["INCRBYFLOAT", "n2", "1.5"], ["APPEND", "ap", "x"],
    ["SETRANGE", "sr", "0", "abc"], ["SETBIT", "b1", "7", "1"], ["BITOP", "OR", "b2", "b1"],
    ["BITFIELD", "bf", "SET", "u8", "0", "5", "INCRBY", "u8", "0", "1"],
    # lists
    ["LPUSH", "l1", "a", "b", "c"], ["RPUSH", "l1", "d"], ["LPUSH", "l2", "a"],
    ["LPUSHX", "l9", "a"], ["RPUSHX", "l1", "e", "f"], ["LINSERT", "l1", "BEFORE", "a", "x"],
    ["LSET", "l1", "0", "y"], ["LREM", "l1", "0", "x"], ["LTRIM", "l1", "0", "4"],
    ["LPOP", "l1"], ["RPOP", "l1", "2"], ["SORT", "l1", "ALPHA", "STORE", "l3"],
    ["LMOVE", "l1", "l4", "LEFT", "RIGHT"], ["RPOPLPUSH", "l2", "l5"],
    ["LMPOP", "2", "l9", "l3", "LEFT", "COUNT", "2"], ["BLPOP", "l3", "0.01"],
    ["BLMOVE", "l4", "l6", "LEFT", "LEFT", "0.01"], ["LPUSH", "l7", "a", "b"],
    ["SORT", "l7", "ALPHA", "STORE", "l7"], ["SORT", "missing", "STORE", "l7"],
    # hashes
    ["HSET", "h1", "f", "v"], ["HSET", "h2", "f", "v", "g", "w"], ["HSET", "h2", "f", "v"],
    ["HMSET", "h2", "a", "1", "b", "2"], ["HSETNX", "h5", "f", "v"], ["HSETNX", "h5", "f", "v"],
    ["HINCRBY", "h4", "f", "1"], ["HINCRBYFLOAT", "h4", "g", "1.5"], ["HDEL", "h2", "a", "b", "zz"],
    ["HDEL", "h1", "f"],
    # sets
    ["SADD", "s1", "a", "b", "c"], ["SADD", "s2", "x"], ["SADD", "s2", "x"],
    ["SUNIONSTORE", "s3", "s1", "s2"], ["SINTERSTORE", "s5", "s1", "s1"],
    ["SDIFFSTORE", "s6", "s1", "s2"], ["SMOVE", "s1", "s4", "a"], ["SMOVE", "s2", "s4", "x"],
    ["SREM", "s3", "a", "b", "q"], ["SPOP", "s5", "2"], ["SPOP", "s6"], ["SINTERSTORE", "s7", "nx", "s1"],
    # zsets
    ["ZADD", "z1", "1", "a", "2", "b"], ["ZADD", "z1", "5", "a", "3", "c"], ["ZADD", "z1", "INCR", "1", "a"],
    ["ZINCRBY", "z4", "1", "m"], ["ZUNIONSTORE", "z2", "1", "z1"], ["ZINTERSTORE", "z5", "2", "z1", "z1"],
    ["ZDIFFSTORE", "z6", "1", "z1"], ["ZRANGESTORE", "z3", "z1", "0", "-1"], ["ZREM", "z1", "a", "q"],
    ["ZREMRANGEBYRANK", "z2", "0", "1"], ["ZREMRANGEBYSCORE", "z3", "0", "2"],
    ["ZREMRANGEBYLEX", "z5", "-", "+"], ["ZPOPMIN", "z6", "2"], ["ZPOPMAX", "z3"],
    ["ZMPOP", "1", "z1", "MIN"], ["BZPOPMIN", "z2", "0.01"],
    ["ZADD", "z7", "1", "a", "2", "b", "3", "c"], ["ZADD", "z7", "XX", "CH", "5", "a", "6", "d"],
    ["ZADD", "z7", "NX", "9", "a", "7", "e"], ["ZADD", "z7", "GT", "1", "b", "8", "c"],
    ["ZADD", "z7", "1", "b"], ["ZMPOP", "1", "z7", "MAX", "COUNT", "9"],
    ["BZMPOP", "0.01", "1", "z2", "MIN", "COUNT", "5"], ["ZINTERSTORE", "z8", "1", "nope"],
    ["ZUNIONSTORE", "z5", "1", "nope"],
    # streams
    ["XADD", "x1", "1-1", "f", "v"], ["XADD", "x1", "2-1", "f", "v"], ["XADD", "x1", "3-1", "f", "v"],
    ["XGROUP", "CREATE", "x2", "g", "$", "MKSTREAM"], ["XGROUP", "CREATE", "x1", "g", "0"],
    ["XREADGROUP", "GROUP", "g", "c1", "COUNT", "2", "STREAMS", "x1", ">"],
    ["XACK", "x1", "g", "1-1", "9-9"], ["XCLAIM", "x1", "g", "c2", "0", "2-1"],
    ["XAUTOCLAIM", "x1", "g", "c3", "0", "0"], ["XGROUP", "CREATECONSUMER", "x1", "g", "c9"],
    ["XGROUP", "DELCONSUMER", "x1", "g", "c9"], ["XGROUP", "SETID", "x1", "g", "0"],
    ["XDEL", "x1", "1-1", "7-7"], ["XTRIM", "x1", "MAXLEN", "1"], ["XSETID", "x1", "5-0"],
    ["XGROUP", "DESTROY", "x1", "g"],
    ["XADD", "x3", "1-1", "f", "v"], ["XADD", "x3", "2-1", "f", "v"], ["XADD", "x3", "3-1", "f", "v"],
    ["XADD", "x3", "4-1", "f", "v"], ["XGROUP", "CREATE", "x3", "g", "0"],
    ["XREADGROUP", "GROUP", "g", "c1", "COUNT", "3", "STREAMS", "x3", ">"],
    ["XREADGROUP", "GROUP", "g", "c2", "STREAMS", "x3", "0"],
    ["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "x3", "0"],
    ["XREADGROUP", "GROUP", "g", "c4", "NOACK", "STREAMS", "x3", ">"],
    ["XREADGROUP", "GROUP", "g", "c5", "STREAMS", "x3", ">"],
    ["XCLAIM", "x3", "g", "c2", "0", "1-1", "2-1"], ["XCLAIM", "x3", "g", "c6", "0", "1-1", "2-1"],
    ["XCLAIM", "x3", "g", "c7", "0", "9-9"], ["XCLAIM", "x3", "g", "c2", "0", "3-1", "LASTID", "5-0"],
    ["XAUTOCLAIM", "x3", "g", "c8", "0", "0"], ["XAUTOCLAIM", "x3", "g", "c8", "0", "0", "COUNT", "1"],
    ["XDEL", "x3", "1-1"], ["XAUTOCLAIM", "x3", "g", "c9", "0", "0"],
    ["XACK", "x3", "g", "2-1", "3-1", "4-1", "8-8"], ["XTRIM", "x3", "MAXLEN", "0"],
    ["XADD", "x3", "MAXLEN", "1", "*", "f", "v"], ["XADD", "x4", "NOMKSTREAM", "*", "f", "v"],
    # geo, hyperloglog
    ["GEOADD", "g1", "13.36", "38.11", "p", "15.08", "37.50", "q"],
    ["GEOSEARCHSTORE", "g2", "g1", "FROMLONLAT", "13.36", "38.11", "BYRADIUS", "500", "km"],
    ["GEORADIUS", "g1", "13.36", "38.11", "500", "km", "STORE", "g3"],
    ["PFADD", "p1", "a", "b"], ["PFADD", "p1", "a"], ["PFADD", "p2"], ["PFMERGE", "p3", "p1", "p2"],
    ["PFCOUNT", "p1"], ["PFCOUNT", "p1"], ["PFADD", "p1", "c", "d", "e"], ["PFCOUNT", "p1", "p2"],
    ["MSET", "k12", "a", "k12", "b"], ["RPUSH", "l8", "a", "b", "c"], ["LPOP", "l8", "9"],
    ["HSET", "h9", "a", "1", "a", "2"], ["SADD", "s9", "a", "a", "b"], ["ZADD", "z9", "1", "a", "2", "a"],
    # keys
    ["COPY", "h2", "h3"], ["DEL", "k3", "k4", "nope"], ["UNLINK", "k5"], ["RENAME", "k7", "k9"],
    ["RENAMENX", "k9", "k10"], ["MOVE", "k10", "3"], ["EXPIRE", "k8", "100"], ["PEXPIRE", "k8", "100000"],
    ["EXPIREAT", "k8", "4000000000"], ["PERSIST", "k8"], ["PERSIST", "k8"], ["EXPIRE", "k8", "0"],
    ["EVAL", LUA, "2", "e1", "e2"], ["COPY", "e2", "h3", "REPLACE"], ["COPY", "e2", "h3"],
    ["DEL", "nope"], ["EXPIRE", "nope", "10"], ["SETRANGE", "sr2", "0", ""],
    ["LSET", "e2", "0", "z"], ["LINSERT", "e2", "AFTER", "nope", "q"], ["LREM", "e2", "0", "nope"],
    ["GETDEL", "e1"], ["SET", "k11", "1", "KEEPTTL", "GET"], ["DECR", "k11"],
    (["SET", "m1", "a"], ["LPUSH", "m2", "a", "b"], ["INCR", "m3"]),
    ["SWAPDB", "0", "1"], ["SWAPDB", "0", "1"], ["FLUSHDB"], ["SET", "f1", "v"], ["FLUSHALL"],
]
# fmt: on

# Pipelines: runs of SET, GET, INCR and LPUSH (servers/cache/runs.py) count as single calls.
PIPELINES = [
    [["LPUSH", "r1", str(i)] for i in range(20)],
    [["LPUSH", f"r{i % 3}", str(i)] for i in range(20)],
    [["SET", f"q{i % 5}", str(i)] for i in range(20)] + [["GET", "q1"]] * 5,
    [["INCR", "i1"] for _ in range(20)] + [["INCR", f"i{i}"] for i in range(20)],
]

# Commands whose delta is left different, with the reason. Keyed by the step's index.
EXPECTED_DIFFERENT: dict[int, str] = {}


def _blocked(r: redis.Redis) -> None:
    deadline = time.monotonic() + 5
    while r.info("clients")["blocked_clients"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _run(port: int) -> list[object]:
    r = redis.Redis(port=port, socket_timeout=10)
    r.flushall()
    out: list[object] = []

    def changes() -> int:
        return int(r.info("persistence")["rdb_changes_since_last_save"])

    for step in STEPS:
        before = changes()
        try:
            if isinstance(step, tuple):
                p = r.pipeline(transaction=True)
                for c in step:
                    p.execute_command(*c)
                p.execute()
            else:
                r.execute_command(*step)
        except redis.ResponseError as e:
            out.append(f"ERR {e}")
            continue
        out.append(changes() - before)
    # Blocking pops served by a push: the push and the served pop.
    for pop, push in (
        (["BLPOP", "w1", "0"], ["RPUSH", "w1", "a", "b"]),
        (["BLMOVE", "w2", "w3", "LEFT", "LEFT", "0"], ["RPUSH", "w2", "a"]),
        (["BZPOPMIN", "w4", "0"], ["ZADD", "w4", "1", "a", "2", "b"]),
        (["BLMPOP", "0", "1", "w6", "LEFT", "COUNT", "2"], ["RPUSH", "w6", "a", "b", "c"]),
        (
            ["BZMPOP", "0", "1", "w7", "MIN", "COUNT", "2"],
            ["ZADD", "w7", "1", "a", "2", "b", "3", "c"],
        ),
        (["BRPOPLPUSH", "w8", "w9", "0"], ["LPUSH", "w8", "a"]),
        (
            ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "w5", ">"],
            ["XADD", "w5", "*", "f", "v"],
        ),
    ):
        if pop[0] == "XREADGROUP":
            r.execute_command("XGROUP", "CREATE", "w5", "g", "$", "MKSTREAM")
        before = changes()
        other = redis.Redis(port=port)
        t = threading.Thread(target=other.execute_command, args=pop)
        t.start()
        _blocked(r)
        r.execute_command(*push)
        t.join(5)
        other.close()
        out.append(changes() - before)
    # An expiry is no change: GET of an expired key 0, SET or INCR over one 1.
    for after in (["GET", "t1"], ["SET", "t1", "v"], ["INCR", "t1"], ["LPUSH", "t1", "a"]):
        r.execute_command("SET", "t1", "5", "PX", "5")
        time.sleep(0.02)
        before = changes()
        r.execute_command(*after)
        out.append(changes() - before)
        r.delete("t1")
    # RESTORE of a value DUMPed by the same server: new key, then REPLACE.
    r.rpush("dumped", "a", "b")
    payload = r.dump("dumped")
    for restore in (["rk", "0", payload], ["rk", "0", payload, "REPLACE"]):
        before = changes()
        r.execute_command("RESTORE", *restore)
        out.append(changes() - before)
    for cmds in PIPELINES:
        before = changes()
        p = r.pipeline(transaction=False)
        for c in cmds:
            p.execute_command(*c)
        p.execute()
        out.append(changes() - before)
    r.close()
    return out


@pytest.fixture(scope="module")
def deltas() -> Iterator[tuple[list[object], list[object]]]:
    with python_module("servers.cache", port=0) as ours, RedisServer() as real:
        assert ours.port is not None
        yield _run(ours.port), _run(real.port)


def _name(i: int) -> str:
    step = STEPS[i] if i < len(STEPS) else ["blocking or pipeline", str(i - len(STEPS))]
    return " ".join(step[0] if isinstance(step, tuple) else step[:3])


def test_every_write_counts_as_redis(deltas: tuple[list[object], list[object]]) -> None:
    ours, real = deltas
    assert len(ours) == len(real)
    wrong = {
        i: (_name(i), o, r)
        for i, (o, r) in enumerate(zip(ours, real, strict=True))
        if o != r and i not in EXPECTED_DIFFERENT
    }
    assert not wrong, "\n".join(f"{i} {n}: ours {o} redis {r}" for i, (n, o, r) in wrong.items())


def test_expected_differences_still_differ(deltas: tuple[list[object], list[object]]) -> None:
    """The table stays honest: an entry that now matches is removed from it."""
    ours, real = deltas
    assert [i for i in EXPECTED_DIFFERENT if ours[i] == real[i]] == []


def test_flushall_with_save_points_saves_as_redis(tmp_path) -> None:
    """FLUSHALL with save points saves the empty dataset at once (Redis 7.0.15's
    flushAllDataAndResetRDB): nothing is left unsaved, and the snapshot is empty."""
    seen = []
    with (
        python_module("servers.cache", "--dir", str(tmp_path), port=0) as ours,
        RedisServer() as real,
    ):
        assert ours.port is not None
        for port in (ours.port, real.port):
            r = redis.Redis(port=port)
            r.config_set("save", "3600 1000")
            r.set("a", 1)
            r.rpush("b", 1, 2)
            r.flushall()
            seen.append(int(r.info("persistence")["rdb_changes_since_last_save"]))
            r.close()
    assert seen == [0, 0]
    assert (tmp_path / "dump.sdb").exists()  # (ours: the snapshot, empty)


def test_evictions_count_no_change_as_redis() -> None:
    """Keys evicted under maxmemory are no change to save: the counter moves by the SETs."""
    seen = []
    with python_module("servers.cache", port=0) as ours, RedisServer() as real:
        assert ours.port is not None
        for port in (ours.port, real.port):
            r = redis.Redis(port=port)
            r.flushall()
            used = int(r.info("memory")["used_memory"])
            r.config_set("maxmemory-policy", "allkeys-random")
            r.config_set("maxmemory", used + 2_000_000)
            before = int(r.info("persistence")["rdb_changes_since_last_save"])
            p = r.pipeline(transaction=False)
            for i in range(4000):
                p.set(f"e{i}", "x" * 1000)
            p.execute()
            info = r.info()
            assert info["evicted_keys"] > 0
            seen.append(int(info["rdb_changes_since_last_save"]) - before)
            r.config_set("maxmemory", 0)
            r.close()
    assert seen == [4000, 4000]
