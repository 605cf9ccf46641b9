"""Runs and grids with the AOF on: logged in one go, exactly as call by call.

While the append-only file is the only reason to see every call (no MONITOR, no slow
log threshold under 1 ms, no maxmemory), the session still takes runs of plain SETs,
INCRs, LPUSHes and GETs (``servers.cache.runs``) and hands the AOF what they ran at once
(``Persistence.log_calls``, and ``log_wire`` for a grid's rows as they arrived). These
tests feed the same reads with runs taken and with runs off (a slow log threshold of
500 us) and compare every reply, every counter and the AOF byte for byte (its CRC
records apart: the harness has no event loop, so each read flushes on its own); load
the AOF back; compare the commands logged with what a real redis-server logs for the
same pipeline; hold a grid's replies until the fsync under ``appendfsync always``; and
SIGKILL a real server under pipelined writes of one layout (the grids ``redis-benchmark
-P 16`` sends) to find every acknowledged write after the restart.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest
import redis
from cache_support import Harness, send_and_ping
from test_cache_persistence import check_aof, start
from test_cache_runs import _observable, grid_reads, pipeline

from harness.services import RedisServer
from netlib.resp import RequestParser, encode_command
from servers.cache import persist
from servers.cache.server import CacheSettings, State
from servers.cache.table import REGISTRY

pytestmark = pytest.mark.exercise("N14")

RUN_COMMANDS = (b"set", b"get", b"incr", b"lpush")
CRC_RECORD = re.compile(rb"\*2\r\n\$10\r\nSYSLAB\.CRC\r\n\$8\r\n[0-9a-f]{8}\r\n")


def _incr_file(d: Path) -> Path:
    return sorted((d / "appendonlydir").glob("*.incr.aof"))[-1]


def _logged(d: Path) -> bytes:
    """The incremental AOF's bytes without its CRC records, after checking every CRC."""
    path = _incr_file(d)
    r = persist.read_commands(path)
    assert r.good_bytes == r.size  # every record is whole and its CRC right
    return CRC_RECORD.sub(b"", path.read_bytes())


