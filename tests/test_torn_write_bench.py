"""S2: bench/torn_write runs end to end with a tiny size and shows what it claims."""

from __future__ import annotations

import pytest

import bench.common
from bench import torn_write
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("S2")


def test_torn_write_quick_run_shows_the_problem_and_both_fixes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path / "results")
    torn_write.main(["--size", "1.5", "--kills", "3", "--rounds", "2", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "vs naive" in out and "torn tail at offset" in out
    doc = assert_bench_report(tmp_path / "results", "torn_write")
    assert {r["impl"] for r in doc["rows"]} == set(torn_write.MODES)
    assert all(r["unit"] == "MB/s" and r["extra"]["rounds"] == 2 for r in doc["rows"])
    bad = doc["bad_data"]
    assert bad["naive"] == {"kills_with_bad_data": 3, "kills": 3}
    assert bad["records"]["kills_with_bad_data"] == bad["atomic"]["kills_with_bad_data"] == 0
    kills = {m: [k for k in doc["kills"] if k["mode"] == m] for m in torn_write.MODES}
    expected = doc["size"]
    for k in kills["naive"]:  # short file, a garbled last row, and no error from the reader
        assert k["on_disk"] < expected and k["bad_rows_returned"] == 1
    for k in kills["records"]:  # only whole rows, all of them intact
        assert k["bad_rows_returned"] == 0 and "torn tail at offset" in k["verdict"]
        assert 0 < k["intact"] < expected
    verdicts = [k["verdict"].split()[0] for k in kills["atomic"]]
    assert set(verdicts) == {"old", "new"}  # never "MIX"
    assert all(k["on_disk"] == expected for k in kills["atomic"])


def test_stream_of_records_is_read_back_whole():
    data = torn_write.stream("records", 300_000)
    assert torn_write.steps("records", 300_000) == -(-len(data) // torn_write.CHUNK)
