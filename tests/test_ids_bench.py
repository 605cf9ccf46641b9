"""D10: the id generators' bench runs every generator, finds every id unique, saves JSON + PNG."""

from __future__ import annotations

import pytest

from bench import ids
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("D10")


def test_quick_run_measures_every_generator(tmp_path, capsys):
    ids.main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "why:" in out
    doc = assert_bench_report(tmp_path, "ids-quick")
    rate_rows = [r for r in doc["rows"] if r["unit"] == "ids/s"]
    assert {r["impl"] for r in rate_rows} == set(ids.KINDS)
    assert all(r["value"] > 0 and r["extra"]["unique"] is True for r in rate_rows)
    pk_rows = [r for r in doc["rows"] if r["unit"] == "rows/s"]
    assert len(pk_rows) == len(ids.KINDS) + 1  # and the UUIDv4 reference
    assert (tmp_path / "ids-quick.png").stat().st_size > 10_000
    assert all(r["extra"]["rounds"] == 2 for r in doc["rows"])
