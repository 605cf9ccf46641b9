"""RESTORE: a key from a ``DUMP`` payload (Redis's RDB encoding).

The payload's version and CRC-64 are checked first, then the RDB value is
decoded: streams by ``servers/cache/restore.py`` (Redis's own stream tests
restore a payload DUMPed by Redis 5), strings, lists, sets and hashes by
``servers/cache/rdbvalue.py`` (which also writes DUMP's payloads, in
commands/keyops.py); anything else answers ``Bad data format``.
"""

from __future__ import annotations

from typing import Any

from netlib import resp

from .. import rdbvalue
from ..eviction import LfuTracker, LruTracker
from ..keyspace import estimate
from ..restore import (
    TYPE_STREAM_LISTPACKS,
    TYPE_STREAM_LISTPACKS_2,
    BadPayload,
    check_payload,
    load_stream,
)
from ..stream import Stream
from ..table import SYNTAX, CommandError, command, to_int

G = "generic"
STREAM_TYPES = (bytes([TYPE_STREAM_LISTPACKS]), bytes([TYPE_STREAM_LISTPACKS_2]))


@command("RESTORE", -4, "write denyoom", (1, 1, 1), G, "Create a key from a DUMP payload",
         syntax="key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]")  # fmt: skip
def restore(c: Any, a: list[bytes]) -> bytes:
    replace = absttl = False
    idletime = freq = None
    i = 4
    while i < len(a):
        o = a[i].lower()
        more = len(a) - 1 - i
        if o == b"replace":
            replace = True
        elif o == b"absttl":
            absttl = True
        elif o == b"idletime" and more:
            i += 1
            idletime = to_int(a[i])
            if idletime < 0:
                raise CommandError("Invalid IDLETIME value, must be >= 0")
        elif o == b"freq" and more:
            i += 1
            freq = to_int(a[i])
            if not 0 <= freq <= 255:
                raise CommandError("Invalid FREQ value, must be >= 0 and <= 255")
        else:
            raise CommandError(SYNTAX)
        i += 1
    db, key = c.db, a[1]
    if not replace and db.peek(key) is not None:
        return b"-BUSYKEY Target key name already exists.\r\n"
    ttl = to_int(a[2])
    if ttl < 0:
        raise CommandError("Invalid TTL value, must be >= 0")
    try:
        value = check_payload(a[3])
    except ValueError:
        raise CommandError("DUMP payload version or checksum are wrong") from None
    now = db.ks.clock()
    try:
        if value[:1] in STREAM_TYPES:
            loaded: Any = load_stream(value, now)
        else:
            loaded = rdbvalue.load(value)
    except (BadPayload, IndexError, ValueError):
        raise CommandError("Bad data format") from None
    if ttl and not absttl:
        ttl += now
    replaced = replace and db.delete(key)
    if ttl and ttl <= now and not db.ks.loading:
        return resp.OK  # already expired: nothing to create (a deleted key counted one)
    if replaced:
        db.ks.dirty -= 1  # a replacement is one change (the put)
    if isinstance(loaded, Stream):
        db.put_new(key, loaded)
        db.grow(key, loaded.memory())
    else:
        db.put(key, loaded, estimate(key, loaded))
    if ttl:
        db.set_expiry(key, ttl)
    # As Redis's objectSetLRUOrLFU: under an LRU policy the key looks idle for IDLETIME
    # seconds, under an LFU one it has the FREQ counter; otherwise both are ignored.
    tracker = db.ks.tracker
    if idletime is not None and isinstance(tracker, LruTracker):
        db.meta[key] = now - idletime * 1000
    elif freq is not None and isinstance(tracker, LfuTracker):
        db.meta[key] = (now // 60_000) << 8 | freq
    return resp.OK
