"""bench/hashtags (M2) runs end to end on a tiny stream, into a temporary results folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.common
from bench import hashtag_counters as hc
from bench import hashtags
from clients.address import ServiceAddress
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("M2")


def test_posts_are_deterministic_and_zipf_skewed() -> None:
    a, b = list(hc.posts(3000)), list(hc.posts(3000))
    assert a == b and all(1 <= len(p) <= 3 and len(set(p)) == len(p) for p in a)
    counts = hc.truth(3000)
    top = counts.most_common(1)[0][1]
    assert top > 20 * sorted(counts.values())[len(counts) // 2]  # a head far above the median


def test_hashtags_bench_quick_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str],
                                  mariadb: ServiceAddress) -> None:  # fmt: skip
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    monkeypatch.setenv("SYSLAB_MYSQL_URL", "mysql:" + mariadb.url)
    hashtags.main(["--posts", "600", "--rounds", "2"])
    out = capsys.readouterr().out
    assert "After a SIGKILL halfway" in out
    doc = assert_bench_report(tmp_path, "hashtags")
    assert all(r["extra"]["exact"] for r in doc["rows"])  # without a crash every count is right
    assert all(r["extra"]["rounds"] == 2 and r["extra"]["min"] <= r["value"] <= r["extra"]["max"]
               for r in doc["rows"])  # fmt: skip
    c = doc["crashes"]
    assert c["1 naive count++"]["exact"] and c["5 Kafka by hashtag"]["exact"]
    assert c["2 naive batching"]["lost"] > 0 and c["4 two maps swapped"]["double"] == 0
    assert c["5 Kafka by hashtag (Kafka offsets)"]["double"] > 0
    assert (tmp_path / "hashtags.png").stat().st_size > 10_000
