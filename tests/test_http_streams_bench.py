"""``bench/http --streams`` runs end to end at a tiny size, into a temporary folder:
both servers hold every stream, give every fd back, and the numbers are numbers."""

import json

import bench.common
from bench import http


def test_bench_http_streams_quick_writes_numbers(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    http.main(["--streams", "40", "--rounds", "1", "--quick"])
    assert "idle streams" in capsys.readouterr().out
    doc = json.loads((tmp_path / "http-streams-quick.json").read_text())
    rows = {r["impl"]: r for r in doc["rows"]}
    assert set(rows) == {"syslab", "aiohttp"} and doc["streams"] == 40
    for r in rows.values():
        assert isinstance(r["value"], float) and r["unit"] == "KiB/strm"
        assert r["extra"]["min"] <= r["value"] <= r["extra"]["max"]
        assert r["extra"]["opened_per_s"] > 0
