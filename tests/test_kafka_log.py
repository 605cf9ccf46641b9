"""A partition log on files: offsets, segments, indexes, retention, recovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clients.kafka.protocol import records as R
from servers.kafka.log import LogConfig, PartitionLog

pytestmark = pytest.mark.exercise("M1")


def _append(log: PartitionLog, n: int, ts: int = 1000, size: int = 10) -> int:
    data = bytearray(R.encode_batch([(None, os.urandom(size), [], ts + i) for i in range(n)]))
    return log.append(data, R.check_batches(bytes(data), 1 << 20))


def _offsets(log: PartitionLog, start: int) -> list[int]:
    out, off = [], start
    while (data := log.read(off, 1 << 20)):
        recs = list(R.decode_batches(data))
        out += [r.offset for r in recs if r.offset >= off]
        off = recs[-1].offset + 1
    return out


def test_offsets_are_assigned_contiguously_and_read_from_the_middle(tmp_path: Path) -> None:
    log = PartitionLog(tmp_path, LogConfig())
    assert [_append(log, 3), _append(log, 2), _append(log, 1)] == [0, 3, 5]
    assert log.next_offset == 6
    assert _offsets(log, 4) == [4, 5]
    assert log.read(6, 100) == b""
    assert log.read(7, 100) is None


def test_segments_roll_and_reads_cross_them(tmp_path: Path) -> None:
    log = PartitionLog(tmp_path, LogConfig(segment_bytes=2048))
    for _ in range(50):
        _append(log, 5, size=50)
    assert len(log.segments) > 5
    assert _offsets(log, 0) == list(range(250))
    assert _offsets(log, 123) == list(range(123, 250))
    log.close()
    again = PartitionLog(tmp_path, LogConfig(segment_bytes=2048))
    assert again.next_offset == 250 and _offsets(again, 77) == list(range(77, 250))


def test_retention_by_size_keeps_the_active_segment(tmp_path: Path) -> None:
    log = PartitionLog(tmp_path, LogConfig(segment_bytes=2048, retention_bytes=4096))
    for _ in range(40):
        _append(log, 5, size=50)
    assert log.enforce_retention(now_ms=2000) > 0
    assert log.size_bytes() <= 4096 + 2048
    assert log.log_start_offset > 0
    assert log.read(0, 100) is None  # deleted: out of range
    assert _offsets(log, log.log_start_offset)[-1] == 199


def test_retention_by_time_drops_old_segments(tmp_path: Path) -> None:
    log = PartitionLog(tmp_path, LogConfig(segment_bytes=1024, retention_ms=1000))
    for i in range(10):
        _append(log, 5, ts=i * 1000, size=100)
    log.enforce_retention(now_ms=9000)
    assert all(s.max_timestamp >= 8000 for s in log.segments[:-1])
    assert log.log_start_offset > 0


def test_offset_for_time_finds_the_first_batch_at_or_after(tmp_path: Path) -> None:
    log = PartitionLog(tmp_path, LogConfig(segment_bytes=4096))
    for i in range(30):
        _append(log, 2, ts=i * 100, size=200)
    assert log.offset_for_time(0) == 0
    assert log.offset_for_time(1000) == 20  # batch 10 holds ts 1000, 1001
    assert log.offset_for_time(1050) == 22
    assert log.offset_for_time(10**9) is None


def test_torn_tail_is_truncated_on_recovery(tmp_path: Path) -> None:
    log = PartitionLog(tmp_path, LogConfig())
    _append(log, 3)
    _append(log, 3)
    log.close()
    seg = tmp_path / f"{0:020d}.log"
    whole = seg.stat().st_size
    with open(seg, "ab") as f:
        f.write(R.encode_batch([(None, b"torn", [], 1)])[:-7])  # a crash mid-write
    again = PartitionLog(tmp_path, LogConfig())
    assert seg.stat().st_size == whole
    assert again.next_offset == 6
    assert _append(again, 1) == 6
    assert _offsets(again, 0) == list(range(7))


def test_a_bad_crc_in_the_last_batch_is_cut_not_served(tmp_path: Path) -> None:
    log = PartitionLog(tmp_path, LogConfig())
    _append(log, 2)
    _append(log, 2)
    log.close()
    seg = tmp_path / f"{0:020d}.log"
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0xFF
    seg.write_bytes(bytes(data))
    again = PartitionLog(tmp_path, LogConfig())
    assert again.next_offset == 2 and _offsets(again, 0) == [0, 1]
