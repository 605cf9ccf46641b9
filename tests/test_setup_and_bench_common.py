"""`make setup` is idempotent; bench helpers compute what they claim and write where told."""

import json
import subprocess

from bench.common import (
    OUT_ENV,
    Row,
    better,
    interleaved,
    measured,
    median_bars,
    merge_rounds,
    percentile,
    results_dir,
    rotated,
    save,
    table,
)
from harness.procs import REPO_ROOT
from tests.support import PNG_SIGNATURE, assert_bench_report


def test_a_second_setup_run_installs_nothing_and_changes_nothing():
    """Idempotence, asserted by what the run did (no install, the stamp untouched),
    not by how long it took on a machine shared with other work."""
    r = subprocess.run(["bash", "mk/setup.sh"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    stamp = REPO_ROOT / ".venv" / ".syslab-installed"
    before = stamp.stat().st_mtime_ns
    r2 = subprocess.run(["bash", "mk/setup.sh"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert r2.returncode == 0, r2.stderr
    assert "OS packages present" in r2.stdout and ".venv up to date" in r2.stdout
    assert "installing" not in r2.stdout and "creating" not in r2.stdout
    assert stamp.stat().st_mtime_ns == before


def test_percentile_by_nearest_rank():
    data = list(range(1, 101))
    assert percentile(data, 50) in (50, 51)
    assert percentile(data, 99) == 99
    assert percentile(data, 100) == 100
    assert percentile([], 50) == 0.0


def test_table_reports_ratio_to_the_reference_in_the_same_workload():
    rows = [Row("get", "redis", 100_000.0, "ops/s"), Row("get", "syslab", 60_000.0, "ops/s")]
    text = table(rows, reference="redis")
    assert "0.60x" in text and "1.00x" in text
    lower = table([Row("q", "ref", 2.0, "s"), Row("q", "ours", 1.0, "s")], "ref", higher_is_better=False)
    assert "2.00x" in lower


def test_save_writes_environment_and_rows(tmp_path, monkeypatch):
    import bench.common as bc

    monkeypatch.setattr(bc, "RESULTS", tmp_path)
    path = save("unit", [Row("w", "i", 1.0, "s")], note="x")
    assert path.parent == tmp_path
    doc = json.loads(path.read_text())
    assert doc["rows"][0]["workload"] == "w" and doc["note"] == "x" and "python" in doc["environment"]


def test_the_output_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(OUT_ENV, raising=False)
    assert results_dir().name == "results"
    monkeypatch.setenv(OUT_ENV, str(tmp_path / "out"))
    assert results_dir() == tmp_path / "out"
    path = save("env", [Row("w", "i", 1.0, "s")])
    assert path == tmp_path / "out" / "env.json" and path.exists()


def test_merge_rounds_keeps_the_median_round_and_the_spread():
    rounds = [
        [Row("get", "ours", 90.0, "ops/s", {"p99_ms": 9.0}), Row("get", "ref", 100.0, "ops/s")],
        [Row("get", "ours", 50.0, "ops/s", {"p99_ms": 5.0}), Row("get", "ref", 120.0, "ops/s")],
        [Row("get", "ours", 70.0, "ops/s", {"p99_ms": 7.0}), Row("get", "ref", 80.0, "ops/s")],
    ]
    ours, ref = merge_rounds(rounds)
    assert (ours.impl, ours.value, ours.extra["min"], ours.extra["max"]) == ("ours", 70.0, 50.0, 90.0)
    assert ours.extra["p99_ms"] == 7.0 and ours.extra["rounds"] == 3  # the median round's figures
    assert (ref.value, ref.extra["min"], ref.extra["max"]) == (100.0, 80.0, 120.0)


def test_interleaved_rotates_who_goes_first():
    order: list[str] = []
    got = interleaved({"a": lambda: order.append("a") or 1, "b": lambda: order.append("b") or 2}, 4)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert got == {"a": [1, 1, 1, 1], "b": [2, 2, 2, 2]}


def test_better_reads_the_direction_from_the_unit():
    assert [better(u) for u in ("ops/s", "MB/s", "rec/s", "ms", "s", "KiB", "KiB/strm", "rounds")] == [
        "higher", "higher", "higher", "lower", "lower", "lower", "lower", ""]  # fmt: skip


def test_median_bars_draws_one_panel_per_unit_and_the_report_check_passes(tmp_path, monkeypatch):
    monkeypatch.setenv(OUT_ENV, str(tmp_path))
    rows = [measured("p50", "ours", [1.0, 2.0, 4.0], "ms"), measured("p50", "ref", [2.0, 3.0], "ms"),
            measured("rss", "ours", [10.0], "KiB"), measured("rss", "ref", [20.0, 22.0], "KiB")]  # fmt: skip
    png = median_bars(rows, tmp_path / "x.png", "two units", {"ms": "latency ms"})
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    save("x", rows)
    doc = assert_bench_report(tmp_path, "x")
    assert [r["extra"]["median"] for r in doc["rows"]] == [2.0, 2.5, 10.0, 21.0]


def test_rotated_starts_each_round_one_further():
    assert [rotated("abc", k) for k in range(4)] == [list("abc"), list("bca"), list("cab"), list("abc")]
    assert rotated([], 3) == []
