"""SSTables: immutable sorted files of keys and values (or tombstones).

Grammar (``storage/FORMAT.md``, section "LSM"): a syslab record file of kind
``lsm-sst`` -- data blocks, one filter block, one index block, a fixed-size
footer -- so every block carries its own CRC-32C and ``storage.check`` can walk
the file. Each data block holds sorted entries with leveldb's prefix
compression: an entry stores only the bytes of its key that differ from the
previous key, except at a *restart point* every ``RESTART_INTERVAL`` entries,
where the key is whole; the block ends with the restart offsets, so a reader
could binary-search them. The index block holds each data block's last key and
place; the filter block a Bloom filter of every key in the table; the footer
(the file's last ``FOOTER_SIZE`` bytes) where those two are and a magic number.

A point read: footer -> (cached) index and filter -> Bloom says "maybe" ->
bisect the index -> read one block (an LRU cache of decoded blocks keeps hot
ones) -> bisect it. Every block read is checksummed; a block that fails is
``Corruption(file, offset)``, never data.

What we give up: the whole decoded block is cached rather than searched in
place through its restart points (simpler in Python, and faster once cached);
one table-wide filter instead of leveldb's per-2-KiB filters; no compression.
"""

from __future__ import annotations

import bisect
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from storage.bloom import BadFilter, BloomFilter
from storage.record import (
    FIRST_ENGINE_TYPE,
    HEADER_SIZE,
    Corruption,
    Reader,
    decode_at,
    encode,
    file_header,
    file_kind,
    fsync_dir,
)

KIND = "lsm-sst"
TYPE_DATA = FIRST_ENGINE_TYPE  # 16
TYPE_FILTER = FIRST_ENGINE_TYPE + 1  # 17
TYPE_INDEX = FIRST_ENGINE_TYPE + 2  # 18
TYPE_FOOTER = FIRST_ENGINE_TYPE + 3  # 19
MAGIC = 0x31545353_4D534C53  # b"SLSMSST1" little-endian: "this is a syslab LSM table"

_ENTRY = struct.Struct("<HHIB")  # shared, unshared, value length, kind
_U32 = struct.Struct("<I")
_INDEX = struct.Struct("<HQI")  # key length, block offset, block record size
_FOOTER = struct.Struct("<QIQIQQ")  # filter off/size, index off/size, entries, magic
FOOTER_SIZE = HEADER_SIZE + _FOOTER.size  # 49
PUT, TOMBSTONE = 1, 0

# leveldb's defaults: 4 KiB blocks (a page; one pread), a restart every 16 keys.
BLOCK_SIZE = 4096
RESTART_INTERVAL = 16
BITS_PER_KEY = 10  # leveldb's recommended filter policy: ~1% false positives
MAX_KEY = 0xFFFF  # the u16 key lengths of an entry


def table_name(number: int) -> str:
    return f"{number:09d}.sst"


