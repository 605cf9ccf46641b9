"""bench/messaging (M1) runs end to end on tiny sizes, into a temporary results folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.common
from bench import messaging
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("M1")


def test_messaging_bench_quick_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    messaging.main(["--messages", "300", "--rounds", "1"])
    assert "vs pika" in capsys.readouterr().out
    doc = assert_bench_report(tmp_path, "messaging")
    rows = {(r["workload"], r["impl"]): r for r in doc["rows"]}
    assert set(rows) == {("rabbitmq", "ours"), ("rabbitmq", "pika"), ("kafka", "ours"),
                         ("kafka", "kafka-python")}
    assert all(r["value"] > 0 and r["extra"]["p99_ms"] >= r["extra"]["p50_ms"] for r in rows.values())
    d = doc["deaths"]
    assert d["rabbitmq"]["redelivered"] == 20  # the whole unacked prefetch window comes back
    assert d["rabbitmq"]["processed_twice"] == 10  # processed by the dead one, never acked
    assert d["kafka"]["reread_from"] == 40  # the committed offset, not where it had read to


def test_a_stalled_consumer_gives_up_after_its_empty_polls() -> None:
    """A consumer that receives nothing more (kafka-python once stalled a run forever) is
    given up on after MAX_IDLE_POLLS empty polls, counted, not timed: Stalled says how far it got."""
    batches = iter([5, 3, 0, 2])
    polls: list[float] = []

    def poll(secs: float) -> int:
        polls.append(secs)
        return next(batches, 0)

    with pytest.raises(messaging.Stalled, match=r"kafka/x consumer stalled: 10 of 50 messages "
                       r"after 4 empty polls, giving up"):  # fmt: skip
        messaging.drain(poll, 50, "kafka/x", max_idle=4)
    assert len(polls) == 8  # 4 that brought messages (one empty between), then 4 empty


def test_a_consumer_that_got_everything_stops_polling() -> None:
    polls: list[float] = []

    def poll(secs: float) -> int:
        polls.append(secs)
        return 4

    messaging.drain(poll, 10, "kafka/x", max_idle=1)
    assert len(polls) == 3


def test_a_stalled_run_ends_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench run itself exits with the consumer's message, not a traceback or a hang."""

    def stalled(*_: object) -> None:
        raise messaging.Stalled("kafka/kafka-python consumer stalled: 7 of 300 messages after 60 "
                                "empty polls, giving up")  # fmt: skip

    monkeypatch.setattr(messaging, "run", stalled)
    with pytest.raises(SystemExit, match="python -m bench.messaging: kafka/kafka-python consumer "
                       "stalled: 7 of 300"):  # fmt: skip
        messaging.main(["--messages", "300", "--rounds", "1"])


def test_a_real_kafka_python_consumer_with_nothing_to_read_gives_up(tmp_path: Path) -> None:
    """The bound on a real kafka-python consumer on servers/kafka: a topic nobody produces
    to, so every poll is empty; drain gives up after max_idle polls instead of waiting on."""
    from kafka import KafkaConsumer
    from kafka_support import start_broker

    broker = start_broker(tmp_path)
    c = KafkaConsumer("silent", bootstrap_servers=f"127.0.0.1:{broker.port}", group_id="silent",
                      auto_offset_reset="earliest", fetch_max_wait_ms=20)  # fmt: skip
    try:
        polls: list[float] = []

        def poll(secs: float) -> int:
            polls.append(secs)
            return sum(len(ms) for ms in c.poll(int(secs * 1000)).values())

        with pytest.raises(messaging.Stalled, match="0 of 10 messages after 3 empty polls"):
            messaging.drain(poll, 10, "kafka/kafka-python", max_idle=3)
        assert len(polls) == 3
    finally:
        c.close()
        broker.stop()
