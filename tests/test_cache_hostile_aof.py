"""A hostile user of the cache's AOF and snapshots: foreign and hand-edited files, torn
transactions, a full disk, forks at the wrong moment, SIGKILL at random moments of
BGREWRITEAOF under a real client's writes.

What the other persistence tests do not already cover (test_cache_persistence,
test_cache_restarts, test_cache_hostile): an incremental file of Redis's own format
(whole commands, no CRC record) and a real redis-server's AOF directory; manifests
edited by hand (CRLF and extra spaces, names that do not follow their seq, a file
listed twice, the manifest deleted, the last incr file deleted); damage in an incr
file that is not the last; a transaction torn by a crash; a snapshot cut short or
flipped; a full disk (RLIMIT_FSIZE) under SAVE/BGSAVE and when a finished rewrite
writes its manifest; CONFIG SET appendonly yes that cannot create its files; BGSAVE
and BGREWRITEAOF inside EXEC and a scheduled rewrite during a slow script (Redis
forks in neither); a 10 MB value and other databases across SIGKILL; and a kill loop
during rewrites with every acknowledged write (three databases) checked each time.
"""

from __future__ import annotations

import logging
import os
import random
import resource
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.procs import Child, python_module
from harness.services import RedisServer
from netlib.resp import encode_command
from servers.cache.client import Client
from servers.cache.persist import MANIFEST, OPENING_SIZE
from servers.cache.saving import CorruptFile
from servers.cache.server import CacheSettings, State
from tests.cache_support import Wire, send_and_ping

pytestmark = pytest.mark.exercise("N14")

ROOT = Path(__file__).resolve().parent.parent
NO_RETRY = Retry(NoBackoff(), 0)  # redis-py 6+ retries: a retried SET lands in db 0


def start(d: Path, policy: str = "always") -> Child:
    return python_module(
        "servers.cache", "--dir", str(d), "--appendonly", "yes", "--appendfsync", policy, port=0
    ).start()


