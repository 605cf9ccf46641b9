"""Redis's limits for a client that has not authenticated, against a real redis-server 7.0.

With ``requirepass`` set, Redis refuses before AUTH a multibulk of more than 10
elements and a bulk longer than 16384 bytes, at the header ("-ERR Protocol
error: unauthenticated multibulk length" / "... bulk length") and closes the
connection after answering the commands before it. Each conversation here is
sent in one write to ``python -m servers.cache --requirepass`` and to a private
redis-server with the same password, and the bytes read until the server
closes must be equal. Once AUTH (or HELLO ... AUTH) succeeded the normal
limits apply, to the commands pipelined right after it in the same write too.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cache_support import Harness

from harness.procs import python_module
from harness.services import RedisServer
from netlib.resp import NEED_DATA, ReplyParser, RequestParser, UnauthenticatedParser, encode_command

pytestmark = pytest.mark.exercise("N14")

PASSWORD = "s3cret"
NOAUTH = b"-NOAUTH Authentication required.\r\n"
UNAUTH_MULTIBULK = b"-ERR Protocol error: unauthenticated multibulk length\r\n"
UNAUTH_BULK = b"-ERR Protocol error: unauthenticated bulk length\r\n"
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
BIG_SET_HEADER = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20000\r\n"  # the value not sent
QUIT = encode_command("QUIT")  # ends a conversation that is not cut: +OK, then the close


def cmd(*args: object) -> bytes:
    return encode_command(*args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
    args = ["--requirepass", PASSWORD]
    with (
        RedisServer(extra_args=args) as real,
        python_module("servers.cache", *args, port=0) as ours,
    ):
        yield (ours.host, ours.port), (real.address.host, real.address.port)


CLIENT_ID = re.compile(rb"id\r\n:\d+")  # HELLO's connection id differs between servers


def conversation(addr: tuple[str, int], wire: bytes) -> bytes:
    """Send ``wire`` in one write; every byte read until the server closes (a reset after
    its replies counts as the close: Redis resets when unread bytes remain); HELLO's
    client id masked."""
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(wire)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return CLIENT_ID.sub(b"id\r\n:N", got)
            if not chunk:
                return CLIENT_ID.sub(b"id\r\n:N", got)
            got += chunk


CONVERSATIONS = {
    "eleven elements": cmd(*["x"] * 11),
    "ten elements are fine": cmd(*["x"] * 10) + QUIT,
    "eleven after a command": cmd("PING") + b"*11\r\n",
    "a count over one million is still unauthenticated": b"*2000000\r\n",
    "a count over INT_MAX is invalid": b"*2147483648\r\n",
    "after empty commands": b"*0\r\n*-1\r\n*11\r\n",
    "a bulk of 16385 at its header": b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$16385\r\n",
    "a bulk of 16384 is fine": cmd("SET", "k", "v" * 16384) + QUIT,
    "a bulk over 512 MB is invalid": b"*1\r\n$600000000\r\n",
    "a negative bulk is invalid": b"*1\r\n$-1\r\n",
    "a whole big SET": cmd("SET", "k", "v" * 20000) + cmd("GET", "k"),
    "AUTH then a big value in the same write": (
        cmd("AUTH", PASSWORD) + cmd("SET", "k", "v" * 20000) + cmd("STRLEN", "k") + QUIT
    ),
    "AUTH then twenty elements": cmd("AUTH", PASSWORD) + cmd("RPUSH", "l", *range(19)) + QUIT,
    "AUTH default then a big value": (
        cmd("AUTH", "default", PASSWORD) + cmd("APPEND", "a", "w" * 70000) + QUIT
    ),
    "HELLO 3 AUTH then a big value": (
        cmd("HELLO", 3, "AUTH", "default", PASSWORD)
        + cmd("SET", "h", "v" * 20000)
        + cmd("STRLEN", "h")
        + QUIT
    ),
    "HELLO 3 with a wrong password then a big value": (
        cmd("HELLO", 3, "AUTH", "default", "nope") + BIG_SET_HEADER
    ),
    "a wrong password then a big value": cmd("AUTH", "nope") + BIG_SET_HEADER,
    "a wrong password then eleven elements": cmd("AUTH", "nope") + cmd(*["x"] * 11),
    "AUTH, RESET, then eleven elements": cmd("AUTH", PASSWORD) + cmd("RESET") + cmd(*["y"] * 11),
    "inline commands keep their limits": (
        b"PING " + b"x " * 20 + b"\r\nECHO " + b"z" * 20000 + b"\r\n" + QUIT
    ),
    "inline AUTH then a big value": (
        b"AUTH " + PASSWORD.encode() + b"\r\n" + cmd("ECHO", "e" * 30000) + QUIT
    ),
    "AUTH then a bulk over 512 MB": cmd("AUTH", PASSWORD) + b"*1\r\n$600000000\r\n",
}


@pytest.mark.parametrize("wire", CONVERSATIONS.values(), ids=CONVERSATIONS.keys())
def test_the_same_bytes_as_redis(both, wire):
    ours, real = both
    mine, theirs = conversation(ours, wire), conversation(real, wire)
    assert mine == theirs


def test_what_the_conversations_say(both):
    """The cases above checked on their own (the equality alone would pass were both wrong)."""
    ours, _ = both
    assert conversation(ours, CONVERSATIONS["eleven after a command"]) == NOAUTH + UNAUTH_MULTIBULK
    assert conversation(ours, CONVERSATIONS["a bulk of 16385 at its header"]) == UNAUTH_BULK
    got = conversation(ours, CONVERSATIONS["AUTH then a big value in the same write"])
    assert got == b"+OK\r\n+OK\r\n:20000\r\n+OK\r\n"
    got = conversation(ours, CONVERSATIONS["HELLO 3 AUTH then a big value"])
    assert got.endswith(b"+OK\r\n:20000\r\n+OK\r\n") and got.startswith(b"%7\r\n")
    got = conversation(ours, CONVERSATIONS["a wrong password then a big value"])
    assert got == WRONGPASS + UNAUTH_BULK
    got = conversation(ours, CONVERSATIONS["AUTH, RESET, then eleven elements"])
    assert got == b"+OK\r\n+RESET\r\n" + UNAUTH_MULTIBULK


def test_big_value_split_across_reads_after_auth():
    """AUTH and the header of a big value in one read, its bytes in the next: parsed under
    the normal limits from the header the unauthenticated parser had stopped at."""
    h = Harness(requirepass=PASSWORD)
    assert isinstance(h.client.parser, UnauthenticatedParser)
    got = h.raw(cmd("AUTH", PASSWORD) + b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20000\r\n" + b"v" * 100)
    assert got == b"+OK\r\n"
    assert type(h.client.parser) is RequestParser  # the logged-in client's parser: the fast path
    assert h.raw(b"v" * 19900 + b"\r\n" + cmd("STRLEN", "k")) == b"+OK\r\n:20000\r\n"
    assert h.cmd("RESET") == b"+RESET\r\n"
    assert isinstance(h.client.parser, UnauthenticatedParser)
    assert h.raw(b"*12\r\n") == UNAUTH_MULTIBULK and h.wire.half_closed


def test_without_a_password_nothing_is_limited():
    h = Harness()
    assert type(h.client.parser) is RequestParser
    assert h.cmd("SET", "k", "v" * 20000) == b"+OK\r\n"
    assert h.cmd("RPUSH", "l", *range(30)) == b":30\r\n"


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def test_a_500mb_bulk_header_is_cut_at_once_without_buffering():
    """An unauthenticated client announcing a 500 MB value is answered and cut at the header:
    the reply comes before any of the value is sent, and what it sends next is not kept."""
    with python_module("servers.cache", "--requirepass", PASSWORD, port=0) as ours:
        assert ours.proc is not None
        pid = ours.proc.pid
        before = rss_kb(pid)
        with socket.create_connection((ours.host, ours.port), timeout=10) as s:
            s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500000000\r\n")
            assert s.recv(65536) == UNAUTH_BULK  # at once: nothing of the value was sent
            chunk = b"v" * (1 << 20)
            sent = 0
            try:
                for _ in range(64):  # 64 MB more, while the server lingers then closes
                    s.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # closed on us: fine, nothing was kept either way
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    if not s.recv(65536):
                        break
                except (ConnectionResetError, TimeoutError):
                    break
        grown = rss_kb(pid) - before
        assert grown < 16 * 1024, f"RSS grew by {grown} kB after {sent} bytes sent"


def _writes_until_cut(addr: tuple[str, int]) -> int:
    """Commands sent without reading a reply (each one -NOAUTH) until the server closes
    the connection; a server that buffers every reply lets all 300,000 through."""
    chunk = cmd("SET", "x", 5) * 1000
    with socket.create_connection(addr, timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # replies pile up server-side
        for i in range(300):
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return i * 1000
        return 300 * 1000


def test_an_unauthenticated_client_not_reading_its_replies_is_cut_as_redis(both):
    """Redis's unit/auth 'For unauthenticated clients output buffer is limited': past 1024
    unsent reply bytes a client that has not authenticated is disconnected. Before, ours
    kept every -NOAUTH in memory, then stopped reading: the client's writes hung."""
    ours, real = both
    assert _writes_until_cut(real) < 300 * 1000
    assert _writes_until_cut(ours) < 300 * 1000


