"""RESTORE: a key from a ``DUMP`` payload (Redis's RDB encoding). Streams only for now.

The payload's version and CRC-64 are checked first, then the RDB value is
decoded by ``servers/cache/restore.py``. Only the stream encodings are read
(Redis's own stream tests restore a payload DUMPed by Redis 5); any other
type answers ``Bad data format``. There is no DUMP yet.
"""

from __future__ import annotations

from typing import Any

from netlib import resp

from ..restore import BadPayload, check_payload, load_stream
from ..table import SYNTAX, CommandError, command, to_int

G = "generic"


@command("RESTORE", -4, "write denyoom", (1, 1, 1), G, "Create a key from a DUMP payload",
         syntax="key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]")  # fmt: skip
def restore(c: Any, a: list[bytes]) -> bytes:
    replace = absttl = False
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
            if to_int(a[i]) < 0:
                raise CommandError("Invalid IDLETIME value, must be >= 0")
        elif o == b"freq" and more:
            i += 1
            if not 0 <= to_int(a[i]) <= 255:
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
        stream = load_stream(value, now)
    except BadPayload:
        raise CommandError("Bad data format") from None
    if ttl and not absttl:
        ttl += now
    if replace:
        db.delete(key)
    if ttl and ttl <= now:
        return resp.OK  # already expired: nothing to create
    db.put_new(key, stream)
    db.grow(key, stream.memory())
    if ttl:
        db.set_expiry(key, ttl)
    return resp.OK
