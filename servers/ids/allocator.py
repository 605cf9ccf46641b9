"""The range allocator and its durable high-water mark.

File format (``hwm``, 12 bytes): the highest id ever handed out, big-endian
uint64, then CRC-32 (zlib) of those 8 bytes, big-endian uint32. It is replaced
whole: written to ``hwm.tmp``, fsynced, renamed over ``hwm``, and the
directory fsynced, so a crash leaves the old mark or the new one, never half
of each. A file whose checksum fails raises ``Corruption``: guessing a mark
could reissue ids, so the service refuses to start instead.

Ordering is the whole guarantee: the mark for a range is durable before the
range leaves the process. A crash after the fsync and before the answer loses
that range (nobody got it: a gap); a crash before the fsync loses nothing,
because nobody got it either.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from pathlib import Path

from storage.record import Corruption

RECORD = struct.Struct(">QI")
# The largest range one request may take: big enough that a busy client asks
# rarely, small enough that a client dying with a fresh range wastes little.
MAX_RANGE = 1_000_000
MAX_ID = (1 << 63) - 1  # ids fit a signed BIGINT


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class HighWaterMark:
    """The mark on disk: ``load()`` and ``store(value)``."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "hwm"

    def load(self) -> int:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        if len(raw) != RECORD.size:
            raise Corruption(str(self.path), 0, f"expected {RECORD.size} bytes, found {len(raw)}")
        value, crc = RECORD.unpack(raw)
        if zlib.crc32(raw[:8]) != crc:
            raise Corruption(str(self.path), 0, "checksum mismatch")
        return int(value)

    def store(self, value: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        body = value.to_bytes(8, "big")
        with open(tmp, "wb") as f:
            f.write(body + zlib.crc32(body).to_bytes(4, "big"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.dir)


class RangeAllocator:
    """Hands out disjoint ranges ``[first, last]``; ids start at 1."""

    def __init__(self, mark: HighWaterMark) -> None:
        self.mark = mark
        self.hwm = mark.load()
        self._lock = threading.Lock()

    def allocate(self, size: int) -> tuple[int, int]:
        if not 1 <= size <= MAX_RANGE:
            raise ValueError(f"size must be 1..{MAX_RANGE}")
        with self._lock:
            last = self.hwm + size
            if last > MAX_ID:
                raise OverflowError("the id space is exhausted")
            self.mark.store(last)  # durable first: only then may anyone see the range
            first, self.hwm = self.hwm + 1, last
            return first, last
