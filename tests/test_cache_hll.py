"""HyperLogLog in servers.cache: redis-py against our server, byte for byte against a real redis-server.

The HLL string format is Redis's, so the strongest check is equality of the
GET of the same key built by the same PFADDs on both servers (sparse and
dense, with merges and promotions), and that a value moved between the two
keeps counting. The error bound is checked against exact counts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis

from harness.procs import Child, python_module
from servers.cache import hll

pytestmark = pytest.mark.exercise("N14")


@pytest.fixture(scope="module")
def ours() -> Iterator[redis.Redis]:
    with python_module("servers.cache", port=0) as child:
        assert isinstance(child, Child)
        r = redis.Redis(port=child.port, db=3)  # type: ignore[arg-type]
        r.flushdb()
        yield r


@pytest.fixture
def real(redis_addr) -> redis.Redis:  # type: ignore[no-untyped-def]
    r = redis.Redis(host=redis_addr.host, port=redis_addr.port, db=3)
    r.flushdb()
    return r


def _build(r: redis.Redis, key: str, elements: list[bytes], batch: int) -> bytes:
    r.delete(key)
    r.pfadd(key)
    for i in range(0, len(elements), batch):
        r.pfadd(key, *elements[i : i + batch])
    value = r.get(key)
    assert value is not None
    return value


@pytest.mark.parametrize("n", [0, 1, 5, 60, 400, 1500, 2500, 5000, 40000])
def test_hll_string_is_byte_for_byte_redis(ours, real, n):
    rng = random.Random(n)
    elements = [b"e%d-%d" % (rng.randrange(10**9), i) for i in range(n)]
    batch = rng.choice([1, 3, 17, 200])
    mine, theirs = _build(ours, "h", elements, batch), _build(real, "h", elements, batch)
    assert mine[:4] == b"HYLL"
    assert mine == theirs
    assert ours.pfcount("h") == real.pfcount("h")
    assert ours.get("h") == real.get("h")  # the cached cardinality is written back alike


def test_sparse_then_dense_promotion_matches_redis(ours, real):
    for r in (ours, real):
        r.delete("p")
    encodings = []
    for i in range(3000):
        for r in (ours, real):
            r.pfadd("p", i)
        if i % 250 == 0:
            mine, theirs = ours.get("p"), real.get("p")
            assert mine == theirs
            encodings.append(mine[4])
    assert hll.SPARSE in encodings and hll.DENSE in encodings
    assert ours.execute_command("PFDEBUG", "ENCODING", "p") == real.execute_command(
        "PFDEBUG", "ENCODING", "p"
    )


def test_pfmerge_and_union_count_match_redis(ours, real):
    for r in (ours, real):
        r.delete("a", "b", "c", "dst")
        r.pfadd("a", *range(0, 300))
        r.pfadd("b", *range(200, 9000))  # dense
        r.pfadd("c", *range(100, 140))
        r.pfadd("dst", "x", "y")
        r.pfmerge("dst", "a", "c")  # all sparse: stays sparse
        r.pfmerge("both", "a", "b")  # a dense input: dense
    for key in ("dst", "both"):
        assert ours.get(key) == real.get(key)
        assert ours.pfcount(key) == real.pfcount(key)
    assert ours.pfcount("a", "b", "c") == real.pfcount("a", "b", "c")
    assert ours.pfcount("a", "missing") == real.pfcount("a", "missing")


def test_values_move_between_servers_both_ways(ours, real):
    real.delete("r")
    real.pfadd("r", *range(7000))
    ours.set("from-redis", real.get("r"))
    assert ours.pfcount("from-redis") == real.pfcount("r")
    ours.pfadd("from-redis", "one-more")
    real.pfadd("r", "one-more")
    assert ours.get("from-redis") == real.get("r")
    ours.delete("o")
    ours.pfadd("o", *range(50))
    real.set("from-ours", ours.get("o"))
    assert real.pfcount("from-ours") == ours.pfcount("o") == 50


def test_error_bound_against_exact_counts(ours):
    """Over many independent sets the relative error has Redis's 1.04/sqrt(16384) = 0.81% spread."""
    rng = random.Random(7)
    errors = []
    for trial in range(12):
        n = rng.choice([20_000, 50_000, 100_000])
        key = f"bound{trial}"
        ours.delete(key)
        pipe = ours.pipeline(transaction=False)
        for i in range(0, n, 1000):
            pipe.pfadd(key, *(f"{trial}:{j}" for j in range(i, i + 1000)))
        pipe.execute()
        est = ours.pfcount(key)
        errors.append((est - n) / n)
    rms = (sum(e * e for e in errors) / len(errors)) ** 0.5
    assert max(abs(e) for e in errors) < 4 * 0.0081  # 4 sigma
    assert rms < 2 * 0.0081
    small = [1, 10, 100, 1000]
    for n in small:  # small counts are near exact with the new estimator
        ours.delete("small")
        ours.pfadd("small", *range(n))
        assert abs(ours.pfcount("small") - n) <= max(1, n * 0.02)


def test_cache_and_errors(ours):
    ours.delete("h")
    assert ours.pfadd("h", "a", "b", "c") == 1
    assert ours.pfadd("h", "a") == 0
    assert ours.pfcount("h") == 3
    assert ours.getrange("h", 15, 15) == b"\x00"  # PFCOUNT stored a fresh cardinality
    ours.pfadd("h", "d")
    assert ours.getrange("h", 15, 15) == b"\x80"  # and PFADD marked it stale
    ours.set("str", "not an hll")
    for call in (lambda: ours.pfadd("str", 1), lambda: ours.pfcount("str"),
                 lambda: ours.pfmerge("x", "str")):  # fmt: skip
        with pytest.raises(redis.ResponseError, match="WRONGTYPE Key is not a valid HyperLogLog"):
            call()
    ours.append("h", "junk")  # trailing bytes after the sparse opcodes
    with pytest.raises(redis.ResponseError, match="INVALIDOBJ"):
        ours.pfcount("h")
    ours.set("h2", b"HYLL\x01" + bytes(11) + b"\x7f\xff" * 3 + b"\xff")  # runs past 16384
    with pytest.raises(redis.ResponseError, match="INVALIDOBJ"):
        ours.pfcount("h2", "h2")
    assert ours.ping()


def test_ttl_survives_pfadd(ours):
    ours.delete("t")
    ours.pfadd("t", "a")
    ours.expire("t", 100)
    ours.pfadd("t", "b", "c")
    assert 0 < ours.ttl("t") <= 100


def test_swar_register_max_and_packing():
    rng = random.Random(3)
    a = bytes(rng.randrange(64) for _ in range(hll.M))
    b = bytes(rng.randrange(64) for _ in range(hll.M))
    assert hll.register_max(a, b) == bytes(map(max, a, b))
    assert hll.unpack_dense(hll.pack_dense(a)) == a
    # register i sits at bits 6i..6i+5 of the packed string, least significant first
    packed = int.from_bytes(hll.pack_dense(a), "little")
    assert all((packed >> (6 * i)) & 63 == a[i] for i in range(0, hll.M, 97))


def test_dense_register_writes_match_packing():
    rng = random.Random(5)
    regs = bytearray(hll.M)
    body = bytearray(hll.pack_dense(regs))
    for _ in range(3000):
        i, v = rng.randrange(hll.M), rng.randrange(64)
        regs[i] = v
        hll._dense_set(body, i, v, base=0)
    assert bytes(body) == hll.pack_dense(regs)
