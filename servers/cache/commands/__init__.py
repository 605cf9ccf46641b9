"""The command families; importing this package registers them all in ``table.REGISTRY``
(the connection commands come with it from ``servers.respkit``).

One file per family, as in Redis's source (t_string.c, t_list.c, ...): each
holds its commands' argument parsing, the change to the keyspace and the
encoded reply side by side.
"""

from . import (
    acl,
    geo,
    hashes,
    keys,
    lists,
    ops,
    persistence,
    pubsub,
    server,
    sets,
    streams,
    strings,
    transactions,
    zsets,
)  # fmt: skip

__all__ = [
    "acl", "geo", "hashes", "keys", "lists", "ops", "persistence", "pubsub", "server", "sets", "streams",
    "strings", "transactions", "zsets",
]  # fmt: skip
