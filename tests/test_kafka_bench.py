"""bench/kafka runs end to end on tiny sizes, into a temporary results folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.common
from bench import kafka as kbench
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("M1")


def test_kafka_bench_quick_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    kbench.main(["--records", "500", "--rounds", "1", "--size", "10"])
    out = capsys.readouterr().out
    assert "vs kafka-python" in out and "vs broker tansu" in out
    doc = assert_bench_report(tmp_path, "kafka")
    impls = {(r["workload"], r["impl"]) for r in doc["rows"]}
    assert ("consume @syslab", "ours") in impls and ("produce via ours", "broker tansu") in impls
    assert all(isinstance(r["value"], float) and r["value"] > 0 for r in doc["rows"])


def test_bad_sizes_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        kbench.main(["--records", "0"])
    assert e.value.code == 2 and "--records" in capsys.readouterr().err
