"""The write-ahead log: replay, torn tails, corruption, sync policies, group commit,
rotation and truncation. Named after the edge cases."""

from __future__ import annotations

import threading

import pytest

from storage.record import HEADER_SIZE, Corruption
from storage.wal import Wal, WalError, list_segments, replay

pytestmark = pytest.mark.exercise("S4")


def _fill(d, n, **kw):
    with Wal(d, **kw) as w:
        for i in range(n):
            if i % 5 == 4:
                w.delete(b"k%d" % (i - 1))
            else:
                w.put(b"k%d" % i, b"value-%d" % i)
    return list(replay(d))


def test_replay_yields_every_entry_in_order_across_segments(tmp_path):
    entries = _fill(tmp_path, 200, segment_bytes=512)
    assert len(list_segments(tmp_path)) > 5
    assert [e.seq for e in entries] == list(range(1, 201))
    assert entries[0].key == b"k0" and entries[0].value == b"value-0"
    assert entries[4].is_delete and entries[4].key == b"k3"


def test_reopen_continues_the_sequence(tmp_path):
    _fill(tmp_path, 10)
    with Wal(tmp_path) as w:
        assert w.put(b"x", b"y") == 11
    assert [e.seq for e in replay(tmp_path)] == list(range(1, 12))


def test_truncated_trailing_entry_is_ignored_and_overwritten_on_reopen(tmp_path):
    _fill(tmp_path, 4)
    ((_, seg),) = list_segments(tmp_path)
    whole = seg.read_bytes()
    last_len = HEADER_SIZE + 8 + 4 + len(b"k3") + len(b"value-3")
    for cut in range(1, last_len + 1):
        seg.write_bytes(whole[:-cut])
        assert [e.seq for e in replay(tmp_path)] == [1, 2, 3]
    with Wal(tmp_path) as w:  # the last cut leaves exactly three entries
        assert w.put(b"new", b"v") == 4
    assert [e.key for e in replay(tmp_path)] == [b"k0", b"k1", b"k2", b"new"]


def test_bad_checksum_in_the_middle_raises_corruption_with_offset(tmp_path):
    _fill(tmp_path, 6)
    ((_, seg),) = list_segments(tmp_path)
    data = bytearray(seg.read_bytes())
    data[60] ^= 0x10  # inside the first or second entry, with more entries after it
    seg.write_bytes(bytes(data))
    with pytest.raises(Corruption) as e:
        list(replay(tmp_path))
    assert e.value.file == str(seg) and 0 < e.value.offset <= 60
    with pytest.raises(Corruption):
        Wal(tmp_path)  # opening must not truncate acknowledged entries away


def test_damaged_length_in_the_middle_is_corruption_not_a_torn_tail(tmp_path):
    _fill(tmp_path, 6)
    ((_, seg),) = list_segments(tmp_path)
    data = bytearray(seg.read_bytes())
    hdr = HEADER_SIZE + len("SYSLAB1 wal")  # the file header record
    data[hdr + 4 + 2] = 0x7F  # length of entry 1 now runs past the end of the file
    seg.write_bytes(bytes(data))
    with pytest.raises(Corruption) as e:
        list(replay(tmp_path))
    assert e.value.offset == hdr


def test_torn_tail_in_a_segment_that_is_not_the_last_is_corruption(tmp_path):
    _fill(tmp_path, 50, segment_bytes=256)
    (_, first), *_ = list_segments(tmp_path)
    first.write_bytes(first.read_bytes()[:-3])
    with pytest.raises(Corruption, match="not the last"):
        list(replay(tmp_path))


def test_missing_segment_is_a_sequence_gap(tmp_path):
    _fill(tmp_path, 50, segment_bytes=256)
    segs = list_segments(tmp_path)
    segs[2][1].unlink()
    with pytest.raises(Corruption, match="expected"):
        list(replay(tmp_path))


def test_segment_torn_inside_its_own_header_reopens_empty(tmp_path):
    _fill(tmp_path, 3)
    with Wal(tmp_path) as w:
        first = w.rotate()
    (tmp_path / list_segments(tmp_path)[-1][1].name).write_bytes(b"\x01\x02")
    assert [e.seq for e in replay(tmp_path)] == [1, 2, 3]
    with Wal(tmp_path) as w:
        assert w.put(b"a", b"b") == first == 4
    assert [e.seq for e in replay(tmp_path)] == [1, 2, 3, 4]


