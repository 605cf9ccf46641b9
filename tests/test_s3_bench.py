"""bench/s3 runs end to end on tiny sizes against both servers, into a temporary results folder."""


import pytest

import bench.common
from bench import s3
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N10")


def test_s3_bench_quick_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    s3.main(["--sizes", "1024,65536", "--ops", "3", "--rounds", "1"])
    assert "vs moto" in capsys.readouterr().out
    doc = assert_bench_report(tmp_path, "s3")
    assert (tmp_path / "s3.png").stat().st_size > 1000
    got = {(r["workload"], r["impl"]) for r in doc["rows"]}
    assert got == {(f"{op} {size}", impl) for op in ("PUT", "GET") for size in ("1 KB", "64 KB")
                   for impl in ("syslab s3", "moto")}  # fmt: skip
    assert all(isinstance(r["value"], float) and r["value"] > 0 for r in doc["rows"])


def test_bad_sizes_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        s3.main(["--sizes", "a,b"])
    assert e.value.code == 2 and "--sizes" in capsys.readouterr().err
