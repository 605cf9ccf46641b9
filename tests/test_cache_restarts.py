"""A hostile user restarting the cache: what the AOF brings back after a restart.

In-process (``State`` on a data directory, an injected clock, a ``Client`` on a fake
wire), so TTLs can pass between the writes and the restart without sleeping, plus a
real process where the command line matters. Each case is a sequence a real user runs
(a rate limiter's INCR + EXPIRE, CONFIG SET appendonly no then yes, BGREWRITEAOF with
appendonly no, a restart with a smaller maxmemory, a byte flipped in the middle of an
incremental file, BGREWRITEAOF during a BGSAVE) and what Redis does in the same case.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from harness.procs import python_module
from netlib.resp import encode_command
from servers.cache.client import Client
from servers.cache.persist import MANIFEST
from servers.cache.saving import CorruptFile
from servers.cache.server import CacheSettings, State
from tests.cache_support import T0, Wire
from tests.redis_diff import reply

pytestmark = pytest.mark.exercise("N14")

ROOT = Path(__file__).resolve().parent.parent


class Life:
    """One run of the server on ``d`` with a clock the test moves (``now``, in ms)."""

    def __init__(self, d: Path, now: int = T0, **settings: object) -> None:
        self.now = now
        opts = {"dir": str(d), "appendonly": True, "appendfsync": "always", **settings}
        self.state = State(CacheSettings(**opts), clock=lambda: self.now)  # type: ignore[arg-type]
        self.wire = Wire()
        self.client = Client(self.state, self.wire)  # type: ignore[arg-type]

    def cmd(self, *args: object) -> bytes:
        self.client.data_received(encode_command(*args))  # type: ignore[arg-type]
        return self.wire.take()

    def stop(self) -> None:
        assert self.state.persistence is not None
        self.state.persistence.close()


# --- TTLs across a restart -----------------------------------------------------------------------


def test_a_rate_limiter_key_still_expires_after_a_restart(tmp_path):
    """INCR, EXPIRE, INCR: the second INCR was logged as sent, the EXPIRE as PEXPIREAT. A
    restart after the TTL replayed PEXPIREAT (in the past: the key deleted at once), then
    the second INCR created the key again, without a TTL: a counter that never resets.
    Redis expires nothing while loading (keyIsExpired, checkAlreadyExpired)."""
    life = Life(tmp_path)
    assert life.cmd("INCR", "hits") == b":1\r\n"
    assert life.cmd("EXPIRE", "hits", 60) == b":1\r\n"
    assert life.cmd("INCR", "hits") == b":2\r\n"
    assert life.cmd("HSET", "h", "f", "1") == b":1\r\n"
    assert life.cmd("PEXPIRE", "h", 1500) == b":1\r\n"
    assert life.cmd("HSETNX", "h", "f", "2") == b":0\r\n"  # a no-op write, logged as sent
    assert life.cmd("SET", "s", "a", "EX", 10) == b"+OK\r\n"
    assert life.cmd("APPEND", "s", "b") == b":2\r\n"
    life.stop()

    before = Life(tmp_path, now=T0 + 1000)  # before any TTL passed: all there, with their TTLs
    assert before.cmd("GET", "hits") == b"$1\r\n2\r\n"
    assert before.cmd("TTL", "hits") == b":59\r\n"
    assert before.cmd("GET", "s") == b"$2\r\nab\r\n"
    assert before.cmd("PTTL", "h") == b":500\r\n"
    before.stop()

    later = Life(tmp_path, now=T0 + 120_000)  # every TTL above has passed
    for key in ("hits", "h", "s"):
        assert later.cmd("EXISTS", key) == b":0\r\n", key
    assert later.cmd("DBSIZE") == b":0\r\n"
    later.stop()


def test_a_key_created_again_after_it_expired_survives_a_restart(tmp_path):
    """The other half of loading without expiry: a key that expired and was created again
    (SET NX succeeded because the old one was gone) is replayed after the DEL its expiry
    logged, as Redis propagates a DEL when a key expires."""
    life = Life(tmp_path)
    assert life.cmd("SET", "k", "old", "PX", 100) == b"+OK\r\n"
    assert life.cmd("SADD", "tags", "a") == b":1\r\n"
    assert life.cmd("PEXPIRE", "tags", 100) == b":1\r\n"
    life.now += 200
    assert life.cmd("SET", "k", "new", "NX") == b"+OK\r\n"  # k had expired (lazily)
    assert life.cmd("SADD", "tags", "b") == b":1\r\n"  # so had tags
    life.stop()

    later = Life(tmp_path, now=T0 + 60_000)
    assert later.cmd("GET", "k") == b"$3\r\nnew\r\n"
    assert later.cmd("SMEMBERS", "tags") == b"*1\r\n$1\r\nb\r\n"
    assert later.cmd("TTL", "k") == b":-1\r\n"
    later.stop()


def test_a_key_the_cron_expired_and_a_write_made_again_survives_a_restart(tmp_path):
    life = Life(tmp_path)
    assert life.cmd("SET", "k", "1", "PX", 100) == b"+OK\r\n"
    life.now += 200
    life.state.keyspace.active_expire(1.0)  # the cron's cycle, not a lookup
    assert life.state.persistence is not None
    life.state.persistence.poll()  # the cron writes what it logged
    assert life.cmd("SETNX", "k", "2") == b":1\r\n"
    life.stop()

    later = Life(tmp_path, now=T0 + 60_000)
    assert later.cmd("GET", "k") == b"$1\r\n2\r\n"
    later.stop()


# --- CONFIG SET appendonly ------------------------------------------------------------------------


def test_appendonly_off_and_on_again_does_not_replay_the_old_incremental_file(tmp_path):
    """CONFIG SET appendonly yes wrote a new base, then opened incremental file 1 again, in
    append mode: the old file's writes, already in the base, were replayed over it."""
    life = Life(tmp_path)
    assert life.cmd("SET", "a", "1") == b"+OK\r\n"
    assert life.cmd("RPUSH", "l", "x") == b":1\r\n"
    assert life.cmd("CONFIG", "SET", "appendonly", "no") == b"+OK\r\n"
    assert life.cmd("SET", "a", "2") == b"+OK\r\n"
    assert life.cmd("DEL", "l") == b":1\r\n"
    assert life.cmd("CONFIG", "SET", "appendonly", "yes") == b"+OK\r\n"
    assert life.cmd("SET", "b", "1") == b"+OK\r\n"
    life.stop()

    names = (tmp_path / "appendonlydir" / MANIFEST).read_text()
    again = Life(tmp_path)
    assert again.cmd("GET", "a") == b"$1\r\n2\r\n", names
    assert again.cmd("EXISTS", "l") == b":0\r\n", names
    assert again.cmd("GET", "b") == b"$1\r\n1\r\n"
    again.stop()