def logged_in_conversation(addr: tuple[str, int], wire: bytes, then: bytes = b"") -> bytes:
    """AUTH in a read of its own (answered), then ``wire`` in one write (and ``then`` in
    another once the server has had it); every byte read after +OK until the close."""
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(cmd("AUTH", PASSWORD))
        assert s.recv(5) == b"+OK\r\n"
        s.sendall(wire)
        if then:
            time.sleep(0.2)  # (the server must have parsed ``wire`` alone: a read boundary)
            s.sendall(then)
        s.settimeout(3)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return got
            except TimeoutError:
                return got + b"<not closed>"
            if not chunk:
                return got
            got += chunk


PARTIAL_BIG_SET = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20000\r\nabc"  # 3 of the value's 20000 bytes
AFTER_LOGIN = {
    "RESET then eleven elements": (cmd("RESET") + cmd(*["y"] * 11), b""),
    "RESET then a big value": (cmd("RESET") + cmd("SET", "k", "v" * 20000), b""),
    "RESET, PING, then the header of eleven": (
        cmd("RESET") + cmd("PING") + b"*11\r\n$1\r\ny\r\n",
        b"",
    ),
    "RESET then part of a big value": (cmd("RESET") + PARTIAL_BIG_SET, b""),
    "RESET, AUTH, then part of a big value": (
        cmd("RESET") + cmd("AUTH", PASSWORD) + PARTIAL_BIG_SET,
        b"x" * 19997 + b"\r\n" + cmd("STRLEN", "k") + QUIT,
    ),
    "RESET, AUTH, eleven, RESET, a big value": (
        cmd("RESET")
        + cmd("AUTH", PASSWORD)
        + cmd(*["y"] * 11)
        + cmd("RESET")
        + cmd("SET", "k", "v" * 20000),
        b"",
    ),
    "RESET then the start of eleven, the rest later": (
        cmd("RESET") + b"*11\r\n$1\r\ny\r\n",
        b"$1\r\ny\r\n" * 10 + QUIT,
    ),
    "RESET then small commands are fine": (cmd("RESET") + cmd("PING") + QUIT, b""),
    "RESET then inline commands keep no limits": (
        b"RESET\r\nECHO " + b"z" * 20000 + b"\r\nPING a b c d e f g h i j k\r\n" + QUIT,
        b"",
    ),
    "RESET, inline, then eleven elements": (
        b"RESET\r\nPING a b c d e f g h i j k\r\n" + cmd(*["y"] * 11),
        b"",
    ),
}


