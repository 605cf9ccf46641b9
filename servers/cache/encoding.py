"""What OBJECT ENCODING says: Redis 7.0's internal encoding for a value, with its one-way conversions.

Python holds every list, hash and set in one layout whatever its size;
Redis switches between a compact and a general encoding, and tests (its own
among them) look at the name. This module answers what Redis would:

* strings: "int" (a canonical 64-bit integer), "embstr" (<= 44 bytes),
  "raw" (longer, or written in place by APPEND, SETRANGE, SETBIT, BITFIELD);
* lists: "quicklist" (Redis 7.0 has no other);
* hashes: "listpack" while at most ``hash-max-listpack-entries`` fields and
  every field and value at most ``hash-max-listpack-value`` bytes, then
  "hashtable";
* sets: "intset" while every member is an integer and there are at most
  ``set-max-intset-entries``, then "hashtable";
* other types: what their module registered in ``keyspace.ENCODINGS``.

Redis never converts back when a value shrinks, so the commands that can
grow a hash or a set call ``note_hash`` / ``note_set``, which remember (in
``Database.sticky``, dropped with the key) that this value went general.
Raw strings cannot carry a flag (``bytes``): the most recent values written
in place are remembered by identity in a bounded table, so one appended to
long ago and never since may read "embstr" again.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from .keyspace import ENCODINGS

# Redis's thresholds (CONFIG SET-able; the old ziplist names are aliases).
LIMITS = {
    "hash-max-listpack-entries": 128, "hash-max-listpack-value": 64,
    "set-max-intset-entries": 512, "zset-max-listpack-entries": 128,
    "zset-max-listpack-value": 64, "list-max-listpack-size": -2,
    "list-compress-depth": 0, "set-max-listpack-entries": 128,
}  # fmt: skip
ALIASES = {k.replace("listpack", "ziplist"): k for k in LIMITS if "listpack" in k}
GENERAL = b"hashtable"


def limit(st: Any, name: str) -> int:
    return int(getattr(st, "encoding_limits", {}).get(name, LIMITS[name]))


def is_int(b: bytes) -> bool:
    """A canonical signed 64-bit decimal (what Redis stores as an integer)."""
    if not b or len(b) > 20:
        return False
    try:
        n = int(b)
    except ValueError:
        return False
    return -(2**63) <= n < 2**63 and b"%d" % n == b


_RAW: OrderedDict[int, bytes] = OrderedDict()
RAW_REMEMBERED = 4096


def mark_raw(value: bytes) -> None:
    """``value`` was written in place (APPEND, SETRANGE, SETBIT...): Redis's "raw"."""
    _RAW[id(value)] = value
    if len(_RAW) > RAW_REMEMBERED:
        _RAW.popitem(last=False)


def _sticky(db: Any) -> dict[bytes, Any]:
    sticky: dict[bytes, Any] | None = getattr(db, "sticky", None)
    if sticky is None:
        sticky = db.sticky = {}
    return sticky


def note_set(c: Any, key: bytes, s: set[bytes], added: Iterable[bytes]) -> None:
    """After members were added to ``s``: past the intset's limits it stays a hashtable."""
    sticky = _sticky(c.db)
    if sticky.get(key) is s:
        return
    if len(s) > limit(c.state, "set-max-intset-entries") or not all(map(is_int, added)):
        sticky[key] = s


def note_hash(c: Any, key: bytes, h: dict[bytes, bytes], written: Iterable[bytes]) -> None:
    """After fields/values were written to ``h``: past the listpack's limits it stays a hashtable."""
    sticky = _sticky(c.db)
    if sticky.get(key) is h:
        return
    vmax = limit(c.state, "hash-max-listpack-value")
    if len(h) > limit(c.state, "hash-max-listpack-entries") or any(len(x) > vmax for x in written):
        sticky[key] = h


def encoding(st: Any, db: Any, key: bytes, value: Any) -> bytes:
    t = type(value)
    if t is bytes:
        if _RAW.get(id(value)) is value:
            return b"raw"
        if is_int(value):
            return b"int"
        return b"embstr" if len(value) <= 44 else b"raw"
    if t is deque:
        return b"quicklist"
    if t is dict or t is set:
        if _sticky(db).get(key) is value:
            return GENERAL
        if t is dict:
            vmax = limit(st, "hash-max-listpack-value")
            if len(value) <= limit(st, "hash-max-listpack-entries") and all(
                len(f) <= vmax and len(v) <= vmax for f, v in value.items()
            ):
                return b"listpack"
            return GENERAL
        if len(value) <= limit(st, "set-max-intset-entries") and all(map(is_int, value)):
            return b"intset"
        return GENERAL
    hook = ENCODINGS.get(t)  # other families register theirs (sorted sets, streams)
    return hook(value) if hook is not None else b"raw"
