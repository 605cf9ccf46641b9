"""The B+ tree's 4 KiB pages: each page is exactly one ``storage.record`` record.

A page is a record (crc, length, type, payload) of exactly ``PAGE_SIZE`` bytes,
so the record's CRC-32C is the page checksum and ``python -m storage.check``
walks a page file like any other syslab file. Page 0 holds the FILE_HEADER
record and the META record, padded so that the two end at 4096 bytes. The
grammar is in ``storage/FORMAT.md``, section "B+ tree".

Nodes are parsed into Python lists on the way in (``decode``) and packed back
into bytes on the way out (``encode``): a search then costs a ``bisect`` over a
list instead of a binary search through packed bytes, which in Python is the
difference between one C call and a loop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from storage.record import (
    HEADER,
    HEADER_SIZE,
    Corruption,
    decode_at,
    encode,
    file_header,
    file_kind,
)

# 4 KiB: the page size of x86 virtual memory, ext4 blocks and SQLite's default.
PAGE_SIZE = 4096
PAYLOAD_SIZE = PAGE_SIZE - HEADER_SIZE  # 4087 bytes inside each page record
KIND = "bptree"
DWRITE_KIND = "bptree-dwrite"

T_META, T_LEAF, T_INTERNAL, T_FREE = 16, 17, 18, 19
T_DW_PAGE, T_DW_END = 20, 21  # (records of the DWRITE file)
T_OVERFLOW = 22
NO_PAGE = 0  # page 0 is the meta page, so 0 can mean "none" in links

LEAF_HEAD = struct.Struct("<IH")  # next leaf, entry count
LEAF_ENTRY = struct.Struct("<HH")  # klen, vlen
INTERNAL_HEAD = struct.Struct("<HI")  # key count, first child
INTERNAL_KEY = struct.Struct("<H")
CHILD = struct.Struct("<I")
FREE_HEAD = struct.Struct("<I")  # next free page
OVERFLOW_HEAD = struct.Struct("<IH")  # next page of the chain, bytes of value in this page
OVERFLOW_REF = struct.Struct("<II")  # a leaf's stub: value length, first page of its chain
OVERFLOW_VLEN = 0xFFFF  # a leaf entry's vlen saying "the value is in overflow pages"
META = struct.Struct("<IIIIIQQ")  # version, root, npages, free_head, height, count, ckpt_seq
VERSION = 1

# Bytes of a node's payload its entries may use (the head is counted in ``size``).
CAPACITY = PAYLOAD_SIZE
# Limits that keep a split sound: every entry fits in a quarter page, so splitting
# an overfull node at its byte midpoint leaves both halves under one page, and an
# internal node always holds at least 3 separators. A value that would make its
# entry larger goes to a chain of overflow pages (as SQLite's do) and the leaf
# keeps an 8-byte stub; values are bounded by what one WAL record holds.
MAX_KEY = 256
MAX_ENTRY = CAPACITY // 4  # klen + vlen + 4 header bytes, inline
MAX_VALUE = 64 * 1024 * 1024 - 64 * 1024  # storage.record's MAX_PAYLOAD, less the WAL's fields
OVERFLOW_DATA = PAYLOAD_SIZE - OVERFLOW_HEAD.size  # value bytes per overflow page


def leaf_entry_size(key: bytes, value: bytes) -> int:
    return LEAF_ENTRY.size + len(key) + len(value)


def inline(key: bytes, value: bytes) -> bool:
    """Does this value live in the leaf (else in overflow pages)?"""
    return LEAF_ENTRY.size + len(key) + len(value) <= MAX_ENTRY and len(value) < OVERFLOW_VLEN


def internal_entry_size(key: bytes) -> int:
    return INTERNAL_KEY.size + len(key) + CHILD.size


class Overflow:
    """A leaf's stand-in for a value kept in a chain of overflow pages."""

    __slots__ = ("length", "first")

    def __init__(self, length: int, first: int) -> None:
        self.length = length
        self.first = first

    def __len__(self) -> int:  # the stub's bytes in the leaf (sizes are summed with len)
        return OVERFLOW_REF.size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Overflow) and (self.length, self.first) == (other.length,
                                                                               other.first)

    __hash__ = None  # type: ignore[assignment]


