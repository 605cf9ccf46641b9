"""One partition's log: segment files with an offset index and a time index.

Layout on disk (grammar in ``FORMAT.md``): ``<topic>-<partition>/`` holds, per
segment, ``<base offset:020d>.log`` (record batches exactly as produced, with only
``baseOffset`` rewritten to the offset we assigned: it lies outside the batch's
CRC), ``.index`` (relative offset -> byte position, one entry every
``INDEX_INTERVAL`` bytes) and ``.timeindex`` (max timestamp so far -> relative
offset, same spacing). A reader finds a segment by bisecting base offsets, a
position by bisecting the index, then walks batch headers from there.

Durability. ``append`` writes with one ``os.write`` into the page cache: a
SIGKILL loses nothing written. ``sync`` fsyncs the active segment; the broker
calls it before answering an ``acks=all`` produce (so acknowledged batches
survive a power cut too), and every segment is fsynced when it is rolled.
Indexes are derived data, never fsynced on the hot path: recovery rebuilds the
active segment's indexes from its batches, verifying each batch's CRC-32C and
that base offsets are contiguous, and truncates the segment at the first batch
that fails (a torn tail). Closed segments were fsynced whole when rolled.

Retention: closed segments are deleted oldest first while the partition is
over ``retention_bytes`` or the segment's newest record is older than
``retention_ms`` (the active segment is never deleted, as in Kafka).
"""

from __future__ import annotations

import bisect
import logging
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from clients.kafka.protocol.records import (
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    BatchInfo,
    batch_crc_ok,
    set_base_offset,
)

log = logging.getLogger(__name__)

# Bytes of log between two index entries: Kafka's index.interval.bytes default (4 KiB).
INDEX_INTERVAL = 4096
_IDX = struct.Struct(">ii")  # relative offset, position
_TIDX = struct.Struct(">qi")  # timestamp, relative offset
_OFFSET_LEN = struct.Struct(">qi")


@dataclass(frozen=True)
class LogConfig:
    # Kafka's log.segment.bytes default is 1 GiB; 64 MiB keeps a lab's files small.
    segment_bytes: int = 64 * 1024 * 1024
    retention_bytes: int = -1  # -1: no size limit (Kafka's default)
    retention_ms: int = 7 * 24 * 3600 * 1000  # Kafka's default: 7 days


