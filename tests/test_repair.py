"""Faults: a flipped byte in the middle of an engine's file, found at open and repaired.

For every engine (``storage.engines.available()``): opening refuses with
Corruption naming the file; ``python -m storage.check DIR`` reports the file
and offset; ``python -m storage.check --repair DIR`` moves the damage into
``DIR/quarantine/`` (nothing deleted), lists the keys whose newest version
was damaged, and leaves a directory that opens and serves every other key
with its newest value. Bitcask's hint files are removed first, as in the
issue: with a whole hint, Bitcask trusts it and finds the damage on read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import engines, quarantine
from storage.check import check_file
from storage.record import Corruption

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.exercise("S8")


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "storage.check", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _fill(name: str, d: Path) -> dict[bytes, bytes]:
    model = {}
    db = engines.open(name, d)
    for round_ in range(3):
        for i in range(700):
            k = b"key%04d" % i
            if (i + round_) % 9 == 0:
                db.delete(k)
                model.pop(k, None)
            else:
                model[k] = b"round %d " % round_ + b"v" * (i % 90)
                db.put(k, model[k])
    db.close()
    for hint in d.glob("*.hint"):
        hint.unlink()
    return model


def _biggest_file(d: Path) -> Path:
    files = [p for p in d.rglob("*") if p.is_file() and p.name != "LOCK"]
    return max(files, key=lambda p: p.stat().st_size)


@pytest.mark.parametrize("name", engines.available())
def test_a_flipped_byte_is_refused_at_open_then_repaired(name, tmp_path):
    d = tmp_path / "db"
    model = _fill(name, d)
    victim = _biggest_file(d)
    at = victim.stat().st_size // 2
    data = bytearray(victim.read_bytes())
    data[at] ^= 0x01
    victim.write_bytes(bytes(data))

    with pytest.raises(Corruption) as e:
        engines.open(name, d)
    assert e.value.file == str(victim) and e.value.offset <= at

    r = _check(str(d))
    assert r.returncode == 1 and f"{victim}: CORRUPT at offset {e.value.offset}" in r.stdout

    r = _check("--repair", str(d))
    assert r.returncode == 0, r.stderr
    assert "moved 1 damaged range(s)" in r.stdout, r.stdout
    qfiles = quarantine.files(d) or [d / "QUARANTINE"]  # the LSM keeps its own file
    assert len(qfiles) == 1 and check_file(qfiles[0]).status == "OK"
    assert bytes(data[max(e.value.offset, at - 8) : at + 1]) in qfiles[0].read_bytes()  # kept
    if name != "lsm":
        ((qname, qoffset, raw),) = quarantine.items(qfiles[0])
        assert qname == victim.name and qoffset == e.value.offset and bytes(raw) in bytes(data)
    lost = {eval(line.strip()) for line in r.stdout.splitlines() if line.startswith("  b")}
    assert lost <= {b"key%04d" % i for i in range(700)}  # only keys that were written

    db = engines.open(name, d)
    try:
        survivors = dict(db.scan())
        for k, v in model.items():
            if k not in lost:
                assert survivors.get(k) == v, k  # nothing else changed
        assert set(survivors) <= set(model) | lost  # no deleted key came back unannounced
        # (A report may name a key whose newest version also survives elsewhere, say
        # in a flushed table and in the WAL: cautious, never silent.)
    finally:
        db.close()
    after = _check(str(d))
    corrupt = [line for line in after.stdout.splitlines() if "CORRUPT" in line]
    assert all(".damaged:" in line for line in corrupt), corrupt  # (the LSM keeps the old file)
    r = _check("--repair", str(d))
    assert r.returncode == 0 and "nothing damaged" in r.stdout


def _flip_and_repair(path: Path, data: bytearray, at: int, d: Path, lost: bytes) -> None:
    """Flip one bit at ``at``, repair ``d``, and expect exactly ``lost`` to be named."""
    data[at] ^= 0x04
    path.write_bytes(bytes(data))
    r = _check("--repair", str(d))
    assert r.returncode == 0
    assert f"keys whose newest version was damaged (1):\n  {lost!r}\n" in r.stdout, r.stdout


def test_a_bitcask_key_written_once_and_damaged_is_named_lost(tmp_path):
    from storage.bitcask import Bitcask

    with Bitcask.open(tmp_path) as db:
        for i in range(100):
            db.put(b"k%03d" % i, b"value %d" % i)
    for hint in tmp_path.glob("*.hint"):
        hint.unlink()
    data_file = next(tmp_path.glob("*.data"))
    data = bytearray(data_file.read_bytes())
    at = data.index(b"k050") + 4  # inside the value of k050's only record
    _flip_and_repair(data_file, data, at, tmp_path, lost=b"k050")
    with Bitcask.open(tmp_path) as db:
        assert len(db) == 99 and db.get(b"k050") is None and db.get(b"k051") == b"value 51"


def test_a_damaged_overflow_page_names_its_key(tmp_path):
    from storage.bptree import PAGE_SIZE, BPlusTree
    from storage.bptree import page as pg

    with BPlusTree.open(tmp_path) as db:
        for i in range(50):
            db.put(b"k%02d" % i, b"small")
        db.put(b"large", b"L" * 20_000)
    path = tmp_path / "tree.db"
    data = bytearray(path.read_bytes())
    overflow = [n for n in range(len(data) // PAGE_SIZE)
                if n and data[n * PAGE_SIZE + 8] == pg.T_OVERFLOW]  # fmt: skip
    assert len(overflow) == 5
    _flip_and_repair(path, data, overflow[2] * PAGE_SIZE + 2000, tmp_path, lost=b"large")
    with BPlusTree.open(tmp_path) as db:
        assert len(db) == 50 and db.get(b"large") is None and db.get(b"k49") == b"small"


def test_a_damaged_wal_entry_of_the_bptree_is_quarantined_and_named(tmp_path):
    from storage.bptree import BPlusTree
    from storage.wal import list_segments

    db = BPlusTree.open(tmp_path)
    for i in range(300):
        db.put(b"k%03d" % i, b"value %d" % i)
    db.abandon()  # no checkpoint: everything is in the WAL only
    (_, seg), = list_segments(tmp_path / "wal")
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0x80
    seg.write_bytes(bytes(data))
    with pytest.raises(Corruption):
        BPlusTree.open(tmp_path)
    r = _check("--repair", str(tmp_path))
    assert r.returncode == 0 and "WAL entry" in r.stdout
    lost = [eval(line.strip()) for line in r.stdout.splitlines() if line.startswith("  b")]
    assert len(lost) == 1
    with BPlusTree.open(tmp_path) as db:
        assert len(db) == 299 and db.get(lost[0]) is None


def test_repair_of_something_that_is_no_store_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    r = _check("--repair", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    os.remove(tmp_path / "notes.txt")