class OverflowPage:
    """One page of a value's chain."""

    __slots__ = ("pgno", "next", "data")
    is_leaf = False

    def __init__(self, pgno: int, nxt: int, data: bytes) -> None:
        self.pgno = pgno
        self.next = nxt
        self.data = data


class Leaf:
    """Sorted keys and their values, and the page number of the next leaf."""

    __slots__ = ("pgno", "keys", "vals", "next", "size")
    is_leaf = True

    def __init__(self, pgno: int, keys: list[bytes], vals: list[Any], nxt: int) -> None:
        self.pgno = pgno
        self.keys = keys
        self.vals = vals
        self.next = nxt
        self.size = LEAF_HEAD.size + sum(map(len, keys)) + sum(map(len, vals)) + 4 * len(keys)


class Internal:
    """n separator keys and n + 1 children: child i holds keys < keys[i] (and >= keys[i-1])."""

    __slots__ = ("pgno", "keys", "children", "size")
    is_leaf = False

    def __init__(self, pgno: int, keys: list[bytes], children: list[int]) -> None:
        self.pgno = pgno
        self.keys = keys
        self.children = children
        self.size = INTERNAL_HEAD.size + sum(map(len, keys)) + 6 * len(keys)


class Free:
    """A page on the free list."""

    __slots__ = ("pgno", "next")
    is_leaf = False

    def __init__(self, pgno: int, nxt: int) -> None:
        self.pgno = pgno
        self.next = nxt


Node = Leaf | Internal | Free | OverflowPage


@dataclass
class Meta:
    root: int = 1
    npages: int = 2
    free_head: int = NO_PAGE
    height: int = 1  # 1 = the root is a leaf
    count: int = 0  # keys in the tree
    ckpt_seq: int = 0  # the last WAL entry the page file includes


# -- encoding -------------------------------------------------------------------------


def _page(rtype: int, body: bytes) -> bytes:
    if len(body) > PAYLOAD_SIZE:
        raise ValueError(f"node of {len(body)} bytes does not fit a page")
    return encode(rtype, body + bytes(PAYLOAD_SIZE - len(body)))


def encode_node(node: Node) -> bytes:
    """The 4096 bytes of one page."""
    if isinstance(node, Leaf):
        parts = [LEAF_HEAD.pack(node.next, len(node.keys))]
        for k, v in zip(node.keys, node.vals, strict=True):
            if isinstance(v, Overflow):
                parts += (LEAF_ENTRY.pack(len(k), OVERFLOW_VLEN), k,
                          OVERFLOW_REF.pack(v.length, v.first))  # fmt: skip
            else:
                parts += (LEAF_ENTRY.pack(len(k), len(v)), k, v)
        return _page(T_LEAF, b"".join(parts))
    if isinstance(node, OverflowPage):
        return _page(T_OVERFLOW, OVERFLOW_HEAD.pack(node.next, len(node.data)) + node.data)
    if isinstance(node, Internal):
        parts = [INTERNAL_HEAD.pack(len(node.keys), node.children[0])]
        for k, c in zip(node.keys, node.children[1:], strict=True):
            parts += (INTERNAL_KEY.pack(len(k)), k, CHILD.pack(c))
        return _page(T_INTERNAL, b"".join(parts))
    return _page(T_FREE, FREE_HEAD.pack(node.next))


_HEADER_REC = file_header(KIND)
META_PAYLOAD = PAGE_SIZE - len(_HEADER_REC) - HEADER_SIZE


def encode_meta(m: Meta) -> bytes:
    """Page 0: the FILE_HEADER record, then META padded to the end of the page."""
    body = META.pack(VERSION, m.root, m.npages, m.free_head, m.height, m.count, m.ckpt_seq)
    return _HEADER_REC + encode(T_META, body + bytes(META_PAYLOAD - len(body)))


# -- decoding -------------------------------------------------------------------------


