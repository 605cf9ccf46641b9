"""D10: the id generators' bench runs every generator, finds every id unique, saves JSON + PNG."""

from __future__ import annotations

import json

import pytest

from bench import ids

pytestmark = pytest.mark.exercise("D10")


def test_quick_run_measures_every_generator(tmp_path, capsys):
    ids.main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "why:" in out
    doc = json.loads((tmp_path / "ids-quick.json").read_text())
    rate_rows = [r for r in doc["rows"] if r["unit"] == "ids/s"]
    assert {r["impl"] for r in rate_rows} == set(ids.KINDS)
    assert all(r["value"] > 0 and r["extra"]["unique"] == "yes" for r in rate_rows)
    pk_rows = [r for r in doc["rows"] if r["unit"] == "rows/s"]
    assert len(pk_rows) == len(ids.KINDS) + 1  # and the UUIDv4 reference
    assert (tmp_path / "ids-quick.png").stat().st_size > 10_000
