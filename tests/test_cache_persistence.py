"""The cache's AOF and snapshots with real processes: SIGKILL during writes (each
``appendfsync`` policy) and during a rewrite, a torn or corrupt tail cut with a log line,
``redis-check-aof`` reading our multi-part files, SAVE/BGSAVE loaded at start, and the
logging of commands whose effect is not a function of their arguments (SPOP, BLPOP served
later, XADD *, relative TTLs)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from harness.procs import Child, python_module
from servers.cache.persist import MANIFEST, parse_manifest
from servers.cache.saving import CorruptFile
from servers.cache.server import CacheSettings, State

pytestmark = pytest.mark.exercise("N14")


def start(d: Path, *extra: str, appendonly: bool = True, policy: str = "always") -> Child:
    args = ["--dir", str(d), "--appendfsync", policy, *extra]
    if appendonly:
        args += ["--appendonly", "yes"]
    return python_module("servers.cache", *args, port=0).start()


def check_aof(d: Path) -> str:
    res = subprocess.run(
        ["redis-check-aof", str(d / "appendonlydir" / MANIFEST)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def writer(port: int, acked: list[int], stop: threading.Event, pipeline: int = 1) -> None:
    """SET k<i> i as fast as possible, recording each i once its reply arrived."""
    r = redis.Redis(port=port, socket_timeout=5)
    i = 0
    try:
        while not stop.is_set():
            if pipeline == 1:
                r.set(f"k{i}", i)
                acked.append(i)
                i += 1
            else:
                p = r.pipeline(transaction=False)
                for j in range(i, i + pipeline):
                    p.set(f"k{j}", j)
                p.execute()
                acked.extend(range(i, i + pipeline))
                i += pipeline
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        pass  # the server was killed under us
    finally:
        r.close()


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
def test_sigkill_during_writes_loses_no_acknowledged_write(tmp_path, policy):
    server = start(tmp_path, policy=policy)
    acked: list[int] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=writer, args=(server.port, acked, stop)),
        threading.Thread(target=writer, args=(server.port, [], stop, 16)),
    ]
    for t in threads:
        t.start()
    time.sleep(1.5)
    # everysec's thread fsyncs about once a second; on a loaded machine (the GIL, two
    # writers) its first may come later than 1.5 s, so wait for it while the writes go on.
    info = redis.Redis(port=server.port)
    deadline = time.monotonic() + 15
    while (fsyncs := info.info("persistence")["aof_fsyncs"]) < 1 and policy != "no":
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    info.close()
    server.kill()  # SIGKILL: no cleanup runs
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 50
    if policy != "no":
        assert (
            fsyncs >= 1
        )  # everysec: the thread fsynced while the writes went on; always: every batch
    again = start(tmp_path, policy=policy)
    r = redis.Redis(port=again.port)
    values = r.mget([f"k{i}" for i in acked])
    missing = [i for i, v in zip(acked, values, strict=True) if v != str(i).encode()]
    # Each batch's log is written (write(2)) before its replies, so a killed process
    # loses nothing under any policy; fsync matters for a power loss, not for SIGKILL.
    assert missing == []
    check_aof(tmp_path)
    again.stop()


def test_sigkill_at_any_point_of_a_rewrite_leaves_a_loadable_set(tmp_path):
    server = start(tmp_path, policy="everysec")
    r = redis.Redis(port=server.port)
    p = r.pipeline(transaction=False)
    for i in range(15_000):
        p.rpush(f"list{i % 50}", i)
        p.set(f"base{i}", "x" * 20)
    p.execute()
    expected_lists = {f"list{j}": r.llen(f"list{j}") for j in range(50)}
    r.close()
    for delay in (0.0, 0.02, 0.1, 0.5):
        acked: list[int] = []
        stop = threading.Event()
        t = threading.Thread(target=writer, args=(server.port, acked, stop))
        t.start()
        time.sleep(0.05)
        redis.Redis(port=server.port).bgrewriteaof()
        time.sleep(delay)
        server.kill()
        stop.set()
        t.join()
        server = start(tmp_path, policy="everysec")
        r = redis.Redis(port=server.port)
        assert r.get("base14999") == b"x" * 20
        assert {f"list{j}": r.llen(f"list{j}") for j in range(50)} == expected_lists
        if acked:
            values = r.mget([f"k{i}" for i in acked])
            assert all(v == str(i).encode() for i, v in zip(acked, values, strict=True))
        r.close()
        files = parse_manifest((tmp_path / "appendonlydir" / MANIFEST).read_text())
        assert sum(f.kind == "b" for f in files) == 1
        check_aof(tmp_path)
    # and a rewrite that completes compacts: the base holds everything, one incr file
    r = redis.Redis(port=server.port)
    r.bgrewriteaof()
    deadline = time.monotonic() + 60
    while (
        r.info("persistence")["aof_rewrite_in_progress"]
        or not r.info("persistence")["aof_rewrites"]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    files = parse_manifest((tmp_path / "appendonlydir" / MANIFEST).read_text())
    assert [f.kind for f in files] == ["b", "i"]
    assert sorted(os.listdir(tmp_path / "appendonlydir")) == sorted(
        [f.name for f in files] + [MANIFEST]
    )
    r.close()
    server.stop()


def test_a_killed_rewrite_child_leaves_the_old_aof_working(tmp_path):
    server = start(tmp_path)
    r = redis.Redis(port=server.port)
    p = r.pipeline(transaction=False)
    for i in range(100_000):
        p.set(f"key{i}", i)
    p.execute()
    r.bgrewriteaof()
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    assert children  # the rewrite is still writing 100k keys
    for pid in children:
        os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while r.info("persistence")["aof_rewrite_in_progress"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert r.info("persistence")["aof_last_bgrewrite_status"] == "err"
    r.set("after", "1")
    server.kill()
    server = start(tmp_path)
    r = redis.Redis(port=server.port)
    assert r.get("key99999") == b"99999" and r.get("after") == b"1"
    check_aof(tmp_path)
    r.close()
    server.stop()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path


def _write_some(d: Path, n: int) -> Path:
    server = start(d)
    assert server.port is not None
    r = redis.Redis(port=server.port)
    for i in range(n):
        r.set(f"k{i}", i)
    r.close()
    server.stop()
    incr = sorted((d / "appendonlydir").glob("*.incr.aof"))[-1]
    return incr


def test_torn_tail(cache_dir, caplog):
    incr = _write_some(cache_dir, 20)
    size = incr.stat().st_size
    torn = b"*3\r\n$3\r\nSET\r\n$2\r\nk9"  # a write torn by a crash
    with open(incr, "ab") as f:
        f.write(torn)
    with caplog.at_level(logging.WARNING, logger="servers.cache.persist"):
        state = State(CacheSettings(dir=str(cache_dir), appendonly=True))
    assert f"torn or corrupt tail of {len(torn)} bytes" in caplog.text
    assert incr.stat().st_size == size
    assert state.keyspace.dbs[0].data[b"k19"] == b"19"
    state.persistence.close()  # type: ignore[union-attr]


def test_a_flipped_byte_in_the_last_batch_drops_that_batch(cache_dir, caplog):
    """(A flipped byte with intact batches after it refuses to start instead:
    tests/test_cache_restarts.py.)"""
    incr = _write_some(cache_dir, 20)
    data = bytearray(incr.read_bytes())
    at = data.index(b"k19\r\n$2\r\n19")
    data[at + len(b"k19\r\n$2\r\n")] ^= 0x01  # "19" -> "09": the RESP still parses
    incr.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="servers.cache.persist"):
        state = State(CacheSettings(dir=str(cache_dir), appendonly=True))
    data0 = state.keyspace.dbs[0].data
    assert data0[b"k18"] == b"18" and b"k19" not in data0
    assert "was cut off" in caplog.text
    state.persistence.close()  # type: ignore[union-attr]


def test_a_damaged_base_refuses_to_start_with_one_line(cache_dir):
    _write_some(cache_dir, 5)
    server = start(cache_dir)
    redis.Redis(port=server.port).bgrewriteaof()
    time.sleep(1.0)
    server.stop()
    base = next((cache_dir / "appendonlydir").glob("*.base.aof"))
    data = bytearray(base.read_bytes())
    data[len(data) // 2] ^= 0xFF
    base.write_bytes(bytes(data))
    with pytest.raises(CorruptFile):
        State(CacheSettings(dir=str(cache_dir), appendonly=True))
    res = subprocess.run(
        [sys.executable, "-m", "servers.cache", "--port", "0", "--dir", str(cache_dir),
         "--appendonly", "yes"],
        capture_output=True, text=True, timeout=30, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert res.returncode == 2 and "cannot load the saved data" in res.stderr
    assert "Traceback" not in res.stderr


def test_save_and_bgsave_snapshots_are_loaded_without_an_aof(cache_dir):
    server = start(cache_dir, appendonly=False)
    r = redis.Redis(port=server.port)
    r.set("s", "v")
    r.rpush("l", "a", "b")
    r.zadd("z", {"m": 1.5, "n": float("inf")})
    r.hset("h", mapping={"f": "1"})
    r.set("ttl", "x", ex=1000)
    r.xadd("st", {"f": "v"}, id="5-1")
    r.xgroup_create("st", "g", id="0")
    assert r.save()
    r.set("s", "v2")
    assert r.bgsave()
    deadline = time.monotonic() + 30
    while r.info("persistence")["rdb_bgsave_in_progress"] or r.lastsave() == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # the cron notices the child's end
    r.set("s", "lost: not saved")
    server.kill()
    server = start(cache_dir, appendonly=False)
    r = redis.Redis(port=server.port)
    assert r.get("s") == b"v2"
    assert r.lrange("l", 0, -1) == [b"a", b"b"]
    assert r.zrange("z", 0, -1, withscores=True) == [(b"m", 1.5), (b"n", float("inf"))]
    assert 990 < r.ttl("ttl") <= 1000
    assert r.xinfo_groups("st")[0]["name"] == b"g"
    r.close()
    server.stop()
    snap = cache_dir / "dump.sdb"
    data = bytearray(snap.read_bytes())
    data[20] ^= 0x20
    snap.write_bytes(bytes(data))
    with pytest.raises(CorruptFile):
        State(CacheSettings(dir=str(cache_dir)))


def test_commands_with_non_replayable_effects_are_logged_as_effects(cache_dir):
    server = start(cache_dir)
    r = redis.Redis(port=server.port)
    r.sadd("s", *range(50))
    popped = {int(x) for x in r.spop("s", 10)}
    r.rpush("q", "first")
    got: list[object] = []
    blocker = redis.Redis(port=server.port)
    t = threading.Thread(target=lambda: got.append(blocker.blpop(["empty"], timeout=10)))
    t.start()
    deadline = time.monotonic() + 10
    while r.info("clients")["blocked_clients"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r.rpush("empty", "a", "b")  # serves the BLPOP: "a" is gone, "b" stays
    t.join()
    assert got == [(b"empty", b"a")]
    xid = r.xadd("st", {"f": "v"})
    script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])"
    assert r.eval(script, 2, "from_lua", "counter", "written by a script") == 1
    r.set("short", "x", px=100)
    r.expire("s", 1000)
    time.sleep(0.3)
    server.kill()
    server = start(cache_dir)
    r = redis.Redis(port=server.port)
    assert {int(x) for x in r.smembers("s")} == set(range(50)) - popped
    assert r.lrange("empty", 0, -1) == [b"b"]
    assert r.xrange("st") == [(xid, {b"f": b"v"})]
    assert r.get("short") is None  # its absolute expiry passed while we were down
    assert 990 < r.ttl("s") <= 1000
    assert r.get("from_lua") == b"written by a script" and r.get("counter") == b"1"
    blocker.close()
    r.close()
    server.stop()


def test_evicted_keys_stay_evicted_after_a_restart(cache_dir):
    # ~880 KB of it is the empty server's own overhead (used_memory as Redis counts it)
    flags = ("--maxmemory", "1200kb", "--maxmemory-policy", "allkeys-random")
    server = start(cache_dir, *flags)
    r = redis.Redis(port=server.port)
    p = r.pipeline(transaction=False)
    for i in range(2000):
        p.set(f"key{i}", "x" * 500)
    p.execute()
    before = set(r.keys("*"))
    assert 0 < len(before) < 2000  # random eviction chose which keys stay
    server.kill()
    server = start(cache_dir, *flags)
    r = redis.Redis(port=server.port)
    assert set(r.keys("*")) == before
    r.close()
    server.stop()


def test_a_failed_aof_write_under_always_exits_instead_of_acknowledging(tmp_path):
    """The disk is full (here: RLIMIT_FSIZE, so write(2) fails with EFBIG): under
    appendfsync always the server must not answer a write it could not log, nor keep serving
    it from memory; as Redis, it exits, and a restart has every acknowledged write."""
    import resource

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    cmd = [sys.executable, "-m", "servers.cache", "--port", "0", "--dir", str(tmp_path),
           "--appendonly", "yes", "--appendfsync", "always"]  # fmt: skip
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=small_files)
    try:
        assert p.stderr is not None
        port = 0
        for line in p.stderr:
            if "listening on" in line:
                port = int(line.rsplit(":", 1)[1])
                break
        r = redis.Redis(port=port, socket_timeout=10)
        acked = []
        with pytest.raises(redis.ConnectionError):
            for i in range(10):
                r.set(f"k{i}", b"x" * 100_000)
                acked.append(i)
        assert len(acked) >= 1
        assert p.wait(timeout=30) == 1  # it exited: nothing unlogged stays visible
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    with start(tmp_path) as child:
        r = redis.Redis(port=child.port)  # type: ignore[attr-defined]
        assert [i for i in range(10) if r.exists(f"k{i}")] == acked
        assert r.get(f"k{acked[-1]}") == b"x" * 100_000
    check_aof(tmp_path)  # redis-check-aof finds no torn record


def _misconf_scenario(pid: int, port: int, incr: Path) -> list[bytes]:
    """Writes until the AOF file may not grow (RLIMIT_FSIZE at its size: write(2) fails
    with EFBIG, as on a full disk), then with the limit lifted; the raw replies."""
    import resource
    import socket

    from netlib.resp import NEED_DATA, ReplyParser, encode_command

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def ask(*args: str) -> bytes:
        sock.sendall(encode_command(*args))
        parser, data = ReplyParser(), b""
        while True:
            chunk = sock.recv(65536)
            assert chunk, "connection closed"
            data += chunk
            parser.feed(chunk)
            if parser.next_reply() is not NEED_DATA:
                return data

    def info_status() -> bytes:
        info = ask("INFO", "persistence")
        return info.split(b"aof_last_write_status:")[1].split(b"\r\n")[0]

    replies = [ask("SET", "a", "1")]
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (incr.stat().st_size, resource.RLIM_INFINITY))
    replies.append(ask("SET", "b", "2"))  # it ran; logging it fails: later writes refused
    deadline = time.monotonic() + 10
    while info_status() != b"err" and time.monotonic() < deadline:
        pass  # (Redis notices at the write after the reply; both within a loop turn)
    replies += [ask("SET", "c", "3"), ask("GET", "a"), ask("PING"), ask("INCR", "n")]
    replies += [ask("MULTI"), ask("SET", "d", "4"), ask("EXEC")]
    replies += [ask("MULTI"), ask("GET", "a"), ask("EXEC"), info_status()]
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    deadline = time.monotonic() + 10
    while info_status() != b"ok" and time.monotonic() < deadline:
        pass  # the retry: Redis's cron and ours (hz) write the buffer again
    replies += [ask("SET", "e", "5"), ask("MGET", "a", "b", "c", "e")]
    sock.close()
    return replies


MISCONF_REPLIES = [
    b"+OK\r\n", b"+OK\r\n",
    b"-MISCONF Errors writing to the AOF file: File too large\r\n", b"$1\r\n1\r\n",
    b"-MISCONF Errors writing to the AOF file: File too large\r\n",
    b"-MISCONF Errors writing to the AOF file: File too large\r\n",
    b"+OK\r\n", b"-MISCONF Errors writing to the AOF file: File too large\r\n",
    b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    b"+OK\r\n", b"+QUEUED\r\n", b"*1\r\n$1\r\n1\r\n", b"err",
    b"+OK\r\n", b"*4\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n$1\r\n5\r\n",
]  # fmt: skip


def test_a_failed_aof_write_under_everysec_refuses_writes_with_misconf_until_it_works(tmp_path):
    """Under everysec a failed AOF write keeps the unwritten buffer, answers what already
    ran, and refuses write commands and PING with -MISCONF (in MULTI too: EXECABORT)
    until a retry succeeds; byte for byte as redis-server, and nothing is lost: the write
    whose logging failed is in the AOF after the retry, the refused ones nowhere."""
    from harness.procs import free_port, require_binary

    ours_dir, redis_dir = tmp_path / "ours", tmp_path / "redis"
    ours_dir.mkdir()
    with start(ours_dir, policy="everysec") as child:
        incr = ours_dir / "appendonlydir" / "appendonly.aof.1.incr.aof"
        ours = _misconf_scenario(child.pid, child.port, incr)  # type: ignore[attr-defined]
    # redis-server with SIGXFSZ ignored (Python ignores it itself), so write(2) fails instead
    redis_dir.mkdir()
    port = free_port()
    argv = ["sh", "-c", 'trap "" XFSZ; exec "$0" "$@"', require_binary("redis-server", "redis-server"),
            "--port", str(port), "--bind", "127.0.0.1", "--dir", str(redis_dir), "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec"]  # fmt: skip
    with Child(argv, port=port, name="redis-server") as ref:
        incr = redis_dir / "appendonlydir" / "appendonly.aof.1.incr.aof"
        theirs = _misconf_scenario(ref.pid, port, incr)
    assert ours == theirs == MISCONF_REPLIES
    with start(ours_dir) as child:  # the AOF as left: b (logged by the retry) and e, not c
        r = redis.Redis(port=child.port)  # type: ignore[attr-defined]
        assert r.mget("a", "b", "c", "d", "e") == [b"1", b"2", None, None, b"5"]
    check_aof(ours_dir)


def test_bgrewriteaof_with_its_directory_gone_answers_redis_error_and_keeps_the_client(tmp_path):
    """The AOF directory removed under a running server: BGREWRITEAOF could not create the
    new incremental file, the OSError escaped the command and the session was dropped
    without a reply (redis-cli: "Server closed the connection"). Redis answers an error,
    logs why, and INFO says the last rewrite failed."""
    import shutil

    server = start(tmp_path, policy="always")
    try:
        r = redis.Redis(port=server.port, socket_timeout=10)  # type: ignore[arg-type]
        assert r.set("a", "b")
        shutil.rmtree(tmp_path / "appendonlydir")
        with pytest.raises(redis.ResponseError, match="^Can't execute an AOF background rewriting"):
            r.bgrewriteaof()
        assert r.ping()  # the same connection
        assert r.info("persistence")["aof_last_bgrewrite_status"] == "err"
        (tmp_path / "appendonlydir").mkdir()  # back: the next rewrite starts over from there
        assert r.bgrewriteaof()
        r.close()
    finally:
        server.stop()


def test_save_points_start_a_bgsave_as_redis_cron(tmp_path):
    """``save 1 3``: three writes, then more than a second since the last save, start a
    BGSAVE from the cron (Redis's serverCron); two writes do not. What it saved is
    loaded after a SIGKILL (no AOF)."""
    server = start(tmp_path, appendonly=False)
    r = redis.Redis(port=server.port)
    r.config_set("save", "1 3")
    r.set("a", 1)
    r.set("b", 2)
    time.sleep(1.5)  # past the second: two changes are not enough
    info = r.info("persistence")
    assert info["rdb_changes_since_last_save"] == 2 and info["rdb_bgsave_in_progress"] == 0
    assert not (tmp_path / "dump.sdb").exists()
    r.set("c", 3)
    deadline = time.monotonic() + 10
    while r.info("persistence")["rdb_changes_since_last_save"] != 0:
        assert time.monotonic() < deadline, "no BGSAVE after the save point was reached"
        time.sleep(0.05)
    assert r.info("persistence")["rdb_last_bgsave_status"] == "ok"
    r.close()
    server.kill()
    again = start(tmp_path, appendonly=False)
    r = redis.Redis(port=again.port)
    assert r.mget("a", "b", "c") == [b"1", b"2", b"3"]
    r.close()
    again.stop()
