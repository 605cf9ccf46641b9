"""Streams in servers.cache: the data structure against a model, exact replies in-process
(injected clock), and the same scenarios through redis-py against our server and a real
redis-server, compared result for result (blocking reads woken by another client included)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from cache_support import T0, Harness
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.procs import Child, python_module
from servers.cache.keyspace import estimate
from servers.cache.restore import crc64
from servers.cache.stream import MAX_ID, ZERO, Stream, parse_id

pytestmark = pytest.mark.exercise("N14")


# --- the data structure against a sorted-list model -----------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 40)),
        st.tuples(st.just("del"), st.integers(0, 60)),
        st.tuples(st.just("maxlen"), st.integers(0, 30), st.booleans()),
        st.tuples(st.just("minid"), st.integers(0, 60), st.booleans()),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(1, 5))
def test_stream_matches_a_sorted_list_model(steps, node_max):
    s, model, ms = Stream(), [], 0
    for op in steps:
        if op[0] == "add":
            ms += op[1]
            i = (ms, 0)
            s.append(i, [b"f", b"%d" % ms], max_entries=node_max)
            model.append(i)
        elif op[0] == "del":
            i = (op[1], 0)
            assert s.delete(i) == (i in model)
            if i in model:
                model.remove(i)
        elif op[0] == "maxlen":
            n, approx = op[1], op[2]
            deleted = s.trim(maxlen=n, approx=approx)
            if not approx:
                assert len(s) == min(n, len(model))
            assert len(s) >= min(n, len(model))  # ~ never trims below the target
            assert deleted == len(model) - len(s)
            model = model[len(model) - len(s) :]
        else:
            minid, approx = (op[1], 0), op[2]
            s.trim(minid=minid, approx=approx)
            if not approx:
                model = [i for i in model if i >= minid]
            else:
                model = model[len(model) - len(s) :]
                assert all(i >= minid for i in model) or len(model) >= 1
        assert len(s) == len(model)
        assert [i for i, _ in s.range(ZERO, MAX_ID)] == model
        assert [i for i, _ in s.range(ZERO, MAX_ID, rev=True)] == model[::-1]
        if model:
            lo, hi = model[len(model) // 3], model[-1]
            assert [i for i, _ in s.range(lo, hi)] == [i for i in model if lo <= i <= hi]
            assert s.first_id == model[0]
            assert s.last_valid_id() == model[-1]
        assert all(len(n.ids) + n.deleted <= node_max for n in s.nodes)


def test_id_parsing_follows_redis():
    assert parse_id(b"5") == ((5, 0), True)
    assert parse_id(b"5", missing_seq=2**64 - 1) == ((5, 2**64 - 1), True)
    assert parse_id(b"5-*", star_seq=True) == ((5, 0), False)
    assert parse_id(b"5-*") is None
    assert parse_id(b"-") == ((0, 0), True)
    assert parse_id(b"+", strict=True) is None
    assert parse_id(b"18446744073709551616") is None  # one past 2**64-1
    assert parse_id(b"1-a") is None
    assert parse_id(b"-1") is None


# --- exact replies in-process ----------------------------------------------------------


def _accounted(h: Harness) -> int:
    return sum(estimate(k, v) for db in h.ks.dbs for k, v in db.data.items())


def test_xadd_ids_explicit_auto_and_sequence_star():
    h = Harness()
    assert h.cmd("XADD", "s", "*", "a", "1") == b"$15\r\n%d-0\r\n" % T0
    assert h.cmd("XADD", "s", "*", "a", "2") == b"$15\r\n%d-1\r\n" % T0  # same ms: next seq
    assert h.cmd("XADD", "s", f"{T0}-*", "a", "3") == b"$15\r\n%d-2\r\n" % T0
    assert h.cmd("XADD", "s", f"{T0 + 5}", "a", "4") == b"$15\r\n%d-0\r\n" % (T0 + 5)
    assert h.cmd("XADD", "s", "5-1", "a", "x") == (
        b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"
    )
    assert h.cmd("XADD", "t", "0-0", "a", "x") == (
        b"-ERR The ID specified in XADD must be greater than 0-0\r\n"
    )
    assert h.cmd("XADD", "t", "1-x", "a", "x") == (
        b"-ERR Invalid stream ID specified as stream command argument\r\n"
    )
    assert h.cmd("XADD", "t", "*", "a") == b"-ERR wrong number of arguments for 'xadd' command\r\n"
    assert h.cmd("XADD", "t", "NOMKSTREAM", "*", "a", "1") == b"$-1\r\n"
    assert h.cmd("EXISTS", "t") == b":0\r\n"
    assert h.cmd("XLEN", "s") == b":4\r\n"
    assert h.cmd("TYPE", "s") == b"+stream\r\n"
    h.cmd("SET", "str", "x")
    assert h.cmd("SCAN", "0", "TYPE", "stream") == b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\ns\r\n"
    assert h.cmd("XADD", "str", "*", "a", "1").startswith(b"-WRONGTYPE")


def test_xrange_exclusive_bounds_and_count():
    h = Harness()
    for i in range(1, 6):
        h.cmd("XADD", "s", f"{i}-0", "n", str(i))
    e = b"*2\r\n$3\r\n%d-0\r\n*2\r\n$1\r\nn\r\n$1\r\n%d\r\n"
    assert h.cmd("XRANGE", "s", "(2", "(5-0") == b"*2\r\n" + e % (3, 3) + e % (4, 4)
    # "(5" means below 5-18446744073709551615: 5-0 is in
    assert h.cmd("XRANGE", "s", "(4", "(5") == b"*1\r\n" + e % (5, 5)
    assert h.cmd("XREVRANGE", "s", "+", "-", "COUNT", "2") == b"*2\r\n" + e % (5, 5) + e % (4, 4)
    assert h.cmd("XRANGE", "s", "-", "+", "COUNT", "0") == b"*-1\r\n"
    assert h.cmd("XRANGE", "s", "(-", "+") == (
        b"-ERR Invalid stream ID specified as stream command argument\r\n"
    )
    assert h.cmd("XRANGE", "s", "(18446744073709551615-18446744073709551615", "+") == (
        b"-ERR invalid start ID for the interval\r\n"
    )
    assert h.cmd("XRANGE", "missing", "-", "+") == b"*0\r\n"


def test_trimming_exact_approximate_minid_and_limit():
    h = Harness()
    h.cmd("CONFIG", "SET", "stream-node-max-entries", "10")
    for i in range(1, 101):
        h.cmd("XADD", "s", "MAXLEN", "~", "55", f"{i}", "f", "v")
    assert h.cmd("XLEN", "s") == b":60\r\n"  # whole nodes of 10 only: never below 55
    assert h.cmd("XTRIM", "s", "MAXLEN", "=", "42") == b":18\r\n"
    # figures checked on redis-server: the node 51..60 keeps 59 and 60 after the exact trim,
    # so ~ 70 drops it whole (2) and stops at 61..70, which still holds 70
    assert h.cmd("XTRIM", "s", "MINID", "~", "70") == b":2\r\n"
    assert h.cmd("XTRIM", "s", "MINID", "70") == b":9\r\n"
    assert h.cmd("XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "5") == b":1\r\n"  # [70] only
    assert h.cmd("XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "10") == b":10\r\n"
    assert h.cmd("XTRIM", "s", "MAXLEN", "0", "LIMIT", "10") == (
        b"-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n"
    )
    assert h.cmd("XTRIM", "s", "MAXLEN", "1", "MINID", "2") == (
        b"-ERR syntax error, MAXLEN and MINID options at the same time are not compatible\r\n"
    )
    assert h.cmd("XADD", "s", "MAXLEN", "0", "*", "f", "v").startswith(b"$")
    assert h.cmd("XLEN", "s") == b":0\r\n"
    assert h.cmd("EXISTS", "s") == b":1\r\n"  # an emptied stream stays, unlike a list
    assert h.ks.used == _accounted(h)


def test_groups_pending_claim_and_autoclaim_with_a_clock():
    h = Harness()
    for i in range(1, 5):
        h.cmd("XADD", "s", f"{i}", "n", str(i))
    assert h.cmd("XGROUP", "CREATE", "s", "g", "0") == b"+OK\r\n"
    assert h.cmd("XGROUP", "CREATE", "s", "g", "0") == (
        b"-BUSYGROUP Consumer Group name already exists\r\n"
    )
    h.cmd("XREADGROUP", "GROUP", "g", "alice", "COUNT", "3", "STREAMS", "s", ">")
    h.advance(100)
    h.cmd("XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">")
    assert h.cmd("XPENDING", "s", "g") == (
        b"*4\r\n:4\r\n$3\r\n1-0\r\n$3\r\n4-0\r\n*2\r\n"
        b"*2\r\n$5\r\nalice\r\n$1\r\n3\r\n*2\r\n$3\r\nbob\r\n$1\r\n1\r\n"
    )
    h.advance(50)
    # only alice's entries have been idle for 150 ms
    assert h.cmd("XPENDING", "s", "g", "IDLE", "120", "-", "+", "10") == (
        b"*3\r\n"
        + b"".join(b"*4\r\n$3\r\n%d-0\r\n$5\r\nalice\r\n:150\r\n:1\r\n" % i for i in (1, 2, 3))
    )
    # XCLAIM: 1-0 is idle enough, 4-0 (bob's, 50 ms) is not
    assert h.cmd("XCLAIM", "s", "g", "carol", "100", "1-0", "4-0", "JUSTID") == (
        b"*1\r\n$3\r\n1-0\r\n"
    )
    assert h.cmd("XCLAIM", "s", "g", "carol", "0", "2-0", "RETRYCOUNT", "7", "IDLE", "500") == (
        b"*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nn\r\n$1\r\n2\r\n"
    )
    assert h.cmd("XPENDING", "s", "g", "2-0", "2-0", "1") == (
        b"*1\r\n*4\r\n$3\r\n2-0\r\n$5\r\ncarol\r\n:500\r\n:7\r\n"
    )
    # FORCE creates a pending entry for an id nobody was delivered (after an ACK)
    assert h.cmd("XACK", "s", "g", "3-0", "3-0", "9-0") == b":1\r\n"
    assert h.cmd("XCLAIM", "s", "g", "dave", "0", "3-0", "FORCE", "JUSTID", "LASTID", "9-0") == (
        b"*1\r\n$3\r\n3-0\r\n"
    )
    assert h.cmd("XINFO", "GROUPS", "s").count(b"9-0") == 1  # LASTID moved the group on
    # XAUTOCLAIM: deleted entries are dropped from the PEL and reported
    h.cmd("XDEL", "s", "1-0")
    h.advance(1000)
    assert h.cmd("XAUTOCLAIM", "s", "g", "erin", "10", "0", "COUNT", "2", "JUSTID") == (
        b"*3\r\n$3\r\n3-0\r\n*1\r\n$3\r\n2-0\r\n*1\r\n$3\r\n1-0\r\n"
    )
    assert h.cmd("XAUTOCLAIM", "s", "g", "erin", "10", "3-0", "JUSTID") == (
        b"*3\r\n$3\r\n0-0\r\n*2\r\n$3\r\n3-0\r\n$3\r\n4-0\r\n*0\r\n"
    )
    assert h.cmd("XGROUP", "DELCONSUMER", "s", "g", "erin") == b":3\r\n"
    assert h.cmd("XPENDING", "s", "g") == b"*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"
    assert h.ks.used == _accounted(h)


def test_history_reads_and_deleted_entries():
    h = Harness()
    h.cmd("XADD", "s", "1", "a", "1")
    h.cmd("XADD", "s", "2", "b", "2")
    h.cmd("XGROUP", "CREATE", "s", "g", "0")
    h.cmd("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    h.cmd("XDEL", "s", "1")
    assert h.cmd("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0") == (
        b"*1\r\n*2\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-0\r\n*-1\r\n"
        b"*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    )
    h.cmd("HELLO", "3")
    assert h.cmd("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", "0") == (
        b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n_\r\n"
    )
    assert h.cmd("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$") == (
        b"-ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
        b"history of this consumer by specifying a proper ID, or use the > ID to get new "
        b"messages. The $ ID would just return an empty result set.\r\n"
    )


def test_blocked_readers_are_woken_by_xadd_in_the_order_they_blocked():
    h = Harness()
    h.cmd("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    first, second, plain = h.connect(), h.connect(), h.connect()
    assert (
        h.cmd("XREADGROUP", "GROUP", "g", "c1", "BLOCK", "0", "STREAMS", "s", ">", client=first)
        == b""
    )
    assert (
        h.cmd("XREADGROUP", "GROUP", "g", "c2", "BLOCK", "0", "STREAMS", "s", ">", client=second)
        == b""
    )
    assert h.cmd("XREAD", "BLOCK", "0", "STREAMS", "s", "$", client=plain) == b""
    assert h.state.blocking.blocked_clients == 3
    h.cmd("XADD", "s", "1", "f", "v")
    one = b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n%s\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    assert first[1].take() == one % b"1-0"  # the group's entry goes to the first in line
    assert second[1].take() == b""  # nothing new for the group: it keeps waiting
    assert plain[1].take() == one % b"1-0"  # a plain XREAD sees every new entry
    h.cmd("XADD", "s", "2", "f", "v")
    assert second[1].take() == one % b"2-0"
    assert h.state.blocking.blocked_clients == 0


def test_blocked_xreadgroup_learns_its_stream_or_group_is_gone():
    h = Harness()
    h.cmd("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    h.cmd("XGROUP", "CREATE", "t", "g", "$", "MKSTREAM")
    a, b = h.connect(), h.connect()
    h.cmd("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">", client=a)
    h.cmd("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "t", ">", client=b)
    h.cmd("SET", "s", "now a string")
    assert a[1].take() == b"-UNBLOCKED the stream key no longer exists\r\n"
    h.cmd("XGROUP", "DESTROY", "t", "g")
    assert b[1].take() == (
        b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
    )


def test_block_inside_multi_answers_at_once_and_scripts_may_not_block():
    h = Harness()
    h.cmd("MULTI")
    h.cmd("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    assert h.cmd("EXEC") == b"*1\r\n*-1\r\n"
    script = "return redis.pcall('xread','BLOCK',0,'STREAMS','s','$')"
    assert h.cmd("EVAL", script, "1", "s") == (
        b"-ERR xread command is not allowed with BLOCK option from scripts\r\n"
    )
    script = "return redis.pcall('xread','STREAMS','s','$')"  # without BLOCK: fine
    assert h.cmd("EVAL", script, "1", "s") == b"$-1\r\n"  # a null array is nil in Lua


def test_xinfo_and_lag():
    h = Harness()
    for i in range(1, 4):
        h.cmd("XADD", "s", f"{i}", "n", str(i))
    h.cmd("XGROUP", "CREATE", "s", "g", "0")
    h.cmd("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">")
    groups = h.cmd("XINFO", "GROUPS", "s")
    assert b"$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n" in groups
    h.cmd("XDEL", "s", "2")  # a tombstone after the group's position: lag unknown
    assert b"$3\r\nlag\r\n$-1\r\n" in h.cmd("XINFO", "GROUPS", "s")
    assert h.cmd("XINFO", "CONSUMERS", "s", "nope") == (
        b"-NOGROUP No such consumer group 'nope' for key name 's'\r\n"
    )
    full = h.cmd("XINFO", "STREAM", "s", "FULL")
    assert b"$7\r\nentries\r\n*2\r\n" in full and b"$9\r\nseen-time\r\n:%d\r\n" % T0 in full


# --- redis-py: the same scenarios on our server and on redis-server --------------------


@pytest.fixture(scope="module")
def ours() -> Iterator[int]:
    with python_module("servers.cache", port=0) as child:
        assert isinstance(child, Child)
        yield child.port  # type: ignore[misc]


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, db=13, decode_responses=True)


def _queue_scenario(r: redis.Redis) -> list[Any]:
    """A work queue: producers append, two workers read as a group, one dies, work is claimed."""
    out: list[Any] = []
    for i in range(1, 11):
        out.append(r.xadd("jobs", {"job": i}, id=f"{i}-1", maxlen=8, approximate=False))
    out.append(r.xlen("jobs"))
    out.append(r.xgroup_create("jobs", "workers", id="0"))
    out.append(r.xreadgroup("workers", "w1", {"jobs": ">"}, count=3))
    out.append(r.xreadgroup("workers", "w2", {"jobs": ">"}, count=2))
    out.append(r.xack("jobs", "workers", "3-1", "5-1"))
    summary = r.xpending("jobs", "workers")
    out.append(summary)
    rows = r.xpending_range("jobs", "workers", "-", "+", 10)
    out.append([(x["message_id"], x["consumer"], x["times_delivered"]) for x in rows])
    # w1 died: w2 takes everything over (min idle 0), then autoclaims what is left
    out.append(r.xclaim("jobs", "workers", "w2", 0, ["4-1"], justid=True))
    out.append(r.xautoclaim("jobs", "workers", "w2", 0, "0-0", count=10, justid=True))
    out.append(r.xreadgroup("workers", "w2", {"jobs": "0"}))
    out.append(r.xdel("jobs", "6-1"))
    out.append(r.xtrim("jobs", minid="8-0"))
    out.append(r.xrevrange("jobs", "+", "-", count=2))
    info = r.xinfo_stream("jobs")
    out.append({k: info[k] for k in ("length", "last-generated-id", "first-entry", "groups")})
    out.append(
        [{k: g[k] for k in ("name", "consumers", "pending", "last-delivered-id")}
         for g in r.xinfo_groups("jobs")]
    )  # fmt: skip
    out.append([(c["name"], c["pending"]) for c in r.xinfo_consumers("jobs", "workers")])
    out.append(r.xgroup_delconsumer("jobs", "workers", "w2"))
    out.append(r.xgroup_destroy("jobs", "workers"))
    out.append(r.type("jobs"))
    out.append(r.object("encoding", "jobs"))
    return out


def test_work_queue_scenario_matches_real_redis(ours, redis_addr):
    results = {}
    for name, port in (("ours", ours), ("redis", redis_addr.port)):
        r = _client(port)
        r.flushdb()
        try:
            results[name] = _queue_scenario(r)
        finally:
            r.flushdb()
            r.close()
    assert results["ours"] == results["redis"]
    assert results["ours"][10] == 8  # MAXLEN 8 exact


def _wait_blocked(r: redis.Redis, n: int) -> None:
    deadline = time.monotonic() + 10
    while int(r.info("clients")["blocked_clients"]) != n:
        assert time.monotonic() < deadline, "clients never blocked"
        time.sleep(0.005)


def _blocking_scenario(port: int) -> list[Any]:
    """Three readers block (two in one group, one plain); a fourth client's XADDs wake them."""
    r = _client(port)
    r.xgroup_create("ev", "g", id="$", mkstream=True)
    got: dict[str, Any] = {}

    def reader(name: str, call: Callable[[redis.Redis], Any]) -> threading.Thread:
        def run() -> None:
            c = _client(port)
            got[name] = call(c)
            c.close()

        t = threading.Thread(target=run)
        t.start()
        return t

    threads = [reader("c1", lambda c: c.xreadgroup("g", "c1", {"ev": ">"}, block=0))]
    _wait_blocked(r, 1)
    threads.append(reader("c2", lambda c: c.xreadgroup("g", "c2", {"ev": ">"}, block=0)))
    _wait_blocked(r, 2)
    threads.append(reader("plain", lambda c: c.xread({"ev": "$"}, block=0)))
    _wait_blocked(r, 3)
    r.xadd("ev", {"n": "1"}, id="1-0")
    threads[0].join(10)
    threads[2].join(10)
    _wait_blocked(r, 1)  # c2 still waits: the group's only new entry went to c1
    r.xadd("ev", {"n": "2"}, id="2-0")
    threads[1].join(10)
    timed_out = _client(port).xread({"ev": "$"}, block=50)
    pending = r.xpending("ev", "g")
    r.close()
    return [got["c1"], got["c2"], got["plain"], timed_out, pending["pending"]]


