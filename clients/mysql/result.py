"""What a command hands back: ``Result`` (rows + the OK summary) and the
``ResultBuilder`` that turns protocol events into Results.

Both clients feed events to the same builder, so the assembling logic (one
Result per result set, chained through ``next`` for multi-statement queries,
an OK-only Result for statements without rows) exists once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .constants import SERVER_MORE_RESULTS_EXISTS
from .protocol import Prepared, ResultHeader, Rows
from .responses import OkPacket
from .resultset import Column


@dataclass(slots=True)
class Result:
    """One result set (or one row-less statement's summary)."""

    columns: list[Column] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    affected_rows: int = 0
    insert_id: int = 0
    warnings: int = 0
    status: int = 0
    info: str = ""
    next: Result | None = None  # the following result set of a multi-statement query

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def scalar(self) -> Any:
        """The first column of the first row (None when there is no row)."""
        return self.rows[0][0] if self.rows else None

    def first(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def dicts(self) -> list[dict[str, Any]]:
        names = self.column_names
        return [dict(zip(names, r, strict=True)) for r in self.rows]

    def all(self) -> list[Result]:
        """This result and every following one."""
        out: list[Result] = []
        r: Result | None = self
        while r is not None:
            out.append(r)
            r = r.next
        return out


class ResultBuilder:
    """Feed it a command's events; ``feed`` returns True once the response is complete."""

    __slots__ = ("first", "_last", "_cur", "prepared")

    def __init__(self) -> None:
        self.first: Result | None = None
        self._last: Result | None = None
        self._cur: Result | None = None  # the result set whose rows are arriving
        self.prepared: Prepared | None = None

    def feed(self, ev: Any) -> bool:
        if type(ev) is Rows:
            assert self._cur is not None
            self._cur.rows.extend(ev.rows)
            return False
        if type(ev) is ResultHeader:
            self._cur = Result(columns=ev.columns)
            return False
        if type(ev) is OkPacket:
            # "is None", not "or": a Result with no rows is falsy (__len__), and an
            # empty result set must keep its columns
            res = self._cur if self._cur is not None else Result()
            self._cur = None
            res.affected_rows, res.insert_id = ev.affected_rows, ev.insert_id
            res.warnings, res.status, res.info = ev.warnings, ev.status, ev.info
            if self._last is None:
                self.first = res
            else:
                self._last.next = res
            self._last = res
            return not ev.status & SERVER_MORE_RESULTS_EXISTS  # (ev.more_results, inline)
        if type(ev) is Prepared:
            self.prepared = ev
            return True
        raise TypeError(f"unexpected event {ev!r}")

    complete = False  # (for the asyncio transport: a builder never absorbs errors)

    def absorb(self, exc: BaseException) -> bool:
        return False

    @property
    def result(self) -> Result:
        assert self.first is not None
        return self.first
