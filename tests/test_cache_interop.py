"""servers.cache with clients nobody here wrote: redis-cli (interactive and --pipe), redis-py
(sync and asyncio, pipelines, transactions, pub/sub, RESP3), and nc typing inline commands."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from harness.procs import Child, python_module
from netlib.resp import encode_command

pytestmark = pytest.mark.exercise("N14")


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """One cache child for the module (tests use their own keys and flush their database)."""
    with python_module("servers.cache", port=0) as child:
        assert isinstance(child, Child)
        yield child.port  # type: ignore[misc]


def cli(port: int, *args: str, stdin: str | bytes | None = None) -> str:
    res = subprocess.run(
        ["redis-cli", "-p", str(port), *args],
        input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.decode()


def test_redis_cli_commands_one_per_invocation(port):
    assert cli(port, "-n", "1", "SET", "greeting", "hello world") == "OK\n"
    assert cli(port, "-n", "1", "GET", "greeting") == "hello world\n"
    assert cli(port, "-n", "1", "RPUSH", "l", "a", "b") == "2\n"
    assert cli(port, "-n", "1", "LRANGE", "l", "0", "-1") == "a\nb\n"
    assert cli(port, "-n", "1", "GET", "l") == (
        "WRONGTYPE Operation against a key holding the wrong kind of value\n\n"
    )
    assert cli(port, "-n", "1", "TTL", "greeting") == "-1\n"
    assert cli(port, "-n", "1", "--no-raw", "HGETALL", "nothing") == "(empty array)\n"


def test_redis_cli_reading_a_session_from_stdin(port):
    session = "SELECT 2\nFLUSHDB\nSET counter 41\nINCR counter\nHSET h f v\nHGETALL h\nDBSIZE\n"
    assert cli(port, stdin=session) == "OK\nOK\nOK\n42\n1\nf\nv\n2\n"


def test_redis_cli_resp3_map_and_scan_iteration(port):
    for i in range(30):
        cli(port, "-n", "3", "SET", f"scan:{i}", str(i))
    keys = cli(port, "-n", "3", "--scan", "--pattern", "scan:*").split()
    assert sorted(keys) == sorted(f"scan:{i}" for i in range(30))
    cli(port, "-n", "3", "HSET", "h", "f", "v")
    assert cli(port, "-3", "-n", "3", "--no-raw", "HGETALL", "h") == '1# "f" => "v"\n'


# A session whose every reply is deterministic: redis-cli must print the same for both servers.
SESSION = """FLUSHDB
SET k v EX 100 NX
SET k v2 NX
GET k
TTL k
SET k v3 XX KEEPTTL
TTL k
INCR k
INCR n
INCRBY n 9
DECRBY n x
INCRBYFLOAT f 0.1
INCRBYFLOAT f 2.0e2
APPEND s abc
GETRANGE s 0 -2
SETRANGE s 5 z
STRLEN s
RPUSH l a b c d e
LPUSH l z
LRANGE l 1 -2
LINDEX l 99
LSET l 9 x
LREM l 0 b
LTRIM l 1 3
LRANGE l 0 -1
LPOP l 2
RPOP nothing 2
LINSERT l BEFORE e y
LLEN l
HSET h f1 1 f2 2
HINCRBY h f1 10
HINCRBY h f2 x
HMGET h f1 nope f2
HDEL h f1 nope
HGETALL h
SADD s1 a
SADD s1 a
SISMEMBER s1 a
SCARD s1
EXPIRE h 10 XX
EXPIRE h 10 NX GT
PEXPIRE k 2500
PERSIST k
TYPE l
TYPE nothing
EXISTS k n nothing
RENAME nothing x
GET
NOSUCHCOMMAND a b
SELECT 99
DEL k n f
SETEX se 100 v
SETEX se 0 v
GETEX se PERSIST
TTL se
GETDEL se
GETDEL se
MSET m1 a m2 b
MSETNX m2 x m3 y
MGET m1 m2 m3
SET m1 new GET
SET m1 x EX 0
SET m1 x PX 10 EX 10
LPUSHX nolist a
RPUSHX l tail
HSETNX h f2 again
HEXISTS h f2
HLEN h
HSTRLEN h f2
SADD s2 a b
SINTER s1 s2
SDIFF s2 s1
SPOP s1
SPOP s1
SRANDMEMBER s1
SMISMEMBER s2 a z
BLPOP l x
BLPOP l -1
LPOP l -1
CONFIG FOO
CLIENT GETNAME
EXPIRE l 9223372036854775807
SETRANGE s -1 x
GETRANGE s -3 -1
INCR s
MULTI
INCR n2
GET
EXEC
MULTI
INCR n2
LPUSH s x
EXEC
DISCARD
WATCH k
SET k 5
MULTI
INCR k
EXEC
WATCH k
UNWATCH
MULTI
INCR k
EXEC
DBSIZE
ECHO bye
"""


def test_redis_cli_prints_the_same_as_for_real_redis(port, redis_addr):
    ours = cli(port, "-n", "10", stdin=SESSION)
    real = cli(redis_addr.port, "-n", "10", stdin=SESSION)
    assert ours.splitlines() == real.splitlines()
    assert ours == real


SESSION3 = """HELLO 3
FLUSHDB
GET missing
HSET h a 1 b 2
HGETALL h
HINCRBYFLOAT h a 0.5
SADD s only
SMEMBERS s
SPOP s 1
CONFIG GET maxmemory-policy
RPUSH l x
LPOP l 5
LPOP l 5
BLPOP l 0.01
MGET h missing
PUBSUB NUMSUB a b
INCRBYFLOAT f 3.0e-1
HINCRBYFLOAT h big 1e400
HINCRBYFLOAT h big 1e4000
INCRBYFLOAT f 1e-5000
LINDEX nothing 0
"""


def test_redis_cli_resp3_session_prints_the_same_as_for_real_redis(port, redis_addr):
    ours = cli(port, "-3", "--no-raw", "-n", "11", stdin=SESSION3).splitlines()
    real = cli(redis_addr.port, "-3", "--no-raw", "-n", "11", stdin=SESSION3).splitlines()
    hello = 8  # HELLO's map (server, version, proto, id, mode, role, modules) differs by id
    assert ours[hello:] == real[hello:]


def _raw_session(port: int, proto: int, commands: list[list[str]]) -> bytes:
    """Every reply byte for ``commands`` pipelined in one write (after HELLO, not compared)."""
    end = encode_command("ECHO", "__end__")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(encode_command("HELLO", str(proto)) + encode_command("SELECT", "12"))
        buf = b""
        while not buf.endswith(b"modules\r\n*0\r\n+OK\r\n"):
            buf += s.recv(65536)
        s.sendall(b"".join(encode_command(*c) for c in commands) + end)
        buf = b""
        while not buf.endswith(b"$7\r\n__end__\r\n"):
            chunk = s.recv(65536)
            assert chunk, buf[-200:]
            buf += chunk
    return buf


@pytest.mark.parametrize("proto", [2, 3])
def test_raw_reply_bytes_equal_real_redis(port, redis_addr, proto):
    commands = [line.split() for line in SESSION.splitlines() if line and "MULTI" not in line]
    commands += [line.split() for line in SESSION3.splitlines()[1:]]
    ours = _raw_session(port, proto, commands)
    real = _raw_session(redis_addr.port, proto, commands)
    assert ours == real


def test_redis_cli_pipe_mass_insert(port):
    n = 20_000
    data = b"".join(encode_command("SET", f"mass:{i}", f"value:{i}") for i in range(n))
    data = encode_command("SELECT", "4") + data
    out = cli(port, "--pipe", stdin=data)
    assert f"errors: 0, replies: {n + 1}" in out
    assert cli(port, "-n", "4", "DBSIZE") == f"{n}\n"
    assert cli(port, "-n", "4", "GET", "mass:19999") == "value:19999\n"


def test_redis_py_sync_commands_pipeline_and_transaction(port):
    r = redis.Redis(port=port, db=5, decode_responses=True)
    r.flushdb()
    assert r.set("a", "1", ex=100) is True
    assert r.ttl("a") == 100
    assert r.incrby("a", 9) == 10
    assert r.mget("a", "missing") == ["10", None]
    with r.pipeline(transaction=False) as p:
        for i in range(100):
            p.rpush("list", i)
        p.lrange("list", 0, 2)
        results = p.execute()
    assert results[-1] == ["0", "1", "2"]
    with r.pipeline() as p:  # MULTI/EXEC
        results = p.incr("tx").incr("tx").get("tx").execute()
    assert results == [1, 2, "2"]
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.hget("list", "f")
    with r.pipeline() as p:  # check-and-set with WATCH, losing the race once
        p.watch("tx")
        seen = int(p.get("tx"))
        redis.Redis(port=port, db=5).incr("tx")  # another client writes meanwhile
        p.multi()
        p.set("tx", seen * 10)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.hset("h", mapping={"x": "1", "y": "2"}) == 2
    assert r.hgetall("h") == {"x": "1", "y": "2"}
    assert r.sadd("s", "a", "b") == 2 and r.smembers("s") == {"a", "b"}
    assert sorted(r.scan_iter(match="l*")) == ["list"]
    assert r.info("keyspace")["db5"]["keys"] == 5
    assert r.get("tx") == "3"
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def test_redis_py_resp3(port):
    r = redis.Redis(port=port, db=6, protocol=3, decode_responses=True)
    r.flushdb()
    r.hset("h", "f", "v")
    assert r.hgetall("h") == {"f": "v"}
    assert r.get("nothing") is None
    assert r.incrbyfloat("f", 1.5) == 1.5


def test_redis_py_pubsub_and_blocking_pop(port):
    r = redis.Redis(port=port, db=7)
    ps = r.pubsub()
    ps.subscribe("chan")
    assert ps.get_message(timeout=5)["type"] == "subscribe"
    assert r.publish("chan", "hi") == 1
    msg = ps.get_message(timeout=5)
    assert (msg["type"], msg["channel"], msg["data"]) == ("message", b"chan", b"hi")
    ps.close()
    r.rpush("q", "job")
    assert r.blpop(["q"], timeout=1) == (b"q", b"job")
    assert r.blpop(["q"], timeout=0.1) is None


async def test_redis_py_asyncio_pipeline_pubsub_and_blocking(port):
    r = aioredis.Redis(port=port, db=8, decode_responses=True)
    try:
        await r.flushdb()
        async with r.pipeline(transaction=False) as p:
            for i in range(50):
                p.set(f"k{i}", i)
            p.dbsize()
            res = await p.execute()
        assert res[-1] == 50
        ps = r.pubsub()
        await ps.psubscribe("ev.*")
        assert (await ps.get_message(timeout=5))["type"] == "psubscribe"
        assert await r.publish("ev.1", "x") == 1
        msg = await ps.get_message(timeout=5)
        assert (msg["type"], msg["channel"], msg["data"]) == ("pmessage", "ev.1", "x")
        await ps.aclose()
        other = aioredis.Redis(port=port, db=8, decode_responses=True)
        # The push may land before or after the BRPOP reaches the server: both must work.
        waiting = asyncio.create_task(r.brpop(["jobs"], timeout=5))
        await other.lpush("jobs", "j1")
        assert await waiting == ("jobs", "j1")
        await other.aclose()
    finally:
        await r.aclose()


def test_nc_inline_session(port):
    session = (
        b'SELECT 9\r\nSET greeting "hello world"\r\nGET greeting\r\nexists greeting nope\nQUIT\r\n'
    )
    res = subprocess.run(
        ["nc", "127.0.0.1", str(port)], input=session, capture_output=True, timeout=10
    )
    assert res.stdout == b"+OK\r\n+OK\r\n$11\r\nhello world\r\n:1\r\n+OK\r\n"


def test_garbage_closes_that_connection_and_the_server_keeps_serving(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n:1\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data == b"+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n"
    assert cli(port, "PING") == "PONG\n"


def test_flags_set_maxmemory_and_the_policy_evicts_in_a_real_process(launch):
    # An empty server already accounts ~880 KB (Redis 7.0's startup figure): 1 MB leaves
    # room for ~900 of these keys beside it.
    child = launch("servers.cache", "--maxmemory", "1mb", "--maxmemory-policy", "allkeys-lru")
    r = redis.Redis(port=child.port, decode_responses=True)
    assert r.config_get("maxmemory*") == {
        "maxmemory": "1048576", "maxmemory-policy": "allkeys-lru", "maxmemory-samples": "5",
    }  # fmt: skip
    for i in range(2000):
        assert r.set(f"k{i}", "x" * 100)
    assert 900 < r.info("stats")["evicted_keys"] < 1500  # evicted down to the limit, no more
    memory = r.info("memory")
    assert memory["used_memory"] <= 1048576 + 200  # mb = 1024 * 1024, as Redis reads it
    assert memory["used_memory_dataset"] > 100_000  # the overhead did not crowd out the data
    assert r.get("k1999") == "x" * 100  # the newest key survived
    r.close()


def test_redis_cli_help_shows_the_same_argument_hints_as_real_redis(port, redis_addr):
    """redis-cli 7 builds ``help CMD`` and its typing hints from COMMAND DOCS' arguments."""
    names = ["set", "getex", "expire", "blpop", "scan", "hset", "linsert", "client setname"]
    for name in names:
        ours = cli(port, "help", *name.split())
        real = cli(redis_addr.port, "help", *name.split())
        assert ours.splitlines()[1] == real.splitlines()[1], name  # the name and its arguments


def test_every_command_that_takes_arguments_documents_them():
    from servers.cache.table import REGISTRY

    syntax = set(REGISTRY.syntax)
    takes_args = {c.name for c in REGISTRY.commands() if c.arity not in (1,) and not c.subcommands}
    bare = {"quit", "reset", "info", "unsubscribe", "punsubscribe"}
    assert takes_args - syntax - bare == set()
