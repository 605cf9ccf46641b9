"""S7: the LSM tree: reads and writes across memtable, flushes and compactions; tombstones;
merged scans; reopen; the table format; a damaged block reported with its file and offset."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from storage import lsm
from storage.lsm import Corruption
from storage.lsm.sstable import (
    FOOTER_SIZE,
    MAGIC,
    RESTART_INTERVAL,
    BlockCache,
    Table,
    decode_block,
    write_table,
)
from storage.record import read_file

pytestmark = pytest.mark.exercise("S7")

# Tiny sizes so a few thousand writes go through many flushes and compactions.
SMALL = dict(write_buffer=8_000, base_bytes=30_000, table_bytes=10_000, sync="never")


def fill(db, n=3000, keys=800, seed=1, delete_share=0.2):
    rnd, model = random.Random(seed), {}
    for i in range(n):
        k = b"key%05d" % rnd.randrange(keys)
        if rnd.random() < delete_share:
            db.delete(k)
            model.pop(k, None)
        else:
            v = b"value-%d-" % i + b"x" * rnd.randrange(40)
            db.put(k, v)
            model[k] = v
    return model


def test_reads_see_every_write_through_flushes_and_compactions(tmp_path):
    with lsm.open(tmp_path, **SMALL) as db:
        model = fill(db)
        db.wait_idle()
        st_ = db.stats()
        assert st_["flushes"] > 5 and st_["compactions"] > 0
        assert sum(st_["tables_per_level"][1:]) > 0  # data went below level 0
        for k in (b"key%05d" % i for i in range(800)):
            assert db.get(k) == model.get(k)
        assert list(db.scan()) == sorted(model.items())
        assert len(db) == len(model) == st_["keys"]


def test_scan_bounds_are_start_inclusive_end_exclusive(tmp_path):
    with lsm.open(tmp_path, **SMALL) as db:
        model = fill(db)
        db.flush()
        lo, hi = b"key00200", b"key00300"
        assert list(db.scan(lo, hi)) == sorted((k, v) for k, v in model.items() if lo <= k < hi)
        assert list(db.scan(b"key99999")) == []


def test_tombstone_shadows_an_older_value_in_a_deeper_level(tmp_path):
    with lsm.open(tmp_path, **SMALL) as db:
        db.put(b"a", b"old")
        db.compact()  # "a" now lives in the deepest level
        assert db.stats()["tables_per_level"][0] == 0
        db.delete(b"a")
        assert db.get(b"a") is None  # memtable tombstone over a table's value
        db.flush()
        assert db.get(b"a") is None and list(db.scan()) == []  # level-0 tombstone
        assert db.stats()["tables"] == 2


def test_full_compaction_drops_tombstones_and_dead_versions(tmp_path):
    with lsm.open(tmp_path, **SMALL) as db:
        for i in range(300):
            db.put(b"k%03d" % i, b"v" * 50)
        for i in range(300):
            db.delete(b"k%03d" % i)
        db.put(b"survivor", b"1")
        db.compact()
        s = db.stats()
        assert s["keys"] == 1
        assert s["table_bytes"] < 1000  # nothing but the survivor is left on disk


def test_reopen_recovers_memtable_from_the_wal_and_tables_from_the_manifest(tmp_path):
    db = lsm.open(tmp_path, **SMALL)
    model = fill(db, seed=2)
    db.put(b"only-in-the-wal", b"1")
    model[b"only-in-the-wal"] = b"1"
    db.close()
    with lsm.open(tmp_path, **SMALL) as db:
        assert dict(db.scan()) == model


def test_stray_table_left_by_an_interrupted_flush_is_removed_at_open(tmp_path):
    with lsm.open(tmp_path, **SMALL) as db:
        db.put(b"a", b"1")
    write_table(str(tmp_path / "000000777.sst"), [(b"zombie", b"1")], 1)
    with lsm.open(tmp_path, **SMALL) as db:
        assert db.get(b"zombie") is None and db.get(b"a") == b"1"
    assert not (tmp_path / "000000777.sst").exists()


def test_second_opener_is_refused_while_the_first_holds_the_directory(tmp_path):
    with lsm.open(tmp_path):
        with pytest.raises(lsm.Locked):
            lsm.open(tmp_path)


def test_keys_and_values_over_limits_are_refused(tmp_path):
    with lsm.open(tmp_path) as db:
        with pytest.raises(ValueError):
            db.put(b"", b"v")
        with pytest.raises(ValueError):
            db.put(b"k" * (lsm.MAX_KEY_SIZE + 1), b"v")
        assert db.delete(b"never-there") is False


def test_table_has_restart_points_index_filter_and_a_footer_with_magic(tmp_path):
    path = str(tmp_path / "000000001.sst")
    items = [(b"user%06d" % i, b"v%d" % i) for i in range(1000)] + [(b"zz-gone", None)]
    write_table(path, items, len(items))
    recs, torn = read_file(path)
    assert torn is None
    assert [r.rtype for r in recs[-3:]] == [17, 18, 19]  # filter, index, footer
    assert recs[-1].size == FOOTER_SIZE
    assert int.from_bytes(recs[-1].payload[-8:], "little") == MAGIC
    data_blocks = [r for r in recs if r.rtype == 16]
    assert len(data_blocks) > 3
    payload = data_blocks[0].payload
    nrestarts = int.from_bytes(payload[-4:], "little")
    keys, _ = decode_block(payload, path, 0)
    assert nrestarts == -(-len(keys) // RESTART_INTERVAL)
    # prefix compression: the block is far smaller than its keys written whole
    assert len(payload) < sum(len(k) + 2 for k in keys) + 12 * len(keys)
    t = Table(path, 1, BlockCache())
    t.smallest, t.largest = items[0][0], items[-1][0]
    assert t.get(b"user000500") == (True, b"v500")
    assert t.get(b"zz-gone") == (True, None)  # a tombstone is found, valued None
    assert t.get(b"user000500x") == (False, None)
    assert list(t.scan(b"user000998")) == items[998:]
    t.close()


def test_flipped_byte_in_a_data_block_is_corruption_with_file_and_offset(tmp_path):
    with lsm.open(tmp_path, **SMALL) as db:
        model = fill(db, n=500, delete_share=0)
        db.compact()
    sst = sorted(p for p in os.listdir(tmp_path) if p.endswith(".sst"))[0]
    path = tmp_path / sst
    data = bytearray(path.read_bytes())
    recs, _ = read_file(path)
    block = [r for r in recs if r.rtype == 16][1]
    data[block.offset + 30] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(Corruption) as e:
        lsm.open(tmp_path, **SMALL)  # paranoid open checks every block
    assert e.value.file == str(path) and e.value.offset == block.offset
    # Not paranoid: the open succeeds, and the read that meets the block raises, never garbage.
    with lsm.open(tmp_path, **{**SMALL, "paranoid": False}) as db:
        with pytest.raises(Corruption) as e2:
            dict(db.scan())
        assert e2.value.offset == block.offset
        assert len(model) > 0


class LSMMachine(RuleBasedStateMachine):
    """The store against a dict, with flushes, compactions and reopen steps."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.tmp = tempfile.TemporaryDirectory()
        self.opts = dict(write_buffer=600, base_bytes=2_000, table_bytes=800, sync="never")
        self.db = lsm.open(self.tmp.name, **self.opts)
        self.model: dict[bytes, bytes] = {}

    keys = st.binary(min_size=1, max_size=4)

    @rule(k=keys, v=st.binary(max_size=30))
    def put(self, k, v):
        self.db.put(k, v)
        self.model[k] = v

    @rule(k=keys)
    def delete(self, k):
        assert self.db.delete(k) == (k in self.model)
        self.model.pop(k, None)

    @rule(k=keys)
    def get(self, k):
        assert self.db.get(k) == self.model.get(k)

    @rule(a=keys, b=keys)
    def scan(self, a, b):
        lo, hi = min(a, b), max(a, b)
        assert list(self.db.scan(lo, hi)) == sorted(
            (k, v) for k, v in self.model.items() if lo <= k < hi
        )

    @rule()
    def flush(self):
        self.db.flush()

    @precondition(lambda self: len(self.model) % 3 == 0)
    @rule()
    def compact(self):
        self.db.compact()

    @rule()
    def reopen(self):
        self.db.close()
        self.db = lsm.open(self.tmp.name, **self.opts)

    @invariant()
    def same_size(self):
        assert len(self.db) == len(self.model)

    def teardown(self):
        self.db.close()
        self.tmp.cleanup()


LSMMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=40, deadline=None)
test_lsm_against_a_dict = LSMMachine.TestCase
