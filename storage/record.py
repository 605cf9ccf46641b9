"""The checksummed record: the one on-disk unit of every syslab engine.

The WAL, Bitcask's data and hint files, and later the LSM and GFS all write
their bytes as a sequence of these records (grammar in ``storage/FORMAT.md``)::

    record := crc32c:u32le  length:u32le  type:u8  payload:bytes[length]

``crc32c`` covers ``length``, ``type`` and ``payload``: a flipped bit anywhere
after it, including in the length, fails the check. Every file starts with a
FILE_HEADER record naming its kind (``wal``, ``bitcask-data``, ...), so
``python -m storage.check`` can walk any syslab data file.

Reading distinguishes two failures, as leveldb's log reader does:

* a **torn tail**: the last record is incomplete or fails its checksum and
  nothing follows it. That is what a crash mid-append leaves; the reader stops
  there cleanly (``reader.torn_at`` says where) and the writer truncates it.
* **corruption**: a bad record with more data after it. That is not a crash
  artefact (appends are sequential), so it raises ``Corruption(file, offset)``
  instead of silently dropping everything behind it.

What we give up: no block structure (leveldb's 32 KiB blocks let a reader
resynchronise after corruption); a record is read or refused whole.
"""

from __future__ import annotations

import errno
import os
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

# CRC-32C (Castagnoli), as leveldb, ext4 and iSCSI use. The ``crc32c`` package uses
# the CPU's CRC32 instruction (SSE4.2 / ARMv8): ~2 us per 4 KiB page here, where
# crcmod's table-driven C extension takes ~12 us -- the B+ tree's checkpoints
# spent a quarter of their time in it. Same polynomial, same values; crcmod stays
# as the fallback where the wheel is missing.
try:
    from crc32c import crc32c
except ImportError:  # pragma: no cover - depends on the environment
    import crcmod.predefined

    crc32c = crcmod.predefined.mkCrcFun("crc-32c")

HEADER = struct.Struct("<IIB")
HEADER_SIZE = HEADER.size  # 9 bytes
_LEN_TYPE = struct.Struct("<IB")

# A payload larger than this is treated as garbage, never allocated. 64 MiB is far
# above any value the lab stores and keeps a corrupt length from asking for GBs.
MAX_PAYLOAD = 64 * 1024 * 1024

# Record types shared by all formats. 0 is never written: a run of zero bytes
# (a preallocated or partly-flushed tail) must not parse as a valid record.
TYPE_ZERO = 0
TYPE_FILE_HEADER = 1
# Engines number their own types from 16 up (see each engine's FORMAT.md).
FIRST_ENGINE_TYPE = 16

FILE_MAGIC = b"SYSLAB1 "


class StorageError(Exception):
    """Base of the storage errors (leveldb's Status, as exceptions)."""


class Corruption(StorageError):
    """A record failed its check somewhere other than the tail."""

    def __init__(self, file: str, offset: int, reason: str) -> None:
        super().__init__(f"{file}: corrupt record at offset {offset}: {reason}")
        self.file = file
        self.offset = offset
        self.reason = reason


class NotFound(StorageError, KeyError):
    """A key that is not there (or was deleted)."""


def encode(rtype: int, payload: bytes) -> bytes:
    """One record's bytes, checksum first."""
    if not 0 < rtype < 256:
        raise ValueError(f"record type {rtype} out of range 1..255")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD")
    body = _LEN_TYPE.pack(len(payload), rtype) + payload
    return struct.pack("<I", crc32c(body)) + body


def file_header(kind: str) -> bytes:
    """The first record of every syslab data file: magic + kind."""
    return encode(TYPE_FILE_HEADER, FILE_MAGIC + kind.encode())


@dataclass(frozen=True)
class Record:
    offset: int  # where the record's header starts in the file
    rtype: int
    payload: bytes

    @property
    def size(self) -> int:
        return HEADER_SIZE + len(self.payload)

    @property
    def end(self) -> int:
        return self.offset + self.size


class _Torn(Exception):
    """Internal: the record at this offset cannot be complete."""


def decode_at(buf: bytes | memoryview, offset: int, name: str = "<buffer>") -> Record:
    """Decode the record at ``offset``; raise _Torn if it runs past the end, Corruption if bad.

    A checksum failure is reported as Corruption here; ``scan`` decides whether
    it was the tail.
    """
    end = len(buf)
    if end - offset < HEADER_SIZE:
        raise _Torn()
    crc, length, rtype = HEADER.unpack_from(buf, offset)
    if length > MAX_PAYLOAD:
        raise Corruption(name, offset, f"length {length} exceeds the limit")
    stop = offset + HEADER_SIZE + length
    if stop > end:
        raise _Torn()
    body = bytes(buf[offset + 4 : stop])
    if crc32c(body) != crc or rtype == TYPE_ZERO:
        raise Corruption(name, offset, "checksum mismatch")
    return Record(offset, rtype, body[5:])


