"""servers.kafka against clients nobody here wrote (kcat, kafka-python, aiokafka),
and against bad input on raw sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.kafka.connection import BrokerConnection
from clients.kafka.protocol import apis
from clients.kafka.protocol import records as R
from clients.kafka.protocol.framing import encode_request
from harness.procs import Child
from tests.kafka_support import fetch_raw, start_broker, wait_for

pytestmark = pytest.mark.exercise("M1")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Child]:
    child = start_broker(tmp_path / "data", "--partitions", "3")
    yield child
    child.stop()


def _addr(b: Child) -> str:
    return f"127.0.0.1:{b.port}"


def _fetch_all(conn: BrokerConnection, topic: str) -> list[R.Record]:
    return list(R.decode_batches(fetch_raw(conn, topic)))


def _produce(conn: BrokerConnection, topic: str, data: bytes, acks: int = -1) -> dict:
    return conn.request(apis.PRODUCE, {"acks": acks, "timeout_ms": 1000, "topics": [
        {"name": topic, "partitions": [{"index": 0, "records": data}]}]})["responses"][0][
        "partitions"][0]  # fmt: skip


def test_kcat_produces_and_consumes_with_keys(broker: Child) -> None:
    lines = "".join(f"k{i}:value-{i}\n" for i in range(20))
    subprocess.run(["kcat", "-b", _addr(broker), "-P", "-t", "kc", "-K:", "-p", "0"],
                   input=lines.encode(), check=True, timeout=30)  # fmt: skip
    out = subprocess.run(["kcat", "-b", _addr(broker), "-C", "-t", "kc", "-p", "0", "-e",
                          "-f", "%k=%s@%o\n"], capture_output=True, check=True, timeout=30)  # fmt: skip
    assert out.stdout.decode().splitlines() == [f"k{i}=value-{i}@{i}" for i in range(20)]
    meta = subprocess.run(["kcat", "-b", _addr(broker), "-L", "-t", "kc"],
                          capture_output=True, check=True, timeout=30).stdout.decode()  # fmt: skip
    assert 'topic "kc" with 3 partitions' in meta


def test_kafka_python_admin_producer_and_group_consumer(broker: Child) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=_addr(broker))
    admin.create_topics([NewTopic("kp", 4, 1)])
    assert "kp" in admin.list_topics()
    prod = KafkaProducer(bootstrap_servers=_addr(broker), acks="all", enable_idempotence=True)
    for i in range(200):
        prod.send("kp", key=b"k%d" % i, value=b"v%d" % i)
    prod.flush()
    prod.close()
    cons = KafkaConsumer("kp", bootstrap_servers=_addr(broker), group_id="g1",
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         consumer_timeout_ms=3000)  # fmt: skip
    got = {m.value for m in cons}
    assert got == {b"v%d" % i for i in range(200)}
    cons.commit()
    cons.close()
    offsets = admin.list_group_offsets("g1")["g1"]
    assert sum(o.offset for o in offsets.values()) == 200
    admin.delete_topics(["kp"])
    assert "kp" not in admin.list_topics()
    admin.close()


def test_aiokafka_group_of_two_splits_partitions_then_one_leaves(broker: Child) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def main() -> None:
        b = _addr(broker)
        p = AIOKafkaProducer(bootstrap_servers=b, enable_idempotence=True)
        await p.start()
        for i in range(60):
            await p.send("ak", b"x%d" % i, partition=i % 3)
        await p.flush()
        await p.stop()
        c1 = AIOKafkaConsumer("ak", bootstrap_servers=b, group_id="ga",
                              auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
        c2 = AIOKafkaConsumer("ak", bootstrap_servers=b, group_id="ga",
                              auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
        await c1.start()
        await c2.start()
        seen: set[bytes] = set()

        async def pump(c: AIOKafkaConsumer) -> None:
            while len(seen) < 60:
                for ms in (await c.getmany(timeout_ms=200)).values():
                    seen.update(m.value for m in ms)

        await asyncio.wait_for(asyncio.gather(pump(c1), pump(c2)), 30)
        assert seen == {b"x%d" % i for i in range(60)}
        a1, a2 = c1.assignment(), c2.assignment()
        assert a1 and a2 and not (a1 & a2) and len(a1 | a2) == 3
        await c2.stop()  # LeaveGroup: c1 must end up owning all three partitions

        async def owns_all() -> None:
            while len(c1.assignment()) != 3:
                await c1.getmany(timeout_ms=100)

        await asyncio.wait_for(owns_all(), 30)
        await c1.commit()
        await c1.stop()

    asyncio.run(main())
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        got = conn.request(apis.OFFSET_FETCH, {"group_id": "ga", "topics": None})
        assert sum(p["committed_offset"] for t in got["topics"] for p in t["partitions"]) == 60
        desc = conn.request(apis.DESCRIBE_GROUPS, {"groups": ["ga"]})["groups"][0]
        assert desc["group_state"] == "Empty" and desc["members"] == []


def test_member_without_heartbeats_is_expired(broker: Child) -> None:
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        j = conn.request(apis.JOIN_GROUP, {"group_id": "gx", "session_timeout_ms": 300,
                                           "rebalance_timeout_ms": 300, "member_id": "",
                                           "protocol_type": "consumer",
                                           "protocols": [{"name": "range", "metadata": b""}]})
        assert j["error_code"] == 0 and j["leader"] == j["member_id"]
        s = conn.request(apis.SYNC_GROUP, {"group_id": "gx", "generation_id": j["generation_id"],
                                           "member_id": j["member_id"], "assignments": [
                                               {"member_id": j["member_id"], "assignment": b"A"}]})
        assert s == {"throttle_time_ms": 0, "error_code": 0, "assignment": b"A"}
        hb = {"group_id": "gx", "generation_id": j["generation_id"], "member_id": j["member_id"]}
        assert conn.request(apis.HEARTBEAT, hb)["error_code"] == 0

        def expired() -> bool:
            d = conn.request(apis.DESCRIBE_GROUPS, {"groups": ["gx"]})["groups"][0]
            return d["group_state"] == "Empty"

        wait_for(expired, what="the silent member to expire")
        assert conn.request(apis.HEARTBEAT, hb)["error_code"] == 25  # UNKNOWN_MEMBER_ID


def test_offsets_survive_a_restart(tmp_path: Path) -> None:
    b = start_broker(tmp_path / "d")
    commit = {"group_id": "g", "topics": [{"name": "t", "partitions": [
        {"partition_index": 0, "committed_offset": 41, "committed_metadata": "m"}]}]}  # fmt: skip
    try:
        with BrokerConnection("127.0.0.1", b.port) as conn:
            conn.request(apis.CREATE_TOPICS, {"topics": [{"name": "t", "num_partitions": 1,
                                                          "replication_factor": 1}]})
            r = conn.request(apis.OFFSET_COMMIT, commit, version=1)
            assert r["topics"][0]["partitions"][0]["error_code"] == 0
    finally:
        b.kill()  # SIGKILL: the commit was fsynced before it was answered
    b2 = start_broker(tmp_path / "d")
    try:
        with BrokerConnection("127.0.0.1", b2.port) as conn:
            got = conn.request(apis.OFFSET_FETCH, {"group_id": "g", "topics": [
                {"name": "t", "partition_indexes": [0]}]})  # fmt: skip
            p = got["topics"][0]["partitions"][0]
            assert (p["committed_offset"], p["metadata"]) == (41, "m")
    finally:
        b2.stop()


def test_fetch_long_poll_wakes_on_arrival_and_times_out_empty(broker: Child) -> None:
    conn = BrokerConnection("127.0.0.1", broker.port)
    other = BrokerConnection("127.0.0.1", broker.port)
    conn.request(apis.METADATA, {"topics": [{"name": "lp"}]})
    fetch = {"max_wait_ms": 200, "min_bytes": 1, "topics": [{"topic": "lp", "partitions": [
        {"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}]}]}  # fmt: skip
    empty = conn.request(apis.FETCH, fetch)
    assert empty["responses"][0]["partitions"][0]["records"] == b""
    conn.send(apis.FETCH, dict(fetch, max_wait_ms=25_000))
    assert _produce(other, "lp", R.encode_batch([(None, b"hello", [], 1)]))["error_code"] == 0
    got = conn.receive()["responses"][0]["partitions"][0]
    assert [r.value for r in R.decode_batches(got["records"])] == [b"hello"]
    conn.close()
    other.close()


def test_list_offsets_earliest_latest_and_by_time(broker: Child) -> None:
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        for ts in (1000, 2000, 3000):
            _produce(conn, "lo", R.encode_batch([(None, b"a", [], ts), (None, b"b", [], ts + 1)]))

        def at(ts: int) -> int:
            r = conn.request(apis.LIST_OFFSETS, {"topics": [{"name": "lo", "partitions": [
                {"partition_index": 0, "timestamp": ts}]}]})  # fmt: skip
            return r["topics"][0]["partitions"][0]["offset"]

        assert [at(-2), at(-1), at(1500), at(3001), at(5000)] == [0, 6, 2, 4, -1]


def test_wrong_crc_gets_corrupt_message_and_is_never_stored(broker: Child) -> None:
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        good = R.encode_batch([(None, b"good", [], 1)])
        bad = bytearray(R.encode_batch([(None, b"evil", [], 1)]))
        bad[-2] ^= 1
        assert _produce(conn, "crc", good)["error_code"] == 0
        assert _produce(conn, "crc", bytes(bad))["error_code"] == 2  # CORRUPT_MESSAGE
        assert _produce(conn, "crc", good + bytes(bad))["error_code"] == 2  # all or nothing
        assert [r.value for r in _fetch_all(conn, "crc")] == [b"good"]


def _raw(broker: Child) -> socket.socket:
    return socket.create_connection(("127.0.0.1", broker.port), timeout=10)


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("payload", [
    struct.pack(">i", 200 * 1024 * 1024),  # oversized frame
    struct.pack(">i", -5),  # negative size
    struct.pack(">ihhi", 8, 999, 0, 1),  # unknown API key
    struct.pack(">ihhi", 8, 3, 99, 1),  # unsupported Metadata version
    encode_request(apis.PRODUCE, 3, 1, "x", {"acks": 1, "timeout_ms": 1, "topics": [
        {"name": "t", "partitions": [{"index": 0, "records": b"abc"}]}]})[:-2] + b"",
], ids=["oversized", "negative", "unknown-key", "bad-version", "truncated-body"])  # fmt: skip
def test_bad_frames_close_only_their_connection(broker: Child, payload: bytes) -> None:
    if payload.startswith(b"\x00\x00") and len(payload) > 12:  # the truncated body: fix size
        payload = struct.pack(">i", len(payload) - 4) + payload[4:]
    s = _raw(broker)
    s.sendall(payload)
    assert _closed(s)
    with BrokerConnection("127.0.0.1", broker.port) as conn:  # everyone else is served
        assert conn.request(apis.METADATA, {"topics": None})["brokers"][0]["port"] == broker.port
    assert broker.alive()


def test_api_versions_unknown_version_gets_a_v0_answer(broker: Child) -> None:
    s = _raw(broker)
    s.sendall(struct.pack(">ihhih", 10, 18, 99, 7, 0))
    head = s.recv(10)
    size, corr, err = struct.unpack(">iih", head)
    assert (corr, err) == (7, 35)  # UNSUPPORTED_VERSION, in the v0 layout


def test_a_half_sent_frame_then_hangup_hurts_nobody(broker: Child) -> None:
    s = _raw(broker)
    s.sendall(struct.pack(">i", 1000) + b"x" * 10)
    s.close()
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        assert conn.request(apis.LIST_GROUPS, {})["error_code"] == 0


def test_idempotent_retry_is_acknowledged_once_and_stored_once(broker: Child) -> None:
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        pid = conn.request(apis.INIT_PRODUCER_ID, {"transactional_id": None,
                                                   "transaction_timeout_ms": 1000})
        assert pid["error_code"] == 0 and pid["producer_id"] >= 0

        def batch(seq: int, v: bytes) -> bytes:
            return R.encode_batch([(None, v, [], 1), (None, v, [], 2)], producer_id=pid["producer_id"],
                                  producer_epoch=pid["producer_epoch"], base_sequence=seq)

        first = _produce(conn, "idem", batch(0, b"a"))
        again = _produce(conn, "idem", batch(0, b"a"))  # the retry of a lost acknowledgement
        assert (first["error_code"], again["error_code"]) == (0, 0)
        assert again["base_offset"] == first["base_offset"] == 0
        assert _produce(conn, "idem", batch(5, b"gap"))["error_code"] == 45  # OUT_OF_ORDER
        assert _produce(conn, "idem", batch(2, b"b"))["base_offset"] == 2
        assert [r.value for r in _fetch_all(conn, "idem")] == [b"a", b"a", b"b", b"b"]


def test_partition_count_past_the_limit_is_refused(broker: Child) -> None:
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        r = conn.request(apis.CREATE_TOPICS, {"topics": [
            {"name": "huge", "num_partitions": 100_000, "replication_factor": 1},
            {"name": "../escape", "num_partitions": 1, "replication_factor": 1}]})
        assert [t["error_code"] for t in r["topics"]] == [37, 17]  # INVALID_PARTITIONS, INVALID_TOPIC
        assert conn.request(apis.METADATA, {"topics": None})["topics"] == []


def test_sigterm_with_a_long_poll_in_flight_stops_cleanly(tmp_path: Path) -> None:
    b = start_broker(tmp_path / "d")
    conn = BrokerConnection("127.0.0.1", b.port)
    conn.request(apis.METADATA, {"topics": [{"name": "lp"}]})
    conn.send(apis.FETCH, {"max_wait_ms": 25_000, "min_bytes": 1, "topics": [
        {"topic": "lp", "partitions": [{"partition": 0, "fetch_offset": 0,
                                        "partition_max_bytes": 1024}]}]})  # fmt: skip
    assert b.stop() == 0  # SIGTERM: the shell's grace period, then a clean exit
    assert "Traceback" not in b.output()
    conn.close()


def test_out_of_range_fetch_is_an_error_code(broker: Child) -> None:
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        _produce(conn, "oor", R.encode_batch([(None, b"x", [], 1)]))
        resp = conn.request(apis.FETCH, {"max_wait_ms": 0, "min_bytes": 0, "topics": [
            {"topic": "oor", "partitions": [{"partition": 0, "fetch_offset": 99,
                                             "partition_max_bytes": -5}]}]})  # fmt: skip
        p = resp["responses"][0]["partitions"][0]
        assert (p["error_code"], p["high_watermark"]) == (1, 1)  # OFFSET_OUT_OF_RANGE


@pytest.mark.parametrize("args,code", [(["--partitions", "0"], 2), (["--dir", "/proc/nope"], 1)])
def test_command_line_mistakes_are_one_line(args: list[str], code: int) -> None:
    import sys

    r = subprocess.run([sys.executable, "-m", "servers.kafka", "--port", "0", *args],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == code
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_compressed_batches_are_stored_as_received(broker: Child) -> None:
    pad = "x" * 200  # compressible, so librdkafka keeps the compressed form
    lines = "".join(f"value-{i}{pad}\n" for i in range(50))
    subprocess.run(["kcat", "-b", _addr(broker), "-P", "-t", "zz", "-p", "0", "-z", "zstd",
                    "-X", "linger.ms=200"], input=lines.encode(), check=True, timeout=30)  # fmt: skip
    out = subprocess.run(["kcat", "-b", _addr(broker), "-C", "-t", "zz", "-p", "0", "-e",
                          "-f", "%s\n"], capture_output=True, check=True, timeout=30)  # fmt: skip
    assert out.stdout.decode().splitlines() == [f"value-{i}{pad}" for i in range(50)]
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        assert R.HEADER.unpack_from(fetch_raw(conn, "zz"))[5] & R.COMPRESSION_MASK == 4  # zstd
        mine = R.encode_batch([(None, b"v%d" % i * 50, [], 1) for i in range(20)],
                              compression=R.COMPRESSION_GZIP)  # fmt: skip
        assert _produce(conn, "zg", mine)["error_code"] == 0
        assert fetch_raw(conn, "zg") == mine  # byte for byte (its base offset was 0 anyway)
        assert [r.value for r in _fetch_all(conn, "zg")] == [b"v%d" % i * 50 for i in range(20)]