class TableWriter:
    """Writes one table; entries must come in strictly increasing key order."""

    def __init__(self, path: str, expected_keys: int) -> None:
        self.path = path
        self._f = open(path, "wb")  # noqa: SIM115
        self._f.write(file_header(KIND))
        self.offset = self._f.tell()
        self._bloom = BloomFilter(max(64, expected_keys * BITS_PER_KEY), 7)
        self._index: list[bytes] = []
        self._block = bytearray()
        self._restarts: list[int] = []
        self._last = b""
        self._in_block = 0
        self.entries = 0
        self.smallest: bytes | None = None
        self.largest = b""

    def add(self, key: bytes, value: bytes | None) -> None:
        if not 0 < len(key) <= MAX_KEY:
            raise ValueError(f"key length {len(key)} outside 1..{MAX_KEY}")
        if self._in_block % RESTART_INTERVAL == 0:
            self._restarts.append(len(self._block))
            shared = 0
        else:
            shared = _common_prefix(self._last, key)
        kind, v = (TOMBSTONE, b"") if value is None else (PUT, value)
        self._block += _ENTRY.pack(shared, len(key) - shared, len(v), kind)
        self._block += key[shared:]
        self._block += v
        self._in_block += 1
        self._last = key
        self._bloom.add(key)
        self.entries += 1
        if self.smallest is None:
            self.smallest = key
        self.largest = key
        if len(self._block) >= BLOCK_SIZE:
            self._finish_block()

    @property
    def size(self) -> int:
        return self.offset + len(self._block)

    def _finish_block(self) -> None:
        if not self._in_block:
            return
        restarts = b"".join(_U32.pack(r) for r in self._restarts) + _U32.pack(len(self._restarts))
        rec = encode(TYPE_DATA, bytes(self._block) + restarts)
        self._index.append(_INDEX.pack(len(self._last), self.offset, len(rec)) + self._last)
        self._f.write(rec)
        self.offset += len(rec)
        self._block.clear()
        self._restarts.clear()
        self._in_block = 0

    def finish(self) -> int:
        """Write filter, index and footer, fsync; returns the file's size."""
        self._finish_block()
        filt = encode(TYPE_FILTER, self._bloom.to_bytes())
        index = encode(TYPE_INDEX, b"".join(self._index))
        foff = self.offset
        ioff = foff + len(filt)
        footer = _FOOTER.pack(foff, len(filt), ioff, len(index), self.entries, MAGIC)
        self._f.write(filt + index + encode(TYPE_FOOTER, footer))
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        fsync_dir(os.path.dirname(self.path) or ".")
        return ioff + len(index) + FOOTER_SIZE

    def abandon(self) -> None:
        """Close and remove a half-written table (a failed flush or compaction)."""
        try:
            self._f.close()
        except OSError:
            pass
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b), 0xFFFF)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


Block = tuple[list[bytes], list[bytes | None]]


def decode_block(payload: bytes, name: str, offset: int) -> Block:
    """The (keys, values) of a data block's payload; Corruption if its structure is wrong."""
    try:
        (nrestarts,) = _U32.unpack_from(payload, len(payload) - 4)
        end = len(payload) - 4 - 4 * nrestarts
        if end < 0:
            raise ValueError("restart array longer than the block")
        keys: list[bytes] = []
        values: list[bytes | None] = []
        pos, last = 0, b""
        while pos < end:
            shared, unshared, vlen, kind = _ENTRY.unpack_from(payload, pos)
            pos += _ENTRY.size
            if shared > len(last) or kind not in (PUT, TOMBSTONE):
                raise ValueError("bad entry header")
            key = last[:shared] + payload[pos : pos + unshared]
            pos += unshared
            if keys and key <= last:
                raise ValueError("keys out of order")
            keys.append(key)
            values.append(payload[pos : pos + vlen] if kind == PUT else None)
            pos += vlen
            last = key
        if pos != end or not keys:
            raise ValueError("entries do not end where the restarts begin")
    except (struct.error, ValueError) as e:
        raise Corruption(name, offset, f"bad data block: {e}") from None
    return keys, values


class BlockCache:
    """An LRU of decoded data blocks shared by the tables of one store."""

    def __init__(self, capacity: int = 2048) -> None:
        self.capacity = capacity
        self._d: OrderedDict[tuple[int, int], Block] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple[int, int]) -> Block | None:
        with self._lock:
            b = self._d.get(key)
            if b is not None:
                self._d.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return b

    def put(self, key: tuple[int, int], block: Block) -> None:
        with self._lock:
            self._d[key] = block
            if len(self._d) > self.capacity:
                self._d.popitem(last=False)