def scan(buf: bytes | memoryview, name: str = "<buffer>", start: int = 0) -> Iterator[Record]:
    """Every whole record from ``start``. Stops quietly at a torn tail.

    Raises Corruption for a bad record that has more bytes after it. After the
    iterator is exhausted, a torn tail (if any) is visible through ``Reader``.
    """
    r = Reader(buf, name, start)
    yield from r


class Reader:
    """Iterates the records of a buffer; ``torn_at`` is set when a torn tail was found."""

    def __init__(self, buf: bytes | memoryview, name: str = "<buffer>", start: int = 0) -> None:
        self.buf = buf
        self.name = name
        self.offset = start
        self.torn_at: int | None = None

    def __iter__(self) -> Iterator[Record]:
        buf, end = self.buf, len(self.buf)
        while self.offset < end:
            try:
                rec = decode_at(buf, self.offset, self.name)
            except _Torn:
                if _records_follow(buf, self.offset + HEADER_SIZE):
                    raise Corruption(
                        self.name, self.offset, "length runs past the end, yet whole records follow"
                    ) from None
                self.torn_at = self.offset
                return
            except Corruption as e:
                if self._is_tail(e):
                    self.torn_at = self.offset
                    return
                raise
            self.offset = rec.end
            yield rec

    def _is_tail(self, err: Corruption) -> bool:
        """A bad record is the torn tail when nothing but it (or zeros) follows."""
        if err.reason != "checksum mismatch":
            # A huge bogus length at the very end is a torn header; in the middle, corruption.
            return not any(self.buf[self.offset + HEADER_SIZE :])
        _, length, _ = HEADER.unpack_from(self.buf, self.offset)
        after = self.offset + HEADER_SIZE + length
        if after < len(self.buf) and any(self.buf[after:]):
            return False
        # A damaged length can also swallow the records behind it, leaving only zero
        # bytes (say, the high bytes of a last u64) after its "end": look inside.
        return not _records_follow(self.buf, self.offset + HEADER_SIZE)


# Where a record header could start: a type byte that is not 0 and a length whose top
# byte fits MAX_PAYLOAD (< 0x04000000). A C-speed pre-filter for ``_records_follow``.
_CANDIDATE = re.compile(rb"(?=[\s\S]{7}[\x00-\x04][\x01-\xff])")


def _records_follow(buf: bytes | memoryview, start: int) -> bool:
    """True when a chain of whole, valid records starts after ``start`` and runs to the end.

    A record whose length runs past the end of the file is a torn tail only if
    nothing valid follows its header: a crash tears the *last* append, so its
    bytes are a prefix of one payload. A flipped bit in the length of a record in
    the middle looks the same to the length check, but the records behind it
    are still there; truncating would silently drop them, so that is Corruption.
    (False alarm only if a payload embeds syslab records and the tear falls
    exactly on one of their boundaries: then a human decides, nothing is lost.)

    Cost: linear. Checking every candidate's checksum would be quadratic (a torn
    16 MiB random value has ~300k candidate headers, most claiming lengths that
    fit: minutes of CRC), so a chain is first walked by its length fields alone
    (``_Tails.chains_to_end``) and only chains that can reach the end are checksummed.
    """
    data = bytes(buf)
    tails = _Tails(data)
    for m in _CANDIDATE.finditer(data, start):
        pos = m.start()
        if len(data) - pos < HEADER_SIZE:
            return False
        if tails.chains_to_end(pos) and _chain_is_valid(data, pos):
            return True
    return False


# A lone whole record before a torn one is checksummed only up to this size (see
# _Tails): 64 KiB costs ~0.1 ms, and look-alikes that short are rare.
_CHEAP_RECORD = 64 * 1024


