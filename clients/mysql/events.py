"""What ``ClientProtocol.next_event`` hands back (besides ``OkPacket``), and NEED_DATA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .responses import OkPacket
from .resultset import Column

# next_event's answer when the buffered bytes do not hold the next event yet.
NEED_DATA: Any = type("NEED_DATA", (), {"__repr__": lambda self: "NEED_DATA"})()


@dataclass(slots=True)
class ResultHeader:
    columns: list[Column]


@dataclass(slots=True)
class Rows:
    rows: list[tuple]


@dataclass(slots=True)
class Prepared:
    stmt_id: int
    params: list[Column]
    columns: list[Column]
    warnings: int


Event = OkPacket | ResultHeader | Rows | Prepared
