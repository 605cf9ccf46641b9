"""S3: ``python -m storage.check`` finds every flipped byte (or calls it the torn tail)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.check import check_bytes, check_file
from storage.kv import KVStore
from storage.record import Reader, encode, file_header
from storage.wal import Wal, list_segments

pytestmark = pytest.mark.exercise("S3")
REPO = Path(__file__).resolve().parent.parent


def _wal_file(d: Path) -> Path:
    with Wal(d) as w:
        for i in range(8):
            w.put(b"key-%d" % i, b"v" * i)
        w.delete(b"key-3")
    return list_segments(d)[0][1]


def _snapshot_file(d: Path) -> Path:
    with KVStore(d, snapshot_every=0) as s:
        for i in range(6):
            s.put(b"k%d" % i, b"value %d" % i)
        s.snapshot()
    return d / "snapshot"


def _record_starts(data: bytes) -> list[int]:
    return [r.offset for r in Reader(data)]


def _owner(starts: list[int], i: int) -> int:
    return max(s for s in starts if s <= i)


def _assert_every_flip_is_found(clean: bytes, name: str) -> None:
    starts = _record_starts(clean)
    assert check_bytes(clean, name).status == "OK"
    for i in range(len(clean)):
        for bit in (0x01, 0x80):
            data = bytearray(clean)
            data[i] ^= bit
            rep = check_bytes(bytes(data), name)
            at = _owner(starts, i)
            if rep.status == "TORN":  # only the last record may be called the tail
                assert at == starts[-1] and rep.torn_at == at, (i, rep.line())
            else:
                assert rep.status == "CORRUPT", (i, rep.line())
                assert rep.corruption is not None and rep.corruption.offset == at, (i, rep.line())


def test_every_byte_flip_in_a_wal_segment_is_reported_at_its_record(tmp_path):
    seg = _wal_file(tmp_path)
    _assert_every_flip_is_found(seg.read_bytes(), str(seg))


def test_every_byte_flip_in_a_snapshot_is_reported_at_its_record(tmp_path):
    snap = _snapshot_file(tmp_path)
    _assert_every_flip_is_found(snap.read_bytes(), str(snap))


def test_whole_file_reports_kind_and_record_count(tmp_path):
    rep = check_file(_wal_file(tmp_path))
    assert (rep.status, rep.kind, rep.records) == ("OK", "wal", 9)


def test_torn_tail_is_reported_with_its_offset_but_is_not_an_error(tmp_path):
    seg = _wal_file(tmp_path)
    data = seg.read_bytes()
    last = _record_starts(data)[-1]
    rep = check_bytes(data[:-2], "x")
    assert (rep.status, rep.torn_at, rep.records) == ("TORN", last, 8)


def test_checksum_valid_record_with_a_bad_payload_is_corrupt(tmp_path):
    data = file_header("wal") + encode(16, b"\x01\x00")  # a PUT too short to hold a seq
    rep = check_bytes(data, "x")
    assert rep.status == "CORRUPT" and rep.corruption.offset == len(file_header("wal"))


def test_wal_sequence_gap_inside_a_file_is_corrupt(tmp_path):
    from storage.wal.entry import encode_put

    recs = [encode(*encode_put(seq, b"k", b"v")) for seq in (1, 2, 4)]
    data = file_header("wal") + b"".join(recs)
    rep = check_bytes(data, "x")
    assert rep.status == "CORRUPT" and "sequence 4" in rep.corruption.reason


def test_file_without_a_header_is_corrupt_at_zero():
    rep = check_bytes(encode(16, b"no header here") + encode(16, b"x"), "x")
    assert rep.status == "CORRUPT" and rep.corruption.offset == 0


def test_unknown_kind_gets_the_record_level_check():
    data = file_header("future-kind") + encode(40, b"a") + encode(41, b"b")
    rep = check_bytes(data, "x")
    assert (rep.status, rep.kind, rep.records) == ("OK", "future-kind", 2)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storage.check", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_cli_reports_each_flipped_copy_at_its_record_and_exits_1(tmp_path):
    seg = _wal_file(tmp_path / "wal")
    clean = seg.read_bytes()
    starts = _record_starts(clean)
    middle = [i for i in range(0, starts[-1], 7)]  # flips before the last record
    paths = []
    for i in middle:
        data = bytearray(clean)
        data[i] ^= 0x04
        p = tmp_path / f"flip-{i:05d}.wal"
        p.write_bytes(bytes(data))
        paths.append(str(p))
    out = _cli(*paths)
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(middle)
    for i, line in zip(middle, lines, strict=True):
        m = re.search(r"CORRUPT at offset (\d+)", line)
        assert m and int(m.group(1)) == _owner(starts, i), line


def test_cli_says_whole_and_torn_and_exits_0(tmp_path):
    seg = _wal_file(tmp_path / "wal")
    torn = tmp_path / "torn.wal"
    torn.write_bytes(seg.read_bytes()[:-5])
    out = _cli(str(seg), str(torn))
    assert out.returncode == 0
    whole_line, torn_line = out.stdout.splitlines()
    assert "OK, kind=wal, 9 records" in whole_line
    assert f"TORN tail at offset {_record_starts(seg.read_bytes())[-1]}" in torn_line


def test_cli_walks_a_store_directory(tmp_path):
    _snapshot_file(tmp_path)
    out = _cli(str(tmp_path))
    assert out.returncode == 0
    assert "kind=snapshot" in out.stdout and "kind=wal" in out.stdout


def test_cli_missing_file_exits_2(tmp_path):
    out = _cli(str(tmp_path / "nope"))
    assert out.returncode == 2 and "UNREADABLE" in out.stdout


def _bitcask_files(d: Path) -> tuple[Path, Path]:
    from storage.bitcask import Bitcask

    with Bitcask.open(d, sync="always") as db:
        for i in range(6):
            db.put(b"word-%d" % i, b"definition %d" % i)
        db.delete(b"word-2")
    (data,) = d.glob("*.data")
    (hint,) = d.glob("*.hint")
    return data, hint


def test_every_byte_flip_in_a_bitcask_data_file_is_reported_at_its_record(tmp_path):
    data, _ = _bitcask_files(tmp_path)
    assert check_file(data).kind == "bitcask-data"
    _assert_every_flip_is_found(data.read_bytes(), str(data))


def test_every_byte_flip_in_a_bitcask_hint_file_is_reported_at_its_record(tmp_path):
    _, hint = _bitcask_files(tmp_path)
    rep = check_file(hint)
    assert (rep.status, rep.kind, rep.records) == ("OK", "bitcask-hint", 8)  # 7 entries + END
    _assert_every_flip_is_found(hint.read_bytes(), str(hint))


def test_bitcask_hint_whose_end_count_disagrees_is_corrupt(tmp_path):
    _, hint = _bitcask_files(tmp_path)
    recs = list(Reader(hint.read_bytes()))
    kept = recs[:3] + recs[4:]  # header, two entries, (one dropped), the rest and END
    data = b"".join(encode(r.rtype, r.payload) for r in kept)
    rep = check_bytes(data, "x")
    assert rep.status == "CORRUPT" and "END says" in rep.corruption.reason


def test_cli_checks_a_bitcask_directory(tmp_path):
    _bitcask_files(tmp_path)
    out = _cli(str(tmp_path))
    assert out.returncode == 0, out.stdout
    assert "kind=bitcask-data" in out.stdout and "kind=bitcask-hint" in out.stdout
    assert "LOCK: SKIPPED" in out.stdout


@given(
    st.lists(st.binary(max_size=40), min_size=2, max_size=8),
    st.data(),
)
@settings(max_examples=300, deadline=None)
def test_any_single_flip_in_any_file_is_reported_at_its_record(payloads, data):
    clean = file_header("prop") + b"".join(encode(16, p) for p in payloads)
    starts = _record_starts(clean)
    i = data.draw(st.integers(0, len(clean) - 1))
    bit = data.draw(st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]))
    flipped = bytearray(clean)
    flipped[i] ^= bit
    rep = check_bytes(bytes(flipped), "x")
    at = _owner(starts, i)
    if rep.status == "TORN":
        assert at == starts[-1] and rep.torn_at == at
    else:
        assert rep.status == "CORRUPT" and rep.corruption.offset == at


@pytest.mark.parametrize("cut", [0, 3, 5, 9, 12, 20])
def test_a_file_torn_inside_its_header_is_torn_not_corrupt(tmp_path, cut):
    data = (file_header("bitcask-data") + encode(16, b"x" * 30))[:cut]
    rep = check_bytes(data, "x")
    assert (rep.status, rep.torn_at) == ("TORN", 0), rep.line()


def test_a_short_file_that_is_no_syslab_file_is_said_so(tmp_path):
    lock = tmp_path / "LOCK"
    lock.write_bytes(b"12345\n")  # a pid: 6 bytes, shorter than a record header
    rep = check_file(lock)
    assert rep.status == "CORRUPT" and "not a syslab data file" in rep.line()
    out = _cli(str(tmp_path))  # walking the directory skips it instead
    assert out.returncode == 0 and "SKIPPED" in out.stdout


def test_a_bitcask_merge_marker_is_checked(tmp_path):
    from storage.bitcask import format as bfmt

    good = file_header(bfmt.RETIRE_KIND) + encode(bfmt.T_RETIRE, bytes(16))
    assert check_bytes(good, "MERGE-RETIRE").status == "OK"
    bad = file_header(bfmt.RETIRE_KIND) + encode(bfmt.T_RETIRE, bytes(13))
    rep = check_bytes(bad, "MERGE-RETIRE")
    assert rep.status == "CORRUPT" and rep.corruption.offset == len(file_header(bfmt.RETIRE_KIND))
