"""The HTTP benchmark runs end to end: 1-second wrk runs, one round, into a temp folder."""


import bench.common
from bench import http
from tests.support import assert_bench_report


def test_bench_http_quick_writes_numbers_and_a_plot(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    http.main(["--quick", "--connections", "4", "--threads", "1", "--rounds", "1",
               "--only", "syslab,nginx"])  # fmt: skip
    out = capsys.readouterr().out
    assert "syslab/this" in out
    doc = assert_bench_report(tmp_path, "http-quick")
    rows = {(r["workload"], r["impl"]): r for r in doc["rows"]}
    assert set(rows) == {(w, i) for w in http.WORKLOADS for i in ("syslab", "nginx")}
    for r in rows.values():
        e = r["extra"]
        assert r["value"] > 0 and e["errors"] == 0
        assert e["min"] <= e["median"] <= e["max"] and isinstance(e["median"], float)
        assert isinstance(e["cpu_us_per_req"], float)  # a 10 ms tick may read 0 in 1 s
    assert isinstance(rows[("static 1MiB", "nginx")]["extra"]["syslab_ratio"], float)
    assert (tmp_path / "http-quick.png").stat().st_size > 5_000
