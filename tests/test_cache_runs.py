"""Runs of plain calls (``servers.cache.runs``, ``Session.run``'s ``many``) are exact.

A pipeline of SETs, GETs, INCRs and LPUSHes is executed run by run when nothing
needs to see single calls. These tests feed random pipelines mixing plain calls
with every case a run must leave to the ordinary path (a wrong type, a counter
that is not canonical, options, a wrong arity, another spelling, another
command) and compare, against the same pipeline with runs off and against a
real redis-server: every reply byte, INFO commandstats (calls, failed and
rejected calls), errorstats, keyspace hits and misses, the dirty counter, the
memory estimate and the data.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest
from cache_support import Harness, send_and_ping

import servers.respkit.session as session_module
from harness.procs import python_module
from harness.services import RedisServer
from netlib.resp import encode_command
from servers.cache import runs
from servers.cache.table import REGISTRY

KEYS = [b"k1", b"k2", b"n1", b"n2", b"l1", b"s1"]
VALUES = [b"v", b"", b"0", b"1", b"007", b"-5", b"42", b"999999999999999999",
          b"9223372036854775807", b"12a", b"x" * 300]  # fmt: skip


def _command(rnd: random.Random) -> list[bytes]:
    """One call: mostly the four run commands, plain or not, and some that break runs."""
    k, v = rnd.choice(KEYS), rnd.choice(VALUES)
    r = rnd.random()
    if r < 0.22:
        return [rnd.choice([b"SET", b"SET", b"set"]), k, v]
    if r < 0.40:
        return [rnd.choice([b"GET", b"GET", b"get"]), k]
    if r < 0.58:
        return [rnd.choice([b"INCR", b"INCR", b"incr"]), k]
    if r < 0.74:
        return [b"LPUSH", k, *rnd.sample(VALUES, rnd.randint(1, 3))]
    return rnd.choice(
        [
            [b"SET", k, v, b"EX", b"100"],
            [b"SET", k, v, b"PX", b"50"],  # expires between two reads (``_run``)
            [b"SET", k, v, b"NX"],
            [b"SET", k],  # wrong arity
            [b"GET", k, k],  # wrong arity
            [b"GET"],
            [b"INCR"],
            [b"LPUSH", k],
            [b"SADD", k, v],
            [b"RPUSH", k, v],
            [b"DEL", k],
            [b"INCRBY", k, b"5"],
            [b"APPEND", k, b"9"],
            [b"NOSUCH", k],
        ]
    )


def pipeline(seed: int, n: int) -> list[list[bytes]]:
    """Runs of one command of random lengths, so runs start and stop everywhere."""
    rnd = random.Random(seed)
    out: list[list[bytes]] = []
    while len(out) < n:
        cmd = _command(rnd)
        for _ in range(rnd.choice([1, 1, 2, 3, 8, 20])):
            out.append(cmd if rnd.random() < 0.7 else _command(rnd))
    return out[:n]


def _observable(h: Harness) -> dict[str, object]:
    st, ks = h.state, h.state.keyspace
    db = h.client.db
    return {
        "commandstats": {
            name: (s.calls, s.failed, s.rejected) for name, s in st.observer.commands.items()
        },
        "errorstats": dict(st.observer.errors),
        "error_replies": st.observer.error_replies,
        "hits_misses": (ks.hits, ks.misses),
        "dirty": ks.dirty,
        "expired": ks.expired_keys,
        "used": ks.used,
        "sizes": {k: db.size_of(k) for k in db.data},  # (a string's derived, not stored)
        "aggregate_sizes": dict(db.sizes),
        "data": {
            k: (type(v).__name__, list(v) if not isinstance(v, bytes) else v)
            for k, v in db.data.items()
        },  # fmt: skip
        "keylog": dict(db.keylog.seq_of),
        "processed": st.commands_processed,
        "last_command": h.client.last_command,
    }


def _run(
    wire: list[bytes], with_runs: bool, monkeypatch: pytest.MonkeyPatch, **settings: object
) -> tuple[bytes, dict]:
    calls = {"n": 0}
    originals = {
        (name, kind): getattr(REGISTRY.get(name), kind)
        for name in (b"set", b"get", b"incr", b"lpush")
        for kind in ("many", "columns")
    }

    def counted(many):  # type: ignore[no-untyped-def]
        def wrapper(*args):  # type: ignore[no-untyped-def]
            ran, grew = many(*args)
            calls["n"] += ran
            return ran, grew

        return wrapper

    with monkeypatch.context() as m:
        for (name, kind), handler in originals.items():
            m.setattr(REGISTRY.get(name), kind, counted(handler) if with_runs else None)
        h = Harness(**settings)
        h.ks.rng.seed(7)  # (LFU counters grow by chance: the same chances on both sides)
        reply = b""
        for piece in wire:  # the clock moves 100 ms between reads: PX 50 keys expire
            reply += h.raw(piece)
            h.now += 100
    obs = _observable(h)
    obs["meta"] = dict(h.client.db.meta)  # LRU/LFU: what a read or a write touched
    obs["run_calls"] = calls["n"] if with_runs else None
    return reply, obs


@pytest.mark.parametrize("policy", ["noeviction", "allkeys-lfu"])
@pytest.mark.parametrize("seed", range(40))
def test_random_pipelines_answer_and_count_as_without_runs(seed, policy, monkeypatch):
    """(An LFU policy without maxmemory: reads are tracked, runs still taken.)"""
    cmds = pipeline(seed, 300)
    wire = [b"".join(encode_command(*a) for a in cmds[i : i + 100]) for i in range(0, 300, 100)]
    fast, fast_obs = _run(wire, True, monkeypatch, maxmemory_policy=policy)
    slow, slow_obs = _run(wire, False, monkeypatch, maxmemory_policy=policy)
    assert fast_obs.pop("run_calls") > 0  # the runs were taken
    slow_obs.pop("run_calls")
    assert fast == slow
    assert fast_obs == slow_obs


def grid_reads(seed: int, n: int) -> list[bytes]:
    """Reads that are grids (``take_grid``): calls of one layout, keys of one length
    (two bytes) repeating or not, values of one length, now and then a key of another
    type or a counter that is not canonical in the middle, or a read of another kind
    (a TTL set, a mixed pipeline) between them."""
    rnd = random.Random(seed)
    values = [b"007", b"-05", b"123", b"abc", b"999", b"000", b"1\r\n", b"$3\r"]
    reads = []
    for _ in range(n):
        size = rnd.choice([2, 3, 16, 16, 40])
        keys = KEYS if rnd.random() < 0.5 else rnd.sample(KEYS, rnd.randint(1, 2))
        kind = rnd.choice(["SET", "GET", "INCR", "LPUSH", "set"])
        rows = []
        for _ in range(size):
            k = rnd.choice(keys)
            if kind in ("SET", "set", "LPUSH"):
                rows.append([kind, k, rnd.choice(values)])
            else:
                rows.append([kind, k])
        r = rnd.random()
        if r < 0.1:
            rows.append([b"SET", rnd.choice(KEYS), b"v", b"PX", b"50"])  # TTLs that expire
        elif r < 0.2:
            rows = pipeline(seed * 1000 + len(reads), size)
        reads.append(b"".join(encode_command(*a) for a in rows))
    return reads


@pytest.mark.parametrize("policy", ["noeviction", "allkeys-lru"])
@pytest.mark.parametrize("seed", range(25))
def test_random_grid_reads_answer_and_count_as_without_runs(seed, policy, monkeypatch):
    """Reads of one layout go through ``take_grid`` and the ``columns`` handlers."""
    wire = grid_reads(seed, 30)
    fast, fast_obs = _run(wire, True, monkeypatch, maxmemory_policy=policy)
    slow, slow_obs = _run(wire, False, monkeypatch, maxmemory_policy=policy)
    assert fast_obs.pop("run_calls") > 0
    slow_obs.pop("run_calls")
    assert fast == slow
    assert fast_obs == slow_obs


# Counters at the edges of what INCR's columns take (``_counters``: one join and one
# format stand for a check per value): each is in the middle of a run of distinct keys.
EDGE_COUNTERS = [b"0", b"-5", b"999999999999999999", b"-99999999999999999", b"1000000000000000000",
                 b"-100000000000000000", b"9223372036854775807", b"007", b"-0", b"+5", b" 7",
                 b"7 ", b"\t7", b"1_0", b"", b"12a", b"1 2"]  # fmt: skip


@pytest.mark.parametrize("edge", EDGE_COUNTERS)
def test_an_incr_run_of_distinct_keys_meets_a_counter_at_the_edge(edge, monkeypatch):
    keys = [b"c%02d" % i for i in range(16)]  # one length: the read is a grid
    setup = b"".join(encode_command("SET", k, b"%d" % i) for i, k in enumerate(keys[:12]))
    setup += encode_command("SET", keys[5], edge) + encode_command("LPUSH", keys[12], "x")
    wire = [setup, b"".join(encode_command("INCR", k) for k in keys[:12] + keys[13:])]
    fast, fast_obs = _run(wire, True, monkeypatch)
    slow, slow_obs = _run(wire, False, monkeypatch)
    fast_obs.pop("run_calls"), slow_obs.pop("run_calls")
    assert fast == slow
    assert fast_obs == slow_obs


def test_a_set_run_over_an_empty_string_logs_no_key_twice():
    """A run finds new keys by a missing old value, not a false one (b"" is a value)."""
    h = Harness()
    h.cmd("SET", "a", "")
    h.raw(b"".join(encode_command("SET", k, "x") for k in ("a", "b", "a", "c")))
    db = h.client.db
    assert sorted(db.keylog.keys) == [b"a", b"b", b"c"]
    assert (
        h.cmd("SCAN", "0", "COUNT", "100")
        == b"*2\r\n$1\r\n0\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    )
    assert h.ks.used == sum(db.size_of(k) for k in db.data) == 3 * (runs.KEY_OVERHEAD + 2)


def test_runs_take_only_plain_calls():
    """Each run handler stops at the first call the handler could answer with an error."""
    h = Harness()
    h.cmd("SADD", "set", "m")
    h.cmd("SET", "bad", "007")
    c, out = h.client, []
    assert runs._get(c, [[b"GET", b"a"], [b"GET", b"set"]], 0, 2, out, 10**6)[0] == 1
    assert runs._incr(c, [[b"INCR", b"a"], [b"INCR", b"bad"]], 0, 2, out, 10**6)[0] == 1
    assert runs._incr(c, [[b"INCR", b"set"]], 0, 1, out, 10**6)[0] == 0
    assert runs._set(c, [[b"SET", b"a", b"1"], [b"SET", b"a", b"1", b"NX"]], 0, 2, out, 0)[0] == 1
    assert runs._set(c, [[b"SET", b"a", b"1"], [b"set", b"a", b"1"]], 0, 2, out, 0)[0] == 1
    assert runs._lpush(c, [[b"LPUSH", b"l", b"x"], [b"LPUSH", b"set", b"x"]], 0, 2, out, 0)[0] == 1
    assert runs._lpush(c, [[b"LPUSH", b"l", b"x"], [b"LPUSH", b"l"]], 0, 2, out, 0)[0] == 1


def test_a_get_run_stops_past_the_output_room():
    h = Harness()
    h.cmd("SET", "big", "x" * 1000)
    out: list[bytes] = []
    ran, grew = runs._get(h.client, [[b"GET", b"big"]] * 10, 0, 10, out, 2500)
    assert ran == 3 and grew == sum(map(len, out)) > 2500  # as the ordinary path defers


def test_no_runs_while_single_calls_are_observed():
    """MONITOR, a slow log threshold under RUN_MIN_ABOVE, a MULTI: every call on its own."""
    h = Harness()
    wire = encode_command("SET", "a", "1") * 4
    taken = []
    cmd = REGISTRY.get(b"set")
    many, columns = cmd.many, cmd.columns

    def spy(handler):  # type: ignore[no-untyped-def]
        def wrapper(*args):  # type: ignore[no-untyped-def]
            taken.append(1)
            return handler(*args)

        return wrapper

    cmd.many, cmd.columns = spy(many), spy(columns)
    try:
        h.cmd("CONFIG", "SET", "slowlog-log-slower-than", "0")
        h.raw(wire)
        assert not taken and h.state.observer.slowlog[0][3] == [b"SET", b"a", b"1"]
        assert len([e for e in h.state.observer.slowlog if e[3][0] == b"SET"]) == 4
        h.cmd("CONFIG", "SET", "slowlog-log-slower-than", "10000")
        h.cmd("MULTI")
        assert h.raw(wire) == b"+QUEUED\r\n" * 4 and not taken
        h.cmd("DISCARD")
        h.raw(wire)
        assert taken
    finally:
        cmd.many, cmd.columns = many, columns
    assert session_module.RUN_MIN_ABOVE <= 0.01  # runs happen at Redis's default threshold


# -- against a real redis-server ------------------------------------------------------


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
    with RedisServer() as real, python_module("servers.cache", port=0) as ours:
        yield (real.address.host, real.address.port), (ours.host, ours.port)


def _exchange(addr: tuple[str, int], wire: bytes, expect_replies: int) -> bytes:
    """Send the pipeline, then PING, and read up to PING's +PONG."""
    with socket.create_connection(addr, timeout=10) as s:
        return send_and_ping(s, wire)


