"""S9: bench/bloom runs end to end with tiny sizes and its numbers say what it claims."""

from __future__ import annotations

import pytest

from bench import bloom
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("S9")


def test_bloom_bench_quick_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYSLAB_BENCH_OUT", str(tmp_path))
    got = bloom.main(["--n", "400", "--queries", "2000", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "vs bloom-filter2" in out
    doc = assert_bench_report(tmp_path, "bloom")
    assert {r["impl"] for r in doc["rows"]} == {"syslab", "bloom-filter2"}
    assert (tmp_path / "bloom_fpr.png").stat().st_size > 1000
    assert (tmp_path / "bloom_deletable.png").stat().st_size > 1000
    # The formula holds where the rate is large enough to measure with 2000 queries.
    for g in got["grid"]:
        if g["theory"] > 0.05:
            assert abs(g["measured"] - g["theory"]) < 0.06, g
    for r in {d["r"] for d in got["deletability"]}:
        shares = [d["deletable"] for d in got["deletability"] if d["r"] == r]
        assert shares[0] >= shares[-1]
