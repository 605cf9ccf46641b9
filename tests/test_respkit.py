"""The RESP server kit: Redis's exact replies and wording, the session loop under abuse,
and a server built on the kit in a few lines.

Wording tests send the same bytes to the cache (on the kit) and to a real
redis-server and compare every reply byte for byte; each request ends with
QUIT so the conversation ends when the server closes. The hostile tests
(unknown commands, wrong arity, huge inline lines, garbage mid-pipeline,
HELLO 4, QUIT mid-pipeline) use raw sockets, redis-py and redis-cli.
"""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import threading
from typing import Any

import pytest
import redis
from support import converse, read_until, until

from netlib import resp
from netlib.resp import encode_command
from servers.bitcask.commands import REGISTRY as BITCASK
from servers.cache.server import State, serve
from servers.cache.table import REGISTRY as CACHE
from servers.respkit import (
    BASE,
    CommandError,
    Registry,
    ServerState,
    WrongType,
    shell_config,
    unknown_command,
)
from servers.respkit import (
    serve as serve_kit,
)
from servers.respkit.errors import arity_error

pytestmark = pytest.mark.exercise("N14")

QUIT = b"QUIT\r\n"


@pytest.fixture
async def cache_port():
    server, _ = await serve(shell_config(port=0), State())
    async with server:
        yield server.port


# --- a server on the kit in a few lines: what the package docstring promises ----------

MINI = Registry(include=BASE)


@MINI.command("GET", 2, "readonly fast", syntax="key")
def _get(s: Any, a: list[bytes]) -> bytes:
    v = s.db.get(a[1])
    if isinstance(v, list):
        raise WrongType()
    return resp.bulk(v, s.proto)


@MINI.command("SET", 3, "write denyoom", syntax="key value")
def _set(s: Any, a: list[bytes]) -> bytes:
    s.db[a[1]] = a[2]
    return resp.OK


@MINI.command("RPUSH", -3, "write denyoom", syntax="key element [element ...]")
def _rpush(s: Any, a: list[bytes]) -> bytes:
    lst = s.db.setdefault(a[1], [])
    if not isinstance(lst, list):
        raise WrongType()
    lst.extend(a[2:])
    return resp.integer(len(lst))


@MINI.command("SLOW", 2, "", (0, 0, 0))
def _slow(s: Any, a: list[bytes]) -> None:
    """Answer from a worker thread (a slow engine call)."""
    s.answer_in_thread(lambda: a[1].upper(), resp.bulk)


class MiniState(ServerState):
    def __init__(self) -> None:
        self.dbs: list[dict[bytes, Any]] = [{}, {}]
        self.full = False
        super().__init__(MINI, databases=2)

    def database(self, index: int) -> dict[bytes, Any]:
        return self.dbs[index]

    def admit_write(self) -> bytes | None:
        return b"-OOM full\r\n" if self.full else None


@pytest.fixture
async def mini():
    state = MiniState()
    server = await serve_kit(shell_config(port=0), state)
    async with server:
        yield server.port, state


async def test_a_server_on_the_kit_answers_its_own_and_the_connection_commands(mini):
    port, state = mini
    req = b"".join(
        encode_command(*c)
        for c in [
            ("SET", "k", "v"), ("GET", "k"), ("RPUSH", "k", "x"), ("SELECT", "1"), ("GET", "k"),
            ("SELECT", "2"), ("CLIENT", "SETNAME", "me"), ("CLIENT", "GETNAME"), ("ECHO", "e"),
            ("COMMAND", "COUNT"), ("SLOW", "abc"), ("PING",),
        ]
    )  # fmt: skip
    got = await converse(port, req + QUIT)
    assert got == (
        b"+OK\r\n$1\r\nv\r\n" + b"-WRONGTYPE Operation against a key holding the wrong kind"
        b" of value\r\n+OK\r\n$-1\r\n-ERR DB index is out of range\r\n+OK\r\n$2\r\nme\r\n"
        b"$1\r\ne\r\n:%d\r\n$3\r\nABC\r\n+PONG\r\n+OK\r\n" % len(MINI)
    )
    state.full = True
    assert await converse(port, b"SET a b\r\nGET a\r\n" + QUIT) == b"-OOM full\r\n$-1\r\n+OK\r\n"