def _info(addr: tuple[str, int]) -> dict[str, str]:
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(encode_command("INFO", "everything"))
        buf = b""
        while True:
            buf += s.recv(65536)
            head, _, rest = buf.partition(b"\r\n")
            if len(rest) >= int(head[1:]):
                break
    fields = {}
    for line in rest.decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v
    return fields


def _counted(info: dict[str, str]) -> dict[str, object]:
    """What must agree: calls/failed/rejected per command, errors per code, keyspace
    hits and misses (GET counts, SET/INCR/LPUSH look keys up for writing: no count)."""
    stats = {}
    for k, v in info.items():
        if k.startswith("cmdstat_") and not k.startswith(
            ("cmdstat_ping", "cmdstat_info", "cmdstat_config", "cmdstat_flushall")
        ):
            f = dict(p.split("=") for p in v.split(","))
            stats[k] = (f["calls"], f["failed_calls"], f["rejected_calls"])
        elif k.startswith("errorstat_") or k in ("keyspace_hits", "keyspace_misses"):
            stats[k] = v
    return stats


def _reset(addr: tuple[str, int]) -> None:
    _exchange(addr, encode_command("FLUSHALL") + encode_command("CONFIG", "RESETSTAT"), 2)


@pytest.mark.parametrize("seed", range(6))
def test_random_pipelines_match_redis(both, seed):
    real, ours = both
    cmds = [a for a in pipeline(1000 + seed, 400) if b"PX" not in a]  # (no wall-clock race)
    wire = b"".join(encode_command(*a) for a in cmds)
    for addr in both:
        _reset(addr)
    assert _exchange(ours, wire, len(cmds)) == _exchange(real, wire, len(cmds))
    assert _counted(_info(ours)) == _counted(_info(real))


