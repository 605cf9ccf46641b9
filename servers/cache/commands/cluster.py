"""CLUSTER on a server that is not a cluster node: every subcommand answers what Redis
answers with ``cluster-enabled no``, "This instance has cluster support disabled"
(redis-cli, client libraries and Redis's own tests probe it that way). The lab's
real cluster is harness/redis_cluster (O4): redis-server nodes, not this cache.

CLUSTER RESET and the other subcommands that change a node are refused inside
scripts by name (``scripting.NOT_IN_SCRIPTS``), as Redis flags them ``noscript``.
"""

from __future__ import annotations

from typing import Any

from ..table import CommandError, command, container

G = "cluster"
DISABLED = "This instance has cluster support disabled"
CLUSTER = container("CLUSTER", G, "A container for Redis Cluster commands")

# (subcommand, arity, flags, summary): Redis 7.0's read-only and reset subcommands.
SUBCOMMANDS = (
    ("INFO", 2, "stale", "Information about the cluster"),
    ("MYID", 2, "stale", "This node's id"),
    ("NODES", 2, "stale", "The cluster configuration as seen by this node"),
    ("SLOTS", 2, "stale", "Slot ranges and the nodes serving them"),
    ("SHARDS", 2, "stale", "The cluster's shards"),
    ("KEYSLOT", 3, "stale", "The hash slot of a key"),
    ("COUNTKEYSINSLOT", 3, "stale", "The number of keys in a hash slot"),
    ("GETKEYSINSLOT", 4, "stale", "Key names in a hash slot"),
    ("RESET", -2, "admin stale noscript", "Reset a node"),
)


def _disabled(c: Any, a: list[bytes]) -> bytes:
    raise CommandError(DISABLED)


for _name, _arity, _flags, _summary in SUBCOMMANDS:
    command(_name, _arity, _flags, (0, 0, 0), G, _summary, CLUSTER)(_disabled)


# READONLY / READWRITE (a replica's read mode in a cluster): refused the same way.
for _name, _summary in (("READONLY", "Enables read-only queries on a cluster replica"),
                        ("READWRITE", "Disables read-only queries on a cluster replica")):  # fmt: skip
    command(_name, 1, "fast loading stale", (0, 0, 0), G, _summary)(_disabled)