class Segment:
    def __init__(self, directory: Path, base: int) -> None:
        self.base = base
        stem = directory / f"{base:020d}"
        self.path = stem.with_suffix(".log")
        self.index_path = stem.with_suffix(".index")
        self.time_path = stem.with_suffix(".timeindex")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.next_offset = base
        self.max_timestamp = -1
        self.index: list[tuple[int, int]] = []  # (offset, position), absolute offsets
        self.index_offsets: list[int] = []
        self.times: list[tuple[int, int]] = []  # (max timestamp so far, offset)
        self._since_index = INDEX_INTERVAL  # index the first batch
        self._index_f = open(self.index_path, "ab")  # noqa: SIM115
        self._time_f = open(self.time_path, "ab")  # noqa: SIM115

    # -- writing -----------------------------------------------------------
    def note_batch(self, offset: int, position: int, count: int, max_ts: int, size: int) -> None:
        """Account one batch (just written or found by recovery) in the indexes."""
        if self._since_index >= INDEX_INTERVAL:
            self.index.append((offset, position))
            self.index_offsets.append(offset)
            self._index_f.write(_IDX.pack(offset - self.base, position))
            self._since_index = 0
            if max_ts > self.max_timestamp:
                self.times.append((max_ts, offset))
                self._time_f.write(_TIDX.pack(max_ts, offset - self.base))
        self._since_index += size
        self.max_timestamp = max(self.max_timestamp, max_ts)
        self.next_offset = offset + count

    def write(self, data: bytes | bytearray) -> None:
        os.pwrite(self.fd, data, self.size)  # positional: a torn earlier write is overwritten
        self.size += len(data)

    def flush_indexes(self) -> None:
        self._index_f.flush()
        self._time_f.flush()

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        self.flush_indexes()
        self._index_f.close()
        self._time_f.close()
        os.close(self.fd)

    def delete(self) -> None:
        self.close()
        for p in (self.path, self.index_path, self.time_path):
            p.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------
    def position_of(self, offset: int) -> int | None:
        """Byte position of the batch holding ``offset``, or None if past the end."""
        i = bisect.bisect_right(self.index_offsets, offset) - 1
        pos = self.index[i][1] if i >= 0 else 0
        while pos + LOG_OVERHEAD <= self.size:
            head = os.pread(self.fd, 27, pos)
            base, length = _OFFSET_LEN.unpack_from(head)
            (last_delta,) = struct.unpack_from(">i", head, 23)
            if base + last_delta >= offset:
                return pos
            pos += LOG_OVERHEAD + length
        return None

    def read(self, position: int, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` from ``position``, but always the first whole batch (KIP-74)."""
        head = os.pread(self.fd, LOG_OVERHEAD, position)
        first = LOG_OVERHEAD + _OFFSET_LEN.unpack_from(head)[1]
        want = min(max(max_bytes, first), self.size - position)
        return os.pread(self.fd, want, position)

    # -- recovery ----------------------------------------------------------
    def recover(self) -> int:
        """Re-index every whole, valid batch; truncate at the first that is not. Bytes cut."""
        self._index_f.truncate(0)
        self._time_f.truncate(0)
        self.index.clear()
        self.index_offsets.clear()
        self.times.clear()
        self._since_index = INDEX_INTERVAL
        with open(self.path, "rb") as f:
            data = f.read()
        pos, expect = 0, self.base
        while pos < len(data):
            if not batch_crc_ok(data, pos):
                break
            h = HEADER.unpack_from(data, pos)
            if h[0] != expect:
                break  # a batch from another life of this file: not ours to serve
            size = LOG_OVERHEAD + h[1]
            self.note_batch(h[0], pos, h[6] + 1, h[8], size)
            expect, pos = h[0] + h[6] + 1, pos + size
        cut = len(data) - pos
        if cut:
            os.ftruncate(self.fd, pos)
            os.fsync(self.fd)
            log.warning("%s: truncated %d bytes of torn or invalid tail at %d", self.path, cut, pos)
        self.size = pos
        self.flush_indexes()
        return cut

    def load_closed(self, next_base: int) -> None:
        """A closed segment: trust its fsynced indexes, its end is the next base."""
        self.next_offset = next_base
        raw = self.index_path.read_bytes()
        for i in range(0, len(raw) - len(raw) % 8, 8):
            rel, pos = _IDX.unpack_from(raw, i)
            self.index.append((self.base + rel, pos))
            self.index_offsets.append(self.base + rel)
        raw = self.time_path.read_bytes()
        for i in range(0, len(raw) - len(raw) % 12, 12):
            ts, rel = _TIDX.unpack_from(raw, i)
            self.times.append((ts, self.base + rel))
            self.max_timestamp = max(self.max_timestamp, ts)


class PartitionLog:
    def __init__(self, directory: Path, config: LogConfig) -> None:
        self.dir = directory
        self.config = config
        directory.mkdir(parents=True, exist_ok=True)
        bases = sorted(int(p.stem) for p in directory.glob("*.log"))
        self.segments = [Segment(directory, b) for b in bases] or [Segment(directory, 0)]
        for seg, nxt in zip(self.segments, self.segments[1:], strict=False):
            seg.load_closed(nxt.base)
        self.segments[-1].recover()
        self._bases = [s.base for s in self.segments]

    @property
    def active(self) -> Segment:
        return self.segments[-1]

    @property
    def log_start_offset(self) -> int:
        return self.segments[0].base

    @property
    def next_offset(self) -> int:
        """The high watermark: one past the last offset (a single replica: all of it)."""
        return self.active.next_offset

    def append(self, data: bytearray, batches: list[BatchInfo]) -> int:
        """Assign offsets to verified batches, write them; returns the first offset."""
        first_offset = self.next_offset
        if self.active.size + len(data) > self.config.segment_bytes and self.active.size:
            self._roll()
        seg = self.active
        offset, start = first_offset, seg.size
        for b in batches:
            set_base_offset(data, b.start, offset)
            seg.note_batch(offset, start + b.start, b.count, b.max_timestamp, b.size)
            offset += b.count
        seg.write(data)
        return first_offset

    def sync(self) -> None:
        self.active.sync()

    def _roll(self) -> None:
        old = self.active
        old.flush_indexes()
        old.sync()
        os.fsync(old._index_f.fileno())
        os.fsync(old._time_f.fileno())
        seg = Segment(self.dir, old.next_offset)
        seg.next_offset = old.next_offset
        self.segments.append(seg)
        self._bases.append(seg.base)
        log.debug("%s: rolled to segment %d", self.dir.name, seg.base)

    def read(self, offset: int, max_bytes: int) -> bytes | None:
        """Batches from the one holding ``offset``; b"" at the end; None if out of range."""
        if offset < self.log_start_offset or offset > self.next_offset:
            return None
        i = bisect.bisect_right(self._bases, offset) - 1
        while i < len(self.segments):
            seg = self.segments[i]
            pos = seg.position_of(offset)
            if pos is not None:
                return seg.read(pos, max_bytes)
            i += 1  # offset sits past this segment's last batch: the next one
        return b""

    def offset_for_time(self, ts: int) -> int | None:
        """First offset of the first batch whose max timestamp is >= ts (None: none)."""
        for seg in self.segments:
            if seg.max_timestamp < ts:
                continue
            i = bisect.bisect_left([t for t, _ in seg.times], ts) - 1
            pos = seg.position_of(seg.times[i][1]) if i >= 0 else 0
            while pos is not None and pos + HEADER_SIZE <= seg.size:
                h = HEADER.unpack_from(os.pread(seg.fd, HEADER_SIZE, pos))
                if h[8] >= ts:
                    return h[0]
                pos += LOG_OVERHEAD + h[1]
        return None

    def size_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    def enforce_retention(self, now_ms: int) -> int:
        """Delete old closed segments; returns how many went."""
        gone, cfg = 0, self.config
        while len(self.segments) > 1:
            seg = self.segments[0]
            too_big = cfg.retention_bytes >= 0 and self.size_bytes() - seg.size >= cfg.retention_bytes
            too_old = cfg.retention_ms >= 0 and seg.max_timestamp < now_ms - cfg.retention_ms
            if not (too_big or too_old):
                break
            seg.delete()
            self.segments.pop(0)
            self._bases.pop(0)
            gone += 1
        return gone

    def close(self) -> None:
        for s in self.segments:
            s.close()

    def destroy(self) -> None:
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)
