"""The B+ tree algorithms over a ``Pager``: search, insert with splits, delete with rebalancing.

Every key lives in a leaf; internal nodes hold separators (copies of the
first key of a right sibling at the time of its split). A search keeps the
path of (internal node, child index) it took, and after an insert or a delete
``_settle`` walks that path back up, fixing each level:

* **overflow** (a node's bytes exceed the page): split at the byte midpoint;
  the separator goes to the parent, which may overflow in turn; a root that
  splits gets a new root above it (the tree grows at the top, so all leaves
  stay at one depth);
* **underflow** (below a quarter page, ``MIN_FILL``): merge with a sibling
  when both fit one page, else redistribute entries from the fuller one
  (through the parent, for internal nodes); a root left with one child is
  replaced by it (root collapse).

Sizes are in bytes, not entry counts, because keys and values vary in length.
Leaves are linked left to right (``next``), so a range scan descends once and
then walks the leaf level.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from storage.record import Corruption

from .page import (
    CAPACITY,
    NO_PAGE,
    OVERFLOW_DATA,
    PAGE_SIZE,
    Internal,
    Leaf,
    Overflow,
    OverflowPage,
    inline,
    internal_entry_size,
)
from .pager import Pager

# Below a quarter page a node is rebalanced: leaves half that full would make
# splits and merges chase each other on a workload that alternates inserts and
# deletes at one spot (the thrashing textbooks warn about at exactly 50%).
MIN_FILL = CAPACITY // 4

Path = list[tuple[Internal, int]]


@dataclass
class TreeStats:
    splits: int = 0
    merges: int = 0
    redistributions: int = 0
    root_growths: int = 0
    root_collapses: int = 0


class Tree:
    def __init__(self, pager: Pager) -> None:
        self.pager = pager
        self.meta = pager.meta
        self.stats = TreeStats()

    # -- reading ------------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        # The hot path of every read, so ``Pager.get`` is inlined: a cached page
        # costs two dict probes here instead of a method call per level (py-spy
        # put a third of readrandom's time in those calls).
        pager = self.pager
        dirty, clean = pager.dirty, pager.clean
        pgno = self.meta.root
        while True:
            node = dirty.get(pgno)
            if node is None:
                node = clean.get(pgno)
                if node is None:
                    node = pager.get(pgno)
                else:
                    clean.move_to_end(pgno)
            if node.is_leaf:
                break
            pgno = node.children[bisect_right(node.keys, key)]  # type: ignore[union-attr]
        keys = node.keys  # type: ignore[union-attr]
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            v = node.vals[i]  # type: ignore[union-attr]
            return v if v.__class__ is bytes else self.value(v)  # type: ignore[no-any-return]
        return None

    def value(self, v: bytes | Overflow) -> bytes:
        """A leaf's value, read from its overflow chain when it has one."""
        if not isinstance(v, Overflow):
            return v
        parts, pgno = [], v.first
        while pgno != NO_PAGE:
            page = self.pager.get(pgno)
            if not isinstance(page, OverflowPage):
                raise Corruption(self.pager.path, pgno * PAGE_SIZE, "overflow chain hits a non-overflow page")
            parts.append(page.data)
            pgno = page.next
        data = b"".join(parts)
        if len(data) != v.length:
            raise Corruption(self.pager.path, v.first * PAGE_SIZE,
                             f"overflow chain holds {len(data)} bytes, the leaf says {v.length}")  # fmt: skip
        return data

    def _descend(self, key: bytes) -> tuple[Leaf, Path]:
        path: Path = []
        node = self.pager.get(self.meta.root)
        while isinstance(node, Internal):
            i = bisect_right(node.keys, key)
            path.append((node, i))
            node = self.pager.get(node.children[i])
        if not isinstance(node, Leaf):
            raise Corruption(self.pager.path, 0, f"page {node.pgno} on a search path is free")
        return node, path

    def scan(self, start: bytes | None = None, end: bytes | None = None) -> Iterator[
        tuple[bytes, bytes]
    ]:
        """(key, value) for start <= key < end, in key order, walking the leaf links."""
        leaf, _ = self._descend(start or b"")
        i = bisect_left(leaf.keys, start) if start else 0
        while True:
            for k, v in zip(leaf.keys[i:], leaf.vals[i:], strict=True):
                if end is not None and k >= end:
                    return
                yield k, (v if v.__class__ is bytes else self.value(v))
            if leaf.next == NO_PAGE:
                return
            nxt = self.pager.get(leaf.next)
            if not isinstance(nxt, Leaf):
                raise Corruption(self.pager.path, 0, f"leaf link to page {leaf.next}, not a leaf")
            leaf, i = nxt, 0

    # -- writing ------------------------------------------------------------------
    def put(self, key: bytes, value: bytes) -> None:
        leaf, path = self._descend(key)
        i = bisect_left(leaf.keys, key)
        stored: bytes | Overflow = value if inline(key, value) else self._write_chain(value)
        if i < len(leaf.keys) and leaf.keys[i] == key:
            self._free_chain(leaf.vals[i])
            leaf.size += len(stored) - len(leaf.vals[i])
            leaf.vals[i] = stored
        else:
            leaf.keys.insert(i, key)
            leaf.vals.insert(i, stored)
            leaf.size += 4 + len(key) + len(stored)
            self.meta.count += 1
            self.pager.meta_dirty = True
        self.pager.touch(leaf)
        self._settle(leaf, path)

    def delete(self, key: bytes) -> bool:
        leaf, path = self._descend(key)
        i = bisect_left(leaf.keys, key)
        if i == len(leaf.keys) or leaf.keys[i] != key:
            return False
        self._free_chain(leaf.vals[i])
        leaf.size -= 4 + len(key) + len(leaf.vals[i])
        del leaf.keys[i], leaf.vals[i]
        self.meta.count -= 1
        self.pager.meta_dirty = True
        self.pager.touch(leaf)
        self._settle(leaf, path)
        return True

    def _write_chain(self, value: bytes) -> Overflow:
        """Put a large value in overflow pages (written last page first, to link them)."""
        nxt = NO_PAGE
        for start in reversed(range(0, len(value), OVERFLOW_DATA)):
            pgno = self.pager.allocate()
            self.pager.touch(OverflowPage(pgno, nxt, value[start : start + OVERFLOW_DATA]))
            nxt = pgno
        return Overflow(len(value), nxt)

    def _free_chain(self, v: bytes | Overflow) -> None:
        if not isinstance(v, Overflow):
            return
        pgno = v.first
        while pgno != NO_PAGE:
            page = self.pager.get(pgno)
            if not isinstance(page, OverflowPage):
                raise Corruption(self.pager.path, pgno * PAGE_SIZE, "overflow chain hits a non-overflow page")
            self.pager.free(pgno)
            pgno = page.next

    # -- keeping the shape ------------------------------------------------------------
    def _settle(self, node: Leaf | Internal, path: Path) -> None:
        """Fix overflow/underflow from ``node`` up its search path, then the root."""
        while path:
            parent, i = path.pop()
            if node.size > CAPACITY:
                self._split(node, parent, i)
            elif node.size < MIN_FILL:
                self._rebalance(parent, i)
            else:
                return  # this level is fine, so nothing above changed
            node = parent
        if node.size > CAPACITY:
            self._grow_root(node)
        elif isinstance(node, Internal) and not node.keys:
            self._collapse_root(node)

    def _split(self, node: Leaf | Internal, parent: Internal, i: int) -> None:
        sep, right = self._split_node(node)
        parent.keys.insert(i, sep)
        parent.children.insert(i + 1, right.pgno)
        parent.size += internal_entry_size(sep)
        self.pager.touch(parent)

    def _split_node(self, node: Leaf | Internal) -> tuple[bytes, Leaf | Internal]:
        self.stats.splits += 1
        m = _byte_midpoint(node)
        if isinstance(node, Leaf):
            right: Leaf | Internal = self.pager.new_leaf(node.keys[m:], node.vals[m:], node.next)
            del node.keys[m:], node.vals[m:]
            node.next = right.pgno
            sep = right.keys[0]
        else:
            sep = node.keys[m]
            right = self.pager.new_internal(node.keys[m + 1 :], node.children[m + 1 :])
            del node.keys[m:], node.children[m + 1 :]
        node.size -= right.size - (6 if isinstance(node, Leaf) else 6 - internal_entry_size(sep))
        self.pager.touch(node)
        return sep, right

    def _grow_root(self, root: Leaf | Internal) -> None:
        sep, right = self._split_node(root)
        new = self.pager.new_internal([sep], [root.pgno, right.pgno])
        self.meta.root = new.pgno
        self.meta.height += 1
        self.stats.root_growths += 1

    def _collapse_root(self, root: Internal) -> None:
        self.meta.root = root.children[0]
        self.meta.height -= 1
        self.pager.free(root.pgno)
        self.pager.meta_dirty = True
        self.stats.root_collapses += 1

    def _rebalance(self, parent: Internal, i: int) -> None:
        """Child ``i`` of ``parent`` is under-full: merge it with a sibling or borrow."""
        if not parent.keys:
            return  # an only child (possible only under a root about to collapse)
        j = i - 1 if i > 0 else i  # merge/borrow across separator j: children j and j+1
        left = self.pager.get(parent.children[j])
        right = self.pager.get(parent.children[j + 1])
        assert isinstance(left, Leaf | Internal) and isinstance(right, Leaf | Internal)
        sep = parent.keys[j]
        joined = left.size + right.size - 6
        if isinstance(left, Internal):
            joined += internal_entry_size(sep)
        if joined <= CAPACITY:
            self._merge(parent, j, left, right)
        else:
            self._redistribute(parent, j, left, right)
        self.pager.touch(parent)

    def _merge(self, parent: Internal, j: int, left: Leaf | Internal, right: Leaf | Internal) -> None:
        self.stats.merges += 1
        sep = parent.keys.pop(j)
        parent.children.pop(j + 1)
        parent.size -= internal_entry_size(sep)
        if isinstance(left, Leaf) and isinstance(right, Leaf):
            left.keys += right.keys
            left.vals += right.vals
            left.next = right.next
            left.size += right.size - 6
        elif isinstance(left, Internal) and isinstance(right, Internal):
            left.keys += [sep, *right.keys]
            left.children += right.children
            left.size += right.size - 6 + internal_entry_size(sep)
        self.pager.touch(left)
        self.pager.free(right.pgno)

    def _redistribute(
        self, parent: Internal, j: int, left: Leaf | Internal, right: Leaf | Internal
    ) -> None:
        self.stats.redistributions += 1
        if isinstance(left, Leaf) and isinstance(right, Leaf):
            _balance_leaves(left, right)
            parent.keys[j] = right.keys[0]
        elif isinstance(left, Internal) and isinstance(right, Internal):
            parent.keys[j] = _balance_internals(left, right, parent.keys[j])
        parent.size = Internal(0, parent.keys, []).size
        self.pager.touch(left)
        self.pager.touch(right)


