"""Pub/sub commands: (P)SUBSCRIBE, (P)UNSUBSCRIBE, PUBLISH, PUBSUB CHANNELS/NUMSUB/NUMPAT.

Confirmations and messages are pushes: ``>`` frames in RESP3, plain arrays in
RESP2 where the client then enters *subscribe mode* (only these commands,
PING, QUIT and RESET are accepted until it unsubscribes from everything).
"""

from __future__ import annotations

from typing import Any

from netlib import resp
from netlib.redis_glob import compile_glob

from ..table import command, container

G = "pubsub"


def _confirm(c: Any, kind: bytes, name: bytes | None) -> bytes:
    count = len(c.channels) + len(c.patterns)
    return resp.push([kind, name, count], c.proto)


@command("SUBSCRIBE", -2, "pubsub", (0, 0, 0), G, "Listen for messages on channels")
def subscribe(c: Any, a: list[bytes]) -> bytes:
    out = []
    for ch in a[1:]:
        if ch not in c.channels:
            c.channels.add(ch)
            c.state.hub.subscribe(c, ch)
        out.append(_confirm(c, b"subscribe", ch))
    c.update_guard()
    return b"".join(out)


@command("UNSUBSCRIBE", -1, "pubsub", (0, 0, 0), G, "Stop listening on channels")
def unsubscribe(c: Any, a: list[bytes]) -> bytes:
    names = a[1:] or sorted(c.channels)
    if not names:
        return _confirm(c, b"unsubscribe", None)
    out = []
    for ch in names:
        if ch in c.channels:
            c.channels.discard(ch)
            c.state.hub.unsubscribe(c, ch)
        out.append(_confirm(c, b"unsubscribe", ch))
    c.update_guard()
    return b"".join(out)


@command("PSUBSCRIBE", -2, "pubsub", (0, 0, 0), G, "Listen on channels matching patterns")
def psubscribe(c: Any, a: list[bytes]) -> bytes:
    out = []
    for pat in a[1:]:
        if pat not in c.patterns:
            c.patterns.add(pat)
            c.state.hub.psubscribe(c, pat)
        out.append(_confirm(c, b"psubscribe", pat))
    c.update_guard()
    return b"".join(out)


@command("PUNSUBSCRIBE", -1, "pubsub", (0, 0, 0), G, "Stop listening on patterns")
def punsubscribe(c: Any, a: list[bytes]) -> bytes:
    names = a[1:] or sorted(c.patterns)
    if not names:
        return _confirm(c, b"punsubscribe", None)
    out = []
    for pat in names:
        if pat in c.patterns:
            c.patterns.discard(pat)
            c.state.hub.punsubscribe(c, pat)
        out.append(_confirm(c, b"punsubscribe", pat))
    c.update_guard()
    return b"".join(out)


@command("PUBLISH", 3, "pubsub fast", (0, 0, 0), G, "Post a message to a channel")
def publish(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(c.state.hub.publish(a[1], a[2]))


PUBSUB = container("PUBSUB", G, "A container for pub/sub introspection commands")


@command("CHANNELS", -2, "pubsub", (0, 0, 0), G, "Active channels", PUBSUB)
def pubsub_channels(c: Any, a: list[bytes]) -> bytes:
    chans = list(c.state.hub.channels)
    if len(a) > 2:
        match = compile_glob(a[2])
        chans = [ch for ch in chans if match(ch)]
    return resp.bulks(chans)


@command("NUMSUB", -2, "pubsub", (0, 0, 0), G, "Subscriber counts of channels", PUBSUB)
def pubsub_numsub(c: Any, a: list[bytes]) -> bytes:
    hub = c.state.hub
    # A flat array even in RESP3: Redis 7.0 answers NUMSUB that way.
    flat = [x for ch in a[2:] for x in (ch, len(hub.channels.get(ch, ())))]
    return resp.array(flat, c.proto)


@command("NUMPAT", 2, "pubsub", (0, 0, 0), G, "The number of pattern subscriptions", PUBSUB)
def pubsub_numpat(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(c.state.hub.numpat())
