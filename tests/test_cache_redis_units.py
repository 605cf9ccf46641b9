"""Divergences found by Redis's own TCL units (``bench/redis_suite.py``) on the
introspection, transaction, keyspace and protocol units, each checked here against
a real redis-server (the same bytes, or the same reply through redis-py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis
from redis_diff import same

from harness.procs import Child, python_module
from netlib.resp import encode_command


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with python_module("servers.cache", port=0) as child:
        assert isinstance(child, Child)
        yield child.port  # type: ignore[misc]


@pytest.fixture
def ours(port) -> redis.Redis:  # type: ignore[no-untyped-def]
    r = redis.Redis(port=port, db=9)
    r.flushall()
    return r


@pytest.fixture
def real(redis_addr) -> redis.Redis:  # type: ignore[no-untyped-def]
    r = redis.Redis(host=redis_addr.host, port=redis_addr.port, db=9)
    r.flushall()
    return r


def exchange(port: int, cmds: list[tuple[object, ...]], until: bytes) -> bytes:
    """Send ``cmds`` in one write; every byte received until the reply stream ends in ``until``."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(encode_command(*c) for c in cmds))  # type: ignore[arg-type]
        got = b""
        while not got.endswith(until):
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        return got


def test_client_reply_off_skip_on_as_redis(ours, real):
    cmds = [
        ("SELECT", 9), ("CLIENT", "REPLY", "OFF"), ("PING", "a"), ("SET", "k", "v"), ("GET", "nokey"),
        ("CLIENT", "REPLY", "ON"), ("PING", "b"),
        ("CLIENT", "REPLY", "SKIP"), ("PING", "c"), ("PING", "d"),
        ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "ON"), ("PING", "e"),
    ]  # fmt: skip
    port_of = lambda r: r.connection_pool.connection_kwargs["port"]  # noqa: E731
    mine = exchange(port_of(ours), cmds, b"$1\r\ne\r\n")
    theirs = exchange(port_of(real), cmds, b"$1\r\ne\r\n")
    assert mine == theirs == b"+OK\r\n+OK\r\n$1\r\nb\r\n$1\r\nd\r\n+OK\r\n$1\r\ne\r\n"
    assert ours.get("k") == b"v"  # the silenced SET ran
    same(ours, real, "CLIENT", "REPLY", "MAYBE")


def test_a_pattern_nesting_more_than_1000_stars_matches_nothing_as_in_redis(ours, real):
    for r in (ours, real):
        r.set(b"a" * 5000, 1)
    for n in (999, 1000, 1001, 2500):
        same(ours, real, "KEYS", "*?" * n)  # Redis gives up past 1000 nested stars
        same(ours, real, "KEYS", "*?" * n + "*")  # a trailing star is not nested
