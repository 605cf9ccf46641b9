"""Pub/sub: channels and patterns -> subscribed clients; PUBLISH fans a message out.

A message is encoded at most once per protocol version per PUBLISH (RESP2
subscribers get an array, RESP3 ones a ``>`` push) and handed to each
client's ``deliver``, which appends to the client's reply batch or writes it
(and drops a subscriber whose unsent output passed the pub/sub limit).
Like Redis, there is no buffering for the absent: a message reaches exactly
the clients subscribed when it is published.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netlib import resp
from servers.respkit.glob import compile_glob


class Hub:
    def __init__(self) -> None:
        self.channels: dict[bytes, dict[Any, None]] = {}
        # Shard channels (SSUBSCRIBE / SPUBLISH): a namespace of their own, no patterns.
        # Without a cluster every shard channel lives here, as on a lone Redis.
        self.shard: dict[bytes, dict[Any, None]] = {}
        self.patterns: dict[bytes, dict[Any, None]] = {}
        self._matchers: dict[bytes, Callable[[bytes], bool]] = {}

    def subscribe(self, client: Any, channel: bytes) -> None:
        self.channels.setdefault(channel, {})[client] = None

    def unsubscribe(self, client: Any, channel: bytes) -> None:
        _drop(self.channels, client, channel)

    def ssubscribe(self, client: Any, channel: bytes) -> None:
        self.shard.setdefault(channel, {})[client] = None

    def sunsubscribe(self, client: Any, channel: bytes) -> None:
        _drop(self.shard, client, channel)

    def spublish(self, channel: bytes, message: bytes) -> int:
        """SPUBLISH: an ``smessage`` to the shard channel's subscribers; their count."""
        return _deliver(self.shard.get(channel), [b"smessage", channel, message])

    def psubscribe(self, client: Any, pattern: bytes) -> None:
        self.patterns.setdefault(pattern, {})[client] = None
        self._matchers[pattern] = compile_glob(pattern)

    def punsubscribe(self, client: Any, pattern: bytes) -> None:
        subs = self.patterns.get(pattern)
        if subs is not None:
            subs.pop(client, None)
            if not subs:
                del self.patterns[pattern]
                del self._matchers[pattern]

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to subscribers of the channel and of matching patterns; count them."""
        n = _deliver(self.channels.get(channel), [b"message", channel, message])
        for pattern, pat_subs in list(self.patterns.items()):
            if self._matchers[pattern](channel):
                n += _deliver(pat_subs, [b"pmessage", pattern, channel, message])
        return n

    def numpat(self) -> int:
        return len(self.patterns)


def _deliver(subs: dict[Any, None] | None, items: list[bytes]) -> int:
    """Push ``items`` to every subscriber in ``subs``, encoded once per protocol; how many."""
    if not subs:
        return 0
    targets = list(subs)  # (a delivery may drop a slow subscriber from ``subs``)
    enc: dict[int, bytes] = {}
    for c in targets:
        data = enc.get(c.proto)
        if data is None:
            data = enc[c.proto] = resp.push(items, c.proto)
        c.deliver(data)
    return len(targets)


def _drop(table: dict[bytes, dict[Any, None]], client: Any, channel: bytes) -> None:
    subs = table.get(channel)
    if subs is not None:
        subs.pop(client, None)
        if not subs:
            del table[channel]
