"""``bench/http --streams`` runs end to end at a tiny size, into a temporary folder:
both servers hold every stream, give every fd back, and the numbers are numbers."""

import bench.common
from bench import http
from tests.support import assert_bench_report


def test_bench_http_streams_quick_writes_numbers(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    http.main(["--streams", "40", "--rounds", "1", "--quick"])
    assert "idle streams" in capsys.readouterr().out
    doc = assert_bench_report(tmp_path, "http-streams-quick")
    assert doc["streams"] == 40
    got = {(r["unit"], r["impl"]): r for r in doc["rows"]}
    assert set(got) == {(u, i) for u in ("KiB/strm", "streams/s") for i in ("syslab", "aiohttp")}
    assert all(r["extra"]["rounds"] == 1 for r in doc["rows"])
    assert all(got["streams/s", i]["value"] > 0 for i in ("syslab", "aiohttp"))
