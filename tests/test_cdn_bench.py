"""bench/cdn runs end to end on tiny sizes (origin, our edge, nginx proxy_cache) into a temporary folder."""


import pytest

import bench.common
from bench import cdn
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N9")


def test_cdn_bench_quick_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    cdn.main(["--repos", "20", "--requests", "24", "--users", "4", "--rounds", "1", "--wrk-seconds", "1"])
    assert "vs nginx proxy_cache" in capsys.readouterr().out
    doc = assert_bench_report(tmp_path, "cdn")
    assert all(r["extra"]["errors"] == 0 and r["value"] > 0 for r in doc["rows"])
    warm = {r["impl"]: r for r in doc["rows"] if r["workload"].startswith("warm")}
    assert set(warm) == {"syslab edge", "nginx proxy_cache"}
    assert all(r["extra"]["hit_ratio"] == 1 and r["extra"]["renders"] == 0 for r in warm.values())
    hot = {r["impl"]: r for r in doc["rows"] if r["workload"].startswith("hot")}
    assert set(hot) == {"syslab edge", "nginx proxy_cache"}
    assert all(r["extra"]["renders"] == 0 and r["value"] > 100 for r in hot.values())  # wrk, all hits
    rows = {r["impl"]: r for r in doc["rows"] if r["workload"].startswith("cold")}
    assert set(rows) == {"origin", "syslab edge", "nginx proxy_cache"}
    assert rows["origin"]["extra"]["renders"] == 24 and rows["origin"]["extra"]["hit_ratio"] == 0
    # a cold cache draws each distinct card once (coalescing: never twice) and serves the rest
    assert rows["syslab edge"]["extra"]["renders"] == doc["distinct"]
    assert rows["syslab edge"]["extra"]["hit_ratio"] == pytest.approx(1 - doc["distinct"] / 24)
    assert (tmp_path / "cdn.png").stat().st_size > 0


def test_bad_arguments_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cdn.main(["--requests", "0"])
    assert e.value.code == 2
