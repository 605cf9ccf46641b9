"""The sorted set: a skip list ordered by (score, member) plus a dict member -> score.

Strategy (Redis's t_zset.c, the "skiplist" encoding). A skip list is a
sorted linked list where each node also sits in a random number of higher
"express" lists: level 1 links every node, level 2 about a quarter of them
(p = 0.25), level 3 a sixteenth, ... up to 32 levels. A search starts at the
highest level of the header and moves right while the next node still sorts
before the target, then drops a level: O(log n) expected steps.

Each forward link also stores its *span*, the number of level-1 nodes it
jumps over. Summing the spans crossed on the way to a node gives its rank
(ZRANK) and following spans finds the node of a given rank (ZRANGE 100 110):
both O(log n), where a plain sorted list would pay O(n) to insert.
The ``backward`` pointers (level 1 only) walk the list in reverse (ZREVRANGE).

Order: by score, then by member bytes (memcmp, a shorter prefix first), so
equal scores sort lexicographically, which ZRANGEBYLEX relies on. The dict
answers ZSCORE and "is it a member" in O(1); the two always hold the same
pairs. Scores are Python floats (C doubles): +/-inf allowed, NaN refused by
the commands before it gets here.

Redis keeps small sets in a "listpack" (one flat buffer) instead; here the
structure is always the skip list, and ``SortedSet.listpack`` only records
which encoding Redis would report (OBJECT ENCODING) under the same
zset-max-listpack-entries/-value rules.

The ranges: ``ScoreRange`` (ZRANGEBYSCORE's ``(1 5``) and ``LexRange``
(ZRANGEBYLEX's ``[a (z - +``), each with "is this above the min / below the
max" tests the list walks with.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_LEVEL = 32  # ZSKIPLIST_MAXLEVEL: enough for 4**32 elements
P = 0.25  # ZSKIPLIST_P: a node reaches level k+1 with this probability


class Node:
    __slots__ = ("member", "score", "backward", "forward", "span")

    def __init__(self, member: bytes, score: float, level: int) -> None:
        self.member = member
        self.score = score
        self.backward: Node | None = None
        self.forward: list[Node | None] = [None] * level
        self.span: list[int] = [0] * level


def random_level(rng: random.Random) -> int:
    level = 1
    r = rng.random
    while r() < P and level < MAX_LEVEL:
        level += 1
    return level


# --- ranges -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreRange:
    min: float
    max: float
    minex: bool = False  # "(min": exclusive
    maxex: bool = False

    def above_min(self, score: float) -> bool:
        return score > self.min if self.minex else score >= self.min

    def below_max(self, score: float) -> bool:
        return score < self.max if self.maxex else score <= self.max

    def empty(self) -> bool:
        return self.min > self.max or (self.min == self.max and (self.minex or self.maxex))


@dataclass(frozen=True)
class LexRange:
    """``min``/``max`` are bytes, or ``None`` for ``-`` (min) / ``+`` (max) respectively."""

    min: bytes | None
    max: bytes | None
    minex: bool = False
    maxex: bool = False
    min_is_plus: bool = False  # "+" given as the min: nothing is above it
    max_is_minus: bool = False  # "-" given as the max: nothing is below it

    def above_min(self, m: bytes) -> bool:
        if self.min_is_plus:
            return False
        if self.min is None:
            return True
        return m > self.min if self.minex else m >= self.min

    def below_max(self, m: bytes) -> bool:
        if self.max_is_minus:
            return False
        if self.max is None:
            return True
        return m < self.max if self.maxex else m <= self.max

    def empty(self) -> bool:
        if self.min_is_plus or self.max_is_minus:
            return True
        if self.min is None or self.max is None:
            return False
        return self.min > self.max or (self.min == self.max and (self.minex or self.maxex))


# --- the skip list ------------------------------------------------------------------


class SkipList:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.header = Node(b"", 0.0, MAX_LEVEL)
        self.tail: Node | None = None
        self.length = 0
        self.level = 1
        self.rng = rng or random.Random()

    def __len__(self) -> int:
        return self.length

    def _path(self, score: float, member: bytes) -> tuple[list[Node], list[int]]:
        """Per level in use, the last node before (score, member) and its rank."""
        level = self.level
        update: list[Node] = [self.header] * level
        rank = [0] * level
        x = self.header
        r = 0
        for i in range(level - 1, -1, -1):
            nxt = x.forward[i]
            while nxt is not None and (
                nxt.score < score or (nxt.score == score and nxt.member < member)
            ):
                r += x.span[i]
                x = nxt
                nxt = x.forward[i]
            update[i] = x
            rank[i] = r
        return update, rank

    def insert(self, score: float, member: bytes) -> Node:
        """Insert a member known to be absent (the dict says so)."""
        update, rank = self._path(score, member)
        level = random_level(self.rng)
        if level > self.level:
            for i in range(self.level, level):  # the new levels start at the header
                rank.append(0)
                update.append(self.header)
                self.header.span[i] = self.length
            self.level = level
        x = Node(member, score, level)
        for i in range(level):
            u = update[i]
            x.forward[i] = u.forward[i]
            u.forward[i] = x
            x.span[i] = u.span[i] - (rank[0] - rank[i])
            u.span[i] = rank[0] - rank[i] + 1
        for i in range(level, self.level):
            update[i].span[i] += 1
        x.backward = None if update[0] is self.header else update[0]
        nxt = x.forward[0]
        if nxt is not None:
            nxt.backward = x
        else:
            self.tail = x
        self.length += 1
        return x

    def _unlink(self, x: Node, update: list[Node]) -> None:
        for i in range(self.level):
            u = update[i]
            if u.forward[i] is x:
                u.span[i] += x.span[i] - 1
                u.forward[i] = x.forward[i]
            else:
                u.span[i] -= 1
        nxt = x.forward[0]
        if nxt is not None:
            nxt.backward = x.backward
        else:
            self.tail = x.backward
        while self.level > 1 and self.header.forward[self.level - 1] is None:
            self.level -= 1
        self.length -= 1

    def delete(self, score: float, member: bytes) -> bool:
        update, _ = self._path(score, member)
        x = update[0].forward[0]
        if x is None or x.score != score or x.member != member:
            return False
        self._unlink(x, update)
        return True

    def update_score(self, score: float, member: bytes, new: float) -> None:
        """Move ``member`` from ``score`` to ``new``; in place when its position holds."""
        update, _ = self._path(score, member)
        x = update[0].forward[0]
        assert x is not None and x.member == member and x.score == score
        nxt = x.forward[0]
        if (x.backward is None or x.backward.score < new) and (nxt is None or nxt.score > new):
            x.score = new  # still between its neighbours: Redis's in-place fast path
            return
        self._unlink(x, update)
        self.insert(new, member)

    def rank(self, score: float, member: bytes) -> int:
        """1-based rank of an element known to be present."""
        rank = 0
        x = self.header
        for i in range(self.level - 1, -1, -1):
            nxt = x.forward[i]
            while nxt is not None and (
                nxt.score < score or (nxt.score == score and nxt.member <= member)
            ):
                rank += x.span[i]
                x = nxt
                nxt = x.forward[i]
            if x is not self.header and x.member == member:
                return rank
        raise KeyError(member)

    def by_rank(self, rank: int) -> Node | None:
        """The node of 1-based ``rank``."""
        traversed = 0
        x = self.header
        for i in range(self.level - 1, -1, -1):
            nxt = x.forward[i]
            while nxt is not None and traversed + x.span[i] <= rank:
                traversed += x.span[i]
                x = nxt
                nxt = x.forward[i]
            if traversed == rank:
                return x
        return None

    # -- score ranges ------------------------------------------------------------------
    def first_in_score(self, r: ScoreRange) -> Node | None:
        if r.empty():
            return None
        x = self.header
        for i in range(self.level - 1, -1, -1):
            nxt = x.forward[i]
            while nxt is not None and not r.above_min(nxt.score):
                x = nxt
                nxt = x.forward[i]
        x1 = x.forward[0]
        return x1 if x1 is not None and r.below_max(x1.score) else None

    def last_in_score(self, r: ScoreRange) -> Node | None:
        if r.empty():
            return None
        x = self.header
        for i in range(self.level - 1, -1, -1):
            nxt = x.forward[i]
            while nxt is not None and r.below_max(nxt.score):
                x = nxt
                nxt = x.forward[i]
        if x is self.header or not r.above_min(x.score):
            return None
        return x

    def first_in_lex(self, r: LexRange) -> Node | None:
        if r.empty():
            return None
        x = self.header
        for i in range(self.level - 1, -1, -1):
            nxt = x.forward[i]
            while nxt is not None and not r.above_min(nxt.member):
                x = nxt
                nxt = x.forward[i]
        x1 = x.forward[0]
        return x1 if x1 is not None and r.below_max(x1.member) else None

    def last_in_lex(self, r: LexRange) -> Node | None:
        if r.empty():
            return None
        x = self.header
        for i in range(self.level - 1, -1, -1):
            nxt = x.forward[i]
            while nxt is not None and r.below_max(nxt.member):
                x = nxt
                nxt = x.forward[i]
        if x is self.header or not r.above_min(x.member):
            return None
        return x

    # -- iteration ----------------------------------------------------------------------
    def first(self) -> Node | None:
        return self.header.forward[0]

    def __iter__(self) -> Iterator[Node]:
        x = self.header.forward[0]
        while x is not None:
            yield x
            x = x.forward[0]

    def check(self) -> None:
        """Assert every invariant (the model-based tests call this)."""
        prev: Node | None = None
        n = 0
        for x in self:
            n += 1
            assert x.backward is prev
            if prev is not None:
                assert (prev.score, prev.member) < (x.score, x.member)
            prev = x
        assert n == self.length and self.tail is prev
        for i in range(self.level):
            x, pos = self.header, 0
            while x.forward[i] is not None:
                nxt = x.forward[i]
                assert nxt is not None
                pos += x.span[i]
                assert self.rank(nxt.score, nxt.member) == pos
                x = nxt


class SortedSet:
    """A Redis sorted set: ``scores`` (member -> score) and ``zsl`` (the order)."""

    __slots__ = ("scores", "zsl", "listpack")

    def __init__(self, listpack: bool = True, rng: random.Random | None = None) -> None:
        self.scores: dict[bytes, float] = {}
        self.zsl = SkipList(rng)
        self.listpack = listpack  # the encoding Redis would report for this set

    def __len__(self) -> int:
        return len(self.scores)

    def __bool__(self) -> bool:
        return bool(self.scores)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.scores)

    def copy(self) -> SortedSet:
        """An independent set with the same members (COPY): rebuilt in order, O(n log n)."""
        other = SortedSet(self.listpack, self.zsl.rng)
        for member, score in self.items():
            other.scores[member] = score
            other.zsl.insert(score, member)
        return other

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> SortedSet:
        # copy.deepcopy would recurse node by node down the list and overflow the stack
        return self.copy()

    def add(self, member: bytes, score: float) -> bool:
        """Set ``member``'s score; True when it is new."""
        old = self.scores.get(member)
        if old is None:
            self.scores[member] = score
            self.zsl.insert(score, member)
            return True
        if old != score:
            self.zsl.update_score(old, member, score)
            self.scores[member] = score
        return False

    def remove(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.zsl.delete(score, member)
        return True

    def rank(self, member: bytes) -> int | None:
        """0-based rank, or None for a non-member."""
        score = self.scores.get(member)
        return None if score is None else self.zsl.rank(score, member) - 1

    def node_at(self, index: int) -> Node | None:
        """The node at 0-based ``index``."""
        return self.zsl.by_rank(index + 1)

    def node_rank(self, node: Node) -> int:
        return self.zsl.rank(node.score, node.member) - 1

    def items(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) in order."""
        for x in self.zsl:
            yield x.member, x.score
