"""bench/websocket and bench/autobahn run end to end at tiny sizes, into a temporary folder."""

from __future__ import annotations

import pytest

from bench import autobahn
from bench import websocket as wsbench
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N15")


def test_websocket_bench_smoke(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYSLAB_BENCH_OUT", str(tmp_path))
    wsbench.main(["--messages", "50", "--big", "2", "--rounds", "1"])
    assert "vs websockets" in capsys.readouterr().out
    doc = assert_bench_report(tmp_path, "websocket")
    got = {(r["workload"], r["impl"]) for r in doc["rows"]}
    for side in ("server", "client"):
        for w in ("rtt 64 B", "pipelined 64 B", "1 MiB"):
            assert {(f"{side} {w}", "syslab"), (f"{side} {w}", "websockets")} <= got
    assert all(r["value"] > 0 for r in doc["rows"])
    assert (tmp_path / "websocket.png").stat().st_size > 1000


def test_autobahn_bench_smoke(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYSLAB_BENCH_OUT", str(tmp_path))
    autobahn.main(["-i", "1.1.*", "-i", "9.1.1", "--rounds", "2"])
    out = capsys.readouterr().out
    assert "server syslab: 9 cases, 9 passed  OK 9" in out
    assert "client syslab: 9 cases, 9 passed  OK 9" in out
    doc = assert_bench_report(tmp_path, "autobahn")
    assert doc["conformance"]["server syslab"]["passed"] == 9
    assert doc["conformance"]["client websockets"]["cases"] == 9
    rows = {(r["workload"], r["impl"]): r for r in doc["rows"]}
    assert set(rows) == {(f"{side} 9.1.1", impl) for side in ("server", "client") for impl in ("syslab", "websockets")}
    assert all(r["extra"]["rounds"] == 2 for r in rows.values())
    assert (tmp_path / "autobahn" / "server-syslab" / "index.json").is_file()
