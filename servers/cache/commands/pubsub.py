"""Pub/sub commands: (P)SUBSCRIBE, (P)UNSUBSCRIBE, PUBLISH, PUBSUB CHANNELS/NUMSUB/NUMPAT,
and the sharded ones (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB SHARDCHANNELS/SHARDNUMSUB):
shard channels are a namespace of their own, counted apart in the confirmations.

Confirmations and messages are pushes: ``>`` frames in RESP3, plain arrays in
RESP2 where the client then enters *subscribe mode* (only these commands,
PING, QUIT and RESET are accepted until it unsubscribes from everything).
"""

from __future__ import annotations

from typing import Any

from netlib import resp
from servers.respkit.glob import compile_glob

from ..table import command, container

G = "pubsub"


def _confirm(c: Any, kind: bytes, name: bytes | None) -> bytes:
    """The count is the client's subscriptions of that family: channels and patterns
    together, or shard channels alone (as Redis 7.0 counts them)."""
    if kind[:1] == b"s" and kind != b"subscribe":
        count = len(c.shard_channels)
    else:
        count = len(c.channels) + len(c.patterns)
    return resp.push([kind, name, count], c.proto)


def _join(c: Any, names: list[bytes], kind: bytes, mine: set[bytes], add: Any) -> bytes:
    """(P)SUBSCRIBE: join each name once, confirm every one (Redis confirms repeats too)."""
    out = []
    for name in names:
        if name not in mine:
            mine.add(name)
            add(c, name)
        out.append(_confirm(c, kind, name))
    c.update_guard()
    return b"".join(out)


def _leave(c: Any, names: list[bytes], kind: bytes, mine: set[bytes], drop: Any) -> bytes:
    """(P)UNSUBSCRIBE: the names given, or all of ours; one confirmation even if none."""
    names = names or sorted(mine)
    if not names:
        return _confirm(c, kind, None)
    out = []
    for name in names:
        if name in mine:
            mine.discard(name)
            drop(c, name)
        out.append(_confirm(c, kind, name))
    c.update_guard()
    return b"".join(out)


@command("SUBSCRIBE", -2, "pubsub", (0, 0, 0), G, "Listen for messages on channels")
def subscribe(c: Any, a: list[bytes]) -> bytes:
    return _join(c, a[1:], b"subscribe", c.channels, c.state.hub.subscribe)


@command("UNSUBSCRIBE", -1, "pubsub", (0, 0, 0), G, "Stop listening on channels")
def unsubscribe(c: Any, a: list[bytes]) -> bytes:
    return _leave(c, a[1:], b"unsubscribe", c.channels, c.state.hub.unsubscribe)


@command("PSUBSCRIBE", -2, "pubsub", (0, 0, 0), G, "Listen on channels matching patterns")
def psubscribe(c: Any, a: list[bytes]) -> bytes:
    return _join(c, a[1:], b"psubscribe", c.patterns, c.state.hub.psubscribe)


@command("PUNSUBSCRIBE", -1, "pubsub", (0, 0, 0), G, "Stop listening on patterns")
def punsubscribe(c: Any, a: list[bytes]) -> bytes:
    return _leave(c, a[1:], b"punsubscribe", c.patterns, c.state.hub.punsubscribe)


@command("SSUBSCRIBE", -2, "pubsub", (0, 0, 0), G, "Listen for messages on shard channels")
def ssubscribe(c: Any, a: list[bytes]) -> bytes:
    return _join(c, a[1:], b"ssubscribe", c.shard_channels, c.state.hub.ssubscribe)


@command("SUNSUBSCRIBE", -1, "pubsub", (0, 0, 0), G, "Stop listening on shard channels")
def sunsubscribe(c: Any, a: list[bytes]) -> bytes:
    return _leave(c, a[1:], b"sunsubscribe", c.shard_channels, c.state.hub.sunsubscribe)


@command("SPUBLISH", 3, "pubsub fast", (0, 0, 0), G, "Post a message to a shard channel")
def spublish(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(c.state.hub.spublish(a[1], a[2]))


@command("PUBLISH", 3, "pubsub fast", (0, 0, 0), G, "Post a message to a channel")
def publish(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(c.state.hub.publish(a[1], a[2]))


PUBSUB = container("PUBSUB", G, "A container for pub/sub introspection commands")


def _active(table: dict[bytes, Any], a: list[bytes]) -> bytes:
    chans = list(table)
    if len(a) > 2:
        match = compile_glob(a[2])
        chans = [ch for ch in chans if match(ch)]
    return resp.bulks(chans)


def _counts(c: Any, table: dict[bytes, Any], a: list[bytes]) -> bytes:
    # A flat array even in RESP3: Redis 7.0 answers NUMSUB and SHARDNUMSUB that way.
    flat = [x for ch in a[2:] for x in (ch, len(table.get(ch, ())))]
    return resp.array(flat, c.proto)


@command("CHANNELS", -2, "pubsub", (0, 0, 0), G, "Active channels", PUBSUB)
def pubsub_channels(c: Any, a: list[bytes]) -> bytes:
    return _active(c.state.hub.channels, a)


@command("NUMSUB", -2, "pubsub", (0, 0, 0), G, "Subscriber counts of channels", PUBSUB)
def pubsub_numsub(c: Any, a: list[bytes]) -> bytes:
    return _counts(c, c.state.hub.channels, a)


@command("SHARDCHANNELS", -2, "pubsub", (0, 0, 0), G, "Active shard channels", PUBSUB)
def pubsub_shardchannels(c: Any, a: list[bytes]) -> bytes:
    return _active(c.state.hub.shard, a)


@command("SHARDNUMSUB", -2, "pubsub", (0, 0, 0), G, "Subscriber counts of shard channels", PUBSUB)
def pubsub_shardnumsub(c: Any, a: list[bytes]) -> bytes:
    return _counts(c, c.state.hub.shard, a)


@command("NUMPAT", 2, "pubsub", (0, 0, 0), G, "The number of pattern subscriptions", PUBSUB)
def pubsub_numpat(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(c.state.hub.numpat())
