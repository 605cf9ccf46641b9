"""Bitcask: the edge cases, each test named after one (leveldb style).

Corruption is made by flipping real bytes in real files; crashes by
``abandon()`` (descriptors dropped without sync or hint) plus truncating the
unsynced tail, or by a real process killed with SIGKILL (test_bitcask_crash.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from storage.bitcask import Bitcask, Closed, Corruption, Locked, load, merge
from storage.bitcask import format as fmt
from storage.record import HEADER_SIZE, Reader, encode, read_file
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("S5")

SMALL = 400  # bytes per data file: forces rotation after a handful of records


def _fill(db: Bitcask, n: int, prefix: bytes = b"k") -> dict[bytes, bytes]:
    want = {}
    for i in range(n):
        key, value = b"%s%03d" % (prefix, i), b"value-%d-" % i + b"x" * (i % 7)
        db.put(key, value)
        want[key] = value
    return want


def _data_files(d: Path) -> list[Path]:
    return sorted(d.glob("*.data"))


def _record_offsets(path: Path) -> list[int]:
    recs, _ = read_file(path)
    return [r.offset for r in recs[1:]]


def test_put_get_delete_roundtrip_and_reopen(tmp_path):
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        want = _fill(db, 40)
        assert db.delete(b"k005") and not db.delete(b"k005")
        del want[b"k005"]
        db.put(b"k006", b"new")
        want[b"k006"] = b"new"
        assert {k: db.get(k) for k in db.keys()} == want
        assert len(_data_files(tmp_path)) > 3  # rotated at the size limit
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        assert {k: db.get(k) for k in db.keys()} == want
        assert db.get(b"k005") is None and b"k005" not in db


def test_empty_value_and_binary_keys(tmp_path):
    with Bitcask.open(tmp_path) as db:
        db.put(b"\x00\xff\r\n", b"")
        assert db.get(b"\x00\xff\r\n") == b""
    with Bitcask.open(tmp_path) as db:
        assert db.get(b"\x00\xff\r\n") == b""


def test_bad_keys_and_values_are_refused(tmp_path):
    with Bitcask.open(tmp_path) as db:
        with pytest.raises(ValueError):
            db.put(b"", b"v")
        with pytest.raises(ValueError):
            db.put(b"k" * (fmt.MAX_KEY_SIZE + 1), b"v")
        with pytest.raises(TypeError):
            db.put("str", b"v")  # type: ignore[arg-type]


def test_closed_bitcask_refuses_work(tmp_path):
    db = Bitcask.open(tmp_path)
    db.put(b"a", b"1")
    db.close()
    with pytest.raises(Closed):
        db.put(b"a", b"2")
    with pytest.raises(Closed):
        db.get(b"a")


def test_close_without_writes_leaves_no_empty_file(tmp_path):
    with Bitcask.open(tmp_path) as db:
        db.put(b"a", b"1")
    for _ in range(3):
        Bitcask.open(tmp_path).close()
    assert len(_data_files(tmp_path)) == 1


def test_startup_reads_hints_not_data_files(tmp_path, monkeypatch):
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        want = _fill(db, 30)

    def no_scan(path):
        raise AssertionError(f"start-up scanned {path} although its hint is whole")

    monkeypatch.setattr(load, "scan_data", no_scan)
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        assert {k: db.get(k) for k in db.keys()} == want


def test_torn_tail_ignored_and_truncated(tmp_path):
    db = Bitcask.open(tmp_path)
    db.put(b"a", b"1")
    db.put(b"b", b"2")
    db.sync()
    active = Path(db.active_path)
    db.abandon()
    whole = active.stat().st_size
    with open(active, "ab") as f:  # half a record: what a crash mid-append leaves
        f.write(b"\x12\x34\x56\x78\x40\x00\x00\x00\x10partial")
    with Bitcask.open(tmp_path) as db:
        assert db.get(b"a") == b"1" and db.get(b"b") == b"2" and len(db) == 2
    assert active.stat().st_size == whole


@pytest.mark.parametrize("cut", [1, 5, HEADER_SIZE, HEADER_SIZE + 3])
def test_truncated_last_record_is_ignored(tmp_path, cut):
    db = Bitcask.open(tmp_path)
    db.put(b"a", b"1")
    db.put(b"b", b"two")
    active = Path(db.active_path)
    db.abandon()
    os.truncate(active, active.stat().st_size - cut)
    with Bitcask.open(tmp_path) as db:
        assert db.get(b"a") == b"1" and db.get(b"b") is None


def test_file_torn_inside_its_header_is_removed(tmp_path):
    with Bitcask.open(tmp_path) as db:
        db.put(b"a", b"1")
    (tmp_path / fmt.data_name(99)).write_bytes(b"\x01\x02\x03")
    with Bitcask.open(tmp_path) as db:
        assert db.get(b"a") == b"1"
    assert not (tmp_path / fmt.data_name(99)).exists()


def test_bad_checksum_in_the_middle_reported_with_file_and_offset(tmp_path):
    db = Bitcask.open(tmp_path)
    for k in (b"a", b"b", b"c"):
        db.put(k, b"value of " + k)
    active = Path(db.active_path)
    db.abandon()  # no hint: start-up must scan this file
    middle = _record_offsets(active)[1]
    data = bytearray(active.read_bytes())
    data[middle + HEADER_SIZE + 2] ^= 0x40
    active.write_bytes(bytes(data))
    with pytest.raises(Corruption) as e:
        Bitcask.open(tmp_path)
    assert e.value.file == str(active) and e.value.offset == middle


def test_bad_checksum_behind_a_hint_is_reported_on_read(tmp_path):
    with Bitcask.open(tmp_path) as db:
        db.put(b"a", b"apple")
        db.put(b"b", b"banana")
    (data_file,) = _data_files(tmp_path)
    off = _record_offsets(data_file)[0]
    raw = bytearray(data_file.read_bytes())
    raw[off + HEADER_SIZE + 12 + 1 + 2] ^= 0x01  # a byte of "apple"
    data_file.write_bytes(bytes(raw))
    with Bitcask.open(tmp_path) as db:  # the hint is whole, so open does not look
        with pytest.raises(Corruption) as e:
            db.get(b"a")
        assert e.value.offset == off
        assert db.get(b"b") == b"banana"


def test_flipped_byte_anywhere_in_a_data_file_never_returns_garbage(tmp_path):
    with Bitcask.open(tmp_path) as db:
        want = _fill(db, 12)
    (data_file,) = _data_files(tmp_path)
    pristine = data_file.read_bytes()
    for pos in range(0, len(pristine), 3):
        raw = bytearray(pristine)
        raw[pos] ^= 0x20
        data_file.write_bytes(bytes(raw))
        with Bitcask.open(tmp_path) as db:
            for k, v in want.items():
                try:
                    assert db.get(k) == v, f"flip at {pos} returned garbage for {k!r}"
                except Corruption:
                    pass
    data_file.write_bytes(pristine)


def test_flipped_byte_in_unhinted_data_file_is_refused_or_tail(tmp_path):
    with Bitcask.open(tmp_path) as db:
        want = _fill(db, 8)
    (data_file,) = _data_files(tmp_path)
    last = _record_offsets(data_file)[-1]
    pristine = data_file.read_bytes()
    for pos in range(0, len(pristine), 2):
        for h in tmp_path.glob("*.hint"):
            h.unlink()
        raw = bytearray(pristine)
        raw[pos] ^= 0x08
        data_file.write_bytes(bytes(raw))
        try:
            db = Bitcask.open(tmp_path)
        except Corruption as e:
            assert e.offset <= pos
            continue
        with db:  # only a flip in the last record may pass: it reads as a torn tail
            assert pos >= last, f"flip at {pos} loaded silently"
            for k, v in want.items():
                assert db.get(k) in (v, None)
        data_file.write_bytes(pristine)


def test_hint_file_corrupt_rebuilt_from_data(tmp_path):
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        want = _fill(db, 25)
    hint = sorted(tmp_path.glob("*.hint"))[0]
    pristine = hint.read_bytes()
    for pos in range(0, len(pristine), 5):
        raw = bytearray(pristine)
        raw[pos] ^= 0x04
        hint.write_bytes(bytes(raw))
        with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
            assert {k: db.get(k) for k in db.keys()} == want, f"hint flip at {pos}"
        assert load.read_hint(str(hint), os.path.getsize(str(hint)[:-5] + ".data")) is not None


def test_truncated_or_stale_hint_rebuilt_from_data(tmp_path):
    with Bitcask.open(tmp_path) as db:
        want = _fill(db, 10)
    (data_file,) = _data_files(tmp_path)
    hint = data_file.with_suffix(".hint")
    hint.write_bytes(hint.read_bytes()[:-3])  # lost its HINT_END
    with Bitcask.open(tmp_path) as db:
        assert {k: db.get(k) for k in db.keys()} == want
    # The data file grew behind its (whole) hint's back: the size check catches it.
    with open(data_file, "ab") as f:
        f.write(encode(fmt.T_PUT, fmt.put_payload(2**62, b"grown", b"behind the hint")))
    with Bitcask.open(tmp_path) as db:
        assert db.get(b"grown") == b"behind the hint" and db.get(b"k001") == want[b"k001"]


def test_orphan_hint_and_temp_files_are_removed(tmp_path):
    with Bitcask.open(tmp_path) as db:
        db.put(b"a", b"1")
    (tmp_path / fmt.hint_name(500)).write_bytes(b"stale")
    (tmp_path / (fmt.hint_name(1) + ".tmp")).write_bytes(b"half")
    with Bitcask.open(tmp_path) as db:
        assert db.get(b"a") == b"1"
    assert not (tmp_path / fmt.hint_name(500)).exists()
    assert not list(tmp_path.glob("*.tmp"))


def test_second_writer_refused_by_the_lock(tmp_path):
    db = Bitcask.open(tmp_path)
    with pytest.raises(Locked):
        Bitcask.open(tmp_path)  # same process, second open file description
    code = f"from storage.bitcask import Bitcask; Bitcask.open({str(tmp_path)!r})"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.returncode != 0
    assert "already open for writing" in other.stderr and str(os.getpid()) in other.stderr
    db.close()
    Bitcask.open(tmp_path).close()  # released on close


def test_merge_keeps_live_keys_and_reclaims_space(tmp_path):
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        _fill(db, 30)
        want = _fill(db, 30)  # every key overwritten once
        for i in range(0, 30, 3):
            db.delete(b"k%03d" % i)
            del want[b"k%03d" % i]
        before = db.disk_usage()
        stats = db.merge()
        assert stats["keys_copied"] == len(want)
        assert db.disk_usage() < before / 2
        assert {k: db.get(k) for k in db.keys()} == want
        db.put(b"after", b"merge")
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        want[b"after"] = b"merge"
        assert {k: db.get(k) for k in db.keys()} == want


def test_reads_during_merge_return_correct_values(tmp_path, monkeypatch):
    """The merge is paused after its first file; reads, overwrites and deletes go on."""
    db = Bitcask.open(tmp_path, max_file_size=SMALL)
    want = _fill(db, 60)
    paused, go = threading.Event(), threading.Event()
    real_copy = merge._copy_live

    def copy_then_pause(db_, file_id, out):
        real_copy(db_, file_id, out)
        out.close_file()  # one output file installed: the keydir is half swapped
        if not paused.is_set():
            paused.set()
            go.wait(30)

    monkeypatch.setattr(merge, "_copy_live", copy_then_pause)
    result: dict[str, object] = {}
    t = threading.Thread(target=lambda: result.update(db.merge()))
    t.start()
    assert paused.wait(30) and db.merging
    assert {k: db.get(k) for k in db.keys()} == want
    for i in range(0, 60, 4):
        db.put(b"k%03d" % i, b"rewritten during merge")
        want[b"k%03d" % i] = b"rewritten during merge"
    for i in range(1, 60, 10):
        db.delete(b"k%03d" % i)
        del want[b"k%03d" % i]
    assert {k: db.get(k) for k in db.keys()} == want
    go.set()
    t.join(30)
    assert result["files_merged"] and not db.merging
    assert {k: db.get(k) for k in db.keys()} == want  # the racing writes won
    db.close()
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        assert {k: db.get(k) for k in db.keys()} == want


def _deleted_key_setup(db: Bitcask) -> dict[bytes, bytes]:
    want = _fill(db, 20)
    db.sync()
    db.merge()  # the puts now sit in a merge output file...
    for i in range(5):
        db.delete(b"k%03d" % i)  # ...and their tombstones in a newer file
        del want[b"k%03d" % i]
    return want


def test_crash_after_merge_commit_finishes_deletion_without_resurrection(tmp_path, monkeypatch):
    db = Bitcask.open(tmp_path, max_file_size=SMALL)
    want = _deleted_key_setup(db)
    monkeypatch.setattr(merge, "finish_retire", lambda directory: None)
    db.merge()  # marker written, old files not yet deleted: then the crash
    db.abandon()
    monkeypatch.undo()
    assert (tmp_path / merge.RETIRE_MARKER).exists()
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        assert {k: db.get(k) for k in db.keys()} == want
    assert not (tmp_path / merge.RETIRE_MARKER).exists()


def test_crash_before_merge_commit_keeps_duplicates_harmless(tmp_path, monkeypatch):
    db = Bitcask.open(tmp_path, max_file_size=SMALL)
    want = _deleted_key_setup(db)
    monkeypatch.setattr(merge, "retire", lambda directory, ids: None)
    db.merge()  # outputs written and fsynced; old files all still there
    db.abandon()
    monkeypatch.undo()
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        assert {k: db.get(k) for k in db.keys()} == want
        db.merge()
        assert {k: db.get(k) for k in db.keys()} == want


def test_sync_every_n_ms_reaches_disk_without_further_writes(tmp_path):
    with Bitcask.open(tmp_path, sync=5) as db:
        db.put(b"a", b"1")
        done = threading.Event()
        for _ in range(2000):  # poll the condition, bounded (no fixed sleep)
            if db.synced_size == db.active_size:
                done.set()
                break
            done.wait(0.005)
        assert done.is_set()


def test_sync_always_is_durable_on_return(tmp_path):
    with Bitcask.open(tmp_path, sync="always") as db:
        db.put(b"a", b"1")
        assert db.synced_size == db.active_size
        db.delete(b"a")
        assert db.synced_size == db.active_size


def test_bad_sync_policy_refused(tmp_path):
    with pytest.raises(ValueError):
        Bitcask.open(tmp_path, sync="sometimes")  # type: ignore[arg-type]


def test_every_file_is_a_syslab_record_file(tmp_path):
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        _fill(db, 20)
        db.merge()
    for p in list(tmp_path.glob("*.data")) + list(tmp_path.glob("*.hint")):
        r = Reader(p.read_bytes(), str(p))
        recs = list(r)
        assert r.torn_at is None and recs[0].rtype == 1


def test_bitcask_benchmark_runs_end_to_end(capsys, tmp_path, monkeypatch):
    from bench import bitcask as bench_bitcask
    from bench.common import OUT_ENV

    monkeypatch.setenv(OUT_ENV, str(tmp_path))  # never into bench/results/

    bench_bitcask.main(["--quick"])
    out = capsys.readouterr().out
    for workload in ("fillseq", "fillrandom", "readrandom", "overwrite", "merge/VACUUM"):
        assert f"{workload} (never)" in out
    assert "fillseq (always)" in out and "sqlite" in out
    rows = assert_bench_report(tmp_path, "bitcask-quick")["rows"]
    assert all(r["extra"]["rounds"] == 2 and r["extra"]["min"] <= r["value"] <= r["extra"]["max"]
               for r in rows)  # fmt: skip
    assert (tmp_path / "bitcask-quick.png").stat().st_size > 1000