@pytest.mark.parametrize("wire", AFTER_LOGIN.values(), ids=AFTER_LOGIN.keys())
def test_logged_out_by_reset_in_the_same_read(both, wire):
    """Logged in by an earlier read, then RESET and commands over the unauthenticated
    limits in one read: Redis parses them after the RESET ran, so it answers the protocol
    error and closes (ours had parsed them with the RESET, under the normal limits)."""
    ours, real = both
    assert logged_in_conversation(ours, *wire) == logged_in_conversation(real, *wire)


def test_what_the_logged_out_conversations_say(both):
    ours, _ = both
    got = logged_in_conversation(ours, *AFTER_LOGIN["RESET then eleven elements"])
    assert got == b"+RESET\r\n" + UNAUTH_MULTIBULK
    got = logged_in_conversation(ours, *AFTER_LOGIN["RESET then part of a big value"])
    assert got == b"+RESET\r\n" + UNAUTH_BULK
    got = logged_in_conversation(ours, *AFTER_LOGIN["RESET, AUTH, then part of a big value"])
    assert got == b"+RESET\r\n+OK\r\n+OK\r\n:20000\r\n+OK\r\n"


def password_changes(addr: tuple[str, int]) -> list[bytes]:
    """A client that never logs in, while an admin clears requirepass and sets it again."""
    out = []
    with (
        socket.create_connection(addr, timeout=10) as idle,
        socket.create_connection(addr, timeout=10) as admin,
    ):

        def say(s: socket.socket, wire: bytes, n: int) -> bytes:
            """Send, then read the ``n`` replies (each here is one line or one RESP3 map)."""
            s.sendall(wire)
            parser, got = ReplyParser(), b""
            while n:
                chunk = s.recv(65536)
                assert chunk, got
                got += chunk
                parser.feed(chunk)
                while n and parser.next_reply() is not NEED_DATA:
                    n -= 1
            return CLIENT_ID.sub(b"id\r\n:N", got)

        out.append(say(admin, cmd("AUTH", PASSWORD) + cmd("CONFIG", "SET", "requirepass", ""), 2))
        # let in without a login: no NOAUTH, no limits; HELLO still wants a login
        out.append(say(idle, cmd("GET", "x") + cmd(*["y"] * 12) + cmd("SET", "b", "v" * 20000), 3))
        out.append(say(idle, cmd("HELLO", 3), 1))
        out.append(say(admin, cmd("CONFIG", "SET", "requirepass", PASSWORD), 1))
        out.append(say(idle, cmd("GET", "x"), 1))  # a password again: NOAUTH again
        out.append(say(admin, cmd("ACL", "SETUSER", "default", "nopass"), 1))
        out.append(say(idle, cmd("STRLEN", "b"), 1))
        out.append(say(admin, cmd("ACL", "SETUSER", "default", "resetpass", ">" + PASSWORD), 1))
        out.append(say(idle, cmd("GET", "x") + cmd("AUTH", PASSWORD) + cmd("GET", "x"), 3))
    return out


def test_clearing_the_password_lets_in_a_client_that_never_logged_in():
    """Redis asks on every command whether auth is required (the default user has a password,
    and this client never logged in). Ours fixed it at connection: after CONFIG SET
    requirepass "" a client connected before still got NOAUTH and the unauthenticated
    limits (a protocol error for 12 elements)."""
    args = ["--requirepass", PASSWORD]
    with (
        RedisServer(extra_args=args) as real,
        python_module("servers.cache", *args, port=0) as ours,
    ):
        mine = password_changes((ours.host, ours.port))
        theirs = password_changes((real.address.host, real.address.port))
    assert mine == theirs
    assert mine[1].startswith(b"$-1\r\n-ERR unknown command 'y'") and mine[4] == NOAUTH
