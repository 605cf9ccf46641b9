"""N11: bench/jwt runs end to end with tiny sizes: both libraries, every algorithm, a PNG."""

from __future__ import annotations

import pytest

from bench import jwt as bench_jwt
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N11")


def test_jwt_bench_quick_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYSLAB_BENCH_OUT", str(tmp_path))
    rows = bench_jwt.main(["--tokens", "20", "--rounds", "2"])
    out = capsys.readouterr().out
    assert "vs PyJWT" in out
    assert {(r.workload, r.impl) for r in rows} == {
        (f"{alg} {op}", impl) for alg in bench_jwt.ALGS for op in ("sign", "verify")
        for impl in ("syslab", "PyJWT")
    }  # fmt: skip
    for r in rows:
        assert r.extra["rounds"] == 2 and r.extra["min"] <= r.value <= r.extra["max"]
    doc = assert_bench_report(tmp_path, "jwt")
    assert all(isinstance(r["value"], float) for r in doc["rows"])
    assert (tmp_path / "jwt.png").stat().st_size > 1000