async def test_a_reply_from_a_thread_keeps_the_pipeline_in_order(mini):
    port, _ = mini
    got = await converse(port, b"SLOW a\r\nECHO b\r\nSLOW c\r\nPING\r\n" + QUIT)
    assert got == b"$1\r\nA\r\n$1\r\nb\r\n$1\r\nC\r\n+PONG\r\n+OK\r\n"


def test_registries_are_separate_and_share_the_connection_commands():
    for reg in (CACHE, BITCASK, MINI):
        assert {b"hello", b"client", b"command", b"quit", b"reset", b"auth"} <= set(reg.table)
    assert b"merge" in BITCASK.table and b"merge" not in CACHE.table
    assert b"lpush" in CACHE.table and b"lpush" not in BITCASK.table
    # A subcommand added to one server's CLIENT stays in that server.
    local = Registry(include=BASE)
    client = local.table[b"client"]
    local.command("NOOP", 2, parent=client)(lambda s, a: resp.OK)
    assert b"noop" in client.subcommands
    assert b"noop" not in BASE.table[b"client"].subcommands
    assert b"noop" not in CACHE.table[b"client"].subcommands
    # Another server's commands, some of them, as they are (an engine with the same API).
    other = Registry(include=BASE)
    other.include(BITCASK, names=["GET", "del"])
    assert other.table[b"get"] is BITCASK.table[b"get"] and b"del" in other.table
    assert b"merge" not in other.table and b"set" not in other.table
    assert other.syntax["get"] == "key" and "set" not in other.syntax


# --- Redis's wording, compared with a real redis-server ---------------------------------

WORDING = [
    b"NOPE a b\r\n",
    b"nope\r\n",
    encode_command("NOPE", "x" * 300, "y"),  # the preview stops near 128 bytes
    encode_command("NOPE", *["abc"] * 100),  # many arguments: only the first ones
    encode_command("NOPE", "a\r\nb", "c\x00d"),  # CR/LF become spaces, a NUL ends the string
    encode_command("N" * 300),
    b"GET\r\n",
    b"get a b\r\n",
    b"CLIENT\r\n",
    b"CLIENT FOO\r\n",
    b"client setname\r\n",
    b'CLIENT SETNAME "a b"\r\n',
    b"CLIENT GETNAME\r\n",
    b"CLIENT LIST TYPE foo\r\n",
    b"CLIENT LIST ID abc\r\n",
    b"CLIENT LIST ID 0\r\n",
    b"CLIENT LIST FOO\r\n",
    b"COMMAND FOO\r\n",
    b"HELLO 4\r\n",
    b"HELLO 1\r\n",
    b"HELLO abc\r\n",
    b"HELLO 03\r\n",
    b"HELLO 3 FOO\r\n",
    b"HELLO 3 AUTH x\r\n",
    b"HELLO 3 AUTH bob pw\r\n",
    b"HELLO 2 SETNAME\r\n",
    b"HELLO 3 AUTH bob pw SETNAME\r\n",  # options are checked in order: WRONGPASS first
    b'HELLO 3 SETNAME "a b" AUTH bob pw\r\n',  # ... the bad name first
    encode_command("HELLO", "3", "a\x00b\r\nc"),  # an option echoed up to its NUL
    b"AUTH pw\r\n",
    b"AUTH default anything\r\n",
    b"AUTH bob pw\r\n",
    b"AUTH a b c\r\n",
    b"AUTH\r\n",
    b"SELECT 00\r\n",
    b"SELECT -1\r\n",
    b"SELECT 16\r\n",
    b"SELECT 15\r\n",
    b"SELECT abc\r\n",
    b"PING a b\r\n",
    b"PING hi\r\n",
    b"ECHO\r\n",
    b"ECHO a b\r\n",
    b"QUIT extra args\r\n",
    b"RESET x\r\n",
    b"RESET\r\n",
    b"PING\r\nQUIT\r\nPING\r\nGET k\r\n",  # nothing after QUIT runs
    b"PING\r\n*1\r\n$x\r\nPING\r\n",  # garbage mid-pipeline: replies before it, then the error
    b"PING\r\n*2\r\n$4\r\nECHO\r\n$-5\r\n",
    b"PING\r\n*-1\r\n*0\r\nPING\r\n",
    b'SET k "unbalanced\r\n',
    b"\r\n\r\n  \r\nPING\r\n",
]