def test_blocking_reads_woken_by_another_client_match_real_redis(ours, redis_addr):
    mine, real = [], []
    for port, out in ((ours, mine), (redis_addr.port, real)):
        _client(port).flushdb()
        out.extend(_blocking_scenario(port))
        _client(port).flushdb()
    assert mine == real
    assert mine[0] == [["ev", [("1-0", {"n": "1"})]]]
    assert mine[1] == [["ev", [("2-0", {"n": "2"})]]]


def test_trimming_scenario_matches_real_redis(ours, redis_addr):
    def scenario(r: redis.Redis) -> list[Any]:
        out: list[Any] = [r.config_set("stream-node-max-entries", 10)]
        for i in range(1, 201):
            r.xadd("t", {"i": i}, id=f"{i}-0", maxlen=120, approximate=True)
        out.append(r.xlen("t"))
        out.append(r.xtrim("t", maxlen=100, approximate=True, limit=20))
        out.append(r.xtrim("t", minid="150", approximate=True))
        out.append(r.xtrim("t", minid="155"))
        out.append(r.xrange("t", "-", "+", count=1))
        out.append(r.xinfo_stream("t")["radix-tree-keys"])
        out.append(r.xadd("t", {"x": 1}, id="300-*"))
        out.append(r.xadd("t", {"x": 1}, id="300-*"))
        out.append(r.config_set("stream-node-max-entries", 100))
        return out

    results = []
    for port in (ours, redis_addr.port):
        r = _client(port)
        r.flushdb()
        results.append(scenario(r))
        r.flushdb()
        r.close()
    assert results[0] == results[1]


