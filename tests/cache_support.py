"""Helpers for the cache tests: drive ``servers.cache`` in-process with an injected clock.

``Harness`` runs commands through the real dispatcher (RESP parsing, the
table, arity, errors, reply encoding) with a ``Wire`` in place of the
socket: the bytes a client would receive are collected and compared exactly.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator

from harness.procs import python_module
from harness.services import RedisServer
from netlib.resp import NEED_DATA, ReplyParser, encode_command
from servers.cache.client import Client
from servers.cache.server import CacheSettings, State

T0 = 1_700_000_000_000  # a fixed start for the injected clock (ms)


class Wire:
    """Where a Client writes in these tests: collects bytes, records close()."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False
        self.half_closed = False  # write_eof: our side finished (a protocol error)
        self.deadline: float | None = None
        self.stopping = False
        self.sockname = ("127.0.0.1", 0)
        self.peer = "harness"
        self.log = logging.getLogger("tests.cache")

    def write(self, data: bytes) -> None:
        self.out += data

    def close(self) -> None:
        self.closed = True

    abort = close

    def write_eof(self) -> None:
        self.half_closed = True

    def set_deadline(self, seconds: float | None) -> None:
        self.deadline = seconds

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def write_buffer_size(self) -> int:
        return 0  # everything written is "sent" at once

    def take(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data


class Harness:
    def __init__(self, **settings: object) -> None:
        self.now = T0
        self.state = State(CacheSettings(**settings), clock=lambda: self.now)  # type: ignore[arg-type]
        self.ks = self.state.keyspace
        self.client, self.wire = self.connect()

    def connect(self) -> tuple[Client, Wire]:
        wire = Wire()
        return Client(self.state, wire), wire  # type: ignore[arg-type]

    def raw(self, data: bytes, client: tuple[Client, Wire] | None = None) -> bytes:
        c, w = client or (self.client, self.wire)
        c.data_received(data)
        return w.take()

    def cmd(self, *args: object, client: tuple[Client, Wire] | None = None) -> bytes:
        return self.raw(encode_command(*args), client)  # type: ignore[arg-type]

    def advance(self, ms: int) -> None:
        self.now += ms


class Raw:
    """One connection; ``call`` sends a command and returns its reply's exact bytes."""

    def __init__(self, port: int, proto: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.call("HELLO", proto)

    def call(self, *args: object) -> bytes:
        self.sock.sendall(encode_command(*args))  # type: ignore[arg-type]
        parser, buf = ReplyParser(), b""
        while True:
            chunk = self.sock.recv(65536)
            assert chunk
            buf += chunk
            parser.feed(chunk)
            if parser.next_reply() is not NEED_DATA:
                return buf

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def private_pair() -> Iterator[tuple[Raw, Raw]]:
    """One connection to our cache and one to a redis-server of its own (tests that change
    its settings or users must not touch the session's shared one)."""
    with RedisServer() as real, python_module("servers.cache", port=0) as ours:
        a, b = Raw(ours.port, 2), Raw(real.port, 2)  # type: ignore[arg-type]
        yield a, b
        a.close()
        b.close()


def send_and_ping(s: socket.socket, data: bytes) -> bytes:
    """Send ``data`` and a PING on ``s``; the replies up to PING's (without it)."""
    s.sendall(data + encode_command("PING"))
    buf = b""
    while not buf.endswith(b"+PONG\r\n"):
        chunk = s.recv(65536)
        assert chunk, "closed"
        buf += chunk
    return buf[: -len(b"+PONG\r\n")]