@pytest.mark.parametrize("request_bytes", WORDING, ids=lambda b: repr(b[:40]))
async def test_replies_match_redis_byte_for_byte(cache_port, redis_addr, request_bytes):
    data = request_bytes + QUIT
    ours = await converse(cache_port, data)
    theirs = await converse(redis_addr.port, data)
    assert ours == theirs


def test_unknown_command_wording_is_bounded():
    reply = unknown_command([b"x" * 10_000] + [b"y" * 10_000] * 100_000)
    assert len(reply) < 400 and reply.endswith(b"' \r\n")
    assert arity_error("client|setname") == (
        b"-ERR wrong number of arguments for 'client|setname' command\r\n"
    )
    assert CommandError("x y").reply == b"-ERR x y\r\n"


# --- the session loop under abuse ------------------------------------------------------


async def test_garbage_mid_pipeline_answers_what_came_before_and_closes_only_that_peer(
    cache_port,
):
    reader, writer = await asyncio.open_connection("127.0.0.1", cache_port)
    writer.write(b"SET a 1\r\nINCR a\r\n*1\r\n$x\r\nINCR a\r\n")
    got = await asyncio.wait_for(reader.read(), 10)  # the server closes after the error
    assert got == b"+OK\r\n:2\r\n-ERR Protocol error: invalid bulk length\r\n"
    writer.close()
    # The INCR after the garbage never ran; everyone else is still served.
    assert await converse(cache_port, b"GET a\r\n" + QUIT) == b"$1\r\n2\r\n+OK\r\n"


async def test_quit_mid_pipeline_runs_nothing_after_it(cache_port):
    got = await converse(cache_port, b"SET q 1\r\nQUIT\r\nSET q 2\r\nFLUSHALL\r\n")
    assert got == b"+OK\r\n+OK\r\n"
    assert await converse(cache_port, b"GET q\r\n" + QUIT) == b"$1\r\n1\r\n+OK\r\n"


async def test_quit_arriving_with_more_after_it_in_later_reads(cache_port):
    reader, writer = await asyncio.open_connection("127.0.0.1", cache_port)
    writer.write(b"PING\r\nQUIT\r\n")
    assert await read_until(reader, b"+OK\r\n") == b"+PONG\r\n+OK\r\n"
    try:
        writer.write(b"SET late 1\r\n")
        await writer.drain()
    except ConnectionError:
        pass  # the server may already have closed: that is the point
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert await converse(cache_port, b"EXISTS late\r\n" + QUIT) == b":0\r\n+OK\r\n"


async def test_a_huge_inline_line_is_refused_without_buffering_it_all(cache_port):
    reader, writer = await asyncio.open_connection("127.0.0.1", cache_port)
    chunk = b"A" * 65536
    try:
        for _ in range(64):  # 4 MiB of a line that never ends
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass  # refused and closed before we finished: fine
    got = await asyncio.wait_for(reader.read(), 10)
    assert got == b"-ERR Protocol error: too big inline request\r\n"
    writer.close()


async def test_a_huge_multibulk_header_is_refused(cache_port):
    got = await converse(cache_port, b"*99999999999\r\n")
    assert got == b"-ERR Protocol error: invalid multibulk length\r\n"


async def test_hello_4_then_the_connection_still_speaks_resp2(cache_port):
    got = await converse(cache_port, b"HELLO 4\r\nCLIENT GETNAME\r\n" + QUIT)
    assert got == b"-NOPROTO unsupported protocol version\r\n$-1\r\n+OK\r\n"


async def test_hello_3_switches_replies_and_reset_switches_back(cache_port):
    got = await converse(
        cache_port, b"HELLO 3 SETNAME me\r\nCLIENT GETNAME\r\nGET nokey\r\nRESET\r\nGET nokey\r\n"
        b"CLIENT GETNAME\r\n" + QUIT
    )  # fmt: skip
    assert got.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
    assert got.endswith(b"$2\r\nme\r\n_\r\n+RESET\r\n$-1\r\n$-1\r\n+OK\r\n")


