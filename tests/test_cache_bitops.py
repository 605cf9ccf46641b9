"""Bitmaps in servers.cache: SETBIT/GETBIT/BITCOUNT/BITPOS/BITOP/BITFIELD, each reply compared
with a real redis-server's (redis-py on both), plus randomized agreement on bit ranges."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis
from redis_diff import same, script

from harness.procs import Child, python_module

pytestmark = pytest.mark.exercise("N14")


@pytest.fixture(scope="module")
def ours() -> Iterator[redis.Redis]:
    with python_module("servers.cache", port=0) as child:
        assert isinstance(child, Child)
        yield redis.Redis(port=child.port, db=4)  # type: ignore[arg-type]


@pytest.fixture
def real(redis_addr, ours) -> redis.Redis:  # type: ignore[no-untyped-def]
    r = redis.Redis(host=redis_addr.host, port=redis_addr.port, db=4)
    r.flushdb()
    ours.flushdb()
    return r


def test_setbit_getbit_and_errors(ours, real):
    script(ours, real, """
        SETBIT b 7 1
        GET b
        SETBIT b 7 0
        SETBIT b 100 1
        GET b
        GETBIT b 100
        GETBIT b 101
        GETBIT b 99999
        GETBIT missing 3
        SETBIT b -1 1
        SETBIT b 4294967296 1
        SETBIT b 1 2
        SETBIT b 1 x
        SET s hello
        SETBIT s 0 1
        GET s
        LPUSH l a
        SETBIT l 0 1
        GETBIT l 0
    """)  # fmt: skip


def test_bitcount_and_bitpos_ranges(ours, real):
    script(ours, real, """
        SET s foobar
        BITCOUNT s
        BITCOUNT s 0 -1
        BITCOUNT s 1 -2
        BITCOUNT s -2 1
        BITCOUNT s 0 1000
        BITCOUNT s 10 14 BIT
        BITCOUNT s 3 -34 BIT
        BITCOUNT s -2 1 BIT
        BITCOUNT s 0 1000 bit
        BITCOUNT s 0
        BITCOUNT s 0 1 hello
        BITCOUNT missing
        BITCOUNT s 0 4294967296
        BITPOS s 1
        BITPOS s 0
        BITPOS s 1 2
        BITPOS s 0 2 -1
        BITPOS s 1 7 15 BIT
        BITPOS s 0 7 15 bit
        BITPOS s 2
        BITPOS missing 0
        BITPOS missing 1
        SET f \xff\xff\xff
        BITPOS f 0
        BITPOS f 0 0
        BITPOS f 0 0 -1
        BITPOS f 0 0 -1 bit
        BITPOS f 1 0 -1 nope
    """.replace("\\xff", "\xff"))  # fmt: skip


def test_bitop(ours, real):
    script(ours, real, """
        SET a abc
        SET b abcdef
        BITOP AND d a b
        GET d
        BITOP OR d a b
        GET d
        BITOP XOR d a b missing
        GET d
        BITOP NOT d b
        GET d
        BITOP NOT d a b
        BITOP NAND d a b
        BITOP AND d missing1 missing2
        EXISTS d
        LPUSH l x
        BITOP AND d a l
    """)  # fmt: skip


def test_bitfield(ours, real):
    script(ours, real, """
        BITFIELD bf SET i8 0 -100 GET i8 0 GET u8 0
        BITFIELD bf INCRBY u2 100 1 OVERFLOW SAT INCRBY u2 102 1
        BITFIELD bf OVERFLOW WRAP INCRBY i5 0 100 OVERFLOW SAT INCRBY i5 0 100 OVERFLOW FAIL INCRBY i5 0 100
        BITFIELD bf SET u8 #1 255 GET u8 #1 GET i16 #0 GET u63 0 GET i64 0
        BITFIELD bf SET u8 0 -1
        BITFIELD bf OVERFLOW FAIL SET u8 0 256 GET u8 0
        BITFIELD bf OVERFLOW SAT SET i8 0 300 GET i8 0 SET i8 0 -300 GET i8 0
        BITFIELD bf GET u64 0
        BITFIELD bf GET i65 0
        BITFIELD bf GET x8 0
        BITFIELD bf GET u8 -1
        BITFIELD bf OVERFLOW NOPE
        BITFIELD bf SET u8 0
        BITFIELD bf INCRBY u8 0 notanumber
        BITFIELD missing GET u8 0
        EXISTS missing
        BITFIELD_RO bf GET u8 0 GET i4 3
        BITFIELD_RO bf SET u8 0 1
        GET bf
    """)  # fmt: skip


def test_random_ranges_agree_with_redis(ours, real):
    rng = random.Random(11)
    for _ in range(60):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        if rng.random() < 0.3:
            data = b"\xff" * rng.randrange(1, 9) + data
        for r in (ours, real):
            r.set("r", data)
        bits = len(data) * 8
        for _ in range(8):
            s, e = rng.randrange(-bits - 3, bits + 3), rng.randrange(-bits - 3, bits + 3)
            unit = rng.choice(["BIT", "BYTE"])
            same(ours, real, "BITCOUNT", "r", s, e, unit)
            same(ours, real, "BITPOS", "r", rng.randrange(2), s, e, unit)
            same(ours, real, "BITPOS", "r", rng.randrange(2), s)
        off, bits_w = rng.randrange(0, bits + 20), rng.randrange(1, 64)
        kind = rng.choice(["i", "u"]) if bits_w < 64 else "i"
        same(ours, real, "BITFIELD", "r", "GET", f"{kind}{bits_w}", off,
             "INCRBY", f"{kind}{bits_w}", off, rng.randrange(-(2**40), 2**40))  # fmt: skip
        assert ours.get("r") == real.get("r")


def test_bitfield_keeps_ttl_and_bitop_drops_it(ours, real):
    ours.set("t", "x", ex=100)
    ours.setbit("t", 30, 1)
    ours.bitfield("t").set("u8", 0, 7).execute()
    assert 0 < ours.ttl("t") <= 100
    ours.set("d", "old", ex=100)
    ours.bitop("OR", "d", "t")
    assert ours.ttl("d") == -1


def test_setbit_and_bitfield_count_changes_as_redis(ours, real):
    """INFO rdb_changes_since_last_save moves only when a bit or field really changed."""

    def changes(r: redis.Redis) -> int:
        return int(r.info("persistence")["rdb_changes_since_last_save"])

    steps = [("SETBIT", "f", 0, 0), ("BITFIELD", "g", "SET", "i5", 0, 0),
             ("SETBIT", "f", 0, 0), ("BITFIELD", "g", "SET", "i5", 0, 0),
             ("SETBIT", "f", 0, 1), ("SETBIT", "f", 0, 1), ("BITFIELD", "g", "SET", "i5", 0, 1),
             ("BITFIELD", "h", "INCRBY", "i5", 0, 1), ("BITFIELD", "h", "INCRBY", "i5", 0, 1),
             ("SETBIT", "f", 90, 0), ("BITFIELD", "g", "SET", "i5", 90, 0)]  # fmt: skip
    for step in steps:
        before = (changes(ours), changes(real))
        same(ours, real, *step)
        assert changes(ours) - before[0] == changes(real) - before[1], step
