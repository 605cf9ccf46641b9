"""servers.cache on real sockets (port 0, in-process): exact bytes, pipelining, fragmentation,
blocking pops woken by pushes, pub/sub, the cron's active expiry, protocol-error isolation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from support import until

from netlib.resp import encode_command
from netlib.shell import ShellConfig
from servers.cache.memory import CLIENT_BYTES, FUNCTIONS_BASE_BYTES, STARTUP_BYTES
from servers.cache.server import CacheSettings, State, serve

pytestmark = pytest.mark.exercise("N14")


class Peer:
    def __init__(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.r, self.w = r, w

    def send(self, *args: object) -> None:
        self.w.write(encode_command(*args))  # type: ignore[arg-type]

    async def expect(self, data: bytes) -> None:
        got = await asyncio.wait_for(self.r.readexactly(len(data)), 5)
        assert got == data

    async def closed(self) -> bool:
        try:
            rest = await asyncio.wait_for(self.r.read(), 5)
        except ConnectionResetError:
            return True
        return rest == b""


@pytest.fixture
async def cache() -> AsyncIterator[tuple[Callable[[], object], State]]:
    state = State(CacheSettings(hz=100))
    server, state = await serve(ShellConfig(port=0), state)

    async def connect() -> Peer:
        return Peer(*await asyncio.open_connection("127.0.0.1", server.port))

    async with server:
        yield connect, state  # type: ignore[misc]


async def test_exact_bytes_and_a_pipeline_in_one_write(cache):
    connect, _ = cache
    p = await connect()
    p.w.write(b"".join(encode_command("INCR", "n") for _ in range(500)) + b"PING\r\n")
    await p.expect(b"".join(b":%d\r\n" % i for i in range(1, 501)) + b"+PONG\r\n")


async def test_a_command_split_into_single_bytes(cache):
    connect, _ = cache
    p = await connect()
    for byte in encode_command("SET", "k", "v" * 10):
        p.w.write(bytes([byte]))
        await p.w.drain()
    await p.expect(b"+OK\r\n")
    p.send("GET", "k")
    await p.expect(b"$10\r\n" + b"v" * 10 + b"\r\n")


async def test_blpop_is_woken_by_a_push_from_another_client(cache):
    connect, state = cache
    waiter, pusher = await connect(), await connect()
    waiter.w.write(encode_command("BLPOP", "q1", "q2", "0") + b"PING\r\n")
    await until(lambda: (0, b"q2") in state.blocking.waiters)
    pusher.send("RPUSH", "q2", "a", "b")
    await pusher.expect(b":2\r\n")
    await waiter.expect(b"*2\r\n$2\r\nq2\r\n$1\r\na\r\n+PONG\r\n")  # then its pipeline resumes
    pusher.send("LRANGE", "q2", "0", "-1")
    await pusher.expect(b"*1\r\n$1\r\nb\r\n")
    assert not state.blocking.waiters


async def test_blpop_waiters_are_served_first_come_first_served(cache):
    connect, state = cache
    first, second, pusher = await connect(), await connect(), await connect()
    first.send("BRPOP", "q", "0")
    await until(lambda: len(state.blocking.waiters.get((0, b"q"), ())) == 1)
    second.send("BRPOP", "q", "0")
    await until(lambda: len(state.blocking.waiters.get((0, b"q"), ())) == 2)
    pusher.send("LPUSH", "q", "x")
    await first.expect(b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n")
    pusher.send("LPUSH", "q", "y")
    await second.expect(b"*2\r\n$1\r\nq\r\n$1\r\ny\r\n")


async def test_blpop_times_out_with_a_null_array(cache):
    connect, state = cache
    p = await connect()
    t0 = time.monotonic()
    p.send("BLPOP", "nothing", "0.2")
    await p.expect(b"*-1\r\n")
    assert time.monotonic() - t0 >= 0.19
    p.send("HELLO", "3")
    await p.r.readuntil(b"modules\r\n*0\r\n")
    p.send("BLPOP", "nothing", "0.05")
    await p.expect(b"_\r\n")


async def test_a_blocked_client_that_disconnects_leaves_no_waiter(cache):
    connect, state = cache
    p = await connect()
    p.send("BLPOP", "q", "0")
    await until(lambda: bool(state.blocking.waiters))
    p.w.close()
    await until(lambda: not state.blocking.waiters)


async def test_pubsub_resp2_and_resp3_subscribers(cache):
    connect, state = cache
    s2, s3, pub = await connect(), await connect(), await connect()
    s2.send("SUBSCRIBE", "news")
    await s2.expect(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n")
    s3.send("HELLO", "3")
    await s3.r.readuntil(b"modules\r\n*0\r\n")
    s3.send("PSUBSCRIBE", "n*")
    await s3.expect(b">3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:1\r\n")
    pub.send("PUBLISH", "news", "hello")
    await pub.expect(b":2\r\n")
    await s2.expect(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n")
    await s3.expect(b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n")
    pub.send("PUBSUB", "CHANNELS")
    await pub.expect(b"*1\r\n$4\r\nnews\r\n")


async def test_cron_expires_keys_actively(cache):
    connect, state = cache
    now = [1_000_000]
    state.keyspace.clock = lambda: now[0]
    p = await connect()
    p.w.write(b"".join(encode_command("SET", f"k{i}", "v", "PX", "50") for i in range(200)))
    await p.expect(b"+OK\r\n" * 200)
    now[0] += 51
    await until(lambda: len(state.keyspace.dbs[0]) == 0)  # nobody touched them
    assert state.keyspace.expired_keys == 200


async def test_protocol_error_closes_only_that_connection(cache):
    connect, _ = cache
    bad, good = await connect(), await connect()
    good.send("SET", "k", "1")
    await good.expect(b"+OK\r\n")
    bad.w.write(b"PING\r\n*2\r\n$3\r\nGET\r\n$999999999999\r\n")
    await bad.expect(b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
    assert await bad.closed()
    huge = await connect()
    huge.w.write(b"X" * (70 * 1024))  # an inline line past 64 KiB without a newline
    await huge.expect(b"-ERR Protocol error: too big inline request\r\n")
    assert await huge.closed()
    good.send("GET", "k")
    await good.expect(b"$1\r\n1\r\n")


async def test_a_subscriber_that_stops_reading_is_dropped_and_publishing_goes_on(cache):
    connect, state = cache
    state.output_limits = {**state.output_limits, "pubsub": (256 * 1024, 8 << 20, 60)}
    sub, pub = await connect(), await connect()
    sub.send("SUBSCRIBE", "firehose")
    await sub.expect(b"*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n")
    # From here the subscriber reads nothing (its StreamReader stops the socket
    # once full), so the server's unsent output for it grows.
    msg = b"x" * 65536
    for _ in range(400):  # 26 MB: far more than the loopback socket buffers hold
        pub.send("PUBLISH", "firehose", msg)
        if (await pub.r.readline()) == b":0\r\n":
            break
    assert state.hub_dropped == 1
    pub.send("PUBLISH", "firehose", "late")
    await pub.expect(b":0\r\n")
    assert not state.hub.channels


async def test_a_client_that_pipelines_without_reading_cannot_grow_server_memory(cache):
    """Thousands of GETs of a big value, replies never read: the server stops reading.

    Each reply is 16 KiB, so 2,000 pipelined GETs (44 KB of input, one read)
    would queue 32 MiB of output at once. The session runs commands only while
    its unsent output is under the high-water mark and pauses reading until the
    peer drains it; every reply still arrives, in order, once the peer reads.
    """
    connect, state = cache
    p = await connect()
    value = b"v" * 16384
    p.send("SET", "big", value)
    await p.expect(b"+OK\r\n")
    (client,) = state.clients.values()
    n = 2000
    p.w.write(encode_command("GET", "big") * n + encode_command("PING"))
    await until(lambda: client.conn._proto.paused)
    assert client.conn.write_buffer_size() < 4 * 1024 * 1024
    reply = b"$16384\r\n" + value + b"\r\n"
    for _ in range(n):
        await p.expect(reply)
    await p.expect(b"+PONG\r\n")
    assert not client.conn._proto.paused


async def test_a_hundred_thousand_commands_in_one_write(cache):
    connect, _ = cache
    p = await connect()
    n = 100_000
    p.w.write(b"".join(encode_command("INCR", "n") for _ in range(n)))
    data = await asyncio.wait_for(
        p.r.readexactly(sum(len(b":%d\r\n" % i) for i in range(1, n + 1))), 20
    )
    assert data.endswith(b":%d\r\n" % n)
    p.send("GET", "n")
    await p.expect(b"$6\r\n100000\r\n")


async def test_used_memory_counts_each_client_and_the_bytes_it_sent_not_yet_parsed(cache):
    """Like Redis's used_memory: a connection costs its fixed share, and a half-received
    command its query buffer, so a client sending a huge value can push others over
    maxmemory (the cron samples the buffers each tick; INFO does too)."""
    connect, state = cache
    mem = state.memory
    base = mem.sample()
    assert base == STARTUP_BYTES + FUNCTIONS_BASE_BYTES  # nobody connected, nothing stored
    p = await connect()
    await until(lambda: len(state.clients) == 1)
    assert mem.sample() == base + CLIENT_BYTES
    big = 600_000
    p.w.write(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n" + b"x" * big)
    await until(lambda: mem.sample() >= base + CLIENT_BYTES + big)
    (sender,) = state.clients.values()
    fields = sender.info_fields()  # CLIENT LIST shows the same
    assert fields["qbuf"] >= big and fields["tot-mem"] == CLIENT_BYTES + fields["qbuf"]
    q = await connect()
    q.send("CONFIG", "SET", "maxmemory", str(base + 2 * CLIENT_BYTES + big // 2))
    await q.expect(b"+OK\r\n")
    q.send("SET", "small", "v")
    await q.expect(b"-OOM command not allowed when used memory > 'maxmemory'.\r\n")
    q.send("INFO", "memory")
    q.send("CONFIG", "SET", "maxmemory", "0")
    info = (await asyncio.wait_for(q.r.readuntil(b"\r\n\r\n"), 5)).decode()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    used, overhead = int(fields["used_memory"]), int(fields["used_memory_overhead"])
    assert used == overhead + int(fields["used_memory_dataset"]) and used >= base + big
    assert int(fields["mem_clients_normal"]) >= 2 * CLIENT_BYTES + big
    assert int(fields["used_memory_startup"]) == STARTUP_BYTES
    await q.expect(b"+OK\r\n")
    p.w.write(b"x" * (1_000_000 - big) + b"\r\n")
    await p.expect(b"+OK\r\n")
    await until(lambda: mem.sample() == base + 2 * CLIENT_BYTES + state.keyspace.used)