def test_a_run_slower_than_the_slow_log_threshold_charges_its_last_call(monkeypatch):
    """A run is timed as a whole: when the process stalled in it (the clock jumps 20 ms),
    its last call is the slow one, in SLOWLOG and in commandstats' time, and every call
    of the run is still counted once."""
    h = Harness()
    ticks = iter([0.0] + [0.020] * 10)
    monkeypatch.setattr(session_module, "perf_counter", lambda: next(ticks))
    h.raw(b"".join(encode_command("SET", f"k{i}", "v") for i in range(5)))
    monkeypatch.undo()
    [entry] = h.state.observer.slowlog
    assert entry[2] == 20_000 and entry[3] == [b"SET", b"k4", b"v"]
    st = h.state.observer.commands["set"]
    assert st.calls == 5 and round(st.seconds, 6) == 0.020


@pytest.mark.parametrize(
    "start", [b"9223372036854775800", b"999999999999999990", b"-10", b"007", b" 7", b"1_0", b"-0"]
)
def test_a_grid_of_incrs_near_the_edges_answers_as_the_ordinary_path(start, monkeypatch):
    """One read of 16 INCRs of one key (``_incr_one``): overflow, the widest counter the
    columns take, negative counters and strings Redis does not read as integers."""
    wire = [encode_command("SET", "c", start) + encode_command("INCR", "c") * 16]
    fast, fast_obs = _run(wire, True, monkeypatch)
    slow, slow_obs = _run(wire, False, monkeypatch)
    fast_obs.pop("run_calls"), slow_obs.pop("run_calls")
    assert fast == slow and fast_obs == slow_obs


