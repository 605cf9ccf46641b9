"""Row-decoding plans, cached by the exact bytes of a result set's header.

A service repeats a few queries, and their column definitions come back
byte-identical every time. Parsing them again, choosing a converter per
column and looking up the generated scanner cost ~1us of the ~7us it takes
to parse a whole ``SELECT 1`` response (audit, sans-IO microbenchmark), so the
protocol keys all of it on (definition bytes, metadata mode, encoding, text
or binary) and does it once.
"""

from __future__ import annotations

from typing import Any

from .binary import binary_decoders
from .resultset import Column, parse_column, text_converters
from .textrows import row_scanner

# Distinct headers kept; cleared when full (an application has a bounded set of
# queries; one that builds SQL with varying column lists just re-parses).
PLAN_CACHE_SIZE = 1024

# columns, text converters, text scanner, binary decoders
Plan = tuple[list[Column], list[Any], Any, list[Any]]
_plans: dict[tuple[tuple[bytes, ...], bool, str, bool], Plan] = {}


def plan_for(defs: list[bytes], extended: bool, encoding: str, binary: bool) -> Plan:
    key = (tuple(defs), extended, encoding, binary)
    plan = _plans.get(key)
    if plan is None:
        if len(_plans) >= PLAN_CACHE_SIZE:
            _plans.clear()
        plan = _plans[key] = _make_plan(defs, extended, encoding, binary)
    return plan


def _make_plan(defs: list[bytes], extended: bool, encoding: str, binary: bool) -> Plan:
    cols = [parse_column(d, extended, encoding) for d in defs]
    if binary:
        return cols, [], None, binary_decoders(cols, encoding)
    convs = text_converters(cols, encoding)
    return cols, convs, row_scanner(convs), []
