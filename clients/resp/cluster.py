"""A Redis Cluster client: route each command to the node owning its key's slot (O4).

Strategy, as the Redis Cluster specification describes a "smart client":

* Keep a slot table (16384 entries -> the primary's address), filled from
  ``CLUSTER SLOTS`` of any reachable node.
* Route a command by its key: ``key_slot(key)`` (slots.py) indexes the table.
  Keyless commands (PING, INFO, CLUSTER ...) go to any node.
* ``-MOVED slot host:port``: the slot has a new owner for good. Record it in
  the table and retry there; because a MOVED usually means a reshard moved
  many slots, the whole table is refreshed from that node too (one cheap
  ``CLUSTER SLOTS``), so the next keys of the moved range go straight there.
* ``-ASK slot host:port``: the slot is being migrated and this key has
  already left. Send ``ASKING`` then the command to the target, this once;
  the table is NOT updated (the source still owns the slot until the
  migration ends with ``CLUSTER SETSLOT ... NODE``, after which the source
  answers MOVED).
* ``-TRYAGAIN`` (a multi-key command whose keys are split by a migration) is
  retried a bounded number of times with a short back-off.

``stats`` counts redirects and refreshes so tests and the bench can show
what happened. ``pipeline()`` groups commands per node (one write per node)
and re-runs any that were redirected one by one.

What a production client adds: reads from replicas (READONLY), a
connection pool per node, and failover handling (refresh on connection
errors with a back-off; here a dead node's connection is dropped and the map
refreshed once).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .core import DEFAULT_TIMEOUT, Arg, result
from .errors import (
    AskError,
    ClusterError,
    ConnectionError,
    MovedError,
    ResponseError,
    TryAgainError,
)
from .slots import SLOTS, key_slot
from .sync import Connection, connect

Address = tuple[str, int]

MAX_REDIRECTS = 5  # redis-py and Jedis use 5 too: more means the cluster map is in flux
TRYAGAIN_DELAY = 0.05  # seconds between TRYAGAIN retries (a client back-off, not a test sleep)

# Commands that carry no key: any node can answer (for the node-local ones,
# like DBSIZE or KEYS, that node's answer only).
KEYLESS = frozenset(
    b"PING ECHO INFO CLUSTER COMMAND DBSIZE FLUSHALL FLUSHDB KEYS SCAN RANDOMKEY "
    b"PUBLISH CONFIG TIME HELLO AUTH CLIENT SELECT READONLY READWRITE ASKING "
    b"SCRIPT FUNCTION LASTSAVE ROLE MEMORY SLOWLOG LATENCY WAIT".split()
)
# Commands whose keys follow a ``numkeys`` argument at index 2.
NUMKEYS_AT_2 = frozenset(b"EVAL EVALSHA EVAL_RO EVALSHA_RO FCALL FCALL_RO".split())


def _b(x: Arg) -> bytes:
    return x if isinstance(x, bytes) else str(x).encode()


def command_key(args: Sequence[Arg]) -> bytes | None:
    """The key that decides where a command goes, or None for keyless commands."""
    name = _b(args[0]).upper()
    if name in KEYLESS or len(args) < 2:
        return None
    if name in NUMKEYS_AT_2:
        return _b(args[3]) if len(args) > 3 and int(args[2]) > 0 else None
    return _b(args[1])


def parse_cluster_slots(reply: list[Any], asked: Address) -> list[tuple[int, int, Address]]:
    """``CLUSTER SLOTS`` -> (first, last, primary address) ranges.

    A node that does not know its own IP reports an empty host: the spec says
    to use the address the client used to reach it.
    """
    ranges = []
    for entry in reply:
        first, last, primary = int(entry[0]), int(entry[1]), entry[2]
        host = primary[0].decode() if primary[0] else asked[0]
        if host == "?":
            host = asked[0]
        ranges.append((first, last, (host, int(primary[1]))))
    return ranges


class ClusterClient:
    """``ClusterClient([("127.0.0.1", 7000)]).execute("SET", "k", "v")``."""

    def __init__(
        self,
        startup_nodes: Sequence[Address],
        timeout: float | None = DEFAULT_TIMEOUT,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        if not startup_nodes:
            raise ValueError("need at least one startup node")
        self.startup_nodes = [(h, int(p)) for h, p in startup_nodes]
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.slots: list[Address | None] = [None] * SLOTS
        self.stats: Counter[str] = Counter()
        self._conns: dict[Address, Connection] = {}
        self.refresh()

    # -- the slot table ---------------------------------------------------------------

    def refresh(self, first: Address | None = None) -> None:
        """Reload the slot table from ``first`` or any node that answers."""
        candidates = ([first] if first else []) + self.nodes() + self.startup_nodes
        errors = []
        for addr in dict.fromkeys(candidates):
            try:
                reply = self.connection(addr).execute("CLUSTER", "SLOTS")
            except (ConnectionError, ResponseError) as exc:
                self._drop(addr)
                errors.append(f"{addr}: {exc}")
                continue
            table: list[Address | None] = [None] * SLOTS
            for lo, hi, owner in parse_cluster_slots(reply, addr):
                table[lo : hi + 1] = [owner] * (hi - lo + 1)
            self.slots = table
            self.stats["refreshes"] += 1
            return
        raise ClusterError(f"CLUSTERDOWN no node answered CLUSTER SLOTS: {errors}")

    def nodes(self) -> list[Address]:
        """The primaries the table knows, in slot order."""
        return list(dict.fromkeys(a for a in self.slots if a is not None))

    def node_for(self, key: Arg) -> Address:
        addr = self.slots[key_slot(_b(key))]
        if addr is None:
            raise ClusterError(f"CLUSTERDOWN slot {key_slot(_b(key))} is not served")
        return addr

    def connection(self, addr: Address) -> Connection:
        conn = self._conns.get(addr)
        if conn is None or conn.closed:
            conn = self._conns[addr] = connect(addr[0], addr[1], timeout=self.timeout)
        return conn

    def _drop(self, addr: Address) -> None:
        conn = self._conns.pop(addr, None)
        if conn is not None:
            conn.close()

    # -- commands -------------------------------------------------------------------------

    def execute(self, *args: Arg) -> Any:
        """Run a command on the node that owns its key, following MOVED and ASK."""
        key = command_key(args)
        addr = self.node_for(key) if key is not None else self.nodes()[0]
        asking = False
        for _ in range(self.max_redirects + 1):
            try:
                return self._run_on(addr, args, asking)
            except MovedError as exc:
                self.stats["moved"] += 1
                self.slots[exc.slot] = exc.address
                self.refresh(exc.address)
                addr, asking = exc.address, False
            except AskError as exc:
                self.stats["ask"] += 1
                addr, asking = exc.address, True
            except TryAgainError:
                self.stats["tryagain"] += 1
                time.sleep(TRYAGAIN_DELAY)
            except ConnectionError:
                self.stats["reconnects"] += 1
                self._drop(addr)
                self.refresh()
                addr = self.node_for(key) if key is not None else self.nodes()[0]
        raise ClusterError(f"too many redirects for {_b(args[0]).decode()!r}")

    def _run_on(self, addr: Address, args: Sequence[Arg], asking: bool) -> Any:
        conn = self.connection(addr)
        if not asking:
            return conn.execute(*args)
        conn.send([("ASKING",), tuple(args)])  # one write: ASKING only lasts for the next command
        asked = conn.read_reply()
        reply = conn.read_reply()
        result(asked)
        return result(reply)

    def pipeline(self) -> ClusterPipeline:
        return ClusterPipeline(self)

    def close(self) -> None:
        for addr in list(self._conns):
            self._drop(addr)

    def __enter__(self) -> ClusterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ClusterPipeline:
    """Commands grouped by owning node: one write and N reads per node.

    Replies come back in the order the commands were added. A command that
    was redirected (its slot moved meanwhile) is re-run through
    ``ClusterClient.execute``, which follows the redirect.
    """

    def __init__(self, client: ClusterClient) -> None:
        self.client = client
        self.commands: list[tuple[Arg, ...]] = []

    def command(self, *args: Arg) -> ClusterPipeline:
        self.commands.append(args)
        return self

    def __len__(self) -> int:
        return len(self.commands)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        by_node: dict[Address, list[int]] = {}
        for i, args in enumerate(self.commands):
            key = command_key(args)
            addr = self.client.node_for(key) if key is not None else self.client.nodes()[0]
            by_node.setdefault(addr, []).append(i)
        out: list[Any] = [None] * len(self.commands)
        for addr, indexes in by_node.items():
            batch = self.client.connection(addr).pipeline()
            for i in indexes:
                batch.command(*self.commands[i])
            for i, reply in zip(indexes, batch.execute(raise_on_error=False), strict=True):
                out[i] = reply
        for i, reply in enumerate(out):
            if isinstance(reply, MovedError | AskError):
                out[i] = self.client.execute(*self.commands[i])
        self.commands = []
        if raise_on_error:
            for reply in out:
                if isinstance(reply, ResponseError):
                    raise reply
        return out
