"""S4: the KV store on WAL + snapshot recovers exactly what was acknowledged."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from storage.kv import KVStore
from storage.kv import snapshot as snap
from storage.record import Corruption, NotFound
from storage.wal import list_segments, replay

pytestmark = pytest.mark.exercise("S4")


def test_put_get_delete_and_reopen(tmp_path):
    with KVStore(tmp_path) as s:
        s.put(b"a", b"1")
        s.put(b"b", b"2")
        assert s.delete(b"a") and not s.delete(b"zz")
        assert s.get(b"b") == b"2"
        with pytest.raises(NotFound):
            s.get(b"a")
    with KVStore(tmp_path) as s:
        assert s.items() == {b"b": b"2"}
        assert s.recovery.snapshot_seq == 0 and s.recovery.replayed == 4


def test_recovery_loads_the_snapshot_and_replays_only_the_log_after_it(tmp_path):
    with KVStore(tmp_path, snapshot_every=10) as s:
        for i in range(25):
            s.put(b"k%d" % (i % 4), b"%d" % i)
        assert s.snapshots == 2 and s.last_snapshot_seq == 20
    assert len(list_segments(tmp_path / "wal")) == 1  # truncated after the checkpoint
    with KVStore(tmp_path) as s:
        assert (s.recovery.snapshot_seq, s.recovery.replayed) == (20, 5)
        assert s.items() == {b"k0": b"24", b"k1": b"21", b"k2": b"22", b"k3": b"23"}


def test_crash_after_snapshot_rename_before_truncation_applies_nothing_twice(tmp_path):
    with KVStore(tmp_path, snapshot_every=0) as s:
        for i in range(10):
            s.put(b"k", b"%d" % i)
        s.delete(b"k")
        s.put(b"other", b"x")
        items = s.items()
    # the checkpoint's step 2 happened, step 3 (truncation) did not: log still whole
    snap.write(tmp_path, 11, {})
    assert len(list(replay(tmp_path / "wal"))) == 12
    with KVStore(tmp_path) as s:
        assert s.items() == items and s.recovery.replayed == 1


def test_leftover_temp_snapshot_from_a_crash_is_ignored_and_removed(tmp_path):
    with KVStore(tmp_path) as s:
        s.put(b"a", b"1")
    (tmp_path / snap.TMP_NAME).write_bytes(b"half a snapshot")
    with KVStore(tmp_path) as s:
        assert s.items() == {b"a": b"1"}
    assert not (tmp_path / snap.TMP_NAME).exists()


def test_every_torn_cut_of_the_log_recovers_a_prefix_of_the_writes(tmp_path):
    with KVStore(tmp_path / "src", snapshot_every=0) as s:
        for i in range(6):
            s.put(b"k%d" % i, b"v%d" % i)
    ((_, seg),) = list_segments(tmp_path / "src" / "wal")
    whole = seg.read_bytes()
    seen = set()
    for cut in range(len(whole) - 120, len(whole) + 1):
        d = tmp_path / f"cut{cut}"
        (d / "wal").mkdir(parents=True)
        (d / "wal" / seg.name).write_bytes(whole[:cut])
        with KVStore(d) as s:
            got = s.items()
            n = len(got)
            assert got == {b"k%d" % i: b"v%d" % i for i in range(n)}
            s.put(b"after", b"crash")  # the torn tail was truncated, appending works
        with KVStore(d) as s:
            assert s.get(b"after") == b"crash" and len(s.items()) == n + 1
        seen.add(n)
    assert len(seen) >= 3


def test_corrupt_snapshot_refuses_to_open(tmp_path):
    with KVStore(tmp_path, snapshot_every=0) as s:
        s.put(b"a", b"1")
        s.snapshot()
    p = tmp_path / snap.NAME
    data = bytearray(p.read_bytes())
    data[-3] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(Corruption):
        KVStore(tmp_path)


def test_concurrent_writers_and_snapshots_recover_the_same_map(tmp_path):
    with KVStore(tmp_path, snapshot_every=50) as s:

        def writer(t: int) -> None:
            for i in range(100):
                s.put(b"t%d-%d" % (t, i % 10), b"%d" % i)
                if i % 7 == 0:
                    s.delete(b"t%d-%d" % (t, (i + 3) % 10))

        ts = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        expected = s.items()
        assert s.snapshots >= 4
        assert s.wal.stats.fsyncs < s.wal.stats.appends  # group commit in the store
    with KVStore(tmp_path) as s:
        assert s.items() == expected


class KVModel(RuleBasedStateMachine):
    """The store against a dict, with snapshots, clean reopens and crashes (no close)."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="kvmodel-"))
        self.store = KVStore(self.dir, snapshot_every=5, segment_bytes=300)
        self.model: dict[bytes, bytes] = {}

    keys = st.sampled_from([b"a", b"b", b"c", b"d"])

    @rule(key=keys, value=st.binary(max_size=20))
    def put(self, key, value):
        self.store.put(key, value)
        self.model[key] = value

    @rule(key=keys)
    def delete(self, key):
        assert self.store.delete(key) == (key in self.model)
        self.model.pop(key, None)

    @rule()
    def snapshot(self):
        self.store.snapshot()

    @rule()
    def reopen(self):
        self.store.close()
        self.store = KVStore(self.dir, snapshot_every=5, segment_bytes=300)

    @rule()
    def crash(self):
        # sync=always: every acknowledged write is on disk; abandon the open store as a
        # SIGKILL would (no close, no final fsync) and recover from the files alone.
        self.store = KVStore(self.dir, snapshot_every=5, segment_bytes=300)

    @invariant()
    def same_as_model(self):
        assert self.store.items() == self.model

    def teardown(self):
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


KVModel.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
test_kv_store_against_a_dict_model = KVModel.TestCase