# --- maxmemory at a restart -------------------------------------------------------------------------


def test_a_restart_with_a_smaller_maxmemory_loads_everything_and_refuses_writes(tmp_path):
    """Replaying through the command handlers met -OOM (noeviction) and the server refused
    to start: its own data did not fit. Redis loads regardless of maxmemory, then answers
    -OOM to writes (or evicts, with a policy that may)."""
    life = Life(tmp_path)
    for i in range(300):
        assert life.cmd("SET", f"key:{i}", "v" * 1000) == b"+OK\r\n"
    life.stop()

    small = Life(tmp_path, maxmemory=100_000)
    assert small.cmd("DBSIZE") == b":300\r\n"
    assert small.cmd("SET", "more", "x").startswith(b"-OOM ")
    assert small.cmd("GET", "key:299") == b"$1000\r\n" + b"v" * 1000 + b"\r\n"
    small.stop()


def test_a_process_restarted_with_a_smaller_maxmemory_starts(tmp_path):
    args = ["--dir", str(tmp_path), "--appendonly", "yes"]
    with python_module("servers.cache", *args, port=0) as server:
        r = redis.Redis(port=server.port)
        pipe = r.pipeline(transaction=False)
        for i in range(2000):
            pipe.set(f"key:{i}", "v" * 1000)
        pipe.execute()
        r.close()
    with python_module("servers.cache", *args, "--maxmemory", "1mb", port=0) as server:
        r = redis.Redis(port=server.port)
        assert r.dbsize() == 2000
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            r.set("more", "x")
        r.close()


# --- damage in the middle of the last incremental file ------------------------------------------------


def _incr_with_writes(d: Path, n: int) -> Path:
    life = Life(d)
    for i in range(n):
        assert life.cmd("SET", f"k{i}", str(i)) == b"+OK\r\n"
    life.stop()
    return sorted((d / "appendonlydir").glob("*.incr.aof"))[-1]