def test_redis_py_hello_auth_and_client_commands(cache_port_sync):
    port = cache_port_sync
    r3 = redis.Redis(port=port, protocol=3, client_name="kit")
    assert r3.client_getname() == b"kit"
    assert r3.execute_command("HELLO", "3", "AUTH", "default", "whatever")[b"proto"] == 3
    with pytest.raises(redis.AuthenticationError):
        r3.execute_command("AUTH", "bob", "pw")
    with pytest.raises(redis.ResponseError, match="unknown command 'NOPE'"):
        r3.execute_command("NOPE", "x")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get'"):
        r3.execute_command("GET")
    me = r3.client_id()
    listed = r3.client_list()
    assert any(c["id"] == str(me) and c["name"] == "kit" for c in listed)
    assert r3.client_list(_type="pubsub") == []
    assert r3.ping() is True  # still in sync after the errors
    r3.close()


def test_redis_cli_prints_what_it_prints_for_redis(cache_port_sync, redis_addr):
    def cli(port: int, *args: str) -> str:
        argv = ["redis-cli", "-p", str(port), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout

    for args in [("NOPE", "a"), ("HELLO", "4"), ("CLIENT", "SETNAME"), ("AUTH", "pw"),
                 ("SELECT", "99"), ("PING", "hi"), ("CLIENT", "LIST", "TYPE", "x")]:  # fmt: skip
        assert cli(cache_port_sync, *args) == cli(redis_addr.port, *args), args
    assert "hello" in cli(cache_port_sync, "COMMAND", "DOCS", "hello")


async def test_a_bulk_not_followed_by_crlf_is_refused(cache_port):
    """Where Redis skips the two bytes after a bulk unseen (answering PONG to
    ``$4 PINGXX``), ours refuses the command: the framing is broken."""
    got = await converse(cache_port, b"PING\r\n*1\r\n$4\r\nPINGXX\r\n")
    assert got == b"+PONG\r\n-ERR Protocol error: expected CRLF after bulk string\r\n"


@pytest.fixture
def cache_port_sync(launch):
    return launch("servers.cache").port


async def test_a_refused_peer_that_keeps_sending_is_cut_after_the_linger(monkeypatch):
    """After a protocol error we discard what still arrives, but not forever."""
    from netlib.shell import ShellConfig
    from servers.respkit import Session

    monkeypatch.setattr(Session, "linger", 0.3)
    config = ShellConfig(port=0, sweep_interval=0.05, idle_timeout=3600)
    server = await serve_kit(config, MiniState())
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"PING\r\n*1\r\n$x\r\n")
        assert await read_until(reader, b"length\r\n") == (
            b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
        )

        async def cut_by_the_server() -> bool:
            try:  # the peer keeps sending while we wait
                writer.write(b"garbage " * 128)
                await writer.drain()
            except ConnectionError:
                pass
            return server.timed_out == 1

        await until(cut_by_the_server, timeout=10, what="the lingering peer cut")
        writer.close()


async def test_the_error_reply_survives_a_flood_on_uvloop(cache_port_async_child):
    """The child runs on uvloop (production's loop): the half-close works there too."""
    port = cache_port_async_child
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"SET a 1\r\n*1\r\n$x\r\n")
    try:
        for _ in range(32):
            writer.write(b"x" * 65536)
            await writer.drain()
    except ConnectionError:
        pass
    got = await asyncio.wait_for(reader.read(), 10)
    assert got == b"+OK\r\n-ERR Protocol error: invalid bulk length\r\n"
    writer.close()


@pytest.fixture
def cache_port_async_child(launch):
    return launch("servers.cache").port


HELD = threading.Event()


@MINI.command("HELD", 1, "", (0, 0, 0))
def _held(s: Any, a: list[bytes]) -> None:
    """Answer from a thread once the test releases it."""
    s.answer_in_thread(lambda: HELD.wait(30) and b"released", resp.bulk)


async def held(port: int, state: MiniState, data: bytes) -> tuple[Any, Any, Any]:
    """Connect, send ``data`` (starting with HELD), return once its thread works."""
    HELD.clear()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await until(lambda: any(s.working for s in state.clients.values()))
    (session,) = state.clients.values()
    return reader, writer, session


async def test_shutdown_waits_for_a_reply_computed_in_a_thread(mini):
    port, state = mini
    reader, writer, session = await held(port, state, b"HELD\r\nPING\r\nQUIT\r\nPING\r\n")
    session.shutdown()  # what the shell calls when the server stops
    assert not session.conn.closed  # not while the thread works: its reply is owed
    HELD.set()
    got = await asyncio.wait_for(reader.read(), 10)
    assert got == b"$8\r\nreleased\r\n+PONG\r\n+OK\r\n"  # nothing after QUIT ran
    writer.close()


