"""A hostile review of ``RequestParser.take_grid`` (the grid of one layout) and the
server behind it: random reads of a few layouts, mutated anywhere, split anywhere, must
give exactly the commands (and the error) the general parser gives; the caches of
layouts and cuts stay within their budgets whatever a client sends; and the server,
fed grids by real clients, answers and stores as redis-server does.
"""

from __future__ import annotations

import importlib
import random
import socket
import sys
from collections.abc import Iterator

import pytest
import redis
from cache_support import Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from resp_support import session_reads

from harness.procs import python_module
from harness.services import RedisServer
from netlib import resp
from netlib.resp import ProtocolError, RequestParser, _requests
from servers.cache.table import REGISTRY
from servers.respkit import session as session_module

# --- the parser: take_grid + take against feeding byte by byte ---------------------------


def _bytewise(data: bytes) -> tuple[list[list[bytes]], bytes | None]:
    p, out = RequestParser(), []
    try:
        for i in range(len(data)):
            p.feed(data[i : i + 1])
            out += p.commands()
        out += p.commands()
    except ProtocolError as e:
        return out, e.reply
    return out, None


_ALPHABET = list(b"\r\n$*:0123SETk\x00\xff ")
_NAMES = [b"SET", b"set", b"SeT", b"GET", b"LPUSH", b"HSET", b"PING", b"MSET", b"S\r\nT"]