def _byte_midpoint(node: Leaf | Internal) -> int:
    """The split index: the left part gets about half the bytes, and at least one entry."""
    half, acc = node.size // 2, 6
    if isinstance(node, Leaf):
        for m, (k, v) in enumerate(zip(node.keys, node.vals, strict=True)):
            acc += 4 + len(k) + len(v)
            if acc >= half:
                return max(1, min(m + 1, len(node.keys) - 1))
        return len(node.keys) - 1
    for m, k in enumerate(node.keys):
        acc += internal_entry_size(k)
        if acc >= half:
            return max(1, min(m, len(node.keys) - 2))
    return len(node.keys) - 2


def _balance_leaves(left: Leaf, right: Leaf) -> None:
    """Move entries across until the two sizes are as close as entries allow."""
    while True:
        if left.size < right.size:
            k, v = right.keys[0], right.vals[0]
            e = 4 + len(k) + len(v)
            if left.size + e > right.size - e or len(right.keys) == 1:
                return
            left.keys.append(right.keys.pop(0))
            left.vals.append(right.vals.pop(0))
            left.size, right.size = left.size + e, right.size - e
        else:
            k, v = left.keys[-1], left.vals[-1]
            e = 4 + len(k) + len(v)
            if right.size + e > left.size - e or len(left.keys) == 1:
                return
            right.keys.insert(0, left.keys.pop())
            right.vals.insert(0, left.vals.pop())
            left.size, right.size = left.size - e, right.size + e