def test_a_quit_in_a_grid_ends_the_read():
    """A grid of calls without a ``columns`` handler (QUIT) runs through ``run``; what
    followed it in the read is not run once QUIT closed the connection."""
    h = Harness()
    wire = encode_command("QUIT", "x" * 40) * 2 + encode_command("SET", "k", "v")
    assert h.raw(wire) == b"+OK\r\n" and h.wire.closed
    assert h.client.db.data == {}


@pytest.mark.parametrize("first", [[], [b"PING"]])  # a grid (``columns``), a run (``many``)
def test_a_get_run_of_a_big_value_answers_no_more_than_the_output_room(first):
    """64 GETs of a 4 MB value: the replies past ``OUTPUT_HIGH_WATER`` wait for the next
    loop turn as call by call, and are not formatted at once first (256 MB)."""
    import asyncio
    import tracemalloc

    async def main() -> tuple[int, int, int]:
        h = Harness()
        h.cmd("SET", "k", "x" * (4 << 20))
        wire = b"".join(encode_command(*a) for a in [first] if a) + encode_command("GET", "k") * 64
        tracemalloc.start()
        try:
            answered = len(h.raw(wire))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        waiting = len(h.client.pending)
        while h.client.pending:
            await asyncio.sleep(0)
        return answered, peak, waiting

    answered, peak, waiting = asyncio.run(main())
    assert answered < (5 << 20) and waiting == 63 and peak < (24 << 20)


