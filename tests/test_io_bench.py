"""S6: bench/io runs end to end with a tiny file and reports every cell it promises."""

from __future__ import annotations

import pytest

import bench.common
from bench import io as io_bench
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("S6")


def test_io_quick_run_measures_every_cell_and_plots(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path / "results")
    io_bench.main(["--size", "4", "--cell-seconds", "0.02", "--blocks", "4K,64K",
                   "--rounds", "2", "--dir", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert "posix_fadvise(DONTNEED)" in out and "vs sequential" in out
    doc = assert_bench_report(tmp_path / "results", "io")
    got = {(r["workload"], r["impl"]) for r in doc["rows"]}
    modes = ["buffered", "fsync"] + (["direct"] if doc["direct"] else [])
    for op in ("read", "write"):
        for mode in modes:
            if op == "read" and mode == "fsync":
                continue
            for bs in ("4K", "64K"):
                for pattern in ("sequential", "random"):
                    assert (f"{op} {bs} {mode}", pattern) in got
    assert all(r["value"] > 0 and r["extra"]["ops"] > 0 for r in doc["rows"])
    assert all(r["extra"]["rounds"] == 2 and r["extra"]["min"] <= r["value"] <= r["extra"]["max"]
               for r in doc["rows"])  # fmt: skip
    assert (tmp_path / "results" / "io.png").stat().st_size > 1000
    assert not list(tmp_path.glob("io-*"))  # the test file is removed


def test_random_offsets_are_a_permutation_of_the_blocks():
    import random

    cell = io_bench.Cell("read", 4096, "buffered", "random")
    offs = io_bench.offsets(cell, 4096 * 50, random.Random(1))
    assert sorted(offs) == [i * 4096 for i in range(50)] and offs != sorted(offs)


def test_block_sizes_parse_and_bad_ones_are_refused():
    assert io_bench.parse_blocks("4K,1M") == [4096, 1 << 20]
    with pytest.raises(Exception, match="block size"):
        io_bench.parse_blocks("4KB")