def test_restore_reads_a_stream_dumped_by_real_redis(ours, redis_addr):
    real, mine = _client(redis_addr.port), _client(ours)
    raw = redis.Redis(port=redis_addr.port, db=13)
    for r in (real, mine):
        r.flushdb()
    for i in range(1, 301):  # three listpack nodes, integers and strings as values
        real.xadd("src", {"n": i, "text": f"entry {i}" * (i % 3)}, id=f"{i}-{i % 7}")
    real.xdel("src", "5-5", "150-3")
    real.xgroup_create("src", "g1", id="0")
    real.xgroup_create("src", "g2", id="$")
    real.xreadgroup("g1", "alice", {"src": ">"}, count=4)
    real.xreadgroup("g1", "bob", {"src": ">"}, count=2)
    real.xack("src", "g1", "2-2")
    payload = raw.dump("src")
    assert mine.restore("dst", 0, payload) == "OK"
    with pytest.raises(redis.ResponseError, match="BUSYKEY"):
        mine.restore("dst", 0, payload)
    with pytest.raises(redis.ResponseError, match="checksum"):
        mine.restore("bad", 0, payload[:-1] + bytes([payload[-1] ^ 1]))
    ours_info, real_info = mine.xinfo_stream("dst", full=True), real.xinfo_stream("src", full=True)
    del ours_info["radix-tree-nodes"], real_info["radix-tree-nodes"]  # the rax's inner nodes
    assert ours_info == real_info  # entries, groups, PELs with delivery times, consumers
    assert mine.xrange("dst") == real.xrange("src")

    def pending(r: redis.Redis, key: str) -> list[tuple[Any, ...]]:
        rows = r.xpending_range(key, "g1", "-", "+", 10)
        return [(x["message_id"], x["consumer"], x["times_delivered"]) for x in rows]

    assert pending(mine, "dst") == pending(real, "src")
    assert mine.ttl("dst") == -1
    for r in (real, mine):
        r.flushdb()
        r.close()
    raw.close()


