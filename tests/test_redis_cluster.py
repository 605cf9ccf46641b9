"""O4 against a real 6-node Redis Cluster: the launcher, our slot function, and the
cluster client following MOVED and ASK through a live slot migration.

One cluster (3 primaries, 3 replicas) is shared by the module: forming it takes
a few seconds. Tests that move slots leave the cluster consistent (every
primary told the new owner), and no test depends on the initial slot layout.
"""

from __future__ import annotations

import random

import pytest

import clients.resp as resp
from clients.resp.cluster import ClusterClient, command_key
from clients.resp.slots import SLOTS, crc16, hash_tag, key_slot
from harness.redis_cluster import BUS_PORT_OFFSET, RedisCluster
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("O4")


@pytest.fixture(scope="module")
def cluster():
    with RedisCluster(primaries=3, replicas=1) as c:
        yield c


@pytest.fixture
def client(cluster):
    with ClusterClient(cluster.addresses[:1]) as c:
        yield c


def node_conn(addr):
    return resp.connect(addr[0], addr[1])


# -- the slot function, pure ------------------------------------------------------------


def test_crc16_is_xmodem():
    assert crc16(b"123456789") == 0x31C3  # the catalogued check value of CRC-16/XMODEM
    assert crc16(b"") == 0


@pytest.mark.parametrize(
    "key, hashed",
    [
        (b"user:{42}:name", b"42"),
        (b"{42}", b"42"),
        (b"foo", b"foo"),
        (b"{}", b"{}"),  # empty tag: the whole key
        (b"{}{a}", b"{}{a}"),  # only the first '{' counts, and its tag is empty
        (b"{a}{b}", b"a"),  # the first tag wins
        (b"a{b", b"a{b"),  # no closing brace
        (b"a}b{c", b"a}b{c"),  # '}' before '{' does not close anything
        (b"x{{y}}", b"{y"),  # the first '}' after the first '{'
    ],
)
def test_hash_tag_rules(key, hashed):
    assert hash_tag(key) == hashed


def test_known_slots_from_the_spec_and_docs():
    assert key_slot("foo") == 12182
    assert key_slot("somekey") == 11058
    assert key_slot("{user1000}.following") == key_slot("{user1000}.followers")
    assert 0 <= key_slot(b"\xff" * 100) < SLOTS


def test_command_key_positions():
    assert command_key(("GET", "k")) == b"k"
    assert command_key(("PING",)) is None
    assert command_key(("CLUSTER", "KEYSLOT", "k")) is None
    assert command_key(("EVAL", "return 1", 1, "key", "arg")) == b"key"
    assert command_key(("EVAL", "return 1", 0)) is None


# -- the launcher -------------------------------------------------------------------------


def test_launcher_forms_three_primaries_with_one_replica_each(cluster):
    assert len(cluster.nodes) == 6
    for node in cluster.nodes:
        info = cluster.cluster_info(node.port)
        assert info["cluster_state"] == "ok"
        assert info["cluster_slots_assigned"] == str(SLOTS)
        assert info["cluster_known_nodes"] == "6"
    with node_conn(cluster.addresses[0]) as c:
        lines = c.execute("CLUSTER", "NODES").decode().splitlines()
    primaries = {f[0] for f in map(str.split, lines) if "master" in f[2]}
    replicas_of = [f[3] for f in map(str.split, lines) if "slave" in f[2]]
    assert len(primaries) == 3 and sorted(replicas_of) == sorted(primaries)
    for f in map(str.split, lines):  # each node announces its bus port at port + 10000
        port, bus = f[1].split("@")[0].rsplit(":", 1)[1], f[1].split("@")[1]
        assert int(bus) == int(port) + BUS_PORT_OFFSET


# -- our slot function against the real cluster ----------------------------------------------


def test_key_slot_equals_cluster_keyslot_on_10000_random_keys(cluster):
    rng = random.Random(4)
    alphabet = b"{}" * 8 + b"ab:_-\x00\xff" + bytes(range(32, 127))  # braces over-represented
    keys = [bytes(rng.choices(alphabet, k=rng.randrange(0, 24))) for _ in range(9_000)]
    keys += [rng.randbytes(rng.randrange(1, 40)) for _ in range(1_000)]  # arbitrary binary
    with node_conn(cluster.addresses[0]) as c:
        p = c.pipeline()
        for k in keys:
            p.command("CLUSTER", "KEYSLOT", k)
        theirs = p.execute()
    ours = [key_slot(k) for k in keys]
    mismatches = [(k, o, t) for k, o, t in zip(keys, ours, theirs, strict=True) if o != t]
    assert not mismatches[:5]
    assert sum(hash_tag(k) != k for k in keys) > 1000  # real hash tags were exercised


# -- the cluster client ------------------------------------------------------------------------


def test_client_maps_all_slots_to_the_three_primaries(client, cluster):
    assert all(a is not None for a in client.slots)
    assert sorted(p for _, p in client.nodes()) == cluster.primary_ports()


def test_keys_land_on_the_node_owning_their_slot(client):
    for i in range(50):
        assert client.execute("SET", f"route:{i}", i) == "OK"
    for i in range(50):
        key = f"route:{i}"
        owner = client.node_for(key)
        with node_conn(owner) as c:
            assert c.execute("GET", key) == str(i).encode()  # stored right there
        other = next(a for a in client.nodes() if a != owner)
        with node_conn(other) as c, pytest.raises(resp.MovedError) as moved:
            c.execute("GET", key)
        assert moved.value.slot == key_slot(key) and moved.value.address == owner
    assert client.stats["moved"] == 0 and client.stats["ask"] == 0


