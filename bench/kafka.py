"""bench/kafka: produce and consume small records through servers/kafka and tansu,
with our client (clients/kafka) and with kafka-python, in the same run.

Every round runs each (broker, client) pair once, the order rotating from round
to round (each of the four goes first in turn; reversing every other round would
leave the middle two never first nor last), on a fresh one-partition topic: produce N records of ``--size`` bytes (acks=1, the
same batch size and linger for both clients), then consume them from offset 0
with a manually assigned consumer. Figures are records/s (and MB/s) with
min / median / max over rounds (higher is better; ratios are ours / the reference's
medians). ``kafka.json`` holds them, ``kafka.png`` draws the medians with whiskers. Two ratios matter (goals of exercise M1):
our consumer vs kafka-python's (goal >= 2x) and our broker's produce rate vs
tansu's with the same client (goal >= 0.5x).

    python -m bench.kafka [--records 1000000] [--size 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

from bench.common import Row, header, measured, median_bars, rotated, save, table
from clients.kafka import Consumer, Producer
from clients.kafka.connection import BrokerConnection
from clients.kafka.protocol import apis
from harness.procs import free_port, python_module
from harness.tansu import tansu

log = logging.getLogger(__name__)
BATCH = 256 * 1024  # bytes per batch, both clients
LINGER_MS = 5


def _create(port: int, topic: str) -> None:
    with BrokerConnection("127.0.0.1", port) as c:
        r = c.request(
            apis.CREATE_TOPICS,
            {
                "topics": [{"name": topic, "num_partitions": 1, "replication_factor": 1}],
                "timeout_ms": 5000,
            },
        )
        assert r["topics"][0]["error_code"] == 0, r


def ours_produce(addr: str, topic: str, n: int, value: bytes) -> None:
    with Producer(addr, acks=1, batch_size=BATCH, linger_ms=LINGER_MS,
                  max_buffered=200_000) as p:  # fmt: skip
        for _ in range(n):
            p.send(topic, value, partition=0)


def ours_consume(addr: str, topic: str, n: int) -> None:
    with Consumer(addr, fetch_max_wait_ms=100, max_partition_fetch_bytes=4 << 20) as c:
        c.assign([(topic, 0)])
        c.seek((topic, 0), 0)
        got = 0
        deadline = time.monotonic() + 600
        while got < n and time.monotonic() < deadline:
            for rs in c.poll(1000).values():
                got += len(rs)
    if got < n:
        raise RuntimeError(f"our consumer got {got} of {n}")


def kp_produce(addr: str, topic: str, n: int, value: bytes) -> None:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=addr, acks=1, batch_size=BATCH, linger_ms=LINGER_MS)
    for _ in range(n):
        p.send(topic, value, partition=0)
    p.flush()
    p.close()


def kp_consume(addr: str, topic: str, n: int) -> None:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=addr, enable_auto_commit=False,
                      max_partition_fetch_bytes=4 << 20, fetch_max_wait_ms=100)  # fmt: skip
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    got = 0
    deadline = time.monotonic() + 600
    while got < n and time.monotonic() < deadline:
        for ms in c.poll(1000, max_records=100_000).values():
            got += len(ms)
    c.close()
    if got < n:
        raise RuntimeError(f"kafka-python got {got} of {n}")


CLIENTS: dict[str, tuple[Callable[..., None], Callable[..., None]]] = {
    "ours": (ours_produce, ours_consume),
    "kafka-python": (kp_produce, kp_consume),
}


def run(records: int, size: int, rounds: int) -> list[Row]:
    value = b"x" * size
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as tmp:
        brokers = {"syslab": python_module("servers.kafka", "--dir", tmp, "--log-level", "warning",
                                           port=free_port()), "tansu": tansu()}  # fmt: skip
        for b in brokers.values():
            b.start()
        samples: dict[tuple[str, str, str], list[float]] = {}
        try:
            pairs = [(b, c) for b in brokers for c in CLIENTS]
            for r in range(rounds):
                for bname, cname in rotated(pairs, r):  # each pair goes first in turn
                    port = brokers[bname].port
                    assert port is not None
                    addr, topic = f"127.0.0.1:{port}", f"b-{uuid.uuid4().hex[:8]}"
                    _create(port, topic)
                    produce, consume = CLIENTS[cname]
                    t0 = time.perf_counter()
                    produce(addr, topic, records, value)
                    t1 = time.perf_counter()
                    consume(addr, topic, records)
                    t2 = time.perf_counter()
                    samples.setdefault(("produce", bname, cname), []).append(records / (t1 - t0))
                    samples.setdefault(("consume", bname, cname), []).append(records / (t2 - t1))
                    log.info(
                        "round %d %s/%s: produce %.0f/s consume %.0f/s",
                        r,
                        bname,
                        cname,
                        records / (t1 - t0),
                        records / (t2 - t1),
                    )
        finally:
            for b in brokers.values():
                b.stop()
    return _rows(samples, size)


def _rows(samples: dict[tuple[str, str, str], list[float]], size: int) -> list[Row]:
    rows = []
    for (op, broker, client), xs in sorted(samples.items()):
        r = measured(f"{op} @{broker}", client, xs, "rec/s")
        rows.append(r)
    for client in CLIENTS:  # the broker comparison: same client, two brokers
        for b in ("syslab", "tansu"):
            rows.append(
                measured(
                    f"produce via {client}", f"broker {b}", samples[("produce", b, client)], "rec/s"
                )
            )
    for r in rows:
        r.extra["MB/s"] = r.value * size / 1e6
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.kafka", description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--size", type=int, default=100, help="value bytes per record")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    if args.records < 1 or args.size < 0 or args.rounds < 1:
        p.error("--records and --rounds must be >= 1, --size >= 0")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python's own chatter
    rows = run(args.records, args.size, args.rounds)
    print(header(f"kafka: {args.records:,} records of {args.size} B, {args.rounds} round(s)"))
    clients = [r for r in rows if not r.impl.startswith("broker")]
    print(table(clients, reference="kafka-python"))
    print()
    print(table([r for r in rows if r.impl.startswith("broker")], reference="broker tansu"))
    path = save("kafka", rows, records=args.records, size=args.size, rounds=args.rounds)
    png = median_bars(rows, path.with_suffix(".png"), f"Kafka: {args.records:,} records of {args.size} B, "
                      f"median of {args.rounds} round(s), whiskers min..max", "records / s",
                      size=(14, 5), panel=lambda r: "brokers: syslab vs tansu, same client"
                      if r.impl.startswith("broker") else "clients: ours vs kafka-python, same broker")  # fmt: skip
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