STREAM_VALUE = bytes.fromhex(  # DUMPed by redis-server 7.0 (version and CRC cut off):
    # 12 entries, 3-0 deleted, group g, consumer c holding 1-0 2-0 4-0
    "13011000000000000000010000000000000000c3409240b712b70000004e000b010101020181660281670200"
    "20090000200105010181780205200c0001200c08020182787803050103200900002005048378787804401c00"
    "03200e0304018001400b0004200b0005c0350005200c0006a0350002200902000107e001350007200e0008a0"
    "350008200b0009c0350009200c000ae00035000a200d000be00135000b200e000c40350101ff0b0c00010003"
    "000c010167040081ffffffffffffffff0300000000000000010000000000000000d45be12fa2010000010000"
    "0000000000020000000000000000d45be12fa20100000100000000000000040000000000000000d45be12fa2"
    "01000001010163d45be12fa20100000300000000000000010000000000000000000000000000000200000000"
    "0000000000000000000000040000000000000000"
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_restore_refuses_corrupt_payloads_without_harm(data):
    h = Harness()
    for i in range(1, 40):
        h.cmd("XADD", "s", f"{i}", "f", str(i))
    body = bytearray(STREAM_VALUE)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body) - 1))
        body[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        body = body[: data.draw(st.integers(0, len(body)))]
    elif data.draw(st.booleans()):
        body = bytearray(STREAM_VALUE)  # intact: it must load
    payload = bytes(body) + (10).to_bytes(2, "little")
    payload += crc64(payload).to_bytes(8, "little")  # a valid checksum: the decoder is tested
    reply = h.cmd("RESTORE", "t", "0", payload)
    assert reply in (b"+OK\r\n", b"-ERR Bad data format\r\n")
    if reply == b"+OK\r\n":
        h.cmd("XRANGE", "t", "-", "+")
        h.cmd("XINFO", "STREAM", "t", "FULL")
    assert h.cmd("XLEN", "s") == b":39\r\n"  # the rest of the keyspace is untouched


def test_restore_of_the_intact_value_matches_what_redis_dumped():
    h = Harness()
    payload = STREAM_VALUE + (10).to_bytes(2, "little")
    payload += crc64(payload).to_bytes(8, "little")
    assert h.cmd("RESTORE", "s", "0", payload) == b"+OK\r\n"
    assert h.cmd("XLEN", "s") == b":11\r\n"
    assert h.cmd("XPENDING", "s", "g") == (
        b"*4\r\n:3\r\n$3\r\n1-0\r\n$3\r\n4-0\r\n*1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"
    )
    assert h.cmd("XRANGE", "s", "12", "12") == (
        b"*1\r\n*2\r\n$4\r\n12-0\r\n*4\r\n$1\r\nf\r\n$2\r\n12\r\n$1\r\ng\r\n$0\r\n\r\n"
    )
    assert h.ks.used == _accounted(h)
