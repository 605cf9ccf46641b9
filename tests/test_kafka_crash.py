"""SIGKILL the broker while producers write with acks=all: nothing acknowledged is lost,
and a torn tail left in the active segment is cut on restart."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from clients.kafka.connection import BrokerConnection, ConnectionError_
from clients.kafka.protocol import apis
from clients.kafka.protocol import records as R
from tests.kafka_support import fetch_raw, start_broker, wait_for

pytestmark = pytest.mark.exercise("M1")


def _read_all(port: int, topic: str) -> list[R.Record]:
    out: list[R.Record] = []
    with BrokerConnection("127.0.0.1", port) as conn:
        off = 0
        while True:
            recs = [r for r in R.decode_batches(fetch_raw(conn, topic, off)) if r.offset >= off]
            if not recs:
                return out
            out += recs
            off = recs[-1].offset + 1


def test_sigkill_mid_produce_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    data = tmp_path / "d"
    broker = start_broker(data, "--segment-bytes", "20000")
    acked: list[bytes] = []
    stop = threading.Event()

    def produce(worker: int) -> None:
        try:
            conn = BrokerConnection("127.0.0.1", broker.port)
            for i in range(100_000):
                if stop.is_set():
                    return
                vals = [b"w%d-%d-%d" % (worker, i, j) for j in range(5)]
                batch = R.encode_batch([(None, v, [], R.now_ms()) for v in vals])
                resp = conn.request(apis.PRODUCE, {"acks": -1, "timeout_ms": 5000, "topics": [
                    {"name": "crash", "partitions": [{"index": 0, "records": batch}]}]})
                if resp["responses"][0]["partitions"][0]["error_code"] == 0:
                    acked.extend(vals)
        except (ConnectionError_, OSError):
            return  # the broker died under us: what was acknowledged is what counts

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 1500, what="acknowledged records")
    broker.kill()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(list(data.glob("crash-0/*.log"))) > 1  # segments rolled during the run
    again = start_broker(data)
    try:
        recs = _read_all(again.port, "crash")
        values = [r.value for r in recs]
        assert set(acked) <= set(values)
        assert [r.offset for r in recs] == list(range(len(recs)))
        assert len(values) == len(set(values))
    finally:
        again.stop()


def test_torn_tail_after_a_kill_is_truncated_and_appends_continue(tmp_path: Path) -> None:
    data = tmp_path / "d"
    broker = start_broker(data)
    with BrokerConnection("127.0.0.1", broker.port) as conn:
        for i in range(3):
            conn.request(apis.PRODUCE, {"acks": -1, "timeout_ms": 1000, "topics": [
                {"name": "torn", "partitions": [{"index": 0, "records": R.encode_batch(
                    [(None, b"v%d" % i, [], 1)])}]}]})  # fmt: skip
    broker.kill()
    seg = data / "torn-0" / f"{0:020d}.log"
    with open(seg, "ab") as f:  # half a batch, as a crash inside write() leaves it
        f.write(R.encode_batch([(None, b"half", [], 1)])[:40])
    again = start_broker(data)
    try:
        with BrokerConnection("127.0.0.1", again.port) as conn:
            r = conn.request(apis.PRODUCE, {"acks": -1, "timeout_ms": 1000, "topics": [
                {"name": "torn", "partitions": [{"index": 0, "records": R.encode_batch(
                    [(None, b"after", [], 1)])}]}]})  # fmt: skip
            assert r["responses"][0]["partitions"][0]["base_offset"] == 3
        assert [r.value for r in _read_all(again.port, "torn")] == [b"v0", b"v1", b"v2", b"after"]
        assert "truncated" in again.output()
    finally:
        again.stop()
