"""The consumer protocol carried inside JoinGroup/SyncGroup, and two assignors.

The broker never looks inside these bytes: the group leader (a client) decodes
every member's *subscription* (version, topics, user data), computes who gets
which partitions, and encodes one *assignment* per member (version, topic ->
partitions, user data). Both are written with the same schema language as the
wire protocol (``ConsumerProtocolSubscription`` / ``...Assignment`` v0).

``range`` (the Java default): per topic, sorted members take consecutive runs,
the first ``n % members`` one partition more. ``roundrobin``: all partitions of
all subscribed topics, sorted, dealt to the sorted members in turn (skipping
members not subscribed to the topic).
"""

from __future__ import annotations

from collections import defaultdict

from .protocol.primitives import Reader
from .protocol.schema import Array, F, Message

SUBSCRIPTION = Message([
    F("version", "int16"),
    F("topics", Array("string")),
    F("user_data", "bytes", nullable="0+"),
])  # fmt: skip
ASSIGNMENT = Message([
    F("version", "int16"),
    F("assigned", Array([F("topic", "string"), F("partitions", Array("int32"))])),
    F("user_data", "bytes", nullable="0+"),
])  # fmt: skip

Assignment = dict[str, list[int]]  # topic -> partitions


def encode_subscription(topics: list[str]) -> bytes:
    return bytes(SUBSCRIPTION.encode(0, {"version": 0, "topics": sorted(topics)}).buf)


def decode_subscription(data: bytes) -> list[str]:
    return SUBSCRIPTION.decode(0, Reader(data))["topics"]


def encode_assignment(a: Assignment) -> bytes:
    body = {"version": 0, "assigned": [{"topic": t, "partitions": sorted(ps)}
                                       for t, ps in sorted(a.items())]}  # fmt: skip
    return bytes(ASSIGNMENT.encode(0, body).buf)


def decode_assignment(data: bytes) -> Assignment:
    if not data:
        return {}
    return {x["topic"]: x["partitions"] for x in ASSIGNMENT.decode(0, Reader(data))["assigned"]}


def range_assign(subs: dict[str, list[str]], counts: dict[str, int]) -> dict[str, Assignment]:
    out: dict[str, Assignment] = {m: {} for m in subs}
    by_topic: dict[str, list[str]] = defaultdict(list)
    for m, topics in sorted(subs.items()):
        for t in topics:
            by_topic[t].append(m)
    for t, members in by_topic.items():
        n = counts.get(t, 0)
        per, extra = divmod(n, len(members))
        start = 0
        for i, m in enumerate(members):
            take = per + (1 if i < extra else 0)
            if take:
                out[m][t] = list(range(start, start + take))
            start += take
    return out


def roundrobin_assign(subs: dict[str, list[str]], counts: dict[str, int]) -> dict[str, Assignment]:
    out: dict[str, Assignment] = {m: {} for m in subs}
    members = sorted(subs)
    i = 0
    for t in sorted({t for ts in subs.values() for t in ts}):
        for p in range(counts.get(t, 0)):
            for _ in range(len(members)):  # next member subscribed to t
                m = members[i % len(members)]
                i += 1
                if t in subs[m]:
                    out[m].setdefault(t, []).append(p)
                    break
    return out


ASSIGNORS = {"range": range_assign, "roundrobin": roundrobin_assign}
