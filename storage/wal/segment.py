"""Reading the WAL's segment files: names, entries, and replay in order.

A WAL directory holds segments named by the sequence number of their first
entry (``00000000000000000001.wal``), so the directory listing alone says which
segments a checkpoint covers and truncation needs no reading. Each segment is a
syslab record file of kind ``wal`` (grammar in ``storage/FORMAT.md``).

Replay rules, from the reader's point of view:

* a torn tail is allowed only in the **last** segment (rotation fsyncs a segment
  before the next one is created, so an earlier one cannot be torn by a crash);
* a "torn" tail followed by whole valid records is corruption (a flipped bit in a
  length field, not a crash; ``storage.record.Reader`` tells them apart);
* sequence numbers must run on without a gap, inside and across segments.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.record import Corruption, Reader, Record, file_kind

from .entry import BadEntry, Entry, decode

KIND = "wal"
SUFFIX = ".wal"


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SUFFIX}"


def list_segments(directory: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """(first seq, path) of every segment, oldest first."""
    out = []
    for p in Path(directory).iterdir():
        if p.suffix == SUFFIX and p.stem.isdigit():
            out.append((int(p.stem), p))
    return sorted(out)


@dataclass
class Segment:
    first_seq: int
    path: Path
    entries: list[Entry]
    torn_at: int | None

    @property
    def next_seq(self) -> int:
        return self.entries[-1].seq + 1 if self.entries else self.first_seq


def read_segment(first_seq: int, path: Path) -> Segment:
    """Every entry of one segment; Corruption for anything a crash cannot explain."""
    data = path.read_bytes()
    name = os.fspath(path)
    reader = Reader(data, name)
    records = list(reader)
    if not records:  # created, then crashed before its header was whole
        return Segment(first_seq, path, [], reader.torn_at)
    entries = check_records(name, records, first_seq)
    return Segment(first_seq, path, entries, reader.torn_at)


def check_records(name: str, records: list[Record], first_seq: int | None = None) -> list[Entry]:
    """The entries of a segment's records (header first); Corruption if any is not valid.

    ``first_seq`` is what the segment's name promises; ``None`` accepts any start
    (``storage.check`` on a file that may have been renamed).
    """
    if file_kind(records[0]) != KIND:
        raise Corruption(name, 0, f"not a {KIND} segment")
    entries: list[Entry] = []
    expected = first_seq
    for rec in records[1:]:
        try:
            e = decode(rec)
        except BadEntry as err:
            raise Corruption(name, rec.offset, str(err)) from None
        if expected is not None and e.seq != expected:
            raise Corruption(name, rec.offset, f"sequence {e.seq}, expected {expected}")
        entries.append(e)
        expected = e.seq + 1
    return entries


def replay(directory: str | os.PathLike[str], after: int = 0) -> Iterator[Entry]:
    """Every entry with ``seq > after``, in order; stops at a torn tail of the last segment."""
    segs = list_segments(directory)
    expected: int | None = None
    for i, (first, path) in enumerate(segs):
        last = i == len(segs) - 1
        if not last and segs[i + 1][0] <= after + 1:
            continue  # wholly covered by the checkpoint: not even read
        if expected is None and first > after + 1:
            raise Corruption(
                os.fspath(path), 0, f"log starts at {first}, checkpoint covers {after}"
            )
        if expected is not None and first != expected:
            raise Corruption(os.fspath(path), 0, f"segment starts at {first}, expected {expected}")
        seg = read_segment(first, path)
        if seg.torn_at is not None and not last:
            raise Corruption(
                os.fspath(path), seg.torn_at, "torn tail in a segment that is not the last"
            )
        yield from (e for e in seg.entries if e.seq > after)
        expected = seg.next_seq
