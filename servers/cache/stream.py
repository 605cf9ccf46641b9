"""A Redis stream: an append-only log of ``ms-seq`` ids with field/value pairs, plus consumer groups.

What Redis uses. ``t_stream.c`` keeps the entries in a *radix tree of
listpacks*: each rax key is the 128-bit big-endian "master id" of a node, and
its value a listpack of up to ``stream-node-max-entries`` (100) entries or
``stream-node-max-bytes`` (4 KB), each entry delta-encoded against the master
id and, when its fields repeat the master entry's, stored without the field
names. XDEL only flags an entry deleted inside its listpack (a node is freed
once all its entries are flagged); trimming with ``~`` drops whole nodes only,
which is why ``MAXLEN ~ 555`` over 1000 entries leaves 600.

What we chose. A plain Python list of *nodes* (``Node``: parallel lists of
ids and field lists) with their master ids in a second sorted list, searched
with ``bisect``. The nodes keep Redis's observable behaviour where clients can
see it: node boundaries follow the same two limits, a node counts its deleted
entries against its fullness, approximate trimming removes whole nodes only,
and ``XINFO STREAM`` reports the node count as ``radix-tree-keys``. What we
give up is the compression (no delta encoding, no shared field names: a Python
object per field costs far more than a listpack byte) and the radix tree's
O(log n) seek over many nodes: finding a node is a bisect over the master ids
(O(log n) too), but removing a node from the middle of the list is O(nodes),
a memmove of pointers, fine for streams of millions of entries (10^4 nodes).
Deleted entries are removed from their node's lists at once (the node only
counts them), so iteration never skips tombstones.

Consumer groups are as in Redis: a group has a last-delivered id, an
``entries_read`` counter (for the lag XINFO reports), a pending entries list
(PEL: id -> ``Nack`` with delivery time, count and owner) and consumers, each
with its own PEL sharing the same ``Nack`` objects. Redis keeps each PEL in a
rax; we keep a dict plus a sorted id list (``Pel``), enough for the range
scans XPENDING and XAUTOCLAIM make.

This module is sans-IO: no sockets, no replies; the clock is an argument.
The commands live in ``commands/streams.py``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator

ID = tuple[int, int]  # (milliseconds, sequence); tuples compare as Redis's streamCompareID
# An entry's field, value, field, value... A tuple of bytes, not a list: the
# garbage collector stops tracking such tuples, so a stream of millions of
# entries does not slow every full collection down.
Fields = tuple[bytes, ...]
U64 = 2**64 - 1
ZERO: ID = (0, 0)
MAX_ID: ID = (U64, U64)
INVALID_ENTRIES_READ = -1  # SCG_INVALID_ENTRIES_READ: the group's counter is unknown

# Redis's defaults (redis.conf): a node holds at most 100 entries or 4096 bytes.
NODE_MAX_ENTRIES = 100
NODE_MAX_BYTES = 4096
ID_MAX_LEN = 127  # streamGenericParseIDOrReply refuses longer id strings

# Memory estimate (keyspace accounting): a Python entry costs its bytes plus
# object headers; Redis's listpack costs a few bytes per element.
ENTRY_OVERHEAD = 48
FIELD_OVERHEAD = 8
NACK_OVERHEAD = 64
CONSUMER_OVERHEAD = 96
GROUP_OVERHEAD = 128


def format_id(i: ID) -> bytes:
    return b"%d-%d" % i


def _u64(s: bytes) -> int | None:
    """Redis's string2ull: a decimal in 0..2**64-1 (strtoull also takes spaces and '+')."""
    t = s.lstrip(b" \t\n\r\x0b\x0c")
    if t.startswith(b"+"):
        t = t[1:]
    if not t.isdigit():
        return None
    n = int(t)
    return n if n <= U64 else None


def parse_id(
    b: bytes, missing_seq: int = 0, strict: bool = False, star_seq: bool = False
) -> tuple[ID, bool] | None:
    """An id argument -> ((ms, seq), seq_given), or None when invalid.

    ``-`` and ``+`` are the smallest and largest ids unless ``strict``; an id
    without ``-seq`` takes ``missing_seq``; ``ms-*`` (``star_seq``, XADD only)
    answers seq_given False.
    """
    if len(b) > ID_MAX_LEN:
        return None
    if b == b"-" or b == b"+":
        if strict:
            return None
        return (ZERO if b == b"-" else MAX_ID), True
    ms_part, dash, seq_part = b.partition(b"-")
    ms = _u64(ms_part)
    if ms is None:
        return None
    if not dash:
        return (ms, missing_seq), True
    if star_seq and seq_part == b"*":
        return (ms, 0), False
    seq = _u64(seq_part)
    if seq is None:
        return None
    return (ms, seq), True