def start_fails(d: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers.cache", "--port", "0", "--dir", str(d), *extra],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip


def load(d: Path) -> State:
    return State(CacheSettings(dir=str(d), appendonly=True, appendfsync="no"))


def data0(state: State) -> dict[bytes, object]:
    return dict(state.keyspace.dbs[0].data)


def close(state: State) -> None:
    assert state.persistence is not None
    state.persistence.close()


def with_writes(d: Path, *cmds: list[object]) -> Path:
    """The AOF directory after ``cmds`` ran on a fresh server; its last incr file."""
    state = load(d)
    client = Client(state, Wire())  # type: ignore[arg-type]
    for c in cmds:
        client.data_received(encode_command(*c))  # type: ignore[arg-type]
    close(state)
    return sorted((d / "appendonlydir").glob("*.incr.aof"))[-1]


# --- files that are not ours ---------------------------------------------------------------


def _redis_style(*cmds: tuple[str, ...]) -> bytes:
    """Commands as redis-server appends them: RESP, no CRC record."""
    return b"".join(encode_command(*c) for c in cmds)


def test_an_incr_file_of_redis_format_is_refused_not_cut_to_nothing(tmp_path):
    """Whole commands and no SYSLAB.CRC record: Redis's own incremental file (copied in, or
    a manifest pointed at it). It used to read as one torn tail from byte 0: the file was
    truncated to 0 bytes and the server started empty, every write in it deleted."""
    incr = with_writes(tmp_path, ["SET", "a", "1"])
    foreign = _redis_style(("SELECT", "0"), ("SET", "k", "v"), ("INCR", "n"))
    incr.write_bytes(foreign)
    with pytest.raises(CorruptFile, match="without a SYSLAB.CRC record.*nothing was cut"):
        load(tmp_path)
    assert incr.read_bytes() == foreign
    res = start_fails(tmp_path, "--appendonly", "yes")
    assert res.returncode == 2 and "SYSLAB.CRC" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and incr.read_bytes() == foreign


def test_a_first_batch_torn_at_a_command_boundary_is_still_cut(tmp_path, caplog):
    """One of ours, torn inside its first batch (no CRC record after the commands) but
    opened by its CRC record of no bytes: a torn tail, cut, the commands not replayed."""
    incr = with_writes(tmp_path)
    opening = incr.read_bytes()
    assert len(opening) == OPENING_SIZE and b"SYSLAB.CRC" in opening
    incr.write_bytes(opening + _redis_style(("SELECT", "0"), ("SET", "torn", "1")))
    with caplog.at_level(logging.WARNING, logger="servers.cache.persist"):
        state = load(tmp_path)
    assert data0(state) == {} and "was cut off" in caplog.text
    close(state)
    assert incr.read_bytes() == opening


def test_a_real_redis_aof_directory_is_refused_in_one_line_naming_rdb(tmp_path):
    with RedisServer(directory=tmp_path, extra_args=["--appendonly", "yes"]) as real:
        r = redis.Redis(port=real.port)
        r.set("a", "1")
        r.shutdown(nosave=True)
    aof = tmp_path / "appendonlydir"
    before = {p.name: p.read_bytes() for p in aof.iterdir()}
    assert any(n.endswith(".base.rdb") for n in before)
    res = start_fails(tmp_path, "--appendonly", "yes")
    assert res.returncode == 2 and "an RDB file (Redis's format)" in res.stderr, res.stderr
    assert {p.name: p.read_bytes() for p in aof.iterdir()} == before


# --- hand-edited manifests and damaged files -----------------------------------------------


def test_a_manifest_with_crlf_line_ends_and_extra_spaces_loads_as_in_redis(tmp_path):
    with_writes(tmp_path, ["SET", "a", "1"])
    m = tmp_path / "appendonlydir" / MANIFEST
    m.write_bytes(m.read_bytes().replace(b" ", b"   ").replace(b"\n", b"  \r\n"))
    state = load(tmp_path)
    assert data0(state) == {b"a": b"1"}
    close(state)


def _cmd(state: State, *args: object) -> None:
    Client(state, Wire()).data_received(encode_command(*args))  # type: ignore[arg-type]


def test_a_manifest_whose_names_do_not_follow_their_seq_loses_nothing(tmp_path):
    """Redis does not tie a file's name to its seq: ``appendonly.aof.2.incr.aof`` listed as
    seq 1 is a valid manifest. The next incremental file (seq 2) was given that name and
    opened with O_TRUNC: the listed file's writes were gone, and after a crash before the
    rewrite ended, the writes made since were replayed twice (the file listed twice)."""
    with_writes(tmp_path, ["INCR", "n"])
    aof = tmp_path / "appendonlydir"
    (aof / "appendonly.aof.1.incr.aof").rename(aof / "appendonly.aof.2.incr.aof")
    m = aof / MANIFEST
    m.write_text(m.read_text().replace("appendonly.aof.1.incr", "appendonly.aof.2.incr"))
    state = load(tmp_path)
    _cmd(state, "INCR", "n")
    assert state.persistence is not None and state.persistence.aof is not None
    state.persistence.aof.open_incr()  # BGREWRITEAOF's first step; then a crash
    _cmd(state, "INCR", "n")
    close(state)
    state = load(tmp_path)
    assert data0(state) == {b"n": b"3"}
    close(state)


def test_a_manifest_listing_one_file_twice_is_refused(tmp_path):
    with_writes(tmp_path, ["INCR", "n"])
    m = tmp_path / "appendonlydir" / MANIFEST
    m.write_text(m.read_text() + "file appendonly.aof.1.incr.aof seq 2 type i\n")
    with pytest.raises(CorruptFile, match="listed twice"):
        load(tmp_path)


def test_a_deleted_manifest_refuses_to_start_instead_of_deleting_the_files(tmp_path):
    """Without a manifest the server started empty, wrote a new base over the old base's
    name and deleted the incremental files as leftovers: every write gone for good."""
    with_writes(tmp_path, ["SET", "a", "1"])
    aof = tmp_path / "appendonlydir"
    (aof / MANIFEST).unlink()
    before = {q.name: q.read_bytes() for q in aof.iterdir()}
    with pytest.raises(CorruptFile, match=r"appendonly\.aof\.1\.incr\.aof but no appendonly"):
        load(tmp_path)
    res = start_fails(tmp_path, "--appendonly", "yes")
    assert res.returncode == 2 and "restore the manifest" in res.stderr, res.stderr
    assert {q.name: q.read_bytes() for q in aof.iterdir()} == before


@pytest.mark.parametrize("snapshot", [False, True])
def test_files_of_a_first_start_that_crashed_before_its_manifest_do_not_block_a_start(
    tmp_path, snapshot
):
    """appendonly yes for the first time: the base is written from the dataset (empty, or
    the snapshot's), then the incr file and the manifest; a crash in between."""
    if snapshot:
        state = State(CacheSettings(dir=str(tmp_path)))
        _cmd(state, "SET", "s", "1")
        _cmd(state, "SAVE")
    state = load(tmp_path)  # (loads the snapshot into its base)
    close(state)
    (tmp_path / "appendonlydir" / MANIFEST).unlink()
    state = load(tmp_path)
    _cmd(state, "SET", "a", "1")
    close(state)
    state = load(tmp_path)
    assert data0(state) == ({b"s": b"1", b"a": b"1"} if snapshot else {b"a": b"1"})
    close(state)


def test_a_missing_last_incr_file_refuses_to_start_as_redis(tmp_path):
    """It was created empty and the server started without the writes it held (taken for
    a crash between the manifest and the file, which cannot happen: the file is created
    first). Redis refuses: "Unable to obtain the AOF file ... length"."""
    incr = with_writes(tmp_path, ["SET", "a", "1"])
    incr.unlink()
    with pytest.raises(CorruptFile, match=f"{incr.name} is in the manifest but missing"):
        load(tmp_path)
    assert not incr.exists()


def test_a_value_shaped_like_our_records_cannot_make_a_torn_tail_refuse_the_start(tmp_path):
    """A client's value holding two CRC records around bytes whose CRC-32 it computed; a
    crash inside that value's write (SIGKILL tears big writes: 5 of 8 runs with 30 MB
    values here) left an "intact batch" after the damage, and the server refused to
    start. The file's CRCs start from its secret seed: no client can forge a batch."""
    incr = with_writes(tmp_path, ["SET", "a", "1"])
    x = b"anything the client likes"
    crc = zlib.crc32(x)
    fake = encode_command("SYSLAB.CRC", "00000000") + x + encode_command("SYSLAB.CRC", f"{crc:08x}")
    batch = encode_command("SET", "big", b"v" * 100 + fake + b"w" * 100_000)
    with open(incr, "ab") as f:
        f.write(batch[: len(batch) // 2])  # torn after the forged records
    state = load(tmp_path)
    assert data0(state) == {b"a": b"1"}
    close(state)


def test_damage_in_an_incr_file_that_is_not_the_last_refuses_and_cuts_nothing(tmp_path):
    """A rewrite killed after it opened its new incr file leaves two; a torn end in the
    older one is not a torn tail (the newer holds later acknowledged writes)."""
    with_writes(tmp_path, ["SET", "a", "1"])
    aof = tmp_path / "appendonlydir"
    state = load(tmp_path)
    assert state.persistence is not None and state.persistence.aof is not None
    state.persistence.aof.open_incr()  # what BGREWRITEAOF does first
    close(state)
    old, new = sorted(aof.glob("*.incr.aof"))
    torn = old.read_bytes() + b"*3\r\n$3\r\nSET\r\n$1\r\nb"
    old.write_bytes(torn)
    with pytest.raises(CorruptFile, match=rf"{old.name}: damaged at byte"):
        load(tmp_path)
    assert old.read_bytes() == torn


def test_a_transaction_torn_by_a_crash_is_cut_whole(tmp_path):
    """Redis wraps a transaction in MULTI/EXEC in its AOF and drops a torn one whole; here
    EXEC's writes are one batch under one CRC record: cut to nothing, never half applied."""
    p = start(tmp_path)
    r = redis.Redis(port=p.port)
    r.set("before", "1")
    pipe = r.pipeline(transaction=True)
    pipe.set("t1", "x")
    pipe.incr("t2")
    pipe.execute()
    r.close()
    p.kill()
    incr = sorted((tmp_path / "appendonlydir").glob("*.incr.aof"))[-1]
    data = incr.read_bytes()
    incr.write_bytes(data[: data.index(b"t2")])  # torn inside the transaction's batch
    state = load(tmp_path)
    assert data0(state) == {b"before": b"1"}
    close(state)


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_damaged_snapshot_refuses_to_start_in_one_line(tmp_path, damage):
    p = python_module("servers.cache", "--dir", str(tmp_path), port=0).start()
    r = redis.Redis(port=p.port)
    r.mset({f"k{i}": "v" * 100 for i in range(2000)})
    r.save()
    r.close()
    p.stop()
    snap = tmp_path / "dump.sdb"
    data = bytearray(snap.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0x04
    snap.write_bytes(bytes(data))
    res = start_fails(tmp_path)
    assert res.returncode == 2 and "dump.sdb: damaged at byte" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert snap.read_bytes() == bytes(data)


# --- real processes, SIGKILL -------------------------------------------------------------------


def test_a_10mb_value_and_other_databases_survive_sigkill(tmp_path):
    p = start(tmp_path)
    big = random.Random(1).randbytes(10 << 20)
    r = redis.Redis(port=p.port, socket_timeout=60)
    r.set("big", big)
    r2 = redis.Redis(port=p.port, db=2)
    r2.set("two", "2")
    r2.pexpireat("two", int(time.time() * 1000) + 600_000)
    p.kill()
    p = start(tmp_path)
    r = redis.Redis(port=p.port, socket_timeout=60)
    assert r.get("big") == big and r.get("two") is None
    assert redis.Redis(port=p.port, db=2).get("two") == b"2"
    assert 0 < redis.Redis(port=p.port, db=2).pttl("two") <= 600_000
    p.stop()


Key = tuple[int, str]  # (database, key)


class Writers:
    """Two clients writing (SET, and MULTI/EXEC of SET + INCR) into databases 0-2, each
    on a connection of its own database and without redis-py's retries (a retry would
    reconnect into database 0 and send the SET again there)."""

    def __init__(self, port: int, model: dict[Key, bytes], sent: dict[Key, list[bytes]]) -> None:
        self.model = model  # acknowledged: (db, key) -> value
        # Sent since the key's last acknowledged value (in this or an earlier round): each
        # unanswered one may be in the AOF, the last of them written the key's value (a
        # SET written but unanswered in one round, and one of a later round not written).
        self.sent = sent
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(port, w)) for w in range(2)]
        for t in self.threads:
            t.start()

    def _run(self, port: int, w: int) -> None:
        conns = [redis.Redis(port=port, db=db, socket_timeout=30, retry=NO_RETRY)
                 for db in range(3)]  # fmt: skip
        i = 0
        try:
            while not self.stop.is_set():
                db, key, val = i % 3, f"w{w}:{i % 200}", b"%d-%d" % (i, time.monotonic_ns())
                self.sent.setdefault((db, key), []).append(val)
                if i % 5 == 0:
                    pipe = conns[db].pipeline(transaction=True)
                    pipe.set(key, val)
                    pipe.incr(f"n{w}")
                    pipe.execute()
                else:
                    conns[db].set(key, val)
                self.model[(db, key)] = val
                self.sent[(db, key)] = [val]
                i += 1
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            pass  # killed under us
        finally:
            for c in conns:
                c.close()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def test_sigkill_at_random_moments_of_bgrewriteaof_loses_no_acknowledged_write(tmp_path):
    rng = random.Random(20)
    p = start(tmp_path)
    r = redis.Redis(port=p.port)
    r.rpush("list", *range(30_000))  # a base big enough for the child to take a while
    r.close()
    model: dict[Key, bytes] = {}
    sent: dict[Key, list[bytes]] = {}
    for _ in range(4):
        w = Writers(p.port, model, sent)
        time.sleep(rng.uniform(0.05, 0.2))
        redis.Redis(port=p.port).bgrewriteaof()
        time.sleep(rng.uniform(0, 0.4))
        p.kill()
        w.join()
        p = start(tmp_path)
        conns = [redis.Redis(port=p.port, db=db) for db in range(3)]
        lost = [
            (db, k, v) for (db, k), v in model.items()
            if conns[db].get(k) not in (v, *sent.get((db, k), ()))
        ]  # fmt: skip
        assert lost == [] and conns[0].llen("list") == 30_000
        check = subprocess.run(
            ["redis-check-aof", str(tmp_path / "appendonlydir" / MANIFEST)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout
    assert len(model) > 20
    p.stop()


# --- a full disk -------------------------------------------------------------------------------


@pytest.fixture
def file_size_limit() -> Iterator[Callable[[int], None]]:
    """``limit(n)``: writes past ``n`` bytes of a file fail with EFBIG (as a full disk
    fails them with ENOSPC), in this process and the children it forks; undone after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    yield lambda n: resource.setrlimit(resource.RLIMIT_FSIZE, (n, hard))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_save_or_bgsave_that_fails_removes_its_temp_file(tmp_path, file_size_limit):
    """A SAVE that fails half way (a full disk) left its partial temp file behind, holding
    the space a retry needs, never removed; Redis unlinks its temp file when a save fails."""
    state = State(CacheSettings(dir=str(tmp_path)))
    client = Client(state, Wire())  # type: ignore[arg-type]
    for i in range(0, 20_000, 1000):
        pairs = [x for k in range(i, i + 1000) for x in (f"k{k}", "v" * 100)]
        client.data_received(encode_command("MSET", *pairs))
    p = state.persistence
    assert p is not None and len(state.keyspace.dbs[0]) == 20_000
    file_size_limit(256 * 1024)
    with pytest.raises(OSError):
        p.save()
    assert p.bgsave() is None
    assert p.child is not None
    _, status = os.waitpid(p.child[0], 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert sorted(q.name for q in tmp_path.iterdir()) == []


def test_a_rewrite_whose_new_manifest_cannot_be_written_fails_and_the_aof_goes_on(
    tmp_path, monkeypatch
):
    """The disk full when the finished rewrite writes its manifest: the OSError escaped the
    cron's poll, and the cron task died with it (no more expiry, child polling or AOF
    retries). As Redis: the rewrite failed, the old files and the new incr file stay."""
    state = load(tmp_path)
    _cmd(state, "SET", "a", "1")
    p = state.persistence
    assert p is not None and p.aof is not None
    aof = p.aof
    assert p.bgrewrite() is None
    _cmd(state, "SET", "b", "2")  # into the new incr file
    assert p.child is not None
    os.waitid(os.P_PID, p.child[0], os.WEXITED | os.WNOWAIT)  # ended, not reaped yet

    def full(files: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(aof, "write_manifest", full)
    p.poll()
    monkeypatch.undo()
    assert p.child is None and p.info()["aof_last_bgrewrite_status"] == "err"
    assert not list((tmp_path / "appendonlydir").glob("appendonly.aof.2.base.aof"))
    _cmd(state, "SET", "c", "3")
    close(state)
    state = load(tmp_path)
    assert data0(state) == {b"a": b"1", b"b": b"2", b"c": b"3"}
    close(state)


def test_config_set_appendonly_yes_that_cannot_create_the_files_answers_as_redis(tmp_path):
    """``appendonlydir`` a file: the OSError escaped CONFIG SET and the connection was
    dropped without a reply; Redis answers with its words and the AOF stays off."""
    (tmp_path / "appendonlydir").write_bytes(b"")
    with RedisServer(directory=tmp_path) as real:
        theirs = redis.Redis(port=real.port)
        with pytest.raises(redis.ResponseError) as expected:
            theirs.config_set("appendonly", "yes")
    p = python_module("servers.cache", "--dir", str(tmp_path), port=0).start()
    r = redis.Redis(port=p.port, retry=NO_RETRY)
    with pytest.raises(redis.ResponseError) as got:
        r.config_set("appendonly", "yes")
    assert str(got.value) == str(expected.value)
    assert "Unable to turn on AOF" in str(got.value)
    assert r.config_get("appendonly") == {"appendonly": "no"} and r.ping()
    p.stop()


SLOW_SCRIPT = """
redis.call('INCR', 'x')
local t0 = redis.call('TIME')
repeat
  local t = redis.call('TIME')
until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > tonumber(ARGV[1])
redis.call('INCR', 'x')
return 1
"""


def test_a_scheduled_rewrite_waits_for_a_slow_script_to_end(tmp_path):
    """BGREWRITEAOF during a BGSAVE is scheduled; the BGSAVE ended while a script ran past
    busy-reply-threshold, and the cron forked the rewrite then: its base held the script's
    first INCR, the new incr file both: x = 3 after a restart, 2 acknowledged."""
    p = start(tmp_path)
    r = redis.Redis(port=p.port, socket_timeout=60)
    r.config_set("busy-reply-threshold", 100)
    pipe = r.pipeline(transaction=False)
    for i in range(0, 60_000, 1000):
        pipe.mset({f"k{j}": "v" * 50 for j in range(i, i + 1000)})
    pipe.execute()
    r.bgsave()
    assert r.bgrewriteaof() is True  # "scheduled"
    assert r.info("persistence")["aof_rewrite_scheduled"] == 1
    assert r.eval(SLOW_SCRIPT, 0, 2_500_000) == 1  # the BGSAVE ends meanwhile
    deadline = time.monotonic() + 60
    while r.info("persistence")["aof_rewrites"] < 1:
        assert time.monotonic() < deadline, "the scheduled rewrite never ran"
        time.sleep(0.05)
    assert r.get("x") == b"2"
    p.kill()
    p = start(tmp_path)
    assert redis.Redis(port=p.port).get("x") == b"2"
    p.stop()


TX = b"".join(
    encode_command(*c)
    for c in (["MULTI"], ["SET", "a", "1"], ["BGSAVE"], ["BGREWRITEAOF"], ["SET", "b", "1"],
              ["EXEC"])
)  # fmt: skip


def test_bgsave_and_bgrewriteaof_inside_exec_are_scheduled_as_in_redis(tmp_path):
    """Inside EXEC they forked at once: the snapshot held SET a without SET b (half the
    transaction loaded at the next start), and the AOF rewrite split the transaction's
    writes across two incremental files. Redis schedules both (``server.in_exec``)."""
    with RedisServer(directory=tmp_path / "real") as real:
        theirs = send_and_ping_port(real.port, TX)
    p = python_module("servers.cache", "--dir", str(tmp_path), port=0).start()
    assert send_and_ping_port(p.port, TX) == theirs
    assert b"Background saving scheduled" in theirs
    r = redis.Redis(port=p.port)
    deadline = time.monotonic() + 30
    while not (tmp_path / "dump.sdb").exists() or r.info("persistence")["aof_rewrites"] < 1:
        assert time.monotonic() < deadline, "the scheduled jobs never ran"
        time.sleep(0.05)
    p.kill()
    p = python_module("servers.cache", "--dir", str(tmp_path), port=0).start()
    assert redis.Redis(port=p.port).mget("a", "b") == [b"1", b"1"]
    p.stop()


def send_and_ping_port(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        return send_and_ping(s, data)
