"""bench/gfs runs end to end on tiny sizes into a temporary folder (N18)."""


import pytest

import bench.common
from bench import gfs
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("N18")


def test_gfs_bench_quick_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    gfs.main(["--file-mb", "0.05", "--chunk-size", "16kb", "--clients", "2", "--records", "10",
              "--record-bytes", "200", "--rereplicate-mb", "0.03", "--rounds", "1"])  # fmt: skip
    out = capsys.readouterr().out
    assert "vs local fs" in out and "from SIGKILL to 3 live replicas" in out
    doc = assert_bench_report(tmp_path, "gfs")
    impls = {(r["workload"], r["impl"]) for r in doc["rows"]}
    for n in (2,):
        for w in ("write", "read", "append"):
            assert (f"{w} {n} client(s)", "syslab gfs") in impls and (f"{w} {n} client(s)", "local fs") in impls
    assert all(r["value"] > 0 for r in doc["rows"])
    assert doc["rereplication"][0]["seconds"] > 0 and doc["rereplication"][0]["chunks"] >= 1


def test_bad_arguments_are_a_usage_error():
    with pytest.raises(SystemExit) as e:
        gfs.main(["--clients", "0"])
    assert e.value.code == 2