def incr_id(i: ID) -> ID | None:
    """The next id (streamIncrID); None past the largest."""
    ms, seq = i
    if seq < U64:
        return ms, seq + 1
    return (ms + 1, 0) if ms < U64 else None


def decr_id(i: ID) -> ID | None:
    ms, seq = i
    if seq > 0:
        return ms, seq - 1
    return (ms - 1, U64) if ms > 0 else None


def entry_size(fields: Fields) -> int:
    return ENTRY_OVERHEAD + sum(map(len, fields)) + FIELD_OVERHEAD * len(fields)


class Node:
    """One "listpack": entries in id order; ``deleted`` counts the ones XDEL or trimming removed."""

    __slots__ = ("ids", "entries", "deleted", "nbytes")

    def __init__(self) -> None:
        self.ids: list[ID] = []
        self.entries: list[Fields] = []
        self.deleted = 0
        self.nbytes = 0  # a listpack-like byte count, for stream-node-max-bytes


class Nack:
    """A delivered, not yet acknowledged entry (streamNACK)."""

    __slots__ = ("delivery_time", "delivery_count", "consumer")

    def __init__(self, consumer: Consumer | None, now: int) -> None:
        self.delivery_time = now
        self.delivery_count = 1
        self.consumer = consumer


class Pel:
    """A pending entries list: id -> Nack with the ids kept sorted for range scans."""

    __slots__ = ("ids", "nacks")

    def __init__(self) -> None:
        self.ids: list[ID] = []
        self.nacks: dict[ID, Nack] = {}

    def __len__(self) -> int:
        return len(self.nacks)

    def __contains__(self, i: ID) -> bool:
        return i in self.nacks

    def get(self, i: ID) -> Nack | None:
        return self.nacks.get(i)

    def add(self, i: ID, nack: Nack) -> None:
        if i not in self.nacks:
            if not self.ids or i > self.ids[-1]:
                self.ids.append(i)
            else:
                insort(self.ids, i)
        self.nacks[i] = nack

    def remove(self, i: ID) -> None:
        if self.nacks.pop(i, None) is not None:
            k = bisect_left(self.ids, i)
            del self.ids[k]

    def from_(self, start: ID, end: ID = MAX_ID) -> Iterator[tuple[ID, Nack]]:
        """Pending ids in ``[start, end]``, ascending (a snapshot: safe to change the PEL)."""
        k = bisect_left(self.ids, start)
        stop = bisect_right(self.ids, end)
        for i in self.ids[k:stop]:
            nack = self.nacks.get(i)
            if nack is not None:
                yield i, nack


class Consumer:
    __slots__ = ("name", "seen_time", "pel")

    def __init__(self, name: bytes, now: int) -> None:
        self.name = name
        self.seen_time = now
        self.pel = Pel()


class Group:
    __slots__ = ("name", "last_id", "entries_read", "pel", "consumers")

    def __init__(self, name: bytes, last_id: ID, entries_read: int) -> None:
        self.name = name
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel = Pel()
        self.consumers: dict[bytes, Consumer] = {}

    def consumer(self, name: bytes, now: int, create: bool = True) -> Consumer | None:
        """Look a consumer up (refreshing its seen time), creating it if asked."""
        c = self.consumers.get(name)
        if c is not None:
            c.seen_time = now
        elif create:
            c = self.consumers[name] = Consumer(name, now)
        return c

    def ack(self, i: ID) -> bool:
        nack = self.pel.get(i)
        if nack is None:
            return False
        self.pel.remove(i)
        if nack.consumer is not None:
            nack.consumer.pel.remove(i)
        return True

    def sorted_consumers(self) -> list[Consumer]:
        """In name order, as Redis's rax iterates them."""
        return [self.consumers[k] for k in sorted(self.consumers)]