def _with_aof(
    wire: list[bytes], runs: bool, d: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> tuple[bytes, dict[str, object], int, Harness]:
    """The reads through a cache with an AOF in ``d``: replies, counters, calls taken by
    run handlers. Without ``runs`` a slow log threshold under RUN_MIN_ABOVE turns them off
    (every call on its own, as before runs were taken with the AOF on)."""
    taken = {"n": 0}

    def counted(handler: Any) -> Any:
        def wrapper(*args: Any) -> tuple[int, int]:
            ran, grew = handler(*args)
            taken["n"] += ran
            return ran, grew

        return wrapper

    with monkeypatch.context() as m:
        for name in RUN_COMMANDS:
            cmd = REGISTRY.get(name)
            m.setattr(cmd, "many", counted(cmd.many))
            m.setattr(cmd, "columns", counted(cmd.columns))
        h = Harness(dir=str(d), appendonly=True, **settings)
        h.ks.rng.seed(7)
        h.cmd("CONFIG", "SET", "slowlog-log-slower-than", "10000" if runs else "500")
        replies = b""
        for piece in wire:  # the clock moves 100 ms between reads: PX 50 keys expire
            replies += h.raw(piece)
            h.now += 100
    obs = _observable(h)
    obs["meta"] = dict(h.client.db.meta)
    return replies, obs, taken["n"], h


def _dataset(state: State) -> dict[int, dict[bytes, object]]:
    """Every database's live keys: value (lists as lists) and absolute expiry (a key past
    its expiry, not yet expired lazily, is not loaded back)."""
    out = {}
    now = state.keyspace.clock()
    for db in state.keyspace.dbs:
        live = {
            k: (list(v) if isinstance(v, deque) else v, db.expires.get(k))
            for k, v in db.data.items()
            if db.expires.get(k, now + 1) > now
        }
        if live:
            out[db.index] = live
    return out


def _same_aof_as_call_by_call(wire: list[bytes], tmp_path: Path, monkeypatch: Any) -> Harness:
    fast_dir, slow_dir = tmp_path / "runs", tmp_path / "calls"
    fast, fast_obs, fast_taken, h = _with_aof(wire, True, fast_dir, monkeypatch)
    slow, slow_obs, slow_taken, h2 = _with_aof(wire, False, slow_dir, monkeypatch)
    assert fast_taken > 0 and slow_taken == 0
    assert fast == slow
    assert fast_obs == slow_obs
    assert _logged(fast_dir) == _logged(slow_dir)
    # Loaded back, the AOF gives the dataset the server had.
    expected = _dataset(h.state)
    for harness in (h, h2):
        harness.state.persistence.close()  # type: ignore[union-attr]
    loaded = State(CacheSettings(dir=str(fast_dir), appendonly=True), clock=lambda: h.now)
    assert _dataset(loaded) == expected
    loaded.persistence.close()  # type: ignore[union-attr]
    return h


@pytest.mark.parametrize("seed", range(12))
def test_grids_log_what_the_calls_one_by_one_log(seed, tmp_path, monkeypatch):
    """Reads of one layout (``take_grid``, ``Persistence.log_wire``), grids cut short by
    a call the columns cannot take, TTLs between them, mixed pipelines."""
    _same_aof_as_call_by_call(grid_reads(seed, 30), tmp_path, monkeypatch)


@pytest.mark.parametrize("seed", range(12))
def test_runs_in_mixed_pipelines_log_what_the_calls_one_by_one_log(seed, tmp_path, monkeypatch):
    """Runs inside pipelines of every kind of call (``many``, ``Persistence.log_calls``):
    errors, options (SET EX, followed by PEXPIREAT), other commands between the runs."""
    cmds = pipeline(500 + seed, 300)
    wire = [b"".join(encode_command(*a) for a in cmds[i : i + 100]) for i in range(0, 300, 100)]
    _same_aof_as_call_by_call(wire, tmp_path, monkeypatch)


def _mixed_with_select() -> list[bytes]:
    grid = b"".join(encode_command("SET", f"g{i:02d}", f"{i:03d}") for i in range(16))
    mixed = (
        encode_command("SET", "a", "1") * 3
        + encode_command("GET", "a")
        + encode_command("SELECT", "1")
        + b"".join(encode_command("SET", f"b{i}", "2") for i in range(4))
        + encode_command("INCR", "n") * 5
        + encode_command("LPUSH", "l", "x") * 4
    )
    incrs = b"".join(encode_command("INCR", f"c{i:02d}") for i in range(16))
    back = encode_command("SELECT", "0") + encode_command("lpush", "l", "y") * 8
    return [grid, mixed, incrs, grid, back, incrs]


def test_a_mixed_pipeline_logs_each_run_under_its_database(tmp_path, monkeypatch):
    """A SET run, a GET, SELECT 1, SETs, INCRs, then grids in database 1 and back in 0:
    each run is logged after the SELECT that puts the log in its database, as ``feed``."""
    h = _same_aof_as_call_by_call(_mixed_with_select(), tmp_path, monkeypatch)
    cmds = RequestParser()
    cmds.feed(_logged(tmp_path / "runs"))
    logged = cmds.commands()
    selects = [(i, c[1]) for i, c in enumerate(logged) if c[0] == b"SELECT"]
    assert [db for _, db in selects] == [b"0", b"1", b"0"]
    in_db1 = logged[selects[1][0] + 1 : selects[2][0]]
    assert in_db1[:4] == [[b"SET", b"b%d" % i, b"2"] for i in range(4)]
    assert [c[0] for c in in_db1[4:]] == [b"INCR"] * 5 + [b"LPUSH"] * 4 + [b"INCR"] * 16 + [
        b"SET"
    ] * 16
    dbs = h.state.keyspace.dbs
    assert dbs[0].data[b"c15"] == dbs[1].data[b"c15"] == b"1" and dbs[0].data[b"l"][0] == b"y"


def test_a_key_that_expired_between_writes_loads_back_as_it_was_written(tmp_path):
    """SET k 1 PX 50, INCR k (the TTL stays), then past it LPUSH k: the log holds all three
    (with k's PEXPIREAT). Replayed later, k expired at once and INCR made a new key
    without a TTL, which the LPUSH met: WRONGTYPE, and a server that refused to start.
    Nothing expires while loading (as Redis's loading), so the log replays as it ran."""
    h = Harness(dir=str(tmp_path), appendonly=True)
    h.raw(encode_command("SET", "k", "1", "PX", "50") + encode_command("INCR", "k"))
    h.advance(100)
    assert h.cmd("LPUSH", "k", "x") == b":1\r\n"
    h.state.persistence.close()  # type: ignore[union-attr]
    h.advance(60_000)  # restarted a minute later
    loaded = State(CacheSettings(dir=str(tmp_path), appendonly=True), clock=lambda: h.now)
    assert _dataset(loaded) == {0: {b"k": ([b"x"], None)}}
    loaded.persistence.close()  # type: ignore[union-attr]


def test_an_expiry_is_logged_as_a_del_where_it_happened(tmp_path):
    """A key past its TTL found by INCR (or the cron) is logged as DEL before the INCR,
    as Redis propagates an expiry: replayed without expiring anything (``loading``), the
    INCR then starts from nothing as it did (not from "abc": a replay error)."""
    h = Harness(dir=str(tmp_path), appendonly=True)
    h.cmd("SET", "n", "abc", "PX", "50")
    h.cmd("SET", "gone", "x", "PX", "50")
    h.advance(100)
    assert h.raw(encode_command("INCR", "n") * 2) == b":1\r\n:2\r\n"
    h.state.keyspace.active_expire(1.0)  # the cron finds "gone"
    h.state.persistence.poll()  # (and the next tick writes what it logged)  # type: ignore[union-attr]
    cmds = RequestParser()
    cmds.feed(_logged(tmp_path))
    assert [c[:2] for c in cmds.commands()[-4:]] == [
        [b"DEL", b"n"],
        [b"INCR", b"n"],
        [b"INCR", b"n"],
        [b"DEL", b"gone"],
    ]
    h.state.persistence.close()  # type: ignore[union-attr]
    loaded = State(CacheSettings(dir=str(tmp_path), appendonly=True), clock=lambda: h.now)
    assert _dataset(loaded) == {0: {b"n": (b"2", None)}}
    loaded.persistence.close()  # type: ignore[union-attr]


def test_two_clients_in_two_databases_alternate_selects_between_their_grids(tmp_path):
    """Grids from a client in database 0 and one in database 3, read after read: the log
    switches database before each (one SELECT per switch), and loads back the same."""
    h = Harness(dir=str(tmp_path), appendonly=True)
    other = h.connect()
    h.cmd("SELECT", "3", client=other)
    for r in range(3):
        for c in (None, other):
            rows = [encode_command("SET", f"k{r}{i:02d}", "abc" if c else "xyz") for i in range(16)]
            assert h.raw(b"".join(rows), client=c) == b"+OK\r\n" * 16
    cmds = RequestParser()
    cmds.feed(_logged(tmp_path))
    logged = cmds.commands()
    assert [c[1] for c in logged if c[0] == b"SELECT"] == [b"0", b"3"] * 3
    assert len(logged) == 6 + 6 * 16
    expected = _dataset(h.state)
    assert set(expected) == {0, 3}
    h.state.persistence.close()  # type: ignore[union-attr]
    loaded = State(CacheSettings(dir=str(tmp_path), appendonly=True), clock=lambda: h.now)
    assert _dataset(loaded) == expected
    loaded.persistence.close()  # type: ignore[union-attr]


def test_runs_are_taken_with_the_aof_only_while_nothing_else_observes_calls(tmp_path):
    """The AOF alone: runs taken (``policy`` names it as the run log). A MONITOR, or a slow
    log threshold under 1 ms: every call on its own again, each logged by ``write_log``
    and shown to the monitor; the AOF the same either way."""
    h = Harness(dir=str(tmp_path), appendonly=True)
    assert h.state.policy()[3] is h.state.persistence
    taken: list[int] = []
    cmd = REGISTRY.get(b"set")
    columns = cmd.columns

    def spy(*args: Any) -> tuple[int, int]:
        taken.append(1)
        return columns(*args)

    grid = b"".join(encode_command("SET", f"k{i:02d}", "v") for i in range(16))
    cmd.columns = spy
    try:
        h.raw(grid)
        assert taken
        taken.clear()
        monitor = h.connect()
        assert h.cmd("MONITOR", client=monitor) == b"+OK\r\n"
        assert h.state.policy()[3] is None
        h.raw(grid)
        assert not taken
        assert monitor[1].take().count(b'"SET"') == 16
        monitor[0].connection_lost(None)  # the monitor is gone
        assert h.state.policy()[3] is h.state.persistence
        h.raw(grid)
        assert taken
    finally:
        cmd.columns = columns
    cmds = RequestParser()
    cmds.feed(_logged(tmp_path))
    assert cmds.commands()[1:] == [[b"SET", b"k%02d" % i, b"v"] for i in range(16)] * 3


@pytest.mark.parametrize("first", [[], [b"PING"]])  # a grid (``log_wire``), a run (``log_calls``)
def test_a_run_slower_than_the_threshold_logs_each_call_once(first, tmp_path, monkeypatch):
    """A run the process stalled in (the clock jumps 20 ms) charges its last call, which
    ``observe`` sees on its own (and ``write_log`` logs): the run logs the calls before
    it, so each call is in the AOF once, in order."""
    import servers.respkit.session as session_module

    h = Harness(dir=str(tmp_path), appendonly=True)
    ticks = iter([0.0] * (1 + len(first)) + [0.020] * 10)  # (PING: not slow)
    monkeypatch.setattr(session_module, "perf_counter", lambda: next(ticks))
    sets = [[b"SET", b"k%d" % i, b"v"] for i in range(5)]
    h.raw(b"".join(encode_command(*a) for a in [first, *sets] if a))
    monkeypatch.undo()
    assert h.state.observer.slowlog[0][3] == [b"SET", b"k4", b"v"]
    cmds = RequestParser()
    cmds.feed(_logged(tmp_path))
    assert cmds.commands() == [[b"SELECT", b"0"], *sets]


def test_the_aof_turned_off_and_on_again_is_followed_by_the_runs(tmp_path):
    """CONFIG SET appendonly no, then yes: the policy's run log follows it, and the new
    AOF has what ran after it was turned on (a grid, logged by ``log_wire``)."""
    h = Harness(dir=str(tmp_path), appendonly=True)
    h.cmd("CONFIG", "SET", "appendonly", "no")
    assert h.state.policy()[3] is None and h.state.policy()[0] is False
    h.raw(encode_command("SET", "a", "1") * 4)
    h.cmd("CONFIG", "SET", "appendonly", "yes")
    assert h.state.policy()[3] is h.state.persistence
    h.raw(b"".join(encode_command("INCR", f"n{i}") for i in range(8)))
    h.state.persistence.close()  # type: ignore[union-attr]
    loaded = State(CacheSettings(dir=str(tmp_path), appendonly=True), clock=lambda: h.now)
    assert _dataset(loaded) == _dataset(h.state)
    loaded.persistence.close()  # type: ignore[union-attr]


def test_under_appendfsync_always_a_grids_replies_wait_for_the_fsync(tmp_path, monkeypatch):
    """The grid's replies are held (``session.held``) until the loop turn's group commit
    has written and fsynced the log that holds its calls; then they go out together."""

    async def main() -> None:
        h = Harness(dir=str(tmp_path), appendonly=True, appendfsync="always")
        aof = h.state.persistence.aof  # type: ignore[union-attr]
        seen: list[tuple[bytes, bytes]] = []
        fsync_now = aof.fsync_now

        def fsync() -> None:  # what the client has and the file holds when it fsyncs
            seen.append((bytes(h.wire.out), _incr_file(tmp_path).read_bytes()))
            fsync_now()

        monkeypatch.setattr(aof, "fsync_now", fsync)
        cmd = REGISTRY.get(b"set")
        original = cmd.columns
        by_columns: list[int] = []

        def columns(*args: Any) -> tuple[int, int]:
            ran, grew = original(*args)
            by_columns.append(ran)
            return ran, grew

        monkeypatch.setattr(cmd, "columns", columns)
        grid = b"".join(encode_command("SET", f"k{i:02d}", "val") for i in range(16))
        h.client.data_received(grid + encode_command("GET", "k00"))
        assert by_columns == [16]  # the grid ran by columns
        assert h.wire.out == b""  # held
        await asyncio.sleep(0)  # the group commit's loop turn
        [(sent, logged)] = seen
        assert sent == b"" and grid in logged
        assert h.wire.take() == b"+OK\r\n" * 16 + b"$3\r\nval\r\n"
        h.state.persistence.close()  # type: ignore[union-attr]

    asyncio.run(main())


# -- against a real redis-server -------------------------------------------------------


def _plain_pipelines(seed: int) -> list[bytes]:
    """Reads of SET, GET, INCR, LPUSH and SELECT only (what both servers log as sent):
    grids of one layout and mixed pipelines."""
    import random

    rnd = random.Random(seed)
    reads = []
    for _ in range(20):
        rows: list[list[bytes]] = []
        if rnd.random() < 0.5:  # a grid
            kind = rnd.choice([b"SET", b"set", b"INCR", b"LPUSH"])
            prefix = {b"SET": b"s", b"INCR": b"n", b"LPUSH": b"l"}[kind.upper()]
            for _ in range(16):
                row = [kind, b"%s%d" % (prefix, rnd.randrange(6))]
                if kind != b"INCR":
                    row.append(b"v%d" % rnd.randrange(10))
                rows.append(row)
        else:
            for _ in range(rnd.randint(2, 40)):
                r, key = rnd.random(), b"%s%d" % (rnd.choice([b"s", b"n", b"l"]), rnd.randrange(6))
                if r < 0.3:
                    rows.append([b"SET", key, b"x%d" % rnd.randrange(100)])
                elif r < 0.5:
                    rows.append([b"INCR", key])
                elif r < 0.7:
                    rows.append([b"LPUSH", key, b"e%d" % rnd.randrange(100)])
                elif r < 0.9:
                    rows.append([b"GET", key])
                else:
                    rows.append([b"SELECT", b"%d" % rnd.randrange(3)])
        reads.append(b"".join(encode_command(*a) for a in rows))
    return reads


def _send_reads(port: int, reads: list[bytes]) -> bytes:
    """Each read on its own (its replies awaited: a PING after it), on one connection."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for data in reads:
            out += send_and_ping(s, data) + b"+PONG\r\n"
    return out


def _commands(data: bytes) -> list[list[bytes]]:
    p = RequestParser()
    p.feed(data)
    return [c for c in p.commands() if c[0] != persist.CRC]


@pytest.mark.parametrize("seed", range(3))
def test_the_aof_logs_the_commands_redis_server_logs_for_the_same_pipelines(seed, tmp_path):
    """The same reads to a redis-server with appendonly yes and to ours: the same replies,
    and the same commands in the incremental AOF files (SELECTs included); ours loads back,
    and ``redis-check-aof`` reads it."""
    reads = _plain_pipelines(seed)
    ours_dir, redis_dir = tmp_path / "ours", tmp_path / "redis"
    ours_dir.mkdir()
    with start(ours_dir, policy="always") as child:
        ours = _send_reads(child.port, reads)  # type: ignore[attr-defined]
        r = redis.Redis(port=child.port)  # type: ignore[attr-defined]
        dump = {db: _dump(r, db) for db in range(3)}
        r.close()
    flags = ["--appendonly", "yes", "--appendfsync", "always"]
    with RedisServer(redis_dir, extra_args=flags) as real:
        theirs = _send_reads(real.port, reads)
    assert ours == theirs
    assert _commands(_incr_file(ours_dir).read_bytes()) == _commands(
        _incr_file(redis_dir).read_bytes()
    )
    check_aof(ours_dir)
    with start(ours_dir, policy="always") as child:
        r = redis.Redis(port=child.port)  # type: ignore[attr-defined]
        assert {db: _dump(r, db) for db in range(3)} == dump
        r.close()


def _dump(r: redis.Redis, db: int) -> dict[bytes, object]:
    r.select(db)
    out: dict[bytes, object] = {}
    for key in r.keys("*"):
        out[key] = r.lrange(key, 0, -1) if r.type(key) == b"list" else r.get(key)
    return out


# -- SIGKILL under pipelined writes from real clients -------------------------------------

ROWS = 16  # calls per write, as redis-benchmark -P 16


def _grid_writer(port: int, kind: str, who: int, acked: list[int], stop: threading.Event) -> None:
    """Writes of ROWS calls of one layout (each a grid), recording what each write's replies
    acknowledged: SET -> the numbers set; INCR, LPUSH -> the last reply (counter, length)."""
    i = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            while not stop.is_set():
                if kind == "set":
                    rows = [("SET", f"s{who}:{j:08d}", f"{j:08d}") for j in range(i, i + ROWS)]
                elif kind == "incr":
                    rows = [("INCR", f"n{who}")] * ROWS
                else:
                    rows = [("LPUSH", f"l{who}", f"{j:08d}") for j in range(i, i + ROWS)]
                s.sendall(b"".join(encode_command(*a) for a in rows))
                buf = b""
                while buf.count(b"\r\n") < ROWS:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                replies = buf.split(b"\r\n")[:ROWS]
                if kind == "set":
                    assert replies == [b"+OK"] * ROWS
                    acked.extend(range(i, i + ROWS))
                else:
                    acked.append(int(replies[-1][1:]))
                i += ROWS
    except OSError:
        pass  # the server was killed under us


@pytest.mark.parametrize("policy", ["always", "everysec"])
def test_sigkill_under_pipelined_grids_loses_no_acknowledged_write(tmp_path, policy):
    """Clients send -P 16 style writes (SET, INCR, LPUSH grids) while the server is
    SIGKILLed: every acknowledged write is there after the restart. Each loop turn's log is
    written (write(2)) before its replies go out, under every policy, so a killed process
    loses nothing; ``always`` also fsyncs first (a power loss: nothing either), ``everysec``
    within about a second (not testable by killing a process)."""
    server = start(tmp_path, policy=policy)
    stop = threading.Event()
    acked: dict[tuple[str, int], list[int]] = {}
    threads = []
    for kind in ("set", "incr", "lpush"):
        for who in range(2):
            got = acked[(kind, who)] = []
            threads.append(
                threading.Thread(target=_grid_writer, args=(server.port, kind, who, got, stop))
            )
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while min(map(len, acked.values())) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    server.kill()  # SIGKILL: no cleanup runs
    stop.set()
    for t in threads:
        t.join()
    assert min(map(len, acked.values())) >= 20
    again = start(tmp_path, policy=policy)
    r = redis.Redis(port=again.port)
    for who in range(2):
        sets = acked[("set", who)]
        values = r.mget([f"s{who}:{j:08d}" for j in sets])
        assert [j for j, v in zip(sets, values, strict=True) if v != b"%08d" % j] == []
        assert int(r.get(f"n{who}") or 0) >= acked[("incr", who)][-1]
        assert r.llen(f"l{who}") >= acked[("lpush", who)][-1]
    r.close()
    again.stop()
    check_aof(tmp_path)
