"""A small LRU cache of server-side prepared statements, keyed by SQL text.

``execute(sql, params)`` prepares a statement once and reuses it; past the
cap the least recently used one is closed on the server (every statement
costs server memory, and ``max_prepared_stmt_count`` is global).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from .protocol import Prepared


class StatementCache:
    def __init__(self, capacity: int, close: Callable[[int], object]) -> None:
        self.capacity = capacity
        self._close = close
        self._items: OrderedDict[str, Prepared] = OrderedDict()

    def get(self, sql: str) -> Prepared | None:
        stmt = self._items.get(sql)
        if stmt is not None:
            self._items.move_to_end(sql)
        return stmt

    def put(self, sql: str, stmt: Prepared) -> Prepared:
        self._items[sql] = stmt
        while len(self._items) > max(self.capacity, 1):
            _, old = self._items.popitem(last=False)
            self._close(old.stmt_id)
        return stmt

    def evicted_all(self) -> list[int]:
        """Forget every statement (the server forgets them when the connection ends)."""
        ids = [s.stmt_id for s in self._items.values()]
        self._items.clear()
        return ids
