"""A hostile user of the cache's operations commands, compared with a private redis-server 7.0.

Each case sends the same bytes to ``python -m servers.cache`` and to a redis-server of its
own (both on port 0) on a fresh connection and asserts the same reply bytes: CLIENT REPLY
OFF/SKIP meeting calls refused before they run (an unknown command, a wrong arity) and
subscribe confirmations, ACL SETUSER's password hashes, MEMORY USAGE's options.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest

from harness.procs import python_module
from harness.services import RedisServer
from netlib.resp import encode_command

pytestmark = pytest.mark.exercise("N14")

Addr = tuple[str, int]
END = encode_command("ECHO", "__END__")
END_REPLY = b"$7\r\n__END__\r\n"


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[Addr, Addr]]:
    with RedisServer() as real, python_module("servers.cache", port=0) as ours:
        yield (ours.host, ours.port), (real.address.host, real.address.port)  # type: ignore[misc]


def cmds(*calls: tuple[object, ...]) -> bytes:
    return b"".join(encode_command(*c) for c in calls)  # type: ignore[arg-type]


def exchange(addr: Addr, wire: bytes) -> bytes:
    """``wire`` then ECHO __END__ on a fresh connection: every byte up to its reply (client
    ids masked)."""
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(wire + END)
        buf = b""
        while not buf.endswith(END_REPLY):
            chunk = s.recv(65536)
            assert chunk, buf
            buf += chunk
    return re.sub(rb"\$2\r\nid\r\n:\d+", b"ID", buf[: -len(END_REPLY)])


def same(both: tuple[Addr, Addr], wire: bytes) -> bytes:
    ours, real = both
    mine, theirs = exchange(ours, wire), exchange(real, wire)
    assert mine == theirs
    return mine


# --- CLIENT REPLY OFF / SKIP --------------------------------------------------------------------

SKIP = ("CLIENT", "REPLY", "SKIP")
OFF = ("CLIENT", "REPLY", "OFF")
ON = ("CLIENT", "REPLY", "ON")


@pytest.mark.parametrize(
    "refused",
    [("NOSUCH",), ("GET",), ("INCR", "a", "b"), ("SET", "k"), ("CONFIG", "NOSUCH"),
     ("CLIENT", "LIST", "x"), ("ACL", "GETUSER")],
)  # fmt: skip
def test_reply_skip_skips_a_call_refused_before_it_ran(both, refused):
    """SKIP was kept for the next call, and the refusal answered: a client skipping one
    reply then got its error and lost the reply it waited for."""
    assert same(both, cmds(SKIP, refused, ("PING",))) == b"+PONG\r\n"


def test_reply_off_silences_refusals_too(both):
    wire = cmds(OFF, ("NOSUCH",), ("GET",), ("SET", "k"), ("INCR", "k", "x"), ON, ("PING",))
    assert same(both, wire) == b"+OK\r\n+PONG\r\n"


@pytest.mark.parametrize("proto", [2, 3])
def test_reply_off_still_sends_subscribe_confirmations(both, proto):
    """They are pushes to Redis (CLIENT_PUSHING), in RESP2 as in RESP3: a RESP2 client that
    subscribed under CLIENT REPLY OFF got no confirmation from us."""
    wire = cmds(("HELLO", proto), OFF, ("SUBSCRIBE", "c", "d"), ("PSUBSCRIBE", "c*"),
                ("UNSUBSCRIBE", "c"), ("PUNSUBSCRIBE",), ("UNSUBSCRIBE",), ON)  # fmt: skip
    assert b"psubscribe" in same(both, wire)


def test_reply_off_still_delivers_messages(both):
    got = []
    for addr in both:
        sub = socket.create_connection(addr, timeout=10)
        sub.sendall(cmds(OFF, ("SUBSCRIBE", "news")))
        confirm = b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
        buf = b""
        while len(buf) < len(confirm):
            buf += sub.recv(65536)
        assert exchange(addr, cmds(("PUBLISH", "news", "hi"))) == b":1\r\n"
        message = b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        deadline = time.monotonic() + 10
        while len(buf) < len(confirm) + len(message) and time.monotonic() < deadline:
            buf += sub.recv(65536)
        got.append(buf)
        sub.close()
    assert got[0] == got[1]


# --- ACL SETUSER ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["#" + "A" * 64, "#" + "aB" * 32, "!" + "F" * 64, "#" + "a" * 64])
def test_password_hashes_are_lowercase_hex_only_as_redis(both, rule):
    """``#ABC...`` was taken (lowercased) where Redis refuses it, in the words of the error
    we answered for other bad hashes: 'only lowercase hexadecimal characters'."""
    wire = cmds(("ACL", "SETUSER", "hashy", rule), ("ACL", "GETUSER", "hashy"),
                ("ACL", "DELUSER", "hashy"))  # fmt: skip
    same(both, wire)


# --- MEMORY USAGE ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [(), ("SAMPLES", "0"), ("SAMPLES", "-1"), ("SAMPLES", "x"), ("SAMPLES",), ("FOO", "1"),
     ("SAMPLES", "5", "SAMPLES", "6"), ("SAMPLES", "5", "SAMPLES"), ("samples", "5", "X", "1")],
)  # fmt: skip
def test_memory_usage_options_as_redis(both, options):
    """A negative SAMPLES was taken (Redis: syntax error), a repeated one refused."""
    wire = cmds(("MEMORY", "USAGE", "nosuchkey", *options))
    same(both, wire)