def _balance_internals(left: Internal, right: Internal, sep: bytes) -> bytes:
    """Rotate separators through the parent until balanced; returns the new separator."""
    while True:
        if left.size < right.size:
            e = internal_entry_size(right.keys[0])
            if left.size + internal_entry_size(sep) > right.size - e or len(right.keys) == 1:
                return sep
            left.keys.append(sep)
            left.children.append(right.children.pop(0))
            left.size += internal_entry_size(sep)
            sep = right.keys.pop(0)
            right.size -= e
        else:
            e = internal_entry_size(left.keys[-1])
            if right.size + internal_entry_size(sep) > left.size - e or len(left.keys) == 1:
                return sep
            right.keys.insert(0, sep)
            right.children.insert(0, left.children.pop())
            right.size += internal_entry_size(sep)
            sep = left.keys.pop()
            left.size -= e


def check_shape(tree: Tree) -> None:
    """Assert the B+ tree invariants (tests call this after every step)."""
    leaves: list[Leaf] = []
    _check_node(tree, tree.meta.root, None, None, 1, leaves)
    for a, b in zip(leaves, leaves[1:], strict=False):
        assert a.next == b.pgno, f"leaf {a.pgno} links to {a.next}, next in order is {b.pgno}"
    assert leaves[-1].next == NO_PAGE
    assert sum(len(x.keys) for x in leaves) == tree.meta.count


def _check_node(
    tree: Tree, pgno: int, lo: bytes | None, hi: bytes | None, depth: int, leaves: list[Leaf]
) -> None:
    node = tree.pager.get(pgno)
    assert isinstance(node, Leaf | Internal), f"page {pgno} in the tree is free"
    assert node.size <= CAPACITY, f"page {pgno} holds {node.size} bytes"
    keys = node.keys
    assert keys == sorted(set(keys)), f"page {pgno}: keys not strictly increasing"
    assert all((lo is None or k >= lo) and (hi is None or k < hi) for k in keys)
    if pgno != tree.meta.root:
        assert node.size >= MIN_FILL, f"page {pgno} under-full ({node.size} bytes)"
    if isinstance(node, Leaf):
        assert node.size == Leaf(0, keys, node.vals, 0).size
        assert depth == tree.meta.height, f"leaf {pgno} at depth {depth}"
        leaves.append(node)
        return
    assert node.size == Internal(0, keys, []).size and len(node.children) == len(keys) + 1
    bounds = [lo, *keys, hi]
    for i, child in enumerate(node.children):
        _check_node(tree, child, bounds[i], bounds[i + 1], depth + 1, leaves)

