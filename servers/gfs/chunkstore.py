"""A chunkserver's disk: each chunk a plain local file, with a CRC-32C per 64 KiB block.

Per chunk, two files in ``DIR/chunks/``::

    <handle:016x>.chunk   the bytes (its size is the chunk's length)
    <handle:016x>.meta    one checksummed record (storage.record, kind
                          ``gfs-chunk-meta``, type 16) whose payload is msgpack
                          {"version": V, "crcs": [crc32c of each 64 KiB block]}

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


class ChunkStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory) / "chunks"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.versions: dict[int, int] = {}
        self.crcs: dict[int, list[int]] = {}
        for p in self.dir.glob("*.meta"):
            try:
                handle = int(p.stem, 16)
                records, torn = read_file(p)
                body = msgpack.unpackb(records[1].payload)
                if torn is not None or records[1].rtype != TYPE_META:
                    raise ValueError("not a whole meta record")
                self.versions[handle], self.crcs[handle] = body["version"], list(body["crcs"])
            except Exception as e:
                log.warning("%s unreadable (%s): dropping the chunk", p, e)
                self._remove_files(p.stem)
        for p in self.dir.glob("*.tmp"):
            p.unlink()

    # -- files -------------------------------------------------------------------------
    def _data(self, handle: int) -> Path:
        return self.dir / f"{handle:016x}.chunk"

    def _save_meta(self, handle: int) -> None:
        path = self.dir / f"{handle:016x}.meta"
        payload = msgpack.packb({"version": self.versions[handle], "crcs": self.crcs[handle]})
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(file_header(KIND) + encode(TYPE_META, payload))
        os.replace(tmp, path)

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
        self._save_meta(handle)

    def delete(self, handle: int) -> None:
        self.versions.pop(handle, None)
        self.crcs.pop(handle, None)
        self._remove_files(f"{handle:016x}")

    def set_version(self, handle: int, version: int) -> None:
        self._need(handle)
        self.versions[handle] = version
        self._save_meta(handle)

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
        self._save_meta(handle)

    def pad(self, handle: int, to: int) -> None:
        """Extend the chunk with zeros up to ``to`` bytes (record append's padding)."""
        size = self.length(handle)
        if to > size:
            self.write(handle, size, bytes(to - size), to)

    def chunks(self) -> list[list[int]]:
        return [[h, v] for h, v in self.versions.items()]
