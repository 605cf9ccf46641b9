"""The page file, its bounded cache, and checkpoints made crash-safe by a double-write file.

Cache: clean pages sit in an LRU (``OrderedDict``) of at most ``cache_pages``
entries, counting the dirty ones; dirty pages sit in their own dict and are
never evicted (no-steal: a page changed since the last checkpoint may not reach
the page file before that checkpoint, or a crash would leave half an
operation there). The engine checkpoints when the dirty pages reach three
quarters of the cache, so the limit holds up to one operation's worth of
pages. (Half, tried first, wrote 40% more pages on random overwrites -- a
checkpoint rewrites every dirty page whatever few bytes changed in it -- and
halved overwrite ops/s in bench/kv; the quarter left keeps the upper levels
and the hottest leaves cached.)

Checkpoint (the only time the page file is written after creation):

1. every dirty page plus page 0 (the META, with the WAL position it includes)
   are appended to ``DWRITE`` as records, then an END record; fsync;
2. the same pages are written in place in ``tree.db``; fsync;
3. ``DWRITE`` is deleted; the caller may now truncate the WAL.

A crash during 2 can tear pages of ``tree.db`` (a 4 KiB write is not atomic
on most disks): on open, a whole ``DWRITE`` (with its END) is copied into the
page file again before anything reads it; a ``DWRITE`` without END means step 2
never started, and it is discarded. This is InnoDB's doublewrite buffer. Its
cost: every checkpointed page is written twice.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections import OrderedDict
from collections.abc import Iterator

from storage.record import Corruption, Reader, encode, file_header, file_kind, fsync_dir

from . import page as pg
from .page import PAGE_SIZE, Free, Internal, Leaf, Meta, Node

DATA_NAME = "tree.db"
DWRITE_NAME = "DWRITE"
DW_PAGE = struct.Struct("<I")
DW_END = struct.Struct("<IQ")  # pages, ckpt_seq

# 2048 pages = 8 MiB, SQLite's default cache is 2 MB; the bench gives both the same.
DEFAULT_CACHE_PAGES = 2048


class Pager:
    """Pages by number, through the cache; allocation from a free list."""

    def __init__(self, directory: str, cache_pages: int = DEFAULT_CACHE_PAGES) -> None:
        self.dir = directory
        self.path = os.path.join(directory, DATA_NAME)
        self.cache_pages = max(cache_pages, 16)
        self.clean: OrderedDict[int, Node] = OrderedDict()
        self.dirty: dict[int, Node] = {}
        self.meta_dirty = False
        self.hits = self.misses = self.checkpoints = 0
        if not os.path.exists(self.path):
            _create(self.path)
        redo_dwrite(directory)
        self.fd = os.open(self.path, os.O_RDWR)
        self.meta = pg.decode_meta(os.pread(self.fd, PAGE_SIZE, 0), self.path)

    # -- reading ------------------------------------------------------------------
    def get(self, pgno: int) -> Node:
        node = self.dirty.get(pgno)
        if node is not None:
            return node
        node = self.clean.get(pgno)
        if node is not None:
            self.clean.move_to_end(pgno)
            self.hits += 1
            return node
        return self._load(pgno)

    def _load(self, pgno: int) -> Node:
        if not 0 < pgno < self.meta.npages:
            raise Corruption(self.path, 0, f"link to page {pgno}, outside 1..{self.meta.npages - 1}")
        self.misses += 1
        node = pg.decode_node(os.pread(self.fd, PAGE_SIZE, pgno * PAGE_SIZE), pgno, self.path)
        self.clean[pgno] = node
        self._evict()
        return node

    def _evict(self) -> None:
        while self.clean and len(self.clean) + len(self.dirty) > self.cache_pages:
            self.clean.popitem(last=False)

    # -- changing -----------------------------------------------------------------
    def touch(self, node: Node) -> None:
        """Mark a page changed: it stays in memory until the next checkpoint."""
        if self.dirty.get(node.pgno) is not node:
            new = self.clean.pop(node.pgno, None) is None and node.pgno not in self.dirty
            self.dirty[node.pgno] = node  # (replaces the Free node of a reused page)
            if new:
                self._evict()  # one more page in memory

    def allocate(self) -> int:
        m = self.meta
        self.meta_dirty = True
        if m.free_head != pg.NO_PAGE:
            pgno = m.free_head
            free = self.get(pgno)
            if not isinstance(free, Free):
                raise Corruption(self.path, pgno * PAGE_SIZE, "free list points at a live page")
            m.free_head = free.next
            return pgno
        m.npages += 1
        return m.npages - 1

    def new_leaf(self, keys: list[bytes], vals: list[bytes], nxt: int) -> Leaf:
        node = Leaf(self.allocate(), keys, vals, nxt)
        self.touch(node)
        return node

    def new_internal(self, keys: list[bytes], children: list[int]) -> Internal:
        node = Internal(self.allocate(), keys, children)
        self.touch(node)
        return node

    def free(self, pgno: int) -> None:
        self.touch(Free(pgno, self.meta.free_head))
        self.meta.free_head = pgno
        self.meta_dirty = True

    @property
    def needs_checkpoint(self) -> bool:
        return len(self.dirty) * 4 >= self.cache_pages * 3

    # -- checkpoint ---------------------------------------------------------------
    def checkpoint(self, ckpt_seq: int) -> int:
        """Write every dirty page (and META at ``ckpt_seq``) crash-safely; returns pages written."""
        self.meta.ckpt_seq = ckpt_seq
        pages = sorted(self.dirty.items())
        images = [(0, pg.encode_meta(self.meta))] + [(n, pg.encode_node(x)) for n, x in pages]
        try:
            write_dwrite(self.dir, images, ckpt_seq)
        except OSError:  # (a full disk) tree.db untouched: drop the partial file, free its space
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.dir, DWRITE_NAME))
            raise
        _write_pages(self.fd, images)
        os.fsync(self.fd)
        os.unlink(os.path.join(self.dir, DWRITE_NAME))
        fsync_dir(self.dir)
        for pgno, node in pages:
            self.clean[pgno] = node
        self.dirty.clear()
        self.meta_dirty = False
        self._evict()
        self.checkpoints += 1
        return len(images)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _create(path: str) -> None:
    """A new page file: META and one empty root leaf, created atomically."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(pg.encode_meta(Meta()))
        f.write(pg.encode_node(Leaf(1, [], [], pg.NO_PAGE)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


def _write_pages(fd: int, images: list[tuple[int, bytes]]) -> None:
    for pgno, image in images:
        n = os.pwrite(fd, image, pgno * PAGE_SIZE)
        if n != PAGE_SIZE:
            raise OSError(f"short write of page {pgno} ({n} bytes)")


def write_dwrite(directory: str, images: list[tuple[int, bytes]], ckpt_seq: int) -> None:
    path = os.path.join(directory, DWRITE_NAME)
    with open(path, "wb") as f:
        f.write(file_header(pg.DWRITE_KIND))
        for pgno, image in images:
            f.write(encode(pg.T_DW_PAGE, DW_PAGE.pack(pgno) + image))
        f.write(encode(pg.T_DW_END, DW_END.pack(len(images), ckpt_seq)))
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(directory)


def read_dwrite(path: str) -> list[tuple[int, bytes]] | None:
    """The page images of a whole double-write file; None if it never reached its END."""
    with open(path, "rb") as f:
        data = f.read()
    reader = Reader(data, path)
    images: list[tuple[int, bytes]] = []
    end = None
    for rec in reader:
        if rec.offset == 0:
            if file_kind(rec) != pg.DWRITE_KIND:
                raise Corruption(path, 0, f"not a {pg.DWRITE_KIND} file")
        elif rec.rtype == pg.T_DW_PAGE and len(rec.payload) == DW_PAGE.size + PAGE_SIZE:
            images.append((DW_PAGE.unpack_from(rec.payload)[0], rec.payload[DW_PAGE.size :]))
        elif rec.rtype == pg.T_DW_END and end is None:
            end = DW_END.unpack(rec.payload)
        else:
            raise Corruption(path, rec.offset, f"unexpected record type {rec.rtype}")
    if end is None:
        return None  # torn before END: the page file was not touched yet
    if end[0] != len(images):
        raise Corruption(path, 0, f"END says {end[0]} pages, found {len(images)}")
    return images


def redo_dwrite(directory: str) -> bool:
    """Finish an interrupted checkpoint; True if one was found whole and replayed."""
    path = os.path.join(directory, DWRITE_NAME)
    if not os.path.exists(path):
        return False
    images = read_dwrite(path)
    if images is not None:
        fd = os.open(os.path.join(directory, DATA_NAME), os.O_RDWR)
        try:
            _write_pages(fd, images)
            os.fsync(fd)
        finally:
            os.close(fd)
    os.unlink(path)
    fsync_dir(directory)
    return images is not None


def iter_pages(path: str) -> Iterator[tuple[int, bytes]]:
    """(page number, raw bytes) of every page of a page file, page 0 included."""
    with open(path, "rb") as f:
        pgno = 0
        while page := f.read(PAGE_SIZE):
            yield pgno, page
            pgno += 1


def verify(path: str, meta: Meta) -> None:
    """Check every page's checksum and layout; the first failure raises Corruption."""
    size = os.path.getsize(path)
    if size != meta.npages * PAGE_SIZE:
        raise Corruption(path, min(size, meta.npages * PAGE_SIZE),
                         f"file has {size} bytes, META says {meta.npages} pages")  # fmt: skip
    for pgno, page in iter_pages(path):
        if pgno:
            pg.decode_node(page, pgno, path)


__all__ = ["Internal", "Leaf", "Pager", "verify"]