def test_a_flipped_byte_with_intact_writes_after_it_refuses_to_start(tmp_path):
    """A torn tail is cut (the writes in it were never acknowledged), but a batch that fails
    its CRC with intact batches after it is damage in the middle: cutting there deleted
    acknowledged writes from the disk for good. Redis, too, loads only a truncated tail
    and refuses a file damaged elsewhere; the error says where, and the file is untouched."""
    incr = _incr_with_writes(tmp_path, 20)
    data = bytearray(incr.read_bytes())
    at = data.index(b"k15\r\n$2\r\n15") + len(b"k15\r\n$2\r\n")
    data[at] ^= 0x01  # "15" -> "05": still RESP, fails its CRC
    incr.write_bytes(bytes(data))
    with pytest.raises(CorruptFile, match=r"damaged at byte \d+ of \d+ with intact writes after"):
        Life(tmp_path)
    assert incr.read_bytes() == bytes(data)  # nothing cut

    res = subprocess.run(
        [sys.executable, "-m", "servers.cache", "--port", "0", "--dir", str(tmp_path),
         "--appendonly", "yes"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "intact writes after" in res.stderr and "Traceback" not in res.stderr
    assert incr.read_bytes() == bytes(data)


def test_a_damaged_crc_record_in_the_middle_refuses_to_start(tmp_path):
    incr = _incr_with_writes(tmp_path, 20)
    data = bytearray(incr.read_bytes())
    records = [i for i in range(len(data)) if data.startswith(b"SYSLAB.CRC", i)]
    data[records[10] + 3] ^= 0x20  # "SYSLAB" -> "SYsLAB": the record is not one any more
    incr.write_bytes(bytes(data))
    with pytest.raises(CorruptFile, match="intact writes after"):
        Life(tmp_path)


def test_a_flipped_byte_in_the_last_batch_is_still_a_cut_tail(tmp_path, caplog):
    incr = _incr_with_writes(tmp_path, 20)
    data = bytearray(incr.read_bytes())
    at = data.index(b"k19\r\n$2\r\n19") + len(b"k19\r\n$2\r\n")
    data[at] ^= 0x01
    incr.write_bytes(bytes(data))
    life = Life(tmp_path)
    assert life.cmd("GET", "k18") == b"$2\r\n18\r\n"
    assert life.cmd("EXISTS", "k19") == b":0\r\n"
    life.stop()
    assert "was cut off" in caplog.text


def test_bgrewriteaof_with_appendonly_no_leaves_it_off(tmp_path):
    """BGREWRITEAOF on a server without an AOF wrote one and left it half on: CONFIG GET
    appendonly said yes, nothing was logged, CONFIG SET appendonly yes did nothing, so a
    restart with the AOF lost every write since. Redis writes the files, appendonly stays no."""
    life = Life(tmp_path, appendonly=False)
    assert life.cmd("SET", "a", "1") == b"+OK\r\n"
    assert life.cmd("BGREWRITEAOF").startswith(b"+Background append only file rewriting")
    assert life.cmd("CONFIG", "GET", "appendonly") == b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
    assert b"aof_enabled:0" in life.cmd("INFO", "persistence")
    assert life.cmd("SET", "b", "2") == b"+OK\r\n"
    assert life.cmd("CONFIG", "SET", "appendonly", "yes") == b"+OK\r\n"
    assert life.cmd("SET", "c", "3") == b"+OK\r\n"
    life.stop()

    again = Life(tmp_path)
    assert again.cmd("MGET", "a", "b", "c") == b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
    again.stop()


# --- BGSAVE and BGREWRITEAOF meeting each other ----------------------------------------------------


def test_bgrewriteaof_during_a_bgsave_is_scheduled_and_bgsave_schedule_too(tmp_path):
    """Redis starts one child at a time and queues the other: BGREWRITEAOF during a BGSAVE
    answered an error here (a backup script's BGSAVE SCHEDULE too), and nothing ran later."""
    args = ["--dir", str(tmp_path), "--appendonly", "yes"]
    with python_module("servers.cache", *args, port=0) as server:
        r = redis.Redis(port=server.port, socket_timeout=30)
        r.set("k", "v")
        p = r.pipeline(transaction=False)
        p.bgsave().bgrewriteaof().bgrewriteaof()
        assert p.execute() == [True, True, True]
        assert r.info("persistence")["aof_rewrite_scheduled"] == 1
        _wait(r, lambda info: info["aof_rewrites"] == 1)
        assert r.info("persistence")["aof_rewrite_scheduled"] == 0

        saves = r.lastsave()
        assert reply(r, "BGREWRITEAOF") == b"Background append only file rewriting started"
        assert reply(r, "BGSAVE") == ("error", ANOTHER_CHILD)
        assert reply(r, "BGSAVE", "SCHEDULE") == b"Background saving scheduled"
        r.set("after", "1")
        _wait(r, lambda info: info["aof_rewrites"] == 2 and not info["rdb_bgsave_in_progress"]
              and info["rdb_changes_since_last_save"] == 0)  # fmt: skip
        assert r.lastsave() >= saves
        r.close()


ANOTHER_CHILD = (  # redis-server 7.0's words
    "Another child process is active (AOF?): can't BGSAVE right now. "
    "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
)


def _wait(r: redis.Redis, done: object) -> None:
    deadline = time.monotonic() + 60
    while not done(r.info("persistence")):  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_appendonly_no_during_a_rewrite_stops_it_as_redis(tmp_path):
    """Redis kills the rewrite child when the AOF is turned off (killAppendOnlyChild); here
    it ran on, and a CONFIG SET appendonly yes right after could have its base renamed
    over by the child's older dataset."""
    args = ["--dir", str(tmp_path), "--appendonly", "yes"]
    with python_module("servers.cache", *args, port=0) as server:
        r = redis.Redis(port=server.port, socket_timeout=30)
        r.set("k", "v")
        p = r.pipeline(transaction=False)
        p.bgrewriteaof().config_set("appendonly", "no").info("persistence")
        info = p.execute()[2]
        assert info["aof_rewrite_in_progress"] == 0 and info["aof_enabled"] == 0
        r.set("k", "w")
        assert r.config_set("appendonly", "yes")
        r.set("j", "1")
        r.close()
    assert not list((tmp_path / "appendonlydir").glob("temp-*"))
    with python_module("servers.cache", *args, port=0) as server:
        r = redis.Redis(port=server.port)
        assert r.mget("k", "j") == [b"w", b"1"]
        r.close()
