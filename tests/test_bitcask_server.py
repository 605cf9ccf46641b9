"""The Bitcask RESP server: exact bytes on a socket, then real clients (redis-cli, redis-py).

Raw-socket tests run the server in this event loop on port 0 over a temporary
directory; the client tests launch ``python -m servers.bitcask`` as a child,
exactly as ``make serve-bitcask`` does, and talk to it with clients nobody
here wrote.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading

import pytest
import redis
from support import exchange as _exchange

from netlib.shell import ShellConfig
from servers.bitcask.server import serve
from storage.bitcask import Bitcask
from storage.bitcask import format as fmt
from storage.bitcask import merge as merge_module

pytestmark = pytest.mark.exercise("S5")


@pytest.fixture
async def server(tmp_path):
    db = Bitcask.open(tmp_path, max_file_size=512)
    srv = await serve(ShellConfig(port=0), db)
    yield srv, db
    await srv.shutdown(grace=0.5)
    db.close()


async def test_commands_answer_exact_bytes(server):
    srv, _ = server
    req = (
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        b"*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n"
        b"*3\r\n$6\r\nEXISTS\r\n$1\r\nk\r\n$7\r\nmissing\r\n"
        b"*1\r\n$6\r\nDBSIZE\r\n"
        b"*3\r\n$3\r\nDEL\r\n$1\r\nk\r\n$1\r\nk\r\n"
        b"*1\r\n$4\r\nPING\r\n"
    )
    want = b"+OK\r\n$5\r\nhello\r\n$-1\r\n:1\r\n:1\r\n:1\r\n+PONG\r\n"
    assert await _exchange(srv.port, req, b"+PONG\r\n") == want


async def test_inline_commands_for_telnet_users(server):
    srv, _ = server
    got = await _exchange(srv.port, b'SET greeting "hello world"\r\nGET greeting\r\n', b"world\r\n")
    assert got == b"+OK\r\n$11\r\nhello world\r\n"


async def test_keys_with_glob_pattern(server):
    srv, db = server
    for k in (b"user:1", b"user:2", b"user:10", b"order:1"):
        db.put(k, b"x")
    got = await _exchange(srv.port, b"KEYS user:?\r\n", b"\r\n$6\r\nuser:2\r\n")
    assert sorted(got.split(b"\r\n")[2:5:2]) == [b"user:1", b"user:2"]
    assert got.startswith(b"*2\r\n")


async def test_errors_keep_the_connection(server):
    srv, _ = server
    got = await _exchange(srv.port, b"NOPE a\r\nGET\r\nPING\r\n", b"+PONG\r\n")
    assert got == (
        b"-ERR unknown command 'NOPE', with args beginning with: 'a' \r\n"
        b"-ERR wrong number of arguments for 'get' command\r\n+PONG\r\n"
    )


async def test_protocol_error_closes_only_that_connection(server):
    srv, _ = server
    got = await _exchange(srv.port, b"*1\r\n$x\r\n", b"\r\n")
    assert got.startswith(b"-ERR Protocol error")
    assert await _exchange(srv.port, b"PING\r\n", b"+PONG\r\n") == b"+PONG\r\n"


async def test_merge_command_reclaims_space_and_keeps_reply_order(server):
    srv, db = server
    for round_ in range(3):
        for i in range(40):
            db.put(b"key%d" % i, b"round %d" % round_)
    before = db.disk_usage()
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"MERGE\r\nGET key7\r\n")  # GET waits for MERGE's reply: order kept
    other = await _exchange(srv.port, b"GET key3\r\n", b"round 2\r\n")
    assert other == b"$7\r\nround 2\r\n"
    line = await asyncio.wait_for(reader.readline(), 30)
    assert line.startswith(b"+OK merged") and b"40 live keys" in line
    assert await asyncio.wait_for(reader.readexactly(13), 10) == b"$7\r\nround 2\r\n"
    writer.close()
    assert db.disk_usage() < before


async def test_other_clients_read_and_write_while_merge_runs(server, monkeypatch):
    """MERGE is held inside its worker thread; another connection is served meanwhile."""
    srv, db = server
    for i in range(30):
        db.put(b"key%d" % i, b"old")
        db.put(b"key%d" % i, b"v%d" % i)
    paused, go = threading.Event(), threading.Event()
    real_copy = merge_module._copy_live

    def copy_then_wait(db_, file_id, out):
        real_copy(db_, file_id, out)
        paused.set()
        go.wait(30)

    monkeypatch.setattr(merge_module, "_copy_live", copy_then_wait)
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"MERGE\r\n")
    assert await loop.run_in_executor(None, paused.wait, 30)
    got = await _exchange(srv.port, b"GET key7\r\nSET key8 new\r\nGET key8\r\n", b"new\r\n")
    assert got == b"$2\r\nv7\r\n+OK\r\n$3\r\nnew\r\n" and db.merging
    go.set()
    assert (await asyncio.wait_for(reader.readline(), 30)).startswith(b"+OK merged")
    writer.close()
    assert db.get(b"key8") == b"new" and db.get(b"key9") == b"v9"


@pytest.fixture
def bitcask_child(launch, tmp_path):
    return launch("servers.bitcask", "--dir", str(tmp_path / "data"), "--sync", "always")


def test_redis_py_talks_to_it(bitcask_child):
    r = redis.Redis(host="127.0.0.1", port=bitcask_child.port)
    assert r.ping()
    assert r.set("word", "bitcask") is True
    assert r.get("word") == b"bitcask"
    assert r.set(b"bin\x00key", b"\xff\x00") and r.get(b"bin\x00key") == b"\xff\x00"
    assert r.exists("word", "nope") == 1
    assert sorted(r.keys("*")) == [b"bin\x00key", b"word"]
    assert r.dbsize() == 2
    assert r.delete("word", "nope") == 1 and r.get("word") is None
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"p{i}", i)
    assert all(pipe.execute())
    assert r.execute_command("MERGE").startswith(b"OK merged")
    assert r.get("p42") == b"42"
    r.close()


def test_redis_py_resp3_hello(bitcask_child):
    r = redis.Redis(host="127.0.0.1", port=bitcask_child.port, protocol=3)
    assert r.set("a", "1") and r.get("a") == b"1" and r.get("missing") is None
    r.close()


def test_redis_cli_talks_to_it_and_data_survives_restart(launch, tmp_path):
    cli = shutil.which("redis-cli")
    assert cli, "redis-cli missing: install the Debian package redis-tools"
    data = str(tmp_path / "data")
    child = launch("servers.bitcask", "--dir", data)

    def run(*args: str) -> str:
        out = subprocess.run(
            [cli, "-p", str(child.port), *args], capture_output=True, text=True, timeout=20
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run("SET", "lang", "python") == "OK"
    assert run("GET", "lang") == "python"
    assert run("DBSIZE") == "1"
    assert run("KEYS", "l*") == "lang"
    assert run("MERGE").startswith("OK merged")
    assert child.stop() == 0  # SIGTERM: clean stop, data synced and hinted
    child = launch("servers.bitcask", "--dir", data)
    assert run("GET", "lang") == "python"


def _cmd(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


async def test_keys_and_values_past_the_engine_limits_answer_errors(server):
    """Each refused command answers -ERR; the connection and the data stay intact."""
    srv, db = server
    long_key = b"k" * (fmt.MAX_KEY_SIZE + 1)
    req = (
        _cmd(b"SET", b"ok", b"1")
        + _cmd(b"SET", b"big", b"v" * (fmt.MAX_VALUE_SIZE + 1))  # past MAX_PAYLOAD with its key
        + _cmd(b"SET", long_key, b"v")
        + _cmd(b"SET", b"", b"v")
        + _cmd(b"DEL", long_key, b"ok")
        + _cmd(b"GET", long_key)
        + _cmd(b"EXISTS", long_key, b"")
        + _cmd(b"PING")
    )
    got = await _exchange(srv.port, req, b"+PONG\r\n")
    replies = got.split(b"\r\n")
    assert replies[0] == b"+OK"
    assert replies[1].startswith(b"-ERR value longer than")
    assert replies[2].startswith(b"-ERR key length") and replies[3].startswith(b"-ERR key length")
    assert replies[4:] == [b":1", b"$-1", b":0", b"+PONG", b""]
    assert db.keys() == [] and db.get(b"big") is None


async def test_binary_keys_with_nul_and_crlf_round_trip_and_match(server):
    srv, _ = server
    key, value = b"a\x00\r\nb", b"\r\n\x00\xff"
    req = (
        _cmd(b"SET", key, value)
        + _cmd(b"GET", key)
        + _cmd(b"KEYS", b"a?\r\n*")
        + _cmd(b"KEYS", b"a[\x00]*")
        + _cmd(b"PING")
    )
    got = await _exchange(srv.port, req, b"+PONG\r\n")
    bulk = b"$5\r\n" + key + b"\r\n"
    assert got == b"+OK\r\n$4\r\n" + value + b"\r\n*1\r\n" + bulk + b"*1\r\n" + bulk + b"+PONG\r\n"


@pytest.mark.parametrize(
    ("pattern", "want"),
    [
        (b"*", [b"[x]", b"a*b", b"ab", b"h\\i"]),
        (b"", []),
        (b"a\\*b", [b"a*b"]),  # an escaped star is a literal star
        (b"[[]x]", [b"[x]"]),
        (b"[", []),  # an unclosed class matches nothing here, and does not crash
        (b"h\\\\i", [b"h\\i"]),
        (b"a[^*]", [b"ab"]),
        (b"?", []),
    ],
)
async def test_keys_pattern_edge_cases(server, pattern, want):
    srv, db = server
    for k in (b"ab", b"a*b", b"[x]", b"h\\i"):
        db.put(k, b"1")
    got = await _exchange(srv.port, _cmd(b"KEYS", pattern) + _cmd(b"PING"), b"+PONG\r\n")
    assert got.startswith(b"*%d\r\n" % len(want)), got
    parts = got.split(b"\r\n")[2 : 2 * len(want) + 1 : 2]
    assert sorted(parts) == want


@pytest.mark.parametrize("bad", ["0", "-5", "sometimes", "1.5"])
def test_a_bad_sync_flag_is_a_usage_error_not_a_traceback(bad):
    import argparse

    from servers.bitcask.__main__ import sync_policy

    with pytest.raises(argparse.ArgumentTypeError):
        sync_policy(bad)
    assert sync_policy("always") == "always" and sync_policy("250") == 250


async def test_connection_commands_are_the_kits_not_a_drifted_copy(server):
    """Bitcask once took 'HELLO 03', answered OK to any CLIENT subcommand and had its own
    wording; now the connection commands are the kit's, Redis's replies."""
    srv, _ = server
    got = await _exchange(
        srv.port,
        b"HELLO 03\r\nCLIENT FOO\r\nCLIENT SETNAME\r\nSELECT 1\r\nAUTH pw\r\nPING\r\n",
        b"+PONG\r\n",
    )
    assert got == (
        b"-ERR Protocol version is not an integer or out of range\r\n"
        b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n"
        b"-ERR wrong number of arguments for 'client|setname' command\r\n"
        b"-ERR DB index is out of range\r\n"
        b"-ERR AUTH <password> called without any password configured for the default user."
        b" Are you sure your configuration is correct?\r\n+PONG\r\n"
    )


def test_redis_cli_pipe_mass_insertion(launch, tmp_path):
    """``redis-cli --pipe``: 5,000 pipelined SETs, then its ECHO marker, all answered."""
    child = launch("servers.bitcask", "--dir", str(tmp_path / "data"), "--sync", "never")
    data = "".join(f"SET key:{i} value-{i}\r\n" for i in range(5000))
    port = str(child.port)
    r = subprocess.run(
        ["redis-cli", "-p", port, "--pipe"], input=data, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert "errors: 0, replies: 5000" in r.stdout
    dbsize = subprocess.run(["redis-cli", "-p", port, "DBSIZE"], capture_output=True, text=True)
    assert dbsize.stdout.strip() == "5000"


async def test_a_full_disk_answers_an_error_and_keeps_the_connection(server, monkeypatch):
    import errno

    srv, db = server

    def full(key: bytes, value: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(db, "put", full)
    got = await _exchange(srv.port, b"SET k v\r\nGET k\r\nPING\r\n", b"+PONG\r\n")
    assert got == b"-ERR storage error: [Errno 28] No space left on device\r\n$-1\r\n+PONG\r\n"
