"""CONFIG SET against a private redis-server 7.0, byte for byte: Redis's per-kind refusals
(an integer out of its bounds, a memory value, an enum, yes/no, "save" pairs, the
client-output-buffer-limit grammar), a parameter given twice, and all or nothing: a
value refused puts back the ones set before it in the same call.

Before, ours set the values one by one and left the first ones set when a later one
failed, took ``hz -5`` (clamped to 1), ``slowlog-log-slower-than -5`` and ``save x``,
answered every bad value "argument couldn't be parsed: '...'", and named the replica
class ``replica`` in CONFIG GET client-output-buffer-limit (Redis 7.0 says ``slave``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cache_support import Raw, private_pair


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Raw, Raw]]:
    with private_pair() as both:
        yield both


SET = "CONFIG", "SET"
CASES = [
    (*SET, "hz", "-5"), (*SET, "hz", "05"), (*SET, "hz", "+5"), (*SET, "hz", "2147483648"),
    (*SET, "hz", "99999999999999999999"), (*SET, "hz", "1.5"), (*SET, "HZ", "x"),
    (*SET, "maxmemory", "-1"), (*SET, "maxmemory", "1x"), (*SET, "maxmemory", "1.5"),
    (*SET, "maxmemory-samples", "0"),
    (*SET, "slowlog-log-slower-than", "-5"), (*SET, "slowlog-max-len", "-1"),
    (*SET, "latency-monitor-threshold", "x"), (*SET, "busy-reply-threshold", "-1"),
    (*SET, "min-replicas-to-write", "-1"), (*SET, "lfu-log-factor", "-1"),
    (*SET, "list-max-listpack-size", "-99999999999"),
    (*SET, "hash-max-listpack-value", "1.5"), (*SET, "hll-sparse-max-bytes", "99999999999999999999"),
    (*SET, "maxmemory-policy", "nope"), (*SET, "appendonly", "maybe"),
    (*SET, "save", "x"), (*SET, "save", "10"), (*SET, "save", "10 a"), (*SET, "save", "-1 5"),
    (*SET, "save", "0 5"), (*SET, "save", "1 -1"),
    (*SET, "dir", "/tmp"), (*SET, "dbfilename", "x.rdb"), (*SET, "NOSUCH", "1"),
    (*SET, "hz", "10", "hz", "11"), (*SET, "hz", "12", "HZ", "11"),
    (*SET, "client-output-buffer-limit", "bogus"),
    (*SET, "client-output-buffer-limit", "pubsub 1 2"),
    (*SET, "client-output-buffer-limit", "master 1 2 3"),
    (*SET, "client-output-buffer-limit", "pubsub 1 2 -1"),
    (*SET, "client-output-buffer-limit", "pubsub x 2 1"),
    ("CONFIG", "GET", "client-output-buffer-limit"),
    (*SET, "hash-max-listpack-value", "1k"), ("CONFIG", "GET", "hash-max-listpack-value"),
    (*SET, "hash-max-listpack-value", "64"),
    (*SET, "maxmemory", "1KB"), ("CONFIG", "GET", "maxmemory"), (*SET, "maxmemory", "0"),
]  # fmt: skip


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c[1:]) for c in CASES])
def test_config_set_answers_as_redis(pair, args):
    ours, real = pair
    assert ours.call(*args) == real.call(*args)


def test_a_refused_value_puts_back_the_ones_set_before_it(pair):
    ours, real = pair
    for r in (ours, real):
        assert r.call(*SET, "hz", "10", "slowlog-max-len", "128") == b"+OK\r\n"
    args = (*SET, "hz", "30", "slowlog-max-len", "5", "maxmemory-policy", "allkeys-lru",
            "list-max-listpack-size", "1.5")  # fmt: skip
    mine = ours.call(*args)
    assert mine == real.call(*args)
    assert mine.startswith(b"-ERR CONFIG SET failed (possibly related to argument 'list-max")
    for name in ("hz", "slowlog-max-len", "maxmemory-policy"):
        assert ours.call("CONFIG", "GET", name) == real.call("CONFIG", "GET", name)
    assert ours.call("CONFIG", "GET", "hz").endswith(b"$2\r\n10\r\n")