class Table:
    """An open SSTable: footer, index and filter in memory, data blocks read on demand."""

    def __init__(self, path: str, number: int, cache: BlockCache) -> None:
        self.path, self.number, self.cache = path, number, cache
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self._load()
        except BaseException:
            os.close(self._fd)
            raise

    def _load(self) -> None:
        size = os.fstat(self._fd).st_size
        self.size = size
        if size < FOOTER_SIZE:
            raise Corruption(self.path, 0, "shorter than a footer")
        foot = self._record(size - FOOTER_SIZE, FOOTER_SIZE, TYPE_FOOTER)
        foff, fsize, ioff, isize, self.entries, magic = _FOOTER.unpack(foot)
        if magic != MAGIC or ioff + isize + FOOTER_SIZE != size or foff + fsize != ioff:
            raise Corruption(self.path, size - FOOTER_SIZE, "bad footer (magic or offsets)")
        try:
            self.bloom = BloomFilter.from_bytes(self._record(foff, fsize, TYPE_FILTER), self.path)
        except BadFilter as e:
            raise Corruption(self.path, foff, f"bad filter block: {e}") from None
        self.index_keys: list[bytes] = []
        self.index_locs: list[tuple[int, int]] = []
        idx, pos = self._record(ioff, isize, TYPE_INDEX), 0
        while pos < len(idx):
            klen, off, rsize = _INDEX.unpack_from(idx, pos)
            pos += _INDEX.size
            self.index_keys.append(idx[pos : pos + klen])
            self.index_locs.append((off, rsize))
            pos += klen
            if pos > len(idx) or off + rsize > foff:
                raise Corruption(self.path, ioff, "bad index block")
        self.smallest, self.largest = b"", b""  # set from the manifest by the engine

    def _record(self, offset: int, size: int, rtype: int) -> bytes:
        data = os.pread(self._fd, size, offset)
        try:
            rec = decode_at(data, 0, self.path)
        except Corruption as e:
            raise Corruption(self.path, offset, e.reason) from None
        except Exception:
            raise Corruption(self.path, offset, "block runs past its recorded size") from None
        if rec.rtype != rtype or rec.size != size:
            raise Corruption(self.path, offset, f"expected a block of type {rtype}")
        return rec.payload

    def block(self, i: int) -> Block:
        off, size = self.index_locs[i]
        b = self.cache.get((self.number, off))
        if b is None:
            b = decode_block(self._record(off, size, TYPE_DATA), self.path, off)
            self.cache.put((self.number, off), b)
        return b

    def get(self, key: bytes) -> tuple[bool, bytes | None]:
        """(found, value): value None with found True is a tombstone."""
        if key not in self.bloom:
            return False, None
        i = bisect.bisect_left(self.index_keys, key)
        if i == len(self.index_keys):
            return False, None
        keys, values = self.block(i)
        j = bisect.bisect_left(keys, key)
        if j < len(keys) and keys[j] == key:
            return True, values[j]
        return False, None

    def scan(self, start: bytes | None = None) -> Iterator[tuple[bytes, bytes | None]]:
        """(key, value-or-None) from the first key >= ``start``, in order."""
        i = 0 if start is None else bisect.bisect_left(self.index_keys, start)
        first = True
        for b in range(i, len(self.index_keys)):
            keys, values = self.block(b)
            j = bisect.bisect_left(keys, start) if (first and start is not None) else 0
            first = False
            yield from zip(keys[j:], values[j:], strict=True)

    def verify(self) -> None:
        """Read and check every block of the file (a paranoid open): Corruption on the first bad one."""
        with open(self.path, "rb") as f:
            data = f.read()
        reader = Reader(data, self.path)
        recs = list(reader)
        if reader.torn_at is not None:
            raise Corruption(self.path, reader.torn_at, "table ends in a torn block")
        if not recs or file_kind(recs[0]) != KIND:
            raise Corruption(self.path, 0, f"not an {KIND} file")
        for rec in recs[1:]:
            if rec.rtype == TYPE_DATA:
                decode_block(rec.payload, self.path, rec.offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def write_table(
    path: str, items: Iterable[tuple[bytes, bytes | None]], expected: int
) -> TableWriter:
    """Write all ``items`` into one table at ``path``; returns the finished writer."""
    w = TableWriter(path, expected)
    try:
        for k, v in items:
            w.add(k, v)
        w.finish()
    except BaseException:
        w.abandon()
        raise
    return w