@pytest.mark.parametrize(
    "kind", ["errors", "every other an error", "SET GET alternating", "GET of lists"]
)
def test_run_handlers_look_at_a_bounded_number_of_calls_per_call(kind, monkeypatch):
    """A run handler looks at up to RUN_MAX calls to find where its run stops: a pipeline
    whose runs stop at once (INCR of a string, GET of a list, a command alternating with
    another) must not have it tried call after call (ten times the ordinary path's CPU),
    and still answers as without runs."""
    rows = {
        "errors": [["INCR", "s"]] * 600,
        "every other an error": [["INCR", "s"], ["INCR", "n"]] * 300,
        "SET GET alternating": [["SET", "n", "1"], ["GET", "n"]] * 300,
        "GET of lists": [["GET", "n"], ["GET", "l"]] * 300,
    }[kind]
    wire = [encode_command("SET", "s", "abc") + encode_command("LPUSH", "l", "x")]
    wire.append(b"".join(encode_command(*a) for a in rows))
    looked = []
    for name in (b"set", b"get", b"incr", b"lpush"):
        cmd = REGISTRY.get(name)

        def spy(c, cmds, start, stop, out, room, many=cmd.many):  # type: ignore[no-untyped-def]
            looked.append(stop - start)
            return many(c, cmds, start, stop, out, room)

        monkeypatch.setattr(cmd, "many", spy)
    h = Harness()
    replies = b"".join(h.raw(piece) for piece in wire)
    assert sum(looked) < 20 * len(rows)  # (tried at every call: 256 each)
    monkeypatch.undo()
    fast, fast_obs = _run(wire, True, monkeypatch)
    slow, slow_obs = _run(wire, False, monkeypatch)
    fast_obs.pop("run_calls"), slow_obs.pop("run_calls")
    assert fast == slow == replies and fast_obs == slow_obs


def _until_closed(addr: tuple[str, int], wire: bytes) -> bytes:
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(wire)
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
    return buf


