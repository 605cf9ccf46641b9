"""D13: every split counts every prime exactly once, in threads and in processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench import fair
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("D13")


def test_trial_division_and_the_sieve_agree():
    assert [n for n in range(30) if fair.divisions(n)[0]] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    assert fair.sieve_count(100) == 25 and fair.sieve_count(1_000) == 168
    assert fair.sieve_count(2) == 0 and fair.sieve_count(3) == 1


@pytest.mark.parametrize("mode", fair.MODES)
@pytest.mark.parametrize("strategy", fair.STRATEGIES)
def test_each_split_counts_every_number_once(mode, strategy):
    n, workers = 5_003, 3  # n not a multiple of the workers or the chunk
    reports = fair.RUNNERS[mode](strategy, n, workers, 97)
    assert [r.worker for r in reports] == [0, 1, 2]
    assert sum(r.numbers for r in reports) == n
    assert sum(r.primes for r in reports) == fair.sieve_count(n) == 669
    assert sum(r.work for r in reports) == sum(fair.divisions(x)[1] for x in range(n))


def test_static_split_gives_the_last_worker_the_most_work():
    reports = fair.run_threads("static", 50_000, 4, 1)
    shares = [r.work for r in reports]
    assert shares == sorted(shares) and shares[-1] > 1.5 * shares[0]
    assert {r.numbers for r in reports} == {12_500}  # equal ranges, unequal work


def test_quick_run_writes_table_json_and_png(tmp_path, capsys):
    fair.main(["--quick", "--rounds", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "GIL" in out and "per worker" in out
    doc = assert_bench_report(tmp_path, "fair-quick")
    assert all(r["extra"]["correct"] == "yes" for r in doc["rows"])
    assert len(doc["rows"]) == len(fair.MODES) * len(fair.STRATEGIES)
    assert (tmp_path / "fair-quick.png").stat().st_size > 10_000


def test_bad_flags_are_one_line_errors():
    r = subprocess.run([sys.executable, "-m", "bench.fair", "--workers", "0"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_a_chunk_worker_waits_for_the_queue_lock_instead_of_quitting():
    """multiprocessing.Queue.get_nowait() says Empty while another process holds the
    read lock; a worker that believed it quit with chunks left (the bug this catches)."""
    import multiprocessing as mp
    import threading

    ctx = mp.get_context("spawn")
    q = fair._shared("chunked", 1_000, 100, 2, ctx)
    source = fair.Source("chunked", 1_000, 2, 100, q)
    got: list[range] = []
    q._rlock.acquire()  # another reader is in the middle of a get
    t = threading.Thread(target=lambda: got.append(source.take(0)))
    t.start()
    t.join(0.5)
    assert t.is_alive() and not got  # still waiting its turn, not "no more work"
    q._rlock.release()
    t.join(10)
    assert got == [range(0, 100)]


def test_out_redirects_results_only_for_that_run(tmp_path):
    """--out must not leak: later benches in the same process save to bench/results again."""
    import bench.common

    before = bench.common.RESULTS
    fair.main(["--quick", "--rounds", "1", "--out", str(tmp_path)])
    assert (tmp_path / "fair-quick.json").exists()
    assert bench.common.RESULTS == before
