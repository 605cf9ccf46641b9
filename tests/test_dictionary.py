"""S1: the GCIDE word dictionary read from the OS package, in CSV and in Bitcask."""

from __future__ import annotations

import csv

import pytest

from bench import dictionary as bench_dictionary
from storage.bitcask import Bitcask
from storage.dictionary import csv_lookup, load_bitcask, load_csv_dict, read_gcide, write_csv
from storage.dictionary.gcide import b64_number
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("S1")


@pytest.fixture(scope="module")
def sample() -> dict[str, str]:
    return read_gcide(limit=3000)


def test_dictd_base64_numbers():
    assert b64_number("A") == 0 and b64_number("B") == 1 and b64_number("/") == 63
    assert b64_number("BA") == 64 and b64_number("BNy") == 64 * 64 + 13 * 64 + 50


def test_gcide_sample_holds_real_words_with_definitions(sample):
    assert len(sample) == 3000
    assert all(w == w.lower() and d for w, d in sample.items())
    # definitions need real CSV quoting: commas, double quotes and newlines inside
    assert any("," in d and '"' in d and "\n" in d for d in sample.values())


def test_csv_roundtrip_and_scan_lookup(sample, tmp_path):
    path = tmp_path / "words.csv"
    write_csv(path, sample)
    assert load_csv_dict(path) == sample
    with open(path, encoding="utf-8", newline="") as f:
        assert next(csv.reader(f)) == ["word", "definition"]
    tricky = next(w for w, d in sample.items() if '"' in d and "\n" in d)
    assert csv_lookup(path, tricky) == sample[tricky]
    assert csv_lookup(path, "notawordqzx") is None


def test_bitcask_holds_the_same_definitions_after_reopen(sample, tmp_path):
    load_bitcask(tmp_path / "db", sample)
    with Bitcask.open(tmp_path / "db") as db:
        assert len(db) == len(sample)
        for word, definition in sample.items():
            assert db.get(word.encode()) == definition.encode()
        assert db.get(b"notawordqzx") is None


def test_dictionary_benchmark_runs_end_to_end(capsys, tmp_path, monkeypatch):
    from bench.common import OUT_ENV

    monkeypatch.setenv(OUT_ENV, str(tmp_path))  # never into bench/results/
    bench_dictionary.main(["--quick"])
    out = capsys.readouterr().out
    assert "size on disk" in out and "lookup hit p99" in out and "csv scan" in out

    rows = assert_bench_report(tmp_path, "dictionary-quick")["rows"]
    assert all(r["extra"]["rounds"] == 2 and r["extra"]["min"] <= r["value"] <= r["extra"]["max"]
               for r in rows)  # fmt: skip
    assert (tmp_path / "dictionary-quick.png").stat().st_size > 1000
