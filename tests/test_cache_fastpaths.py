"""The short ways of the hot write commands give exactly what the general code gives.

ZADD ``key score member`` with a plain decimal score, XADD's remembered option
parse and PFADD's copy-on-first-change dense HLL are each checked against the
general code path (monkeypatched in) on the same random command stream: every
reply, the final values, OBJECT ENCODING, MEMORY USAGE, used_memory's dataset
part, the hit/miss counters, rdb_changes_since_last_save and WATCH/EXEC.
MurmurHash64A is checked against the block-by-block definition.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from cache_support import Harness

from servers.cache import hll
from servers.cache.commands import lists, streams, strings, zsets
from servers.cache.keyspace import KEY_OVERHEAD, estimate
from servers.cache.table import TABLE

pytestmark = pytest.mark.exercise("N14")


def _info(h: Harness, field: bytes) -> bytes:
    for line in h.cmd("INFO").split(b"\r\n"):
        if line.startswith(field + b":"):
            return line.split(b":", 1)[1]
    raise AssertionError(field)


def _snapshot(h: Harness, keys: list[str]) -> list[object]:
    """What a client can see of the keys, plus the counters a write moves."""
    out: list[object] = []
    for k in keys:
        out += [h.cmd("TYPE", k), h.cmd("MEMORY", "USAGE", k), h.cmd("OBJECT", "ENCODING", k)]
        if h.cmd("TYPE", k) == b"+zset\r\n":
            out.append(h.cmd("ZRANGE", k, 0, -1, "WITHSCORES"))
        elif h.cmd("TYPE", k) == b"+stream\r\n":
            out += [h.cmd("XRANGE", k, "-", "+"), h.cmd("XINFO", "STREAM", k)]
        elif h.cmd("TYPE", k) == b"+string\r\n":
            out.append(h.cmd("GET", k))
    for field in (b"keyspace_hits", b"keyspace_misses", b"rdb_changes_since_last_save",
                  b"used_memory_dataset"):  # fmt: skip
        out.append(_info(h, field))
    assert h.ks.used == sum(estimate(k, v) for db in h.ks.dbs for k, v in db.data.items())
    return out


def _run(script: list[tuple[object, ...]], keys: list[str]) -> tuple[list[bytes], list[object]]:
    h = Harness()
    watcher = h.connect()
    replies = []
    for cmd in script:
        if cmd[0] == "WATCH":  # a second client watches, then tries an EXEC after the next write
            replies.append(h.cmd("WATCH", cmd[1], client=watcher))
            replies.append(h.cmd("MULTI", client=watcher))
            replies.append(h.cmd("PING", client=watcher))
            continue
        replies.append(h.cmd(*cmd))
        if watcher[0].multi is not None:
            replies.append(h.cmd("EXEC", client=watcher))
    return replies, _snapshot(h, keys)


def _zadd_script(rng: random.Random) -> list[tuple[object, ...]]:
    keys = ["z1", "z2", "str"]
    script: list[tuple[object, ...]] = [("SET", "str", "x"), ("CONFIG", "SET", "zset-max-listpack-entries", "6"),
                                        ("CONFIG", "SET", "zset-max-listpack-value", "5")]  # fmt: skip
    scores = ["0", "1", "7", "007", "00", "12345678901234567890", "1" * 299, "1" * 300, "-1",
              "1.5", "inf", "1e400", "nan", "NX", " 1", "", "٣"]  # fmt: skip
    for _ in range(400):
        key = rng.choice(keys)
        r = rng.random()
        if r < 0.05:
            script.append(("WATCH", key))
        elif r < 0.1:
            script.append(("ZREM", key, rng.choice("abcdefgh")))
        elif r < 0.15:
            script.append(("EXPIRE", key, 100))
        else:
            member = rng.choice(["a", "b", "c", "d", "e", "f", "g", "h", "longmember"])
            score = rng.choice(scores) if rng.random() < 0.3 else str(rng.randrange(4))
            script.append(("ZADD", key, score, member))
    return script


def test_zadd_short_form_is_the_general_zadd(monkeypatch):
    rng = random.Random(11)
    for _ in range(5):
        script = _zadd_script(rng)
        fast = _run(script, ["z1", "z2", "str"])
        with monkeypatch.context() as m:
            m.setattr(TABLE[b"ZADD"], "fn", lambda c, a: zsets.zadd_generic(c, a, False))
            general = _run(script, ["z1", "z2", "str"])
        assert fast == general


def test_zadd_short_form_facts():
    h = Harness()
    db = h.ks.dbs[0]
    assert h.cmd("ZADD", "z", "1", "a") == b":1\r\n"  # created by the general path
    size = db.sizes[b"z"]
    assert h.cmd("ZADD", "z", "2", "bb") == b":1\r\n"  # short way: a new member
    assert db.sizes[b"z"] == size + len(b"bb") + zsets.ZSET_MEMBER_OVERHEAD
    changes = h.ks.dirty
    w = h.connect()
    h.cmd("WATCH", "z", client=w)
    assert h.cmd("ZADD", "z", "2", "bb") == b":0\r\n"  # same score: not a write (Redis: no signal)
    assert h.ks.dirty == changes
    h.cmd("MULTI", client=w)
    h.cmd("PING", client=w)
    assert h.cmd("EXEC", client=w) == b"*1\r\n+PONG\r\n"
    h.cmd("WATCH", "z", client=w)
    assert h.cmd("ZADD", "z", "3", "bb") == b":0\r\n"  # a new score: a write, the EXEC fails
    assert h.ks.dirty == changes + 1
    h.cmd("MULTI", client=w)
    h.cmd("PING", client=w)
    assert h.cmd("EXEC", client=w) == b"*-1\r\n"
    assert db.sizes[b"z"] == size + len(b"bb") + zsets.ZSET_MEMBER_OVERHEAD
    assert h.cmd("ZSCORE", "z", "bb") == b"$1\r\n3\r\n"
    h.cmd("CONFIG", "SET", "zset-max-listpack-entries", "2")
    assert h.cmd("OBJECT", "ENCODING", "z") == b"$8\r\nlistpack\r\n"
    assert h.cmd("ZADD", "z", "4", "c") == b":1\r\n"  # a third member: skiplist for good
    assert h.cmd("OBJECT", "ENCODING", "z") == b"$8\r\nskiplist\r\n"
    assert h.cmd("ZADD", "z", "1" * 299, "d") == b":1\r\n"  # the longest the short way reads
    assert h.cmd("ZSCORE", "z", "d") == b"$23\r\n1.1111111111111112e+298\r\n"
    assert h.cmd("ZADD", "z", "1" * 310, "d") == b"-ERR value is not a valid float\r\n"  # 1e309
    h.cmd("SET", "s", "x")
    assert h.cmd("ZADD", "s", "1", "a").startswith(b"-WRONGTYPE")


def _xadd_script(rng: random.Random) -> list[tuple[object, ...]]:
    forms = [("MAXLEN", "~", "20"), ("MAXLEN", "=", "20"), ("MAXLEN", "20", "LIMIT"),
             ("MINID", "~", "5"), ("NOMKSTREAM", "MAXLEN", "3"), ("MAXLEN", "~", "-1"),
             ("MAXLEN", "~", "x"), ("LIMIT", "5", "MAXLEN"), ("maxlen", "~", "7"),
             ("MAXLEN", "7", "*"), ("1-1", "f", "v"), ("MAXLEN", "MAXLEN", "3")]  # fmt: skip
    script: list[tuple[object, ...]] = [("SET", "str", "x")]
    for _ in range(500):
        key = rng.choice(["s1", "s2", "str"])
        r = rng.random()
        if r < 0.04:
            script.append(
                ("CONFIG", "SET", "stream-node-max-entries", rng.choice(["3", "5", "0", "100"]))
            )
        elif r < 0.07:
            script.append(("WATCH", key))
        elif r < 0.1:
            script.append(("XTRIM", key, "MAXLEN", "~", "4"))
        else:
            words = rng.choice(forms)
            script.append(("XADD", key, *words, "*", "f", "v" * rng.randrange(1, 4)))
    return script


def test_xadd_remembered_options_are_the_parsed_ones(monkeypatch):
    rng = random.Random(5)
    for _ in range(4):
        streams._PARSED.clear()
        script = _xadd_script(rng)
        fast = _run(script, ["s1", "s2", "str"])
        assert streams._PARSED  # the short way was taken
        with monkeypatch.context() as m:
            m.setattr(streams, "_xadd_args", lambda c, a, limits: streams._trim_args(c, a, True)
                      if a[2] != b"*" else streams.PLAIN)  # fmt: skip
            general = _run(script, ["s1", "s2", "str"])
        assert fast == general


def test_xadd_remembers_a_bounded_number_of_short_option_lines():
    h = Harness()
    streams._PARSED.clear()
    for i in range(streams.PARSED_MAX + 10):
        h.cmd("XADD", "s", "MAXLEN", "~", 1000 + i, "*", "f", "v")
    assert 0 < len(streams._PARSED) <= streams.PARSED_MAX
    streams._PARSED.clear()
    h.cmd("XADD", "s", "MAXLEN", "~", "1" * 70, "*", "f", "v")  # a long word: parsed each time
    assert not streams._PARSED


def _murmur_reference(data: bytes, seed: int = hll.SEED) -> int:
    """MurmurHash64A word by word as its definition reads."""
    m, mask = 0xC6A4A7935BD1E995, (1 << 64) - 1
    h = (seed ^ (len(data) * m)) & mask
    n8 = len(data) // 8 * 8
    for i in range(0, n8, 8):
        k = int.from_bytes(data[i : i + 8], "little")
        k = (k * m) & mask
        k ^= k >> 47
        k = (k * m) & mask
        h ^= k
        h = (h * m) & mask
    if len(data) & 7:
        h ^= int.from_bytes(data[n8:], "little")
        h = (h * m) & mask
    h ^= h >> 47
    h = (h * m) & mask
    h ^= h >> 47
    return h


def test_murmur64a_is_the_reference_for_every_length():
    rng = random.Random(3)
    for n in [*range(0, 80), 511, 512, 513, 700]:
        for _ in range(5):
            data = bytes(rng.randrange(256) for _ in range(n))
            assert hll.murmur64a(data) == _murmur_reference(data), n
    for element in (b"a", b"hello", b"%012d" % 12345, bytes(range(40))):
        h = _murmur_reference(element)
        rest, count = h >> hll.P, 1  # hllPatLen: the zeros after the index bits, plus one
        while count <= hll.Q and not rest & 1:
            rest >>= 1
            count += 1
        assert hll.pattern(element) == (h & (hll.M - 1), count)


def test_dense_pfadd_copies_on_the_first_change_only():
    h = Harness()
    db = h.ks.dbs[0]
    rng = random.Random(9)
    elements = [b"%012d" % rng.randrange(100_000) for _ in range(6000)]
    for i in range(0, len(elements), 100):
        h.cmd("PFADD", "hll", *elements[i : i + 100])
    before = db.data[b"hll"]
    assert before[4] == hll.DENSE
    used, changes = h.ks.used, h.ks.dirty
    assert h.cmd("PFADD", "hll", *elements[:50]) == b":0\r\n"  # all seen: nothing changes
    assert db.data[b"hll"] is before and h.ks.used == used and h.ks.dirty == changes
    view = hll.Hll(before)
    assert view.body is before  # no copy until a register changes
    fresh = next(e for e in (b"new%d" % i for i in range(10_000))
                 if hll.pattern(e)[1] > hll._dense_get(before, hll.pattern(e)[0]))  # fmt: skip
    assert view.add([fresh]) and isinstance(view.body, bytearray)
    assert before == db.data[b"hll"]  # the stored string is not changed behind the keyspace
    assert h.cmd("PFADD", "hll", fresh) == b":1\r\n"
    after = db.data[b"hll"]
    assert after is not before and after[15] & 0x80  # the cached count is marked stale
    idx, count = hll.pattern(fresh)
    assert hll._dense_get(after, idx) == count
    assert after[:15] == before[:15] and len(after) == len(before)  # (byte 15: the stale bit)
    assert h.ks.used == used  # same length, same accounting
    assert hll.registers(after) == bytearray(
        count if i == idx else r for i, r in enumerate(hll.registers(before))
    )


# -- the short ways of SET, GET, INCR and LPUSH (nothing watching the key) ------------------


def _gil_script(rng: random.Random) -> list[tuple[object, ...]]:
    """SET, GET, INCR and LPUSH among what changes whether their short ways apply: TTLs that run
    out, WATCH, values of every kind (counters INCR must refuse), a client blocking."""
    keys = ["n1", "n2", "l1", "l2"]
    values = ["0", "7", "007", "-5", " 1", "1_0", "abc", "", "9" * 18, "9" * 19,
              "9223372036854775806", "9223372036854775807", "99"]  # fmt: skip
    script: list[tuple[object, ...]] = [("LPUSH", "l1", "x")]
    key = keys[0]
    for _ in range(300):
        r = rng.random()
        if r < 0.05:  # (then a call of one of the three on that key, half the time)
            script.append(("WATCH", key))
        elif r < 0.1:
            script.append(("PEXPIRE", key, rng.choice([5, 50])))
        elif r < 0.15:
            script.append(("ADVANCE", rng.choice([1, 10, 60])))
        elif r < 0.2:
            script.append(("SET", key, rng.choice(values)))
        elif r < 0.22:
            script.append(("DEL", key))
        elif r < 0.25:
            script.append(("OBJECT", "FREQ" if rng.random() < 0.5 else "IDLETIME", key))
        elif r < 0.28:
            script.append(("BLOCK", key))  # a second client: BLPOP key 0
        elif r < 0.5:
            script.append(("INCR", key))
        elif r < 0.7:
            script.append(("GET", key))
        else:
            script.append(("LPUSH", key, *rng.choice([["a"], ["bb"], ["c", "d"]])))
        if r >= 0.15 or rng.random() < 0.5:
            key = rng.choice(keys)
    return script


def _run_gil(script: list[tuple[object, ...]], policy: str) -> tuple[list[bytes], list[object]]:
    """``script`` on a fresh cache under ``policy`` (LRU/LFU: a tracker): every reply (the
    blocked client's too), then the keys, the counters and INFO commandstats' counts."""
    h = Harness()
    h.ks.rng.seed(5)  # (LFU's counter increments are random)
    if policy != "noeviction":
        h.cmd("CONFIG", "SET", "maxmemory-policy", policy)
        h.cmd("CONFIG", "SET", "maxmemory", "100mb")
    watcher, blocked = h.connect(), h.connect()
    replies = []
    for cmd in script:
        if cmd[0] == "ADVANCE":
            h.advance(int(cmd[1]))  # type: ignore[call-overload]
        elif cmd[0] == "WATCH":
            replies += [h.cmd("WATCH", cmd[1], client=watcher), h.cmd("MULTI", client=watcher)]
        elif cmd[0] == "BLOCK":
            if blocked[0].blocked is None:
                replies.append(h.cmd("BLPOP", cmd[1], 0, client=blocked))
        else:
            replies.append(h.cmd(*cmd))
            replies.append(blocked[1].take())
            if watcher[0].multi is not None:
                replies.append(h.cmd("EXEC", client=watcher))
    stats = [re.sub(rb"usec(_per_call)?=[\d.]+,", b"", line)  # (the calls' times differ)
             for line in h.cmd("INFO", "commandstats").split(b"\r\n")[1:]]  # fmt: skip
    keys = ["n1", "n2", "l1", "l2"]
    lists = [h.cmd("LRANGE", k, 0, -1) for k in keys]
    return replies, [*_snapshot(h, keys), *lists, h.ks.expired_keys, stats]


def _set_by_put(c: Any, a: list[bytes]) -> bytes:
    """SET without options as ``Database.put`` does it (the general path)."""
    if len(a) != 3:
        return strings.set_(c, a)
    c.db.peek(a[1])  # (a key past its TTL expires first, as lookupKeyWrite)
    c.db.put(a[1], a[2], KEY_OVERHEAD + len(a[1]) + len(a[2]))
    return b"+OK\r\n"


@pytest.mark.parametrize("policy", ["noeviction", "allkeys-lru", "allkeys-lfu"])
def test_set_get_incr_lpush_short_ways_are_the_general_ones(monkeypatch, policy):
    rng = random.Random(3)
    for _ in range(4):
        script = _gil_script(rng)
        fast = _run_gil(script, policy)
        with monkeypatch.context() as m:
            m.setattr(TABLE[b"GET"], "fn", lambda c, a: strings.get_general(c, a[1]))
            m.setattr(TABLE[b"SET"], "fn", _set_by_put)
            m.setattr(TABLE[b"INCR"], "fn", lambda c, a: strings.incr_by(c, a[1], 1))
            m.setattr(TABLE[b"LPUSH"], "fn", lambda c, a: lists._push(c, a, True, False))
            general = _run_gil(script, policy)
        assert fast == general


@pytest.mark.parametrize(
    ("setup", "call", "fresh"),
    [(("SET", "k", "5"), ("INCR", "k"), b":1\r\n"),
     (("SET", "k", "5"), ("SET", "k", "6"), b"+OK\r\n"),
     (("LPUSH", "k", "a"), ("LPUSH", "k", "b"), b":1\r\n"),
     (("SET", "k", "5"), ("GET", "k"), b"$-1\r\n")],
)  # fmt: skip
def test_short_ways_expire_a_key_past_its_ttl_and_fail_its_watchers(setup, call, fresh):
    h = Harness()
    h.cmd(*setup)
    h.cmd("PEXPIRE", "k", 10)
    h.advance(20)
    assert h.cmd(*call) == fresh  # (not the expired value's successor)
    if call[0] != "SET":  # (SET replaces the key and drops its TTL)
        assert h.ks.expired_keys == 1
    assert h.cmd("PTTL", "k") == (b":-1\r\n" if call[0] != "GET" else b":-2\r\n")
    h.cmd(*setup)
    w = h.connect()
    h.cmd("WATCH", "k", client=w)
    h.cmd("MULTI", client=w)
    h.cmd("PING", client=w)
    h.cmd(*call)
    assert h.cmd("EXEC", client=w) == (b"*1\r\n+PONG\r\n" if call[0] == "GET" else b"*-1\r\n")


def test_set_over_a_key_past_its_ttl_expires_it_first_as_redis(redis_addr, tmp_path):
    """Redis 7.0's SET looks its key up for writing (lookupKeyWrite) whatever its options:
    a key past its TTL is expired first (expired_keys + 1, a DEL in the AOF before the
    SET), then written. The general path (a key with a TTL never takes the short way)."""
    import time

    import redis as redis_py

    from harness.procs import python_module

    def expired_after(r: redis_py.Redis) -> list[int]:
        r.flushall()
        r.config_resetstat()
        out = []
        for extra in ([], ["KEEPTTL"], ["XX"]):
            r.set("k", "old", px=1)
            time.sleep(0.01)
            r.execute_command("SET", "k", "new", *extra)
            out += [r.info("stats")["expired_keys"], r.ttl("k")]
        return out

    real = redis_py.Redis(host=redis_addr.host, port=redis_addr.port, db=9)
    with python_module(
        "servers.cache", "--dir", str(tmp_path), "--appendonly", "yes", port=0
    ) as ours:
        mine = redis_py.Redis(port=ours.port, db=9)
        assert expired_after(mine) == expired_after(real) == [1, -1, 2, -1, 3, -2]
        aof = b"".join(
            p.read_bytes() for p in sorted((tmp_path / "appendonlydir").glob("*.incr.*"))
        )
        assert aof.count(b"$3\r\nDEL\r\n$1\r\nk\r\n") >= 3  # (each expiry logged before its SET)
        mine.close()
    real.close()