async def test_a_peer_gone_while_its_thread_works_costs_nothing(mini):
    port, state = mini
    _, writer, _ = await held(port, state, b"HELD\r\nSET after 1\r\n")
    writer.close()
    await until(lambda: not state.clients, what="the session dropped")
    HELD.set()
    assert await converse(port, b"GET after\r\n" + QUIT) == b"$-1\r\n+OK\r\n"


async def test_a_waiting_session_flooded_with_commands_is_disconnected(mini, monkeypatch):
    """While a session waits (blocked, or a thread computes its reply) its later
    commands queue; past ``max_queued`` bytes it is cut, as Redis's query buffer limit."""
    from servers.respkit import Session

    monkeypatch.setattr(Session, "max_queued", 64 * 1024)
    port, state = mini
    _, writer, _ = await held(port, state, b"HELD\r\n")

    async def cut() -> bool:
        try:
            writer.write(b"SET k v\r\n" * 1000)
            await writer.drain()
        except ConnectionError:
            pass
        return not state.clients

    await until(cut, what="the flooding session cut")
    HELD.set()
    writer.close()
    assert await converse(port, b"PING\r\n" + QUIT) == b"+PONG\r\n+OK\r\n"  # others unharmed


async def test_every_container_answers_the_help_its_errors_point_to(cache_port):
    got = await converse(cache_port, b"CLIENT FOO\r\nCLIENT HELP\r\nCOMMAND HELP\r\n" + QUIT)
    assert got.startswith(b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n*")
    assert b"+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n" in got
    assert b"+SETNAME connection-name\r\n+    Set the current connection name.\r\n" in got
    assert b"+COMMAND <subcommand>" in got and got.endswith(b"+    Show helpful text.\r\n+OK\r\n")


# Random requests from the connection commands' vocabulary, fixed seed: ours and Redis's
# replies must be the same bytes (client ids masked). It found HELLO checking its
# options out of order and echoing a NUL.
VOCABULARY = [
    b"HELLO", b"AUTH", b"PING", b"ECHO", b"SELECT", b"CLIENT", b"RESET", b"SETNAME", b"GETNAME",
    b"TYPE", b"normal", b"pubsub", b"2", b"3", b"4", b"-1", b"0", b"00", b"15", b"16", b"default",
    b"x", b"a b", b"", b"\x00", b"\r\n", b"NOPE", b"99999999999999999999", b"SETINFO", b"lib-name",
]  # fmt: skip
FIRST_WORDS = [b"HELLO", b"AUTH", b"PING", b"ECHO", b"SELECT", b"CLIENT", b"RESET", b"NOPE"]
# CLIENT subcommands whose success replies differ by design (ids, addresses, ages).
VARIES = {b"list", b"info", b"id", b"help", b"setinfo"}


def _random_requests(n: int, seed: int = 7) -> list[list[bytes]]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        cmd = [rng.choice(FIRST_WORDS)] + [rng.choice(VOCABULARY) for _ in range(rng.randint(0, 5))]
        if cmd[0] == b"CLIENT" and len(cmd) > 1 and cmd[1].lower() in VARIES:
            continue
        out.append(cmd)
    return out


async def test_random_connection_commands_match_redis(cache_port, redis_addr):
    def masked(b: bytes) -> bytes:
        return re.sub(rb"id\r\n:\d+\r\n", b"id\r\n:N\r\n", b)

    for cmd in _random_requests(300):
        data = encode_command(*cmd) + QUIT
        ours = await converse(cache_port, data)
        theirs = await converse(redis_addr.port, data)
        assert masked(ours) == masked(theirs), cmd


def test_client_list_type_pubsub_counts_resp3_subscribers_too(cache_port_sync):
    """Redis lists a subscriber as pubsub in RESP2 and RESP3 alike."""
    r3 = redis.Redis(port=cache_port_sync, protocol=3)
    r2 = redis.Redis(port=cache_port_sync)
    p3 = r3.pubsub()
    p3.subscribe("news")
    assert p3.get_message(timeout=5)["type"] == "subscribe"
    pubsub = r2.client_list(_type="pubsub")
    normal = r2.client_list(_type="normal")
    assert len(pubsub) == 1 and pubsub[0]["sub"] == "1"
    assert all(c["sub"] == "0" for c in normal)
    p3.close()
    r3.close()
    r2.close()
