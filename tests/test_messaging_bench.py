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