@pytest.mark.parametrize("rows", [1, 4])  # the ordinary path, a grid (``take_grid``)
def test_a_protocol_error_after_a_grid_is_answered_and_counted_as_redis_does(both, rows):
    """The replies of the calls before the garbage, then the error; INFO's errorstats and
    total_error_replies count it (Redis replies with addReplyError, which counts)."""
    wire = b"".join(encode_command("SET", f"k{i}", "v") for i in range(rows)) + b"*1\r\n$x\r\n"
    for addr in both:
        _reset(addr)
    assert _until_closed(both[1], wire) == _until_closed(both[0], wire)
    real, ours = _info(both[0]), _info(both[1])
    for info in (real, ours):
        info["cmdstat_set"] = info["cmdstat_set"].split(",usec")[0]
    fields = ("errorstat_ERR", "total_error_replies", "cmdstat_set")
    assert [ours.get(f) for f in fields] == [real.get(f) for f in fields]


def test_a_data_directory_without_an_aof_still_runs_grids(tmp_path, monkeypatch):
    """``--dir`` with appendonly no (SAVE/BGSAVE only): nothing observes single calls, so
    reads of one layout run by columns (the observer's write_log is only there while an
    AOF is); INFO's rdb_changes_since_last_save comes from the keyspace's dirty count."""
    h = Harness(dir=str(tmp_path))
    taken = []
    cmd = REGISTRY.get(b"set")
    columns = cmd.columns

    def spy(*args):  # type: ignore[no-untyped-def]
        taken.append(1)
        return columns(*args)

    monkeypatch.setattr(cmd, "columns", spy)
    h.raw(encode_command("SET", "k1", "v") + encode_command("SET", "k2", "v"))
    assert taken and h.state.policy()[0] is False

    def changes() -> int:
        info = h.cmd("INFO", "persistence").decode()
        return int(info.split("rdb_changes_since_last_save:")[1].split("\r\n")[0])

    assert changes() == 2
    assert h.cmd("SAVE") == b"+OK\r\n" and changes() == 0
    h.cmd("CONFIG", "SET", "appendonly", "yes")
    # The AOF sees every write; runs are still taken, and logged by it (the run log).
    assert h.state.policy()[0] is True and h.state.policy()[3] is h.state.persistence
    h.cmd("CONFIG", "SET", "appendonly", "no")
    assert h.state.policy()[0] is False


def random_key_reads(seed: int, n: int, pool: int) -> list[bytes]:
    """Reads as ``redis-benchmark -P 16 -r N`` sends them: 16 calls of one layout whose
    keys (of one length) are drawn from ``pool``, so most are new at first, then most
    exist, and now and then one repeats within the read; between them the odd read that
    makes a column path give way: keys given a TTL that passes before the next read, a
    counter that is not an integer, a list where a string goes, a WATCH and an UNWATCH."""
    rnd = random.Random(seed)
    reads = []
    for _ in range(n):
        keys = [b"key:%06d" % rnd.randrange(pool) for _ in range(16)]
        kind = rnd.choice([b"SET", b"GET", b"INCR", b"INCR", b"LPUSH"])
        if kind in (b"SET", b"LPUSH"):
            rows = [[kind, k, rnd.choice([b"VXK", b"001", b"123"])] for k in keys]
        else:
            rows = [[kind, k] for k in keys]
        r = rnd.random()
        if r < 0.08:
            rows.append([b"SET", rnd.choice(keys), b"9", b"PX", b"50"])  # gone by the next read
        elif r < 0.11:
            rows.append([b"WATCH", keys[0]])  # (the columns give way to calls while watched)
        elif r < 0.13:
            rows.append([b"UNWATCH"])
        reads.append(b"".join(encode_command(*a) for a in rows))
    return reads


@pytest.mark.parametrize("pool", [40, 100_000])  # repeats in most reads, in almost none
@pytest.mark.parametrize("seed", range(8))
def test_random_key_grids_answer_and_count_as_without_runs(seed, pool, monkeypatch):
    """``-r``-like reads (keys new and old, repeated or not, expiring, watched) through
    ``take_grid`` and the ``columns`` handlers: the same replies, counters, sizes, key log
    and data as call by call."""
    wire = random_key_reads(seed, 60, pool)
    fast, fast_obs = _run(wire, True, monkeypatch)
    slow, slow_obs = _run(wire, False, monkeypatch)
    assert fast_obs.pop("run_calls") > 0
    slow_obs.pop("run_calls")
    assert fast == slow
    assert fast_obs == slow_obs