def decode_meta(page: bytes, name: str) -> Meta:
    if len(page) < PAGE_SIZE:
        raise Corruption(name, 0, "shorter than one page")
    head = decode_at(page, 0, name)
    if file_kind(head) != KIND:
        raise Corruption(name, 0, f"not a {KIND} file")
    rec = decode_at(page, head.end, name)
    if rec.rtype != T_META or rec.end != PAGE_SIZE:
        raise Corruption(name, head.end, "page 0 does not end in a META record")
    version, *fields = META.unpack_from(rec.payload)
    if version != VERSION:
        raise Corruption(name, head.end, f"format version {version}, expected {VERSION}")
    return Meta(*fields)


def decode_node(page: bytes, pgno: int, name: str) -> Node:
    """Parse one page; Corruption (with the page's file offset) if it fails any check."""
    offset = pgno * PAGE_SIZE
    if len(page) != PAGE_SIZE:
        raise Corruption(name, offset, f"page {pgno} is {len(page)} bytes, not {PAGE_SIZE}")
    try:
        rec = decode_at(page, 0, name)
    except Corruption as e:
        raise Corruption(name, offset, f"page {pgno}: {e.reason}") from None
    if rec.size != PAGE_SIZE:
        raise Corruption(name, offset, f"page {pgno}: record of {rec.size} bytes")
    try:
        return _parse(rec.rtype, rec.payload, pgno)
    except (struct.error, ValueError) as e:
        raise Corruption(name, offset, f"page {pgno}: {e}") from None


def _parse(rtype: int, p: bytes, pgno: int) -> Node:
    if rtype == T_LEAF:
        return _parse_leaf(p, pgno)
    if rtype == T_INTERNAL:
        return _parse_internal(p, pgno)
    if rtype == T_FREE:
        return Free(pgno, FREE_HEAD.unpack_from(p)[0])
    if rtype == T_OVERFLOW:
        nxt, n = OVERFLOW_HEAD.unpack_from(p)
        if n > OVERFLOW_DATA:
            raise ValueError(f"overflow page claims {n} bytes")
        return OverflowPage(pgno, nxt, p[OVERFLOW_HEAD.size : OVERFLOW_HEAD.size + n])
    raise ValueError(f"record type {rtype} is not a page")


def _parse_leaf(p: bytes, pgno: int) -> Leaf:
    nxt, n = LEAF_HEAD.unpack_from(p)
    keys: list[bytes] = []
    vals: list[Any] = []
    pos = LEAF_HEAD.size
    for _ in range(n):
        klen, vlen = LEAF_ENTRY.unpack_from(p, pos)
        pos += 4
        keys.append(p[pos : pos + klen])
        pos += klen
        if vlen == OVERFLOW_VLEN:
            vals.append(Overflow(*OVERFLOW_REF.unpack_from(p, pos)))
            vlen = OVERFLOW_REF.size
        else:
            vals.append(p[pos : pos + vlen])
        pos += vlen
    if pos > len(p):
        raise ValueError("entries run past the page")
    return Leaf(pgno, keys, vals, nxt)


def _parse_internal(p: bytes, pgno: int) -> Internal:
    n, first = INTERNAL_HEAD.unpack_from(p)
    keys, children = [], [first]
    pos = INTERNAL_HEAD.size
    for _ in range(n):
        (klen,) = INTERNAL_KEY.unpack_from(p, pos)
        pos += 2
        keys.append(p[pos : pos + klen])
        pos += klen
        children.append(CHILD.unpack_from(p, pos)[0])
        pos += 4
    if pos > len(p):
        raise ValueError("entries run past the page")
    return Internal(pgno, keys, children)


def page_type(page: bytes) -> int:
    """The record type byte of a page (no checksum check)."""
    return int(HEADER.unpack_from(page)[2])


def salvage_keys(page: bytes) -> list[bytes] | None:
    """Best effort, for a page that failed its checksum: the keys a leaf seems to hold.

    Used only to *name* what was lost in a repair report, never to serve data.
    """
    try:
        if page_type(page) != T_LEAF:
            return None
        leaf = _parse_leaf(page[HEADER_SIZE:], 0)
    except (struct.error, ValueError):
        return None
    return leaf.keys