class Stream:
    """The entries (nodes), the id bookkeeping XINFO shows, and the consumer groups."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.masters: list[ID] = []  # each node's master id (its first id ever)
        self.length = 0
        self.last_id: ID = ZERO
        self.first_id: ID = ZERO  # the recorded first entry id
        self.max_deleted: ID = ZERO
        self.entries_added = 0
        self.groups: dict[bytes, Group] = {}
        self.mem = 0  # estimate of the bytes the entries hold (``memory`` adds the groups)

    def __len__(self) -> int:
        return self.length

    def __bool__(self) -> bool:  # an empty stream still exists (unlike lists)
        return True

    # -- ids ------------------------------------------------------------------------
    def next_id(self, now_ms: int) -> ID | None:
        """The id ``XADD *`` assigns (streamNextID): now, or one past the last id."""
        if now_ms > self.last_id[0]:
            return now_ms, 0
        return incr_id(self.last_id)

    def id_for(self, wanted: ID, seq_given: bool) -> ID | None:
        """The id ``XADD ms-seq`` / ``XADD ms-*`` stores; None when not above the last id."""
        if not seq_given:
            if self.last_id[0] == wanted[0]:
                if self.last_id[1] == U64:
                    return None
                wanted = (wanted[0], self.last_id[1] + 1)
        return wanted if wanted > self.last_id else None

    def last_valid_id(self) -> ID:
        """The id of the last existing entry (streamLastValidID), 0-0 when empty."""
        return self.nodes[-1].ids[-1] if self.nodes else ZERO

    def first_valid_id(self) -> ID:
        return self.nodes[0].ids[0] if self.nodes else ZERO

    # -- entries ----------------------------------------------------------------------
    def append(
        self,
        i: ID,
        fields: Fields,
        max_entries: int = NODE_MAX_ENTRIES,
        max_bytes: int = NODE_MAX_BYTES,
    ) -> None:
        """Add an entry with an id known to be above ``last_id``."""
        size = sum(map(len, fields))
        nbytes = size + 2 * len(fields) + 8
        node = self.nodes[-1] if self.nodes else None
        if node is not None:
            if (max_bytes and node.nbytes + size >= max_bytes) or (
                max_entries and len(node.ids) + node.deleted >= max_entries
            ):
                node = None
        if node is None:
            node = Node()
            node.nbytes = 16 + nbytes  # the listpack header and master entry
            self.nodes.append(node)
            self.masters.append(i)
        node.ids.append(i)
        node.entries.append(fields)
        node.nbytes += nbytes
        self.length += 1
        self.entries_added += 1
        self.last_id = i
        if self.length == 1:
            self.first_id = i
        self.mem += ENTRY_OVERHEAD + size + FIELD_OVERHEAD * len(fields)

    def _locate(self, i: ID) -> tuple[int, int] | None:
        n = bisect_right(self.masters, i) - 1
        if n < 0:
            return None
        node = self.nodes[n]
        k = bisect_left(node.ids, i)
        if k < len(node.ids) and node.ids[k] == i:
            return n, k
        return None

    def get(self, i: ID) -> Fields | None:
        at = self._locate(i)
        return None if at is None else self.nodes[at[0]].entries[at[1]]

    def exists(self, i: ID) -> bool:
        return self._locate(i) is not None

    def _drop_node(self, n: int) -> None:
        del self.nodes[n]
        del self.masters[n]

    def delete(self, i: ID) -> bool:
        """XDEL one id; True when it existed. Keeps first/max-deleted ids as Redis does."""
        at = self._locate(i)
        if at is None:
            return False
        n, k = at
        node = self.nodes[n]
        self.mem -= entry_size(node.entries[k])
        del node.ids[k]
        del node.entries[k]
        node.deleted += 1
        if not node.ids:
            self._drop_node(n)
        self.length -= 1
        if i > self.max_deleted:
            self.max_deleted = i
        if self.length == 0:
            self.first_id = ZERO
        elif i == self.first_id:
            self.first_id = self.first_valid_id()
        return True

    def range(self, start: ID, end: ID, rev: bool = False) -> Iterator[tuple[ID, Fields]]:
        """Entries with start <= id <= end, ascending (or descending with ``rev``)."""
        nodes = self.nodes
        if not rev:
            n = max(bisect_right(self.masters, start) - 1, 0)
            first = True
            for node in nodes[n:]:
                ids = node.ids
                lo = bisect_left(ids, start) if first else 0
                first = False
                for k in range(lo, len(ids)):
                    i = ids[k]
                    if i > end:
                        return
                    yield i, node.entries[k]
        else:
            n = bisect_right(self.masters, end) - 1
            first = True
            for ni in range(n, -1, -1):
                node = nodes[ni]
                ids = node.ids
                hi = bisect_right(ids, end) - 1 if first else len(ids) - 1
                first = False
                for k in range(hi, -1, -1):
                    i = ids[k]
                    if i < start:
                        return
                    yield i, node.entries[k]

    def trim(
        self, maxlen: int | None = None, minid: ID | None = None, approx: bool = False,
        limit: int = 0,
    ) -> int:  # fmt: skip
        """XTRIM / XADD's trimming (streamTrim): evict from the head; count deleted entries.

        Whole nodes go first; with ``approx`` trimming stops at the first node
        that cannot go whole (and after ``limit`` entries), so the stream may
        keep a few more entries than asked, in exchange for never splitting a node.
        """
        deleted = 0
        while self.nodes:
            if maxlen is not None and self.length <= maxlen:
                break
            node = self.nodes[0]
            entries = len(node.ids)
            if limit and deleted + entries > limit:
                break
            if maxlen is not None:
                whole = self.length - entries >= maxlen
            else:
                assert minid is not None
                whole = node.ids[-1] < minid
            if whole:
                self.mem -= sum(map(entry_size, node.entries))
                self._drop_node(0)
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            if maxlen is not None:
                k = self.length - maxlen
            else:
                assert minid is not None
                k = bisect_left(node.ids, minid)
            self.mem -= sum(map(entry_size, node.entries[:k]))
            del node.ids[:k]
            del node.entries[:k]
            node.deleted += k
            self.length -= k
            deleted += k
            break
        if self.length == 0:
            self.first_id = ZERO
        elif deleted:
            self.first_id = self.first_valid_id()
        return deleted

    # -- consumer groups: lag bookkeeping (Redis 7's entries-read) -------------------
    def range_has_tombstones(self, start: ID | None) -> bool:
        """Whether an XDEL'ed id may lie in [start, +inf) (streamRangeHasTombstones)."""
        if not self.length or self.max_deleted == ZERO:
            return False
        if self.first_id > self.max_deleted:
            return False
        return (start or ZERO) <= self.max_deleted

    def estimate_distance(self, i: ID) -> int:
        """How many entries were added up to ``i`` (streamEstimateDistanceFromFirstEverEntry)."""
        if not self.entries_added:
            return 0
        if not self.length and i <= self.last_id:
            return self.entries_added
        if i == self.last_id:
            return self.entries_added
        if i > self.last_id:
            return INVALID_ENTRIES_READ
        if self.max_deleted == ZERO or self.max_deleted < self.first_id:
            if i < self.first_id:
                return self.entries_added - self.length
            if i == self.first_id:
                return self.entries_added - self.length + 1
        return INVALID_ENTRIES_READ

    def lag(self, g: Group) -> int | None:
        """Entries not yet delivered to the group, or None when it cannot be known."""
        if not self.entries_added:
            return 0
        if g.entries_read != INVALID_ENTRIES_READ and not self.range_has_tombstones(g.last_id):
            return self.entries_added - g.entries_read
        read = self.estimate_distance(g.last_id)
        return None if read == INVALID_ENTRIES_READ else self.entries_added - read

    def delivered(self, g: Group, i: ID) -> None:
        """The group's last id moves to ``i`` (an entry served with ``>``)."""
        if i > g.last_id:
            if g.entries_read != INVALID_ENTRIES_READ and not self.range_has_tombstones(i):
                g.entries_read += 1
            elif self.entries_added:
                g.entries_read = self.estimate_distance(i)
            g.last_id = i

    def deliver(self, g: Group, c: Consumer, i: ID, now: int) -> None:
        """Add ``i`` to the PELs (or hand an existing NACK to ``c``: after XGROUP SETID)."""
        nack = g.pel.get(i)
        if nack is None:
            nack = Nack(c, now)
            g.pel.add(i, nack)
            c.pel.add(i, nack)
            return
        if nack.consumer is not None:
            nack.consumer.pel.remove(i)
        nack.consumer = c
        nack.delivery_time = now
        nack.delivery_count = 1
        c.pel.add(i, nack)

    def memory(self) -> int:
        """The estimate the keyspace accounts: entries, plus groups, consumers and PELs."""
        if not self.groups:
            return self.mem
        total = self.mem
        for g in self.groups.values():
            total += GROUP_OVERHEAD + len(g.name) + NACK_OVERHEAD * len(g.pel)
            total += sum(CONSUMER_OVERHEAD + len(name) for name in g.consumers)
        return total
