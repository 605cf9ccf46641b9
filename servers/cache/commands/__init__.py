"""The command families; importing this package registers them all in ``table.REGISTRY``
(the connection commands come with it from ``servers.respkit``).

One file per family, as in Redis's source (t_string.c, t_list.c, ...): each
holds its commands' argument parsing, the change to the keyspace and the
encoded reply side by side.
"""

from . import (
    bitops,
    hashes,
    hyperloglog,
    keyops,
    keys,
    listmoves,
    lists,
    pubsub,
    server,
    sets,
    setstore,
    sort,
    strings,
    transactions,
)

__all__ = [
    "bitops", "hashes", "hyperloglog", "keyops", "keys", "listmoves", "lists", "pubsub",
    "server", "sets", "setstore", "sort", "strings", "transactions",
]  # fmt: skip
