"""S8: the B+ tree engine: shape after every change, pages, checksums, crash safety."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.bptree import MAX_KEY, PAGE_SIZE, BPlusTree, Corruption
from storage.bptree import page as pg
from storage.bptree import pager as pgr
from storage.bptree.tree import check_shape
from storage.check import check_file

pytestmark = pytest.mark.exercise("S8")
REPO = Path(__file__).resolve().parent.parent


def _churn(db: BPlusTree, model: dict, rng: random.Random, n: int, keyspace: int = 3000) -> None:
    for i in range(n):
        k = (b"%d" % rng.randrange(keyspace)).ljust(rng.randrange(100, 200), b".")
        if rng.random() < 0.4:
            assert db.delete(k) == (k in model)
            model.pop(k, None)
        else:
            model[k] = b"v" * rng.randrange(0, 400)
            db.put(k, model[k])
        if i % 100 == 0:
            check_shape(db.tree)


def test_splits_merges_redistribution_root_growth_and_collapse(tmp_path):
    db = BPlusTree.open(tmp_path, cache_pages=32)
    model: dict[bytes, bytes] = {}
    rng = random.Random(7)
    _churn(db, model, rng, 2500, keyspace=2000)
    s = db.stats()
    assert s["height"] >= 3 and s["splits"] > 50 and s["root_growths"] >= 2
    assert s["cached_pages"] <= 32 and s["checkpoints"] > 5  # the cache limit held
    assert list(db.scan()) == sorted(model.items())
    for k in sorted(model, key=lambda _: rng.random()):
        db.delete(k)
        if rng.random() < 0.03:
            check_shape(db.tree)
    check_shape(db.tree)
    s = db.stats()
    assert s["merges"] > 50 and s["redistributions"] > 0 and s["root_collapses"] >= 2
    assert s["height"] == 1 and len(db) == 0
    db.close()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 60), st.integers(1, MAX_KEY),
                          st.integers(0, 9000)), max_size=120))  # fmt: skip
def test_any_mix_of_big_entries_keeps_the_shape(tmp_path_factory, ops):
    db = BPlusTree.open(tmp_path_factory.mktemp("t"), cache_pages=16)
    model = {}
    for is_put, k, klen, vlen in ops:
        key = (b"%03d" % k * klen)[:klen]
        value = b"x" * vlen  # past ~1 KiB with its key: an overflow chain
        if is_put:
            db.put(key, value)
            model[key] = value
        else:
            db.delete(key)
            model.pop(key, None)
        check_shape(db.tree)
    assert list(db.scan()) == sorted(model.items())
    db.close()


def test_keys_beyond_the_limit_are_refused(tmp_path):
    with BPlusTree.open(tmp_path) as db:
        with pytest.raises(ValueError, match="key length"):
            db.put(b"k" * (MAX_KEY + 1), b"")
        with pytest.raises(ValueError, match="key length"):
            db.put(b"", b"v")
        assert len(db) == 0


def test_large_values_live_in_overflow_chains_that_are_freed_and_reused(tmp_path):
    big = bytes(range(256)) * 100  # 25,600 bytes: 7 overflow pages
    db = BPlusTree.open(tmp_path, cache_pages=16)
    for i in range(20):
        db.put(b"big%02d" % i, big + b"%d" % i)
    db.put(b"small", b"s")
    check_shape(db.tree)
    assert db.get(b"big07") == big + b"7" and db.get(b"small") == b"s"
    pages = db.pager.meta.npages
    for i in range(20):  # overwrite with small values, then big again: the chains are reused
        db.put(b"big%02d" % i, b"tiny")
    for i in range(20):
        db.put(b"big%02d" % i, big)
    assert db.pager.meta.npages <= pages + 1
    db.delete(b"big03")
    assert [k for k, _ in db.scan(b"big02", b"big05")] == [b"big02", b"big04"]
    db.abandon()  # a crash: the WAL replays the big values too
    with BPlusTree.open(tmp_path) as db:
        assert db.get(b"big04") == big and db.get(b"big03") is None
        assert dict(db.scan(b"big1")) == {b"big%02d" % i: big for i in range(10, 20)} | {
            b"small": b"s"
        }
        check_shape(db.tree)
    assert check_file(str(tmp_path / "tree.db")).status == "OK"


def _filled(path: Path, n: int = 3000) -> dict[bytes, bytes]:
    model = {b"key%05d" % i: b"value %d" % i * 5 for i in range(n)}
    with BPlusTree.open(path) as db:
        for k, v in model.items():
            db.put(k, v)
    return model


def test_every_page_is_one_4k_record_that_storage_check_walks(tmp_path):
    _filled(tmp_path)
    path = tmp_path / "tree.db"
    assert path.stat().st_size % PAGE_SIZE == 0
    rep = check_file(str(path))
    assert rep.status == "OK" and rep.kind == "bptree", rep.line()
    assert rep.records == path.stat().st_size // PAGE_SIZE  # META + one record per page


def test_a_flipped_byte_in_a_middle_page_stops_open_with_file_and_offset(tmp_path):
    _filled(tmp_path)
    path = tmp_path / "tree.db"
    pages = path.stat().st_size // PAGE_SIZE
    bad_page = pages // 2
    data = bytearray(path.read_bytes())
    data[bad_page * PAGE_SIZE + 1000] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(Corruption) as e:
        BPlusTree.open(tmp_path)
    assert e.value.file == str(path) and e.value.offset == bad_page * PAGE_SIZE
    rep = check_file(str(path))
    assert rep.status == "CORRUPT" and rep.corruption.offset == bad_page * PAGE_SIZE


def test_a_page_rotting_after_open_is_reported_on_read_never_served(tmp_path):
    model = _filled(tmp_path)
    db = BPlusTree.open(tmp_path, cache_pages=16)
    fd = os.open(tmp_path / "tree.db", os.O_RDWR)
    for pgno in range(1, db.pager.meta.npages):  # rot every leaf the cache does not hold
        os.pwrite(fd, b"\xff", pgno * PAGE_SIZE + 2000)
    os.close(fd)
    with pytest.raises(Corruption, match="checksum"):
        for k in model:
            db.get(k)
    db.abandon()


def test_a_checkpoint_torn_mid_write_is_finished_from_the_double_write_file(tmp_path):
    model = _filled(tmp_path, 500)
    db = BPlusTree.open(tmp_path)
    for i in range(0, 500, 3):
        k = b"key%05d" % i
        db.put(k, b"new")
        model[k] = b"new"
    # A crash in step 2 of a checkpoint: DWRITE is whole, tree.db half written and torn.
    images = [(0, pg.encode_meta(db.pager.meta))] + [
        (n, pg.encode_node(x)) for n, x in sorted(db.pager.dirty.items())
    ]
    pgr.write_dwrite(str(tmp_path), images, db.wal.last_seq)
    fd = os.open(tmp_path / "tree.db", os.O_RDWR)
    for n, image in images[: len(images) // 2]:
        os.pwrite(fd, image[:1500] + bytes(PAGE_SIZE - 1500), n * PAGE_SIZE)
    os.close(fd)
    db.abandon()
    with BPlusTree.open(tmp_path) as db:
        assert dict(db.scan()) == model
        check_shape(db.tree)
    assert not (tmp_path / pgr.DWRITE_NAME).exists()


def test_a_double_write_file_without_its_end_is_discarded(tmp_path):
    model = _filled(tmp_path, 300)
    garbage = [(n, b"\xee" * PAGE_SIZE) for n in range(3)]  # would wreck the tree if applied
    pgr.write_dwrite(str(tmp_path), garbage, 0)
    dw = tmp_path / pgr.DWRITE_NAME
    os.truncate(dw, dw.stat().st_size - 20)  # the crash hit before END was written
    with BPlusTree.open(tmp_path) as db:
        assert dict(db.scan()) == model


CHILD = r"""
import sys
from storage.bptree import BPlusTree
db = BPlusTree.open(sys.argv[1], sync="always", cache_pages=16)  # a checkpoint every ~12 pages
print("READY", flush=True)
for i in range(int(sys.argv[2])):
    k = b"k%d" % (i * 7919 % 997)
    if i % 4 == 3:
        db.delete(k)
    else:
        db.put(k, b"%d" % i * 20)
    print(i, flush=True)
"""


def _expected(n: int) -> dict[bytes, bytes]:
    m: dict[bytes, bytes] = {}
    for i in range(n):
        k = b"k%d" % (i * 7919 % 997)
        if i % 4 == 3:
            m.pop(k, None)
        else:
            m[k] = b"%d" % i * 20
    return m


@pytest.mark.parametrize("kill_after", [150, 700, 1300])
def test_sigkill_mid_checkpoints_loses_nothing_acknowledged(tmp_path, kill_after):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), "5000"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout
    try:
        assert proc.stdout.readline() == b"READY\n"
        for _ in range(kill_after):
            proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)
        acked = kill_after + proc.stdout.read().count(b"\n")
    finally:
        proc.kill()
        proc.wait()
    with BPlusTree.open(tmp_path) as db:
        state = dict(db.scan())
        check_shape(db.tree)
        assert db.replayed > 0 or db.stats()["checkpoints"] == 0
    assert state in (_expected(acked), _expected(acked + 1))
