"""N15/N17: bench/chat runs end to end with a few clients: both servers' rows and the star's."""

from __future__ import annotations

import pytest

from bench import chat
from tests.support import assert_bench_report

pytestmark = [pytest.mark.exercise("N15"), pytest.mark.exercise("N17")]


def test_chat_bench_smoke(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYSLAB_BENCH_OUT", str(tmp_path))
    chat.main(["--clients", "20", "--messages", "3", "--rounds", "1", "--star-clients", "2",
               "--star-messages", "30"])  # fmt: skip
    out = capsys.readouterr().out
    assert "vs python-socketio" in out and "broadcast p99 (20)" in out
    doc = assert_bench_report(tmp_path, "chat")
    rows = {(r["workload"], r["impl"]): r["value"] for r in doc["rows"]}
    for impl in ("syslab", "python-socketio"):
        for w in ("broadcast p50 (20)", "broadcast p99 (20)", "RSS per conn (20)"):
            assert rows[(w, impl)] > 0
    assert rows[("star msgs/s (sync always)", "syslab")] > 0 and rows[("star msgs/s (sync never)", "syslab")] > 0