def test_sync_always_fsyncs_every_single_threaded_append(tmp_path):
    with Wal(tmp_path, sync="always") as w:
        for i in range(20):
            seq = w.put(b"k", b"%d" % i)
            assert w.durable_seq == seq
        assert w.stats.fsyncs == 20 and w.stats.writes == 20


def test_sync_never_leaves_fsync_to_the_os_until_close(tmp_path):
    w = Wal(tmp_path, sync="never")
    for i in range(20):
        w.put(b"k", b"%d" % i)
    assert w.stats.fsyncs == 0 and w.durable_seq == 0
    assert len(list(replay(tmp_path))) == 20  # written: a process crash loses nothing
    w.close()
    assert w.stats.fsyncs == 1


def test_sync_interval_flusher_makes_entries_durable_without_a_caller_fsync(tmp_path):
    with Wal(tmp_path, sync="interval", interval_ms=5) as w:
        seq = 0
        for i in range(10):
            seq = w.put(b"k", b"%d" % i)
        assert w.wait_flushed(seq, timeout=5.0)
        assert 1 <= w.stats.fsyncs <= 10


def test_group_commit_eight_writers_share_fsyncs_and_return_only_when_durable(tmp_path):
    threads, per = 8, 60
    errors: list[str] = []
    with Wal(tmp_path, sync="always") as w:
        barrier = threading.Barrier(threads)

        def writer(t: int) -> None:
            barrier.wait()
            for i in range(per):
                seq = w.put(b"t%d" % t, b"%d" % i)
                if w.durable_seq < seq:
                    errors.append(f"returned before fsync: {seq} > {w.durable_seq}")

        ts = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        stats = w.stats
    assert errors == []
    assert stats.appends == threads * per
    assert stats.fsyncs < stats.appends  # some fsyncs covered several writers
    entries = list(replay(tmp_path))
    assert [e.seq for e in entries] == list(range(1, threads * per + 1))
    for t in range(threads):  # each writer's entries in its own order
        mine = [int(e.value) for e in entries if e.key == b"t%d" % t]
        assert mine == list(range(per))


def test_truncate_after_checkpoint_removes_sealed_segments_only(tmp_path):
    with Wal(tmp_path, segment_bytes=256) as w:
        for i in range(40):
            w.put(b"k%d" % i, b"v")
        first = w.rotate()
        assert first == 41
        removed = w.truncate_through(first - 1)
        assert removed and len(list_segments(tmp_path)) == 1
        w.put(b"after", b"checkpoint")
    assert [e.seq for e in replay(tmp_path, after=40)] == [41]
    with pytest.raises(Corruption, match="checkpoint covers"):
        list(replay(tmp_path, after=10))  # entries 11..40 are gone: must not pass silently


def test_truncate_keeps_segments_with_entries_after_the_checkpoint(tmp_path):
    with Wal(tmp_path, segment_bytes=256) as w:
        for i in range(40):
            w.put(b"k%d" % i, b"v")
        w.truncate_through(20)
    assert [e.seq for e in replay(tmp_path, after=20)] == list(range(21, 41))


def test_closed_log_refuses_appends(tmp_path):
    w = Wal(tmp_path)
    w.close()
    with pytest.raises(WalError):
        w.put(b"k", b"v")


def test_unknown_sync_policy_is_refused(tmp_path):
    with pytest.raises(ValueError):
        Wal(tmp_path, sync="sometimes")


def _power_loss(w: Wal) -> list[int]:
    """Cut the active segment back to its last fsync (drop unsynced bytes); replay's seqs."""
    path, synced = w.synced_extent
    data = path.read_bytes()
    path.write_bytes(data[:synced])
    seqs = [e.seq for e in replay(path.parent)]
    w.close()  # stops the flusher; nothing is queued, so it writes nothing
    return seqs


@pytest.mark.parametrize("policy", ["always", "interval", "never"])
def test_power_loss_keeps_exactly_what_the_policy_promised(tmp_path, policy):
    w = Wal(tmp_path, sync=policy, interval_ms=5)
    acked = [w.put(b"k%d" % i, b"v" * 30) for i in range(25)]
    if policy == "interval":
        assert w.wait_flushed(acked[-1], timeout=5.0)
    durable = w.durable_seq
    survived = _power_loss(w)
    assert survived == list(range(1, durable + 1))
    if policy in ("always", "interval"):
        assert survived == acked  # every acknowledged (or flushed) append survives
    else:
        assert survived == []  # never: the OS had not flushed, so power loss took it all
