"""clients/kafka against our broker and against tansu (a Kafka-compatible broker
written elsewhere), and interoperating with kafka-python."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.kafka import Consumer, Producer
from clients.kafka.assignors import range_assign, roundrobin_assign
from clients.kafka.connection import BrokerConnection
from clients.kafka.partitioner import murmur2, partition_for
from clients.kafka.protocol import apis
from clients.kafka.protocol import records as R
from harness.procs import Child
from tests.kafka_support import fetch_raw, start_broker, start_tansu, wait_for

pytestmark = pytest.mark.exercise("M1")


# Values from the Java client's own test of Utils.murmur2.
@pytest.mark.parametrize("key,expected", [
    (b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971), (b"abc", 479470107),
])  # fmt: skip
def test_murmur2_matches_the_java_client(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_partitioner_agrees_with_kafka_python_on_many_keys() -> None:
    from kafka.partitioner.default import murmur2 as theirs

    for i in range(2000):
        key = b"user-%d" % i
        assert partition_for(key, 7) == (theirs(key) & 0x7FFFFFFF) % 7


def test_range_and_roundrobin_assignors() -> None:
    subs = {"b": ["t"], "a": ["t"], "c": ["t"]}
    assert range_assign(subs, {"t": 7}) == {"a": {"t": [0, 1, 2]}, "b": {"t": [3, 4]}, "c": {"t": [5, 6]}}
    assert roundrobin_assign(subs, {"t": 4}) == {"a": {"t": [0, 3]}, "b": {"t": [1]}, "c": {"t": [2]}}


@pytest.fixture(params=["syslab", "tansu"])
def any_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Child]:
    child = start_broker(tmp_path / "d", "--partitions", "3") if request.param == "syslab" \
        else start_tansu()  # fmt: skip
    yield child
    child.stop()


def _create(b: Child, topic: str, n: int) -> None:
    with BrokerConnection("127.0.0.1", b.port) as conn:
        r = conn.request(apis.CREATE_TOPICS, {"topics": [
            {"name": topic, "num_partitions": n, "replication_factor": 1}], "timeout_ms": 5000})
        assert r["topics"][0]["error_code"] == 0


def _stored_batches(port: int, topic: str, partition: int) -> list[list[bytes | None]]:
    with BrokerConnection("127.0.0.1", port) as conn:
        data = fetch_raw(conn, topic, 0, partition)
    out, pos = [], 0
    while pos < len(data):
        _, _, size = R.batch_bounds(data, pos)
        out.append([r.value for r in R.decode_batches(data[pos : pos + size])])
        pos += size
    return out


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_producer_acks_and_consumer_group_round_trip(any_broker: Child, acks: int | str) -> None:
    addr = f"127.0.0.1:{any_broker.port}"
    _create(any_broker, "rt", 3)
    with Producer(addr, acks=acks, linger_ms=2) as p:
        futs = [p.send("rt", b"v%d" % i, key=b"k%d" % i) for i in range(300)]
    where = [f.result(5) for f in futs]
    assert [w[0] for w in where] == [partition_for(b"k%d" % i, 3) for i in range(300)]
    if acks != 0:
        assert all(off >= 0 for _, off in where)
    got: list[bytes] = []
    with Consumer(addr, group_id=f"g{acks}", fetch_max_wait_ms=100) as c:
        c.subscribe(["rt"])
        wait_for(lambda: got.extend(r.value for rs in c.poll(200).values() for r in rs)
                 or len(got) >= 300, what="300 records")  # fmt: skip
        c.commit()
        assert c.committed(c.assignment()) == {("rt", i): n for i, n in enumerate(
            [sum(1 for w in where if w[0] == i) for i in range(3)])}  # fmt: skip
    assert sorted(got) == sorted(b"v%d" % i for i in range(300))


def test_batching_by_size_and_by_linger(tmp_path: Path) -> None:
    b = start_broker(tmp_path / "d")
    try:
        addr = f"127.0.0.1:{b.port}"
        with Producer(addr, batch_size=10 * 116, linger_ms=60_000) as p:  # ~10 records a batch
            for _ in range(100):
                p.send("bs", b"x" * 100, partition=0)
            p.flush()
        sizes = [len(x) for x in _stored_batches(b.port, "bs", 0)]
        assert sum(sizes) == 100 and len(sizes) >= 9 and max(sizes) <= 10
        with Producer(addr, batch_size=1 << 20, linger_ms=50) as p:
            futs = [p.send("lg", b"y", partition=0) for _ in range(5)]
            assert [f.result(10)[1] for f in futs] == [0, 1, 2, 3, 4]  # no flush: linger sent it
        assert [len(x) for x in _stored_batches(b.port, "lg", 0)] == [5]
    finally:
        b.stop()


def test_retries_across_a_broker_restart_keep_order(tmp_path: Path) -> None:
    b = start_broker(tmp_path / "d")
    port = b.port
    p = Producer(f"127.0.0.1:{port}", acks=1, linger_ms=1, batch_size=200, retries=200,
                 retry_backoff_ms=50)  # fmt: skip
    futs = [p.send("ord", b"%06d" % i, partition=0) for i in range(200)]
    wait_for(lambda: sum(f.done() for f in futs) >= 50, what="first acks")
    b.kill()
    futs += [p.send("ord", b"%06d" % i, partition=0) for i in range(200, 400)]
    b2 = start_broker(tmp_path / "d", port=port)
    try:
        p.flush(60)
        assert all(f.exception() is None for f in futs)
        vals = [int(v) for batch in _stored_batches(port, "ord", 0) for v in batch]
        assert set(vals) == set(range(400))
        assert vals == sorted(vals)  # retried batches never overtake later ones
    finally:
        p.close()
        b2.stop()


def test_two_of_our_consumers_rebalance_with_callbacks_and_seek(any_broker: Child) -> None:
    addr = f"127.0.0.1:{any_broker.port}"
    _create(any_broker, "grp", 4)
    with Producer(addr) as p:
        for i in range(400):
            p.send("grp", b"%d" % i, partition=i % 4)
    events: list[tuple[str, str, list]] = []
    c1 = Consumer(addr, group_id="two", fetch_max_wait_ms=50, session_timeout_ms=6000)
    c2 = Consumer(addr, group_id="two", fetch_max_wait_ms=50, session_timeout_ms=6000)
    c1.subscribe(["grp"], on_assign=lambda a: events.append(("c1", "assign", a)),
                 on_revoke=lambda a: events.append(("c1", "revoke", a)))
    c2.subscribe(["grp"], on_assign=lambda a: events.append(("c2", "assign", a)))
    seen: dict[str, set[bytes]] = {"c1": set(), "c2": set()}
    stop = threading.Event()

    def run(name: str, c: Consumer) -> None:
        while not stop.is_set():
            for rs in c.poll(100).values():
                seen[name].update(r.value for r in rs)

    threads = [threading.Thread(target=run, args=("c1", c1))]
    threads[0].start()
    wait_for(lambda: len(seen["c1"]) == 400, what="c1 alone to read everything")
    threads.append(threading.Thread(target=run, args=("c2", c2)))
    threads[1].start()
    wait_for(lambda: len(c1.assignment()) == 2 and len(c2.assignment()) == 2, what="a 2+2 split")
    stop.set()
    for t in threads:
        t.join(10)
    assert not set(c1.assignment()) & set(c2.assignment())
    assert ("c1", "revoke", [("grp", i) for i in range(4)]) in events
    c2.commit()
    c2.close()
    part = c1.assignment()[0]
    c1.seek(part, 7)
    recs = wait_for(lambda: c1.poll(200).get(part), what="records after seek")
    assert recs[0].offset == 7
    c1.close()


def test_commit_async_calls_back(any_broker: Child) -> None:
    addr = f"127.0.0.1:{any_broker.port}"
    _create(any_broker, "ca", 1)
    with Producer(addr) as p:
        p.send("ca", b"a")
    results: list[Exception | None] = []
    with Consumer(addr, group_id="ca", fetch_max_wait_ms=50) as c:
        c.subscribe(["ca"])
        wait_for(lambda: c.poll(100), what="one record")
        c.commit_async(callback=results.append)
        assert c.committed([("ca", 0)]) == {("ca", 0): 1}  # the async answer was read first
        assert results == [None]


def test_interop_with_kafka_python_both_ways(tmp_path: Path) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    b = start_broker(tmp_path / "d", "--partitions", "3")
    addr = f"127.0.0.1:{b.port}"
    try:
        with Producer(addr) as p:
            for i in range(50):
                p.send("ours", b"o%d" % i, key=b"k%d" % i)
        kc = KafkaConsumer("ours", bootstrap_servers=addr, auto_offset_reset="earliest",
                           consumer_timeout_ms=3000)  # fmt: skip
        got = {(m.partition, m.value) for m in kc}
        kc.close()
        assert got == {(partition_for(b"k%d" % i, 3), b"o%d" % i) for i in range(50)}
        kp = KafkaProducer(bootstrap_servers=addr)
        for i in range(50):
            kp.send("theirs", key=b"k%d" % i, value=b"t%d" % i)
        kp.flush()
        kp.close()
        mine: set[tuple[int, bytes]] = set()
        with Consumer(addr, group_id="interop", fetch_max_wait_ms=50) as c:
            c.subscribe(["theirs"])
            wait_for(lambda: mine.update((tp[1], r.value) for tp, rs in c.poll(100).items()
                                         for r in rs) or len(mine) == 50, what="50 records")
        assert mine == {(partition_for(b"k%d" % i, 3), b"t%d" % i) for i in range(50)}
    finally:
        b.stop()


def test_consumer_rides_out_a_broker_restart(tmp_path: Path) -> None:
    b = start_broker(tmp_path / "d")
    port = b.port
    addr = f"127.0.0.1:{port}"
    with Producer(addr, acks="all") as p:
        for i in range(10):
            p.send("rs", b"%d" % i, partition=0)
    got: list[bytes] = []
    c = Consumer(addr, group_id="rs", fetch_max_wait_ms=50, session_timeout_ms=6000)
    c.subscribe(["rs"])
    wait_for(lambda: got.extend(r.value for rs in c.poll(100).values() for r in rs)
             or len(got) == 10, what="the first ten")  # fmt: skip
    c.commit()
    b.kill()
    b2 = start_broker(tmp_path / "d", port=port)
    try:
        with Producer(addr, acks="all") as p:
            for i in range(10, 20):
                p.send("rs", b"%d" % i, partition=0)
        wait_for(lambda: got.extend(r.value for rs in c.poll(100).values() for r in rs)
                 or len(got) >= 20, what="the ten after the restart")  # fmt: skip
        assert got == [b"%d" % i for i in range(20)]  # resumed at the committed offset
        c.close()
    finally:
        b2.stop()
