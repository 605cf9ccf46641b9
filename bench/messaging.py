"""bench/messaging (M1): a producer and a consumer on RabbitMQ and on Kafka.

RabbitMQ is the real rabbitmq-server (a private node), spoken to by our AMQP
client and by pika; Kafka is servers/kafka, spoken to by our client and by
kafka-python. Each run publishes N messages carrying their send time while a
consumer drains them: messages/s end to end and the end-to-end latency p50/p99
(send -> delivery). Rounds are interleaved (the order of the four cases rotates
every round, so each goes first in turn); rows are the median rate with min / max
over rounds (higher is better; ratios are ours / the reference client's median)
and the latencies of the median round.
``messaging.json`` holds them, ``messaging.png`` draws the rates.

Then what happens when a consumer dies mid-batch (our clients): RabbitMQ
redelivers every message the dead consumer had received but not acked
(flagged ``redelivered``); Kafka hands the partition to the next member, which
re-reads everything after the last *committed* offset. Both are at-least-once:
the work done after the last ack/commit is done twice.

Every consumer is bounded in time and in count (``drain``): one that stops
receiving gives up after ``CONSUME_TIMEOUT`` seconds or ``MAX_IDLE_POLLS`` empty
polls, and the run ends with one line saying which and how far it got (a stalled
kafka-python consumer once held a run forever).

    python -m bench.messaging [--messages 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.common import Row, header, measured, median_bars, rotated, save, summarize, table
from clients.address import ServiceAddress
from clients.amqp import Connection as AMQP
from clients.kafka import Consumer, Producer
from harness.procs import Child, free_port, python_module
from harness.services import RabbitMQ

log = logging.getLogger(__name__)
_TS = struct.Struct(">d")
CONSUME_TIMEOUT = 120.0  # s one consumer may take to drain a run (20,000 take ~2 s here)
POLL_S = 0.5  # s one poll may wait for messages
MAX_IDLE_POLLS = 60  # polls that brought nothing (30 s of silence at POLL_S): stalled


class Stalled(RuntimeError):
    """A consumer stopped receiving before it had every message."""


def drain(poll: Callable[[float], int], n: int, who: str, timeout: float = CONSUME_TIMEOUT,
          max_idle: int = MAX_IDLE_POLLS) -> None:  # fmt: skip
    """Call ``poll(seconds)`` (it returns how many messages it received) until ``n`` have
    arrived; raise Stalled past ``timeout`` seconds or after ``max_idle`` empty polls."""
    got, idle, deadline = 0, 0, time.monotonic() + timeout
    while got < n:
        if time.monotonic() > deadline or idle >= max_idle:
            why = f"{timeout:.0f} s" if idle < max_idle else f"{idle} empty polls"
            raise Stalled(f"{who} consumer stalled: {got} of {n} messages after {why}, giving up")
        k = poll(POLL_S)
        got += k
        idle = 0 if k else idle + 1


class Drainer(threading.Thread):
    """``drain`` in a thread; ``finish`` joins it (bounded: drain is) and re-raises Stalled."""

    def __init__(self, poll: Callable[[float], int], n: int, who: str) -> None:
        super().__init__(name=f"drain-{who}", daemon=True)
        self.args_ = (poll, n, who)
        self.error: Stalled | None = None

    def run(self) -> None:
        try:
            drain(*self.args_)
        except Stalled as e:
            self.error = e

    def finish(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


def _body(i: int) -> bytes:
    return _TS.pack(time.time()) + b"%08d" % i + b"." * 90  # ~100 bytes


def _latency(body: bytes) -> float:
    return time.time() - _TS.unpack_from(body)[0]


# -- RabbitMQ ---------------------------------------------------------------------------


def rabbit_ours(r: ServiceAddress, n: int) -> tuple[float, list[float]]:
    q = f"m-{uuid.uuid4().hex[:8]}"
    pub, sub = AMQP(r.host, r.port), AMQP(r.host, r.port)
    pch, sch = pub.channel(), sub.channel()
    pch.queue_declare(q, auto_delete=True)
    sch.basic_qos(200)
    lat: list[float] = []

    def on(m: Any) -> None:
        lat.append(_latency(m.body))
        if len(lat) % 50 == 0:
            sch.basic_ack(m.delivery_tag, multiple=True)

    sch.basic_consume(q, on)

    def poll(secs: float) -> int:
        before = len(lat)
        sub.drain_events(secs)
        return len(lat) - before

    t0 = time.perf_counter()
    consumer = Drainer(poll, n, "rabbitmq/ours")
    consumer.start()
    try:
        pch.confirm_select()
        for i in range(n):
            pch.basic_publish("", q, _body(i))
            if i % 1000 == 999:
                pch.wait_for_confirms(30)
        pch.wait_for_confirms(30)
        consumer.finish()
        secs = time.perf_counter() - t0
    finally:
        consumer.join()
        pub.close()
        sub.close()
    return n / secs, lat


def rabbit_pika(r: ServiceAddress, n: int) -> tuple[float, list[float]]:
    import pika

    params = pika.ConnectionParameters(
        r.host, r.port, credentials=pika.PlainCredentials("guest", "guest")
    )
    q = f"m-{uuid.uuid4().hex[:8]}"
    pub, sub = pika.BlockingConnection(params), pika.BlockingConnection(params)
    pch, sch = pub.channel(), sub.channel()
    pch.queue_declare(q, auto_delete=True)
    sch.basic_qos(prefetch_count=200)
    lat: list[float] = []

    def on(ch: Any, method: Any, props: Any, body: bytes) -> None:
        lat.append(_latency(body))
        if len(lat) % 50 == 0 or len(lat) == n:
            ch.basic_ack(method.delivery_tag, multiple=True)
        if len(lat) >= n:
            ch.stop_consuming()

    sch.basic_consume(q, on)
    t0 = time.perf_counter()
    consumer = threading.Thread(target=sch.start_consuming, daemon=True)
    consumer.start()
    pch.confirm_delivery()  # pika waits for each confirm: its publisher is synchronous
    try:
        for i in range(n):
            pch.basic_publish("", q, _body(i))
        consumer.join(CONSUME_TIMEOUT)  # pika's loop is its own: bounded in time only
        secs = time.perf_counter() - t0
    finally:
        if consumer.is_alive():
            sub.add_callback_threadsafe(sch.stop_consuming)
            consumer.join()
        pub.close()
        sub.close()
    if len(lat) < n:
        raise Stalled(f"rabbitmq/pika consumer stalled: {len(lat)} of {n} messages after "
                      f"{CONSUME_TIMEOUT:.0f} s, giving up")  # fmt: skip
    return n / secs, lat


# -- Kafka -------------------------------------------------------------------------------


def kafka_ours(addr: str, n: int) -> tuple[float, list[float]]:
    topic = f"m-{uuid.uuid4().hex[:8]}"
    lat: list[float] = []
    c = Consumer(addr, group_id=topic, auto_offset_reset="earliest", fetch_max_wait_ms=20)
    c.subscribe([topic])
    c.poll(100)  # joins the group (and creates the topic)

    def poll(secs: float) -> int:
        before = len(lat)
        for rs in c.poll(int(secs * 1000)).values():
            lat.extend(_latency(r.value or b"") for r in rs)
        c.commit_async()
        return len(lat) - before

    t0 = time.perf_counter()
    t = Drainer(poll, n, "kafka/ours")
    t.start()
    try:
        with Producer(addr, acks=1, linger_ms=1) as p:
            for i in range(n):
                p.send(topic, _body(i), partition=0)
        t.finish()
        secs = time.perf_counter() - t0
    finally:
        t.join()
        c.close()
    return n / secs, lat


def kafka_kp(addr: str, n: int) -> tuple[float, list[float]]:
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"m-{uuid.uuid4().hex[:8]}"
    lat: list[float] = []
    c = KafkaConsumer(topic, bootstrap_servers=addr, group_id=topic, auto_offset_reset="earliest",
                      fetch_max_wait_ms=20)  # fmt: skip
    c.poll(100)

    def poll(secs: float) -> int:
        before = len(lat)
        for ms in c.poll(int(secs * 1000)).values():
            lat.extend(_latency(m.value) for m in ms)
        return len(lat) - before

    t0 = time.perf_counter()
    t = Drainer(poll, n, "kafka/kafka-python")
    t.start()
    p = KafkaProducer(bootstrap_servers=addr, acks=1, linger_ms=1)
    try:
        for i in range(n):
            p.send(topic, _body(i), partition=0)
        p.flush(CONSUME_TIMEOUT)
        t.finish()
        secs = time.perf_counter() - t0
    finally:
        t.join()
        p.close()
        c.close()
    return n / secs, lat


# -- a consumer dies mid-batch --------------------------------------------------------------


def rabbit_death(r: ServiceAddress, n: int = 100) -> dict[str, int]:
    q = f"d-{uuid.uuid4().hex[:8]}"
    with AMQP(r.host, r.port) as setup:
        ch = setup.channel()
        ch.queue_declare(q)
        for i in range(n):
            ch.basic_publish("", q, b"%d" % i)
    dying = AMQP(r.host, r.port)
    dch = dying.channel()
    dch.basic_qos(20)
    dch.basic_consume(q)
    got = [dch.next_message(10) for _ in range(20)]  # a batch of 20, 10 of them acked
    dch.basic_ack(got[9].delivery_tag, multiple=True)  # type: ignore[union-attr]
    dch.basic_qos(20)  # a round trip: the broker has processed the ack before we die
    dying.sock.close()  # dies: 10 received but never acked
    survivor = AMQP(r.host, r.port)
    sch = survivor.channel()
    sch.basic_consume(q)
    redelivered = done = 0
    while done < n - 10:
        m = sch.next_message(10)
        assert m is not None
        redelivered += m.redelivered
        done += 1
        m.ack()
    sch.queue_delete(q)
    survivor.close()
    # After the ack the broker refilled the prefetch window: the dead consumer held a full
    # window (20) of unacked messages, and all of them come back flagged redelivered.
    return {"prefetch": 20, "processed_by_dead": len(got), "acked_by_dead": 10,
            "redelivered": redelivered, "processed_twice": len(got) - 10}  # fmt: skip


def kafka_death(addr: str, n: int = 100) -> dict[str, int]:
    topic = f"d-{uuid.uuid4().hex[:8]}"
    with Producer(addr) as p:
        for i in range(n):
            p.send(topic, b"%d" % i, partition=0)
    dying = Consumer(addr, group_id=topic, session_timeout_ms=1000, fetch_max_wait_ms=20)
    dying.subscribe([topic])
    seen: list[int] = []
    while len(seen) < n:
        for rs in dying.poll(500).values():
            seen.extend(r.offset for r in rs)
    dying.commit({(topic, 0): 40})  # committed after 40 of the records it processed
    dying.cluster.close()  # dies: no LeaveGroup, the coordinator notices by session timeout
    heir = Consumer(addr, group_id=topic, fetch_max_wait_ms=20)
    heir.subscribe([topic])
    again: list[int] = []
    while len(again) < n - 40:
        for rs in heir.poll(500).values():
            again.extend(r.offset for r in rs)
    heir.close()
    return {"read_by_dead": len(seen), "committed_by_dead": 40, "reread_from": min(again),
            "processed_twice": len(seen) - 40}  # fmt: skip


def run(n: int, rounds: int, rabbit: ServiceAddress, kafka: str) -> list[Row]:
    cases: dict[tuple[str, str], Callable[[], tuple[float, list[float]]]] = {
        ("rabbitmq", "ours"): lambda: rabbit_ours(rabbit, n),
        ("rabbitmq", "pika"): lambda: rabbit_pika(rabbit, n),
        ("kafka", "ours"): lambda: kafka_ours(kafka, n),
        ("kafka", "kafka-python"): lambda: kafka_kp(kafka, n),
    }
    results: dict[tuple[str, str], list[tuple[float, list[float]]]] = {k: [] for k in cases}
    for r in range(rounds):
        for key in rotated(cases, r):  # each case goes first in turn
            results[key].append(cases[key]())
            log.info("round %d %s/%s: %.0f msg/s", r, *key, results[key][-1][0])
    rows = []
    for (system, impl), runs in results.items():
        rates = [x for x, _ in runs]
        med_run = sorted(runs, key=lambda x: x[0])[(len(runs) - 1) // 2]
        lat = summarize(med_run[1])
        rows.append(
            measured(system, impl, rates, "msg/s", p50_ms=lat["p50_ms"], p99_ms=lat["p99_ms"])
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.messaging", description=__doc__.split("\n")[0]
    )
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    if args.messages < 100 or args.rounds < 1:
        p.error("--messages must be >= 100 and --rounds >= 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-messaging-") as tmp, RabbitMQ() as rabbit:
        broker: Child = python_module("servers.kafka", "--dir", tmp, "--log-level", "warning",
                                      "--rebalance-delay", "0.05", port=free_port()).start()  # fmt: skip
        try:
            kafka = f"127.0.0.1:{broker.port}"
            rows = run(args.messages, args.rounds, rabbit.address, kafka)
            deaths = {"rabbitmq": rabbit_death(rabbit.address), "kafka": kafka_death(kafka)}
        except Stalled as e:
            sys.exit(f"python -m bench.messaging: {e}")
        finally:
            broker.stop()
    print(header(f"M1 messaging: {args.messages:,} messages of ~100 B, {args.rounds} round(s)"))
    print(table([r for r in rows if r.workload == "rabbitmq"], reference="pika"))
    print(table([r for r in rows if r.workload == "kafka"], reference="kafka-python"))
    print("\nA consumer dies mid-batch (at-least-once on both):")
    for system, d in deaths.items():
        print(f"  {system:<9} " + "  ".join(f"{k}={v}" for k, v in d.items()))
    path = save("messaging", rows, messages=args.messages, rounds=args.rounds, deaths=deaths)
    png = median_bars(rows, path.with_suffix(".png"), f"M1 messaging: {args.messages:,} messages of ~100 B "
                      f"end to end, median of {args.rounds} round(s), whiskers min..max\nclients: ours vs pika "
                      "on rabbitmq-server, ours vs kafka-python on servers/kafka",
                      "messages / s", size=(10, 4.5))  # fmt: skip
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
