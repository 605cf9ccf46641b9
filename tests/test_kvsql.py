"""D7: a KV store on real MariaDB instances: TTLs, soft deletes, the batch cleaner, and hash
and range routing (rows checked on the instance routing names)."""


import pytest

from clients.mysql import Connection
from harness.services import MariaDB, start_all
from servers.kvsql.engine import MAX_KEY, KeyTooLarge, KVSql, Routing

pytestmark = pytest.mark.exercise("D7")


@pytest.fixture(scope="module")
def shards():
    servers = start_all([MariaDB() for _ in range(3)])
    yield {f"s{i}": s.address for i, s in enumerate(servers)}
    for s in servers:
        s.stop()


class Clock:
    def __init__(self):
        self.ms = 1_000_000

    def __call__(self):
        return self.ms


@pytest.fixture
def fresh(shards):
    for addr in shards.values():
        with Connection.from_address(addr) as c:
            c.query("DROP TABLE IF EXISTS kv")
    made = []

    def make(routing=None):
        clock = Clock()
        kv = KVSql(shards, routing, now_ms=clock)
        made.append(kv)
        return kv, clock

    yield make
    for kv in made:
        kv.close()


def rows_on(addr):
    with Connection.from_address(addr) as c:
        return {bytes(k): (bytes(v), e, d) for k, v, e, d in c.query("SELECT k, v, expires_at, deleted_at FROM kv").rows}


def test_get_set_delete_and_ttl_with_an_injected_clock(fresh):
    kv, clock = fresh()
    assert kv.get(b"a") is None and kv.pttl(b"a") == -2
    assert kv.set(b"a", b"1") and kv.get(b"a") == b"1" and kv.pttl(b"a") == -1
    assert kv.set(b"t", b"2", ttl_ms=1500) and kv.pttl(b"t") == 1500
    clock.ms += 1499
    assert kv.get(b"t") == b"2"
    clock.ms += 1
    assert kv.get(b"t") is None and kv.pttl(b"t") == -2  # gone the moment it expires
    assert kv.expire(b"a", 100) and kv.persist(b"a") and kv.pttl(b"a") == -1
    assert not kv.expire(b"missing", 100)
    assert kv.delete(b"a") and kv.get(b"a") is None and not kv.delete(b"a")
    assert kv.count() == 0
    assert kv.set(b"a", b"back") and kv.get(b"a") == b"back"  # a soft-deleted key can be set again


def test_nx_and_xx(fresh):
    kv, clock = fresh()
    assert not kv.set(b"k", b"x", only="xx")
    assert kv.set(b"k", b"1", only="nx") and not kv.set(b"k", b"2", only="nx")
    assert kv.set(b"k", b"3", only="xx") and kv.get(b"k") == b"3"
    kv.set(b"e", b"old", ttl_ms=10)
    clock.ms += 10
    assert kv.set(b"e", b"new", only="nx")  # an expired key counts as absent


def test_deletes_are_soft_until_the_cleaner_removes_rows_in_batches(fresh, shards):
    kv, clock = fresh(Routing("range", ("s0", "s1", "s2"), (b"g", b"p")))
    for i in range(25):
        kv.set(b"a%02d" % i, b"v")
    for i in range(10):
        kv.delete(b"a%02d" % i)
    kv.set(b"h-expiring", b"v", ttl_ms=5)
    clock.ms += 5
    on_s0 = rows_on(shards["s0"])
    assert len(on_s0) == 25 and sum(1 for _, _, d in on_s0.values() if d is not None) == 10
    assert kv.clean_once(batch=3) == 11  # 10 soft-deleted + 1 expired, three rows per DELETE
    assert len(rows_on(shards["s0"])) == 15 and rows_on(shards["s1"]) == {}
    assert kv.count() == 15 and kv.clean_once() == 0


def test_range_routing_puts_keys_on_the_named_shard(fresh, shards):
    kv, _ = fresh(Routing("range", ("s0", "s1", "s2"), (b"g", b"p")))
    for key in (b"apple", b"grape", b"kiwi", b"pear", b"zebra"):
        kv.set(key, key)
    assert set(rows_on(shards["s0"])) == {b"apple"}
    assert set(rows_on(shards["s1"])) == {b"grape", b"kiwi"}
    assert set(rows_on(shards["s2"])) == {b"pear", b"zebra"}
    assert [k for k, _ in kv.scan()] == [b"apple", b"grape", b"kiwi", b"pear", b"zebra"]
    assert [k for k, _ in kv.scan(b"h", limit=2)] == [b"kiwi", b"pear"]


def test_hash_routing_spreads_keys_and_agrees_with_the_ring(fresh, shards):
    kv, _ = fresh()
    for i in range(300):
        kv.set(b"user:%d" % i, b"x")
    counts = {name: len(rows_on(addr)) for name, addr in shards.items()}
    assert sum(counts.values()) == 300 and min(counts.values()) > 50
    for name, addr in shards.items():
        assert all(kv.routing.shard_of(k) == name for k in rows_on(addr))


def test_limits_and_bad_routing_are_refused(fresh, shards):
    kv, _ = fresh()
    with pytest.raises(KeyTooLarge):
        kv.set(b"k" * (MAX_KEY + 1), b"v")
    assert kv.set(b"bin\x00\r\n", b"\x00\xff") and kv.get(b"bin\x00\r\n") == b"\x00\xff"
    with pytest.raises(ValueError):
        Routing("range", ("a", "b"), (b"z", b"a"))
    with pytest.raises(ValueError):
        Routing("modulo", ("a",))
    with pytest.raises(ValueError):
        KVSql(shards, Routing("hash", ("x", "y")))
