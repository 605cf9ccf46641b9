"""A chunkserver's disk: each chunk a plain local file, with a CRC-32C per 64 KiB block.

Per chunk, two files in ``DIR/chunks/``::

    <handle:016x>.chunk   the bytes (its size is the chunk's length)
    <handle:016x>.meta    checksummed records (storage.record, kind
                          ``gfs-chunk-meta``, type 16), each a msgpack map
                          {"v": version, "at": i, "crcs": [crc32c, ...]}: the
                          chunk is now at version v, and the CRCs of blocks
                          i, i+1, ... are these (of 64 KiB each)

The meta file is a log, appended to on every write and replayed at start-up,
not a file rewritten each time: replacing a file (truncate or rename) makes
ext4 write it out at once (``auto_da_alloc``), 5 ms a write on the lab's disk,
where an append costs microseconds. Once the log is much longer than the state
it describes, it is compacted (one record, written to a temporary file and
renamed); a torn last record (a crash mid-append) is dropped and compacted away.

Every read verifies the CRC of each block it touches, as the paper says, so a
flipped bit is never returned to a client: the read fails with ``Corrupt``
and the chunkserver reports the chunk to the master (which copies a good
replica). A write that covers part of an existing block verifies that block
first (otherwise a recomputed CRC would launder corruption), then recomputes
the CRCs of the blocks it touched.

Durability: data and meta are written to the OS without fsync (the meta by
write-then-rename). A SIGKILLed chunkserver loses nothing (the page cache is
the kernel's); a power failure could lose recent writes, which GFS answers
with replication on other machines rather than with fsync per write. A meta
that does not parse makes the chunk disappear at start-up: the master then
sees it under-replicated and copies it back.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import msgpack

from storage.record import FIRST_ENGINE_TYPE, crc32c, encode, file_header, read_file

from .errors import Corrupt, NoSuchChunk, TooLarge

log = logging.getLogger("servers.gfs.chunkstore")

BLOCK = 64 * 1024
KIND = "gfs-chunk-meta"
TYPE_META = FIRST_ENGINE_TYPE


def read_meta(path: Path) -> tuple[int, list[int], bool]:
    """(version, block CRCs, torn tail?) of one chunk's meta log, read without changing it."""
    records, torn = read_file(path)
    if len(records) < 2 or any(r.rtype != TYPE_META for r in records[1:]):
        raise ValueError("no meta record")
    version, crcs = 0, list[int]()
    for r in records[1:]:
        body = msgpack.unpackb(r.payload)
        at, fresh = body["at"], body["crcs"]
        crcs[at : at + len(fresh)] = fresh
        version = body["v"]
    return version, crcs, torn is not None


class ChunkStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory) / "chunks"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.versions: dict[int, int] = {}
        self.crcs: dict[int, list[int]] = {}
        self.meta_bytes: dict[int, int] = {}
        for p in self.dir.glob("*.tmp"):
            p.unlink()
        for p in self.dir.glob("*.meta"):
            try:
                handle = int(p.stem, 16)
                self.versions[handle], self.crcs[handle], torn = read_meta(p)
                self.meta_bytes[handle] = p.stat().st_size
                if torn:
                    self._compact(handle)
            except Exception as e:
                log.warning("%s unreadable (%s): dropping the chunk", p, e)
                self.versions.pop(int(p.stem, 16), None)
                self._remove_files(p.stem)

    # -- files -------------------------------------------------------------------------
    def _data(self, handle: int) -> Path:
        return self.dir / f"{handle:016x}.chunk"

    def _meta(self, handle: int) -> Path:
        return self.dir / f"{handle:016x}.meta"

    def _log_meta(self, handle: int, at: int, crcs: list[int]) -> None:
        """Append one change (version, CRCs from block ``at``); compact a long log."""
        rec = encode(TYPE_META, msgpack.packb({"v": self.versions[handle], "at": at, "crcs": crcs}))
        with open(self._meta(handle), "ab") as f:
            f.write(rec)
        self.meta_bytes[handle] = self.meta_bytes.get(handle, 0) + len(rec)
        if self.meta_bytes[handle] > 64 * 1024 + 32 * len(self.crcs[handle]):
            self._compact(handle)

    def _compact(self, handle: int) -> None:
        """The whole state as one record, replacing the log (temporary file, then rename)."""
        path = self._meta(handle)
        whole = file_header(KIND) + encode(TYPE_META, msgpack.packb(
            {"v": self.versions[handle], "at": 0, "crcs": self.crcs[handle]}))  # fmt: skip
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(whole)
        os.replace(tmp, path)
        self.meta_bytes[handle] = len(whole)

    def _remove_files(self, stem: str) -> None:
        for suffix in (".chunk", ".meta"):
            (self.dir / f"{stem}{suffix}").unlink(missing_ok=True)

    def _need(self, handle: int) -> None:
        if handle not in self.versions:
            raise NoSuchChunk(f"chunk {handle} is not here")

    # -- the chunk operations ---------------------------------------------------------
    def create(self, handle: int, version: int) -> None:
        self._data(handle).write_bytes(b"")
        self.versions[handle], self.crcs[handle] = version, []
        self._compact(handle)

    def copy(self, handle: int, new: int) -> None:
        """``new`` becomes a copy of ``handle`` (data, CRCs, version), verified on the way."""
        self._need(handle)
        data = self.read(handle, 0, self.length(handle))  # a corrupt block is not copied
        self._data(new).write_bytes(data)
        self.versions[new], self.crcs[new] = self.versions[handle], list(self.crcs[handle])
        self._compact(new)

    def delete(self, handle: int) -> None:
        self.versions.pop(handle, None)
        self.crcs.pop(handle, None)
        self.meta_bytes.pop(handle, None)
        self._remove_files(f"{handle:016x}")

    def set_version(self, handle: int, version: int) -> None:
        self._need(handle)
        self.versions[handle] = version
        self._log_meta(handle, len(self.crcs[handle]), [])

    def length(self, handle: int) -> int:
        self._need(handle)
        return self._data(handle).stat().st_size

    def read(self, handle: int, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer at the chunk's end); ``Corrupt`` if a
        block touched fails its checksum."""
        self._need(handle)
        crcs = self.crcs[handle]
        with open(self._data(handle), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            end = min(offset + n, size)
            if offset >= end:
                return b""
            first, last = offset // BLOCK, (end - 1) // BLOCK
            f.seek(first * BLOCK)
            raw = f.read((last - first + 1) * BLOCK)
        for i in range(first, last + 1):
            block = raw[(i - first) * BLOCK : (i - first + 1) * BLOCK]
            if i >= len(crcs) or crc32c(block) != crcs[i]:
                raise Corrupt(f"chunk {handle}: block {i} fails its checksum")
        return raw[offset - first * BLOCK : end - first * BLOCK]

    def write(self, handle: int, offset: int, data: bytes, limit: int) -> None:
        """Write ``data`` at ``offset`` (a gap before it reads as zeros); ``limit`` is the chunk size."""
        self._need(handle)
        if offset < 0 or offset + len(data) > limit:
            raise TooLarge(f"write of {len(data)} at {offset} passes the chunk size {limit}")
        if not data:
            return
        path = self._data(handle)
        size = path.stat().st_size
        end = offset + len(data)
        # Blocks partly overwritten must be intact before their CRC is recomputed.
        for i in {offset // BLOCK, (end - 1) // BLOCK}:
            if i * BLOCK < size and (offset > i * BLOCK or end < min(size, (i + 1) * BLOCK)):
                self.read(handle, i * BLOCK, BLOCK)
        first, last = min(offset, size) // BLOCK, (end - 1) // BLOCK  # a gap is zeros: new CRCs too
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(data)
            f.seek(first * BLOCK)
            raw = f.read((last - first + 1) * BLOCK)
        fresh = [crc32c(raw[k : k + BLOCK]) for k in range(0, len(raw), BLOCK)]
        crcs = self.crcs[handle]
        crcs[first : last + 1] = fresh
        self._log_meta(handle, first, fresh)

    def pad(self, handle: int, to: int) -> None:
        """Extend the chunk with zeros up to ``to`` bytes (record append's padding)."""
        size = self.length(handle)
        if to > size:
            self.write(handle, size, bytes(to - size), to)

    def chunks(self) -> list[list[int]]:
        return [[h, v] for h, v in self.versions.items()]
