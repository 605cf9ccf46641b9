"""N1: bench/upload runs end to end with a tiny size: three receivers, ratios, peak RSS."""

from __future__ import annotations

import pytest

from bench import upload
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N1")


def test_upload_bench_smoke(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYSLAB_BENCH_OUT", str(tmp_path / "out"))
    upload.main(["--size-mb", "2", "--rounds", "2", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "vs nc -> file" in out and "peak_rss_mb" in out
    doc = assert_bench_report(tmp_path / "out", "upload")
    assert (tmp_path / "out" / "upload.png").stat().st_size > 1000
    rows = {r["impl"]: r for r in doc["rows"]}
    assert set(rows) == {"http PUT", "raw tcp", "nc -> file"}
    assert all(r["value"] > 0 and r["extra"]["min"] <= r["value"] <= r["extra"]["max"] for r in rows.values())
    assert 0 < rows["http PUT"]["extra"]["peak_rss_mb"] < 64
    assert len(doc["samples"]["raw tcp"]) == 2
    assert list(tmp_path.glob("bench-upload-*")) == []