@st.composite
def _layout(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    name = draw(st.sampled_from(_NAMES))
    sizes = draw(st.lists(st.integers(0, 12) | st.just(1030), min_size=0, max_size=5))
    return name, sizes


def _arg(size: int) -> st.SearchStrategy[bytes]:
    if size > 64:
        return st.just(b"x" * size)
    return st.lists(st.sampled_from(_ALPHABET), min_size=size, max_size=size).map(bytes)


@st.composite
def _read(draw: st.DrawFn) -> bytes:
    """Runs of rows of a few layouts, an inline command or garbage between, a mutation."""
    pieces = []
    for _ in range(draw(st.integers(1, 3))):
        name, sizes = draw(_layout())
        for _ in range(draw(st.integers(1, 18))):
            pieces.append(resp.encode_command(name, *[draw(_arg(n)) for n in sizes]))
        extra = draw(st.integers(0, 6))
        if extra == 1:
            pieces.append(b"PING\r\n")
        elif extra == 2:
            pieces.append(b"SET k v\n")
        elif extra == 3:
            pieces.append(draw(st.binary(max_size=6)))
        elif extra == 4:
            pieces.append(b"*1\r\n$99999999999\r\n")  # a huge length: an error
    wire = b"".join(pieces)
    how = draw(st.integers(0, 3))
    if how == 1 and wire:  # flip any byte
        at = draw(st.integers(0, len(wire) - 1))
        wire = wire[:at] + bytes([draw(st.integers(0, 255))]) + wire[at + 1 :]
    elif how == 2:  # truncate anywhere
        wire = wire[: draw(st.integers(0, len(wire)))]
    return wire


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(wire=_read(), at=st.integers(0, 10**6), again=st.booleans())
def test_a_grid_then_take_gives_what_the_general_parser_gives(wire, at, again):
    """Any read of rows of a few layouts (arguments full of framing bytes, empty, over
    the split limit; 1 to 6 words; a name in three spellings), mutated, with inline
    commands and garbage between, in one read or split in two anywhere (a read taken
    twice: the second time its layout and size are known)."""
    want = _bytewise(wire)
    at %= len(wire) + 1
    for _ in range(2 if again else 1):
        assert session_reads([wire]) == want
        assert session_reads([wire[:at], wire[at:]]) == want


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from([b"SET", b"GET", b"HSET", b"set"]),
    rows=st.integers(2, 20),
    tail=st.sampled_from([b"", b"PING\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"*1\r\n$x\r\n"]),
)
def test_a_grid_split_in_two_reads_at_every_offset(name, rows, tail):
    """Rows of one layout (a -P client's read) split in two reads at every offset, each
    read taken by the session's steps: the commands (and error) of the general parser."""
    words = {b"GET": 1, b"SET": 2, b"set": 2, b"HSET": 3}[name]
    wire = b"".join(
        resp.encode_command(name, *[b"k:%03d" % (r * 7 % 13)] * words) for r in range(rows)
    )
    wire += tail
    want = _bytewise(wire)
    assert session_reads([wire]) == want
    for at in range(len(wire) + 1):
        assert session_reads([wire[:at], wire[at:]]) == want, at


def test_ever_new_layouts_and_row_counts_keep_the_caches_within_their_budgets():
    """A client sending a new layout (key length) and a new row count read after read:
    the layouts kept, the cuts they keep and the reads known by size stay bounded, and so
    does the memory the process holds for them."""
    before = sys.getallocatedblocks()
    for i in range(3000):
        key = b"k" * (1 + i % 500)
        rows = 2 + (i * 7) % 60
        row = resp.encode_command("SET", key, b"v" * (i % 3))
        assert RequestParser().take_grid(row * rows) is not None
        assert len(_requests._GRIDS) <= _requests._GRID_LAYOUTS
        assert _requests._Layout.kept <= _requests._GRID_CUTS
        held = sum(n * len(lay.args) for lay in _requests._GRIDS.values() for n in lay._cuts)
        assert held <= _requests._GRID_CUTS
    assert sys.getallocatedblocks() - before < 200_000


# --- the server end to end, against a real redis-server ----------------------------------

_KEYS = [b"k:%03d" % i for i in range(12)]
_COUNTERS = [b"n:%03d" % i for i in range(6)]
_VALUES = [b"abc", b"007", b"-12", b"999", b"x\r\n", b"$3\r", b"\x00\x00\x00", b"123"]


def _grid_read(rnd: random.Random) -> bytes:
    """One read as a -P client sends it: 2 to 20 calls of one layout, sometimes with an
    odd call (another length, spelling or command) inside or a partial call at its end."""
    kind = rnd.choice(["set", "get", "incr", "lpush", "hset", "set_lower", "expire"])
    rows = []
    for _ in range(rnd.randint(2, 20)):
        k, v = rnd.choice(_KEYS), rnd.choice(_VALUES)
        rows.append(
            {
                "set": [b"SET", k, v],
                "set_lower": [b"set", k, v],
                "get": [b"GET", k],
                "incr": [b"INCR", rnd.choice(_COUNTERS + _KEYS[:1])],
                "lpush": [b"LPUSH", b"l:" + k[2:], v],
                "hset": [b"HSET", b"h:" + k[2:], v, v],
                "expire": [b"EXPIRE", k, b"1000"],
            }[kind]
        )
    if rnd.random() < 0.3:  # an odd call inside the grid
        rows.insert(
            rnd.randrange(len(rows) + 1),
            rnd.choice(
                [
                    [b"SET", rnd.choice(_KEYS), b"a longer value"],
                    [b"SeT", rnd.choice(_KEYS), b"abc"],
                    [b"GET", b"k:0000"],
                    [b"INCR", b"n:001"],
                    [b"LPUSH", b"k:001", b"abc"],  # a wrong type, or not
                    [b"DEL", rnd.choice(_KEYS)],
                ]
            ),
        )
    wire = b"".join(resp.encode_command(*a) for a in rows)
    if rnd.random() < 0.15:
        wire += b"PING\r\n"  # an inline command after the grid
    return wire


def _stream(seed: int, n: int) -> list[bytes]:
    """Reads of grids; a SELECT, a TTL set, a call split between two reads now and then."""
    rnd = random.Random(seed)
    reads: list[bytes] = []
    carry = b""
    for _ in range(n):
        r = rnd.random()
        if r < 0.06:
            wire = resp.encode_command("SELECT", rnd.choice(["0", "1"]))
        elif r < 0.10:
            wire = resp.encode_command("EXPIRE", rnd.choice(_KEYS), "1000")
        else:
            wire = _grid_read(rnd)
        wire = carry + wire
        carry = b""
        if rnd.random() < 0.1:  # a partial call at the end, completed by the next read
            nxt = resp.encode_command("SET", rnd.choice(_KEYS), "abc")
            at = rnd.randrange(1, len(nxt))
            wire, carry = wire + nxt[:at], nxt[at:]
        reads.append(wire)
    if carry:
        reads.append(carry)
    return reads


def _replies(s: socket.socket, reads: list[bytes]) -> list[bytes]:
    """Send each read alone (the next once every call it completed is answered): the
    reply bytes of each read."""
    p, out, sent = RequestParser(), [b""][:0], 0
    for wire in reads:
        p.feed(wire)
        sent += len(p.commands())
        s.sendall(wire)
        got = b""
        replies = resp.ReplyParser()
        while len(out) < sent:
            chunk = s.recv(65536)
            assert chunk, "closed"
            got += chunk
            replies.feed(chunk)
            while len(out) < sent and replies.next_reply() is not resp.NEED_DATA:
                out.append(b"")
        out[-1] = got  # (the read's replies, in one piece)
    return [r for r in out if r]


def _redis(addr: tuple[str, int]) -> redis.Redis:
    """A client that sends nothing of its own on connect (no CLIENT SETINFO: Redis 7.0
    answers it with an error, counted in INFO)."""
    return redis.Redis(*addr, driver_info=None)


def _keyspace(addr: tuple[str, int]) -> dict[tuple[int, object], object]:
    r = _redis(addr)
    out: dict[tuple[int, object], object] = {}
    for db in (0, 1):
        r.execute_command("SELECT", db)
        for key in sorted(r.keys("*")):
            kind = r.type(key)
            if kind == b"string":
                value: object = r.get(key)
            elif kind == b"list":
                value = r.lrange(key, 0, -1)
            else:
                value = sorted(r.hgetall(key).items())
            out[(db, key)] = (kind, value, r.ttl(key) > 0, r.object("encoding", key))
    r.close()
    return out


@pytest.fixture(scope="module")
def real() -> Iterator[tuple[str, int]]:
    with RedisServer() as server:
        yield server.address.host, server.address.port


def _against_redis(real, ours, reads, auth=None, alone=None) -> None:
    """Send ``reads`` to redis-server and to ours (and to ``alone``, ours too, each call in
    a read of its own: no grid); the replies, the data and INFO's counts must agree, and
    the counts Redis keeps otherwise than ours (the dirty count of a created list or
    hash) at least between a grid and its calls alone."""
    cmds, error = _bytewise(b"".join(reads))
    assert error is None
    servers = [(real, reads), (ours, reads)]
    if alone is not None:
        servers.append((alone, [resp.encode_command(*a) for a in cmds]))
    got, moved = [], []
    for addr, wires in servers:
        _redis(addr).flushall()
        _redis(addr).config_resetstat()
        before = _redis(addr).info("everything")
        with socket.create_connection(addr, timeout=10) as s:
            if auth is not None:
                s.sendall(resp.encode_command("AUTH", *auth))
                assert s.recv(100) == b"+OK\r\n"
            got.append(b"".join(_replies(s, wires)))
        after = _redis(addr).info("everything")
        moved.append({k: after[k] - before[k] for k in _MOVED})
        moved[-1].update(keyspace=_keyspace(addr), counted=_counted(addr))
    assert got[1] == got[0]
    if alone is not None:
        assert got[2] == got[1]
        assert moved[2] == moved[1]
    dirty = "rdb_changes_since_last_save"
    assert {**moved[1], dirty: 0} == {**moved[0], dirty: 0}


# INFO fields that move by as much (the dirty count: each call's own; the commands
# processed: one per call, the INFO calls around included).
_MOVED = ("rdb_changes_since_last_save", "total_commands_processed", "expired_keys")


def _counted(addr: tuple[str, int]) -> dict[str, object]:
    """INFO's counts a grid must keep as the calls would: calls, failed and rejected
    calls per command, errors per code, keyspace hits and misses."""
    info = _redis(addr).info("everything")
    out: dict[str, object] = {}
    for k, v in info.items():
        if k.startswith("cmdstat_") and k[8:] not in ("flushall", "info", "acl|setuser", "auth"):
            out[k] = (v["calls"], v["failed_calls"], v["rejected_calls"])
        elif k.startswith("errorstat_") or k in ("keyspace_hits", "keyspace_misses"):
            out[k] = v
    return out


@pytest.mark.parametrize("seed", range(3))
def test_grids_answer_and_store_as_redis(real, seed):
    with python_module("servers.cache", port=0) as ours:
        addr = (ours.host, ours.port)
        _against_redis(real, addr, _stream(seed, 60), alone=addr)


def test_redis_py_pipelines_of_equal_length_keys_answer_as_redis(real):
    with python_module("servers.cache", port=0) as ours:
        got = []
        for host, port in (real, (ours.host, ours.port)):
            r = _redis((host, port))
            r.flushall()
            answers = []
            for i in range(20):
                pipe = r.pipeline(transaction=False)
                for j in range(16):
                    key = f"key:{(i * 16 + j) % 37:06d}"
                    if i % 3 == 0:
                        pipe.set(key, f"v{j:02d}")
                    elif i % 3 == 1:
                        pipe.get(key)
                    else:
                        pipe.incr(key)
                answers.append(pipe.execute(raise_on_error=False))
            got.append(([[str(a) for a in ans] for ans in answers], _keyspace((host, port))))
            r.close()
        assert got[0] == got[1]


@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_grids_logged_to_the_aof_replay_to_the_same_data(real, tmp_path, fsync):
    args = ["--dir", str(tmp_path), "--appendonly", "yes", "--appendfsync", fsync]
    big = b"".join(resp.encode_command("SET", _KEYS[i % 12], b"%03d" % i) for i in range(600))
    big += resp.encode_command("INCR", "n:001") * 700  # (grids past RUN_MAX: cut as runs)
    lists = resp.encode_command("LPUSH", "l:001", "abc") * 1000
    with python_module("servers.cache", *args, port=0) as ours:
        _against_redis(real, (ours.host, ours.port), [*_stream(7, 80), big, lists])
        before = _keyspace((ours.host, ours.port))
    with python_module("servers.cache", *args, port=0) as again:
        assert _keyspace((again.host, again.port)) == before


def _monitor_lines(s: socket.socket) -> list[bytes]:
    buf = b""
    while b'"ECHO" "done"' not in buf:
        chunk = s.recv(65536)
        assert chunk, "closed"
        buf += chunk
    lines = buf.split(b"\r\n")
    return [line.split(b"] ", 1)[1] for line in lines if b"] " in line]


def test_grids_under_monitor_are_seen_call_by_call_as_by_redis(real):
    reads = _stream(11, 40)
    with python_module("servers.cache", port=0) as ours:
        seen = []
        for addr in (real, (ours.host, ours.port)):
            _redis(addr).flushall()
            with socket.create_connection(addr, timeout=10) as m:
                m.sendall(resp.encode_command("MONITOR"))
                assert m.recv(5) == b"+OK\r\n"
                with socket.create_connection(addr, timeout=10) as s:
                    replies = _replies(s, [*reads, resp.encode_command("ECHO", "done")])
                seen.append((replies, _monitor_lines(m)))
        assert seen[1] == seen[0]


def test_grids_under_a_zero_slowlog_threshold_are_logged_as_by_redis(real):
    reads = _stream(12, 40)
    with python_module("servers.cache", port=0) as ours:
        seen = []
        for addr in (real, (ours.host, ours.port)):
            r = _redis(addr)
            r.flushall()
            r.config_set("slowlog-log-slower-than", 0)
            r.config_set("slowlog-max-len", 100000)
            r.slowlog_reset()
            with socket.create_connection(addr, timeout=10) as s:
                replies = _replies(s, reads)
            entries = r.execute_command("SLOWLOG", "GET", "-1")
            r.config_set("slowlog-log-slower-than", 10000)
            args = [e[3] for e in reversed(entries)]
            seen.append((replies, [a for a in args if a[0].upper() != b"SLOWLOG"]))
            r.close()
        assert seen[1] == seen[0]


def test_grids_of_a_restricted_acl_user_answer_as_redis(real):
    """A user who may not INCR and may touch only some keys: a grid of its calls is
    checked call by call (NOPERM where Redis says it), replies and data as Redis's."""
    rule = ["on", ">pw", "~k:*", "~l:*", "~h:*", "+@all", "-incr", "-select"]
    with python_module("servers.cache", port=0) as ours:
        for addr in (real, (ours.host, ours.port)):
            _redis(addr).acl_setuser("u", reset=True)
            _redis(addr).execute_command("ACL", "SETUSER", "u", *rule)
        try:
            _against_redis(real, (ours.host, ours.port), _stream(13, 40), auth=("u", "pw"))
        finally:
            _redis(real).acl_deluser("u")


def test_grids_in_resp3_answer_as_redis(real):
    """After HELLO 3 a grid's replies are RESP3's (a GET of a missing key is ``_``)."""
    reads = _stream(14, 40)
    with python_module("servers.cache", port=0) as ours:
        got = []
        for addr in (real, (ours.host, ours.port)):
            _redis(addr).flushall()
            with socket.create_connection(addr, timeout=10) as s:
                s.sendall(resp.encode_command("HELLO", "3"))
                hello = resp.ReplyParser()
                while True:
                    hello.feed(s.recv(65536))
                    if hello.next_reply() is not resp.NEED_DATA:
                        break
                got.append(_replies(s, reads))
        assert got[1] == got[0]


@pytest.mark.parametrize("shift", [-40, -1, 0, 1, 17, 40])
def test_a_read_longer_than_a_grid_is_parsed_whole_around_the_cap(shift):
    """Reads of GETs past ``_GRID_BYTES``, one row changed near where the grid is cut: the
    grid, then ``take``, give the general parser's commands, none lost or doubled."""
    row = resp.encode_command("GET", "key:0001")
    rows = _requests._GRID_BYTES // len(row) + 50
    wire = bytearray(row * rows)
    at = _requests._GRID_BYTES + shift
    wire[at] = ord("#")
    want = _bytewise(bytes(wire))
    assert session_reads([bytes(wire)]) == want
    assert session_reads([bytes(wire[:at]), bytes(wire[at:])]) == want


def _rewritten(addr: tuple[str, int]) -> None:
    r = _redis(addr)
    while (i := r.info("persistence"))["aof_rewrite_in_progress"] or i["aof_rewrite_scheduled"]:
        r.ping()  # (a round trip: the server's loop turns, the child's end is reaped)
    r.close()


def test_grids_logged_across_aof_rewrites_replay_to_the_same_data(tmp_path):
    """Grids before the AOF is turned on, while its first rewrite runs, and while a
    BGREWRITEAOF runs: after a restart the data is what it was."""
    reads = [_stream(21, 30), _stream(22, 30), _stream(23, 30)]
    args = ["--dir", str(tmp_path), "--appendfsync", "always"]
    with python_module("servers.cache", *args, port=0) as ours:
        addr = (ours.host, ours.port)
        with socket.create_connection(addr, timeout=10) as s:
            _replies(s, reads[0])
            _redis(addr).config_set("appendonly", "yes")
            _replies(s, reads[1])
            _rewritten(addr)
            _redis(addr).bgrewriteaof()
            _replies(s, reads[2])
        _rewritten(addr)
        before = _keyspace(addr)
    args[-1:] = ["always", "--appendonly", "yes"]
    with python_module("servers.cache", *args, port=0) as again:
        assert _keyspace((again.host, again.port)) == before


def _exchange(s: socket.socket, wire: bytes) -> bytes:
    return b"".join(_replies(s, [wire]))


def test_grids_in_a_transaction_and_against_a_watch_answer_as_redis(real):
    """Grids queued after MULTI (read after read), a grid from another client over a
    WATCHed key (EXEC fails), a grid of INCRs of a counter the transaction also writes."""
    sets = b"".join(resp.encode_command("SET", b"k:%03d" % i, "abc") for i in range(5))
    incrs = resp.encode_command("INCR", "n:001") * 6
    script = [
        (0, resp.encode_command("WATCH", "k:003")),
        (1, sets),
        (0, resp.encode_command("MULTI")),
        (0, sets),
        (0, incrs),
        (0, resp.encode_command("EXEC")),
        (0, resp.encode_command("MULTI")),
        (0, incrs),
        (1, incrs),
        (0, resp.encode_command("GET", "n:001") * 3),
        (0, resp.encode_command("EXEC")),
        (1, resp.encode_command("GET", "n:001") * 3),
    ]
    with python_module("servers.cache", port=0) as ours:
        got = []
        for addr in (real, (ours.host, ours.port)):
            _redis(addr).flushall()
            conns = [socket.create_connection(addr, timeout=10) for _ in range(2)]
            got.append([_exchange(conns[i], wire) for i, wire in script])
            got[-1].append(_keyspace(addr))
            for s in conns:
                s.close()
        assert got[1] == got[0]


# --- the session: a grid is timed as runs are ---------------------------------------------


def test_a_big_grid_under_a_1ms_slowlog_threshold_logs_no_call_as_slow(monkeypatch):
    """A read of 1000 SETs (one layout, 32 KB) under slowlog-log-slower-than 1000 (runs
    are taken from 1 ms up): each call costs about 2 us (a fake clock), so no call is
    slow, as in Redis. The grid was timed as one call: 2 ms, and its last SET was logged
    as slow. Now a grid is cut as a run is (RUN_MAX calls, a few hundred us at most)."""
    h = Harness()
    h.cmd("CONFIG", "SET", "slowlog-log-slower-than", "1000")
    now = [0.0]
    monkeypatch.setattr(session_module, "perf_counter", lambda: now[0])
    cmd = REGISTRY.get(b"set")
    assert cmd is not None and cmd.columns is not None and cmd.many is not None
    columns, many = cmd.columns, cmd.many

    def timed(handler):  # type: ignore[no-untyped-def]
        def call(*args):  # type: ignore[no-untyped-def]
            ran, grew = handler(*args)
            now[0] += 2e-6 * ran  # (each call 2 us)
            return ran, grew

        return call

    monkeypatch.setattr(cmd, "columns", timed(columns))
    monkeypatch.setattr(cmd, "many", timed(many))
    wire = b"".join(resp.encode_command("SET", b"k:%04d" % i, "v") for i in range(1000))
    assert len(wire) <= _requests._GRID_BYTES
    assert h.raw(wire) == b"+OK\r\n" * 1000
    monkeypatch.undo()
    assert h.state.observer.slowlog == type(h.state.observer.slowlog)()
    assert h.state.observer.commands["set"].calls == 1000
    assert h.cmd("DBSIZE") == b":1000\r\n"


def test_a_grid_cut_at_run_max_answers_no_more_than_the_output_room():
    """1000 GETs of a 2 KB value in one read: the grid is run RUN_MAX calls at a time,
    and the replies of the read stay within one ``OUTPUT_HIGH_WATER`` (plus a reply) in
    its loop turn, the rest waiting for the next, as ``run`` bounds a batch."""
    import asyncio

    async def main() -> tuple[int, int]:
        h = Harness()
        h.cmd("SET", "k:0001", "x" * 2048)
        answered = len(h.raw(resp.encode_command("GET", "k:0001") * 1000))
        waiting = len(h.client.pending)
        while h.client.pending:
            await asyncio.sleep(0)
        return answered, waiting

    answered, waiting = asyncio.run(main())
    reply = len(b"$2048\r\n") + 2048 + 2
    assert session_module.OUTPUT_HIGH_WATER < answered <= session_module.OUTPUT_HIGH_WATER + reply
    assert answered // reply + waiting == 1000


@pytest.mark.parametrize("seed", range(6))
def test_grids_past_run_max_answer_and_count_as_without_runs(seed, monkeypatch):
    """Reads of 300 to 1000 calls of one layout (cut RUN_MAX rows at a time), an odd call
    (a wrong type, a counter that is not canonical) anywhere: every reply and count as
    call by call (``test_cache_runs``'s harness, runs on and off)."""
    _run = importlib.import_module("test_cache_runs")._run  # (its harness, runs on and off)

    rnd = random.Random(seed)
    reads = []
    for kind in ["SET", "GET", "INCR", "LPUSH", "INCR", "GET"]:
        rows = []
        for i in range(rnd.randint(300, 1000)):
            k = b"k%d" % rnd.choice([1, 2, 3]) if kind != "INCR" or seed % 2 else b"k1"
            rows.append([kind, k] + ([b"v%d" % (i % 10)] if kind in ("SET", "LPUSH") else []))
        if rnd.random() < 0.7:
            rows[rnd.randrange(len(rows))] = rnd.choice(
                [[b"SET", b"k1", b"x"], [b"LPUSH", b"k2", b"v"], [b"SET", b"k3", b"12a"]]
            )
        reads.append(b"".join(resp.encode_command(*a) for a in rows))
    fast, fast_obs = _run(reads, True, monkeypatch)
    slow, slow_obs = _run(reads, False, monkeypatch)
    assert fast_obs.pop("run_calls") > 0
    slow_obs.pop("run_calls")
    assert fast == slow
    assert fast_obs == slow_obs


def test_a_monitor_that_comes_between_two_grids_sees_the_second_call_by_call(real):
    """Grids from a client, then a MONITOR from another (the policy kept for grids is
    dropped), then grids again; then the MONITOR quits and grids go on: the monitor
    sees exactly the calls Redis shows it."""
    first, second = _stream(31, 15), _stream(32, 15)
    with python_module("servers.cache", port=0) as ours:
        seen = []
        for addr in (real, (ours.host, ours.port)):
            _redis(addr).flushall()
            with socket.create_connection(addr, timeout=10) as s:
                replies = _replies(s, first)
                with socket.create_connection(addr, timeout=10) as m:
                    m.sendall(resp.encode_command("MONITOR"))
                    assert m.recv(5) == b"+OK\r\n"
                    replies += _replies(s, [*second, resp.encode_command("ECHO", "done")])
                    lines = _monitor_lines(m)
                replies += _replies(s, first)
            seen.append((replies, lines, _keyspace(addr)))
        assert seen[1] == seen[0]


@pytest.mark.parametrize("seed", range(8))
def test_mutated_grid_reads_answer_and_count_as_without_runs(seed, monkeypatch):
    """Grid reads of the four run commands with a byte flipped or the read cut short
    (the rest completed by the next read), through the whole session, runs on and off:
    every reply byte (a protocol error's included) and every count agree."""
    _run = importlib.import_module("test_cache_runs")._run
    rnd = random.Random(seed)
    reads, carry = [], b""
    for _ in range(25):
        wire = carry + _grid_read(rnd)
        carry = b""
        r = rnd.random()
        if r < 0.2:
            at = rnd.randrange(len(wire))
            wire, carry = wire[:at], wire[at:]
        elif r < 0.25 and seed % 2:
            at = rnd.randrange(len(wire))
            wire = wire[:at] + bytes([rnd.randrange(256)]) + wire[at + 1 :]
        reads.append(wire)
    fast, fast_obs = _run(reads, True, monkeypatch)
    slow, slow_obs = _run(reads, False, monkeypatch)
    fast_obs.pop("run_calls"), slow_obs.pop("run_calls")
    assert fast == slow
    assert fast_obs == slow_obs