def test_hash_tags_allow_multi_key_commands(client):
    assert client.execute("MSET", "{cart:7}:items", 3, "{cart:7}:total", 99) == "OK"
    assert client.execute("MGET", "{cart:7}:items", "{cart:7}:total") == [b"3", b"99"]
    with pytest.raises(resp.errors.CrossSlotError):
        client.execute("MSET", "a-key", 1, "another-key", 2)


def test_moved_on_a_stale_map_is_followed_and_fixes_the_map(client):
    key = "stale-key"
    owner = client.node_for(key)
    wrong = next(a for a in client.nodes() if a != owner)
    client.slots[key_slot(key)] = wrong  # as if the map predates a reshard
    assert client.execute("SET", key, "v") == "OK"
    assert client.stats["moved"] == 1
    assert client.node_for(key) == owner
    assert client.execute("GET", key) == b"v"
    assert client.stats["moved"] == 1  # no second redirect


def test_cluster_pipeline_spans_nodes_and_keeps_order(client):
    p = client.pipeline()
    for i in range(300):
        p.command("SET", f"pipe:{i}", i)
    assert p.execute() == ["OK"] * 300
    for i in range(300):
        p.command("GET", f"pipe:{i}")
    assert p.execute() == [str(i).encode() for i in range(300)]
    assert len({client.node_for(f"pipe:{i}") for i in range(300)}) == 3


def _node_id(addr) -> str:
    with node_conn(addr) as c:
        return c.execute("CLUSTER", "MYID").decode()


def test_live_slot_migration_gives_ask_then_moved(client):
    """Move one slot by hand, as ``redis-cli --cluster reshard`` does, while the client works."""
    tag = "{migrating}"
    slot = key_slot(tag)
    source = client.node_for(tag)
    target = next(a for a in client.nodes() if a != source)
    src_id, dst_id = _node_id(source), _node_id(target)
    for i in range(3):
        client.execute("SET", f"{tag}:{i}", i)

    with node_conn(source) as src, node_conn(target) as dst:
        assert dst.execute("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id) == "OK"
        assert src.execute("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id) == "OK"
        assert src.execute("MIGRATE", *target, "", 0, 5000, "KEYS", f"{tag}:0") == "OK"

        # key 0 has left the source: ASK, answered by the target after ASKING.
        assert client.execute("GET", f"{tag}:0") == b"0"
        assert (client.stats["ask"], client.stats["moved"]) == (1, 0)
        assert client.node_for(tag) == source  # ASK does not change the map
        # key 1 is still on the source: served there, no redirect.
        assert client.execute("GET", f"{tag}:1") == b"1"
        assert client.stats["ask"] == 1
        # a new key in a migrating slot is created on the target (ASK again).
        assert client.execute("SET", f"{tag}:new", "n") == "OK"
        assert client.stats["ask"] == 2
        with pytest.raises(resp.MovedError):  # without ASKING the target refuses it
            dst.execute("GET", f"{tag}:new")

        keys = [f"{tag}:1", f"{tag}:2"]
        assert src.execute("MIGRATE", *target, "", 0, 5000, "KEYS", *keys) == "OK"
        for addr in [target, source] + [a for a in client.nodes() if a not in (source, target)]:
            with node_conn(addr) as c:
                assert c.execute("CLUSTER", "SETSLOT", slot, "NODE", dst_id) == "OK"

    # The slot now belongs to the target: the source answers MOVED, the map follows.
    assert client.execute("GET", f"{tag}:1") == b"1"
    assert client.stats["moved"] == 1
    assert client.node_for(tag) == target
    assert client.execute("GET", f"{tag}:new") == b"n"
    assert [client.execute("GET", f"{tag}:{i}") for i in range(3)] == [b"0", b"1", b"2"]
    assert client.stats["moved"] == 1 and client.stats["ask"] == 2


def test_bench_runs_end_to_end_quick(tmp_path):
    """``python -m bench.redis_cluster --quick`` on its own cluster: a table and a JSON."""
    import os
    import subprocess
    import sys

    from bench.common import OUT_ENV, REPO_ROOT

    out = subprocess.run(
        [sys.executable, "-m", "bench.redis_cluster", "--quick"], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120, env={**os.environ, OUT_ENV: str(tmp_path)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "keys moved 3->4" in out.stdout and "saved" in out.stderr
    doc = assert_bench_report(tmp_path, "redis_cluster-quick", png="redis_cluster-quick-timing.png")
    assert doc["grow"]["keys_moved"] == doc["per_node_after"][doc["grow"]["new_node"]]
    assert sum(doc["per_node_before"].values()) == 2_000
    timed = [r for r in doc["rows"] if r["unit"] != "keys"]
    assert {r["workload"] for r in timed} == {"key->slot", "pipelined SET", "single GET"}
    assert all(r["extra"]["rounds"] == 2 and r["extra"]["min"] <= r["value"] <= r["extra"]["max"]
               for r in timed)  # fmt: skip
    assert (tmp_path / "redis_cluster-quick.png").stat().st_size > 0