class _Tails:
    """Which offsets start a header-only chain that ends where a file may end (memoised).

    ``known[pos]`` is (ok, whole): ``whole`` = 0 when the chain from ``pos`` ends at
    the end of file or in zeros; otherwise it ends torn, ``whole`` records before it.
    A chain may end torn behind two whole records, or behind one that is of the torn
    record's type or small. Random payload bytes often look like "a header whose
    record ends at another header that runs past the end"; those demands make such
    look-alikes rare or cheap to checksum, which keeps the work linear. What it
    gives up: bit rot *and* a torn last append at once, with exactly one whole
    record between them that is large and of another type, reads as a torn tail.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.zeros_from = len(data.rstrip(b"\0"))  # only zero bytes from here on
        self.known: dict[int, tuple[bool, int]] = {}

    def chains_to_end(self, pos: int) -> bool:
        if pos in self.known:
            return self.known[pos][0]
        path: list[int] = []  # whole records walked, before the chain's end
        prev_type, ok, torn, extra = -1, False, False, 0
        while True:
            if pos in self.known:
                ok, extra = self.known[pos]
                torn = extra > 0  # then every record in front of it has >= 2 behind
                break
            nxt, rtype = self._next(pos)
            if nxt >= 0:
                path.append(pos)
                if nxt >= self.zeros_from:
                    ok = True
                    break
                pos, prev_type = nxt, rtype
                continue
            torn = nxt == _TORN
            if torn:  # ok for the last whole record; two or more in front are ok anyway
                small = bool(path) and pos - path[-1] <= _CHEAP_RECORD
                ok = rtype < 0 or prev_type == rtype or small
            else:
                ok = nxt == _ZEROS_FOLLOW
            break
        for i, p in enumerate(path):
            whole = len(path) - i + extra if torn else 0
            self.known[p] = (ok or whole >= 2, whole)
        return bool(path) and self.known[path[0]][0]

    def _next(self, pos: int) -> tuple[int, int]:
        """(offset after the record at ``pos``, its type), or a negative verdict."""
        end = len(self.data)
        if end - pos < HEADER_SIZE:
            return _TORN, -1  # a torn header (type unknown: any whole record before will do)
        _, length, rtype = HEADER.unpack_from(self.data, pos)
        if rtype == TYPE_ZERO or length > MAX_PAYLOAD:  # rule 2: a bad last record, zeros
            return (_ZEROS_FOLLOW if pos + HEADER_SIZE >= self.zeros_from else _DEAD), rtype
        nxt = pos + HEADER_SIZE + length
        return (_TORN if nxt > end else nxt), rtype


_TORN, _ZEROS_FOLLOW, _DEAD = -1, -2, -3  # _Tails._next's verdicts when a chain ends


def _chain_is_valid(data: bytes, pos: int) -> bool:
    """The whole records of the chain at ``pos`` pass their checksums (its torn end may not)."""
    end = len(data)
    prev_type = None
    while pos < end:
        try:
            rec = decode_at(data, pos)
        except _Torn:
            return prev_type is not None
        except Corruption:
            return prev_type is not None and not any(data[pos + HEADER_SIZE :])
        if not any(data[rec.end :]):
            return True
        pos, prev_type = rec.end, rec.rtype
    return True


def read_file(path: str | os.PathLike[str]) -> tuple[list[Record], int | None]:
    """All records of a file and the torn-tail offset (None when the file is whole)."""
    with open(path, "rb") as f:
        data = f.read()
    r = Reader(data, os.fspath(path))
    return list(r), r.torn_at


def file_kind(first: Record) -> str | None:
    """The kind named by a FILE_HEADER record, or None if it is not one."""
    if first.rtype != TYPE_FILE_HEADER or not first.payload.startswith(FILE_MAGIC):
        return None
    return first.payload[len(FILE_MAGIC) :].decode(errors="replace")


class Writer:
    """Appends records to a file; returns each record's offset.

    ``sync()`` is fsync: until it returns, an append may be lost by a crash
    (the OS may even keep a later append and drop an earlier one's tail, which
    is why the reader checks every record rather than trusting the length).
    Opening an existing file truncates a torn tail first, so new records are
    never written behind garbage.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str, buffering: int = 0) -> None:
        self.path = os.fspath(path)
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists:
            _, torn = read_file(self.path)
            if torn is not None:
                with open(self.path, "r+b") as f:
                    f.truncate(torn)
                # A crash while the header itself was written leaves nothing whole.
                exists = torn > 0
        self._f: BinaryIO = open(self.path, "ab", buffering=buffering)  # noqa: SIM115
        self.offset = self._f.tell()
        if not exists:
            self.append_raw(file_header(kind))

    def append(self, rtype: int, payload: bytes) -> int:
        """Append one record; returns its offset."""
        return self.append_raw(encode(rtype, payload))

    def append_raw(self, record_bytes: bytes) -> int:
        """Append already-encoded records (group commit writes many at once).

        A failed write (a full disk: write(2) first writes what fits, then
        refuses) is undone before the error propagates: a refused record must
        not be found by the next open, neither whole nor as a torn tail.
        """
        off = self.offset
        try:
            n = self._f.write(record_bytes)
            if n is not None and n < len(record_bytes):  # a short write (a full disk)
                view = memoryview(record_bytes)[n:]
                while view:
                    n = self._f.write(view)
                    if n == 0:
                        raise OSError(errno.ENOSPC, f"{self.path}: short write")
                    view = view[len(view) if n is None else n :]
        except BaseException:
            # Never leave half a record for the next append to land behind: that
            # would turn a refused write into corruption in the middle of the file.
            self.truncate(off)
            raise
        self.offset += len(record_bytes)
        return off

    def truncate(self, offset: int) -> None:
        """Cut the file back to ``offset`` (best effort: used while another error propagates)."""
        try:
            self._f.flush()
        except OSError:
            pass
        try:
            os.ftruncate(self._f.fileno(), offset)
            self.offset = offset
        except OSError:
            pass

    def flush(self) -> None:
        self._f.flush()

    def sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            self._f.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_atomically(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> None:
    """Replace ``path`` with ``chunks`` so a crash leaves the old file or the new one, never a mix.

    temp file + fsync + rename + fsync(dir): the rename is the commit point.
    """
    final = os.fspath(path)
    tmp = final + ".tmp"
    with open(tmp, "wb") as f:
        f.writelines(chunks)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(os.path.dirname(final) or ".")


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so a create/rename in it survives a crash."""
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
