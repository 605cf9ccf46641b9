"""bench/cdn runs end to end on tiny sizes (origin, our edge, nginx proxy_cache) into a temporary folder."""

import json

import pytest

import bench.common
from bench import cdn

pytestmark = pytest.mark.exercise("N9")


def test_cdn_bench_quick_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    cdn.main(["--repos", "20", "--requests", "24", "--users", "4", "--rounds", "1"])
    assert "vs nginx proxy_cache" in capsys.readouterr().out
    doc = json.loads((tmp_path / "cdn.json").read_text())
    rows = {r["impl"]: r for r in doc["rows"]}
    assert set(rows) == {"origin", "syslab edge", "nginx proxy_cache"}
    assert all(r["extra"]["errors"] == 0 and r["value"] > 0 for r in rows.values())
    assert rows["origin"]["extra"]["renders"] == 24 and rows["origin"]["extra"]["hit_ratio"] == 0
    # a cold cache draws each distinct card once (coalescing: never twice) and serves the rest
    assert rows["syslab edge"]["extra"]["renders"] == doc["distinct"]
    assert rows["syslab edge"]["extra"]["hit_ratio"] == pytest.approx(1 - doc["distinct"] / 24)
    assert (tmp_path / "cdn.png").stat().st_size > 0


def test_bad_arguments_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cdn.main(["--requests", "0"])
    assert e.value.code == 2
