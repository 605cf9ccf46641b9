"""Where the movable keys are (Redis's "movablekeys" commands) for the families that
registered none: the ACL check and COMMAND GETKEYS both read ``KEY_FINDERS``, so a
command whose keys it cannot find is a command whose keys no ACL pattern guards.

* ZUNION/ZINTER/ZDIFF/ZINTERCARD, ZMPOP: ``numkeys`` at argv[1]; BZMPOP at argv[2];
  ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE: the destination, then ``numkeys`` at argv[2].
* XREAD/XREADGROUP: the first half of what follows STREAMS (searched from argv[1], and
  from argv[4] past ``GROUP g c``, as Redis's key specs do).
* GEORADIUS/GEORADIUSBYMEMBER: the key, and the STORE/STOREDIST destinations.
"""

from __future__ import annotations

from collections.abc import Callable

from servers.respkit.introspect import KEY_FINDERS

from .listmoves import numkeys_keys

Finder = Callable[[list[bytes]], list[bytes]]


def _dest_then(finder: Finder) -> Finder:
    return lambda args: args[1:2] + finder(args)


def _streams(start: int) -> Finder:
    def keys(args: list[bytes]) -> list[bytes]:
        for i in range(start, len(args)):
            if args[i].upper() == b"STREAMS":
                rest = args[i + 1 :]
                return rest[: len(rest) // 2]
        return []

    return keys


def _georadius(args: list[bytes]) -> list[bytes]:
    keys = args[1:2]
    for i in range(2, len(args) - 1):
        if args[i].upper() in (b"STORE", b"STOREDIST"):
            keys.append(args[i + 1])
    return keys


KEY_FINDERS.update(
    zunion=numkeys_keys(1), zinter=numkeys_keys(1), zdiff=numkeys_keys(1),
    zintercard=numkeys_keys(1), zmpop=numkeys_keys(1), bzmpop=numkeys_keys(2),
    zunionstore=_dest_then(numkeys_keys(2)), zinterstore=_dest_then(numkeys_keys(2)),
    zdiffstore=_dest_then(numkeys_keys(2)),
    xread=_streams(1), xreadgroup=_streams(4),
    georadius=_georadius, georadiusbymember=_georadius,
)  # fmt: skip
