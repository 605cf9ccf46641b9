"""The cache's keyspace: a Hypothesis state machine against a dict with TTLs under an injected
clock; the active expiry cycle; maxmemory with each eviction policy."""

from __future__ import annotations

import hashlib
import random

import pytest
from cache_support import Harness
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from netlib import resp
from netlib.resp import NEED_DATA, ReplyParser
from servers.cache.keyspace import estimate
from servers.cache.memory import CLIENT_BYTES, STARTUP_BYTES
from servers.cache.table import TABLE

pytestmark = pytest.mark.exercise("N14")

KEYS = st.sampled_from([b"a", b"b", b"c", b"d", b"e"])
VALUES = st.binary(min_size=0, max_size=12)
NULL = b"$-1\r\n"


def _bulk(v: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(v), v)


class KeyspaceModel(RuleBasedStateMachine):
    """Strings and lists with TTLs: the server must agree with a dict at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        self.h.ks.rng = random.Random(0)
        self.model: dict[bytes, tuple[object, int | None]] = {}  # key -> (value, expire at)

    def _live(self, k: bytes) -> object | None:
        entry = self.model.get(k)
        if entry is None:
            return None
        value, at = entry
        if at is not None and at <= self.h.now:
            return None  # kept: the server may still hold it until expired lazily or actively
        return value

    @rule(k=KEYS, v=VALUES, px=st.none() | st.integers(1, 2000))
    def set(self, k, v, px):
        args = ["SET", k, v] + (["PX", px] if px else [])
        assert self.h.cmd(*args) == b"+OK\r\n"
        self.model[k] = (v, self.h.now + px if px else None)

    @rule(k=KEYS)
    def get(self, k):
        value = self._live(k)
        reply = self.h.cmd("GET", k)
        if value is None:
            assert reply == NULL
        elif isinstance(value, bytes):
            assert reply == _bulk(value)
        else:
            assert reply.startswith(b"-WRONGTYPE")

    @rule(k=KEYS, v=VALUES)
    def rpush(self, k, v):
        value = self._live(k)
        reply = self.h.cmd("RPUSH", k, v)
        if isinstance(value, bytes):
            assert reply.startswith(b"-WRONGTYPE")
            return
        lst = [*(value or []), v]  # type: ignore[misc]
        at = self.model[k][1] if value is not None else None
        self.model[k] = (lst, at)
        assert reply == b":%d\r\n" % len(lst)

    @rule(k=KEYS)
    def lpop(self, k):
        value = self._live(k)
        reply = self.h.cmd("LPOP", k)
        if value is None:
            assert reply == NULL
        elif isinstance(value, bytes):
            assert reply.startswith(b"-WRONGTYPE")
        else:
            assert reply == _bulk(value[0])  # type: ignore[index]
            rest = value[1:]  # type: ignore[index]
            if rest:
                self.model[k] = (rest, self.model[k][1])
            else:
                del self.model[k]

    @rule(k=KEYS)
    def delete(self, k):
        existed = self._live(k) is not None
        assert self.h.cmd("DEL", k) == (b":1\r\n" if existed else b":0\r\n")
        self.model.pop(k, None)

    @rule(k=KEYS, ms=st.integers(-5, 3000))
    def pexpire(self, k, ms):
        value = self._live(k)
        reply = self.h.cmd("PEXPIRE", k, ms)
        if value is None:
            assert reply == b":0\r\n"
            return
        assert reply == b":1\r\n"
        if ms <= 0:
            del self.model[k]
        else:
            self.model[k] = (value, self.h.now + ms)

    @rule(k=KEYS)
    def persist(self, k):
        value = self._live(k)
        had_ttl = value is not None and self.model[k][1] is not None
        assert self.h.cmd("PERSIST", k) == (b":1\r\n" if had_ttl else b":0\r\n")
        if value is not None:
            self.model[k] = (value, None)

    @rule(k=KEYS)
    def pttl(self, k):
        value = self._live(k)
        if value is None:
            expected = -2
        else:
            at = self.model[k][1]
            expected = -1 if at is None else at - self.h.now
        assert self.h.cmd("PTTL", k) == b":%d\r\n" % expected

    @rule(ms=st.integers(0, 1500))
    def advance_clock(self, ms):
        self.h.advance(ms)

    @rule()
    def active_expire_cycle(self):
        self.h.ks.active_expire(budget_s=1.0)

    @rule()
    def scan_everything(self):
        live = {k for k in list(self.model) if self._live(k) is not None}
        seen: list[bytes] = []
        cursor = b"0"
        while True:
            reply = self.h.cmd("SCAN", cursor, "COUNT", 2)
            head, _, rest = reply[4:].partition(b"\r\n")
            cursor, _, rest = rest.partition(b"\r\n")
            seen += [line for line in rest.split(b"\r\n")[1:] if line and line[:1] not in b"$*"]
            if cursor == b"0":
                break
        assert sorted(seen) == sorted(live)

    @invariant()
    def stored_keys_agree_with_the_model(self):
        db = self.h.ks.dbs[0]
        assert set(db.data) <= set(self.model)  # nothing the model does not know
        for k in list(self.model):
            value = self._live(k)
            if value is not None:
                stored = db.data[k]
                assert (stored if isinstance(stored, bytes) else list(stored)) == value
        assert set(db.expires) <= set(db.data)
        assert len(db.volatile) == len(db.expires)
        assert self.h.ks.used == sum(estimate(k, v) for k, v in db.data.items())
        # ``sizes`` holds the aggregates' estimates only: a string's is derived
        assert db.sizes == {k: estimate(k, v) for k, v in db.data.items() if type(v) is not bytes}


TestKeyspaceModel = KeyspaceModel.TestCase
TestKeyspaceModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


# --- active expiry ---------------------------------------------------------------


def _fill(h: Harness, n: int, ttl_ms: int | None, prefix: str = "k") -> None:
    for i in range(n):
        args = ["SET", f"{prefix}{i}", "v"] + (["PX", ttl_ms] if ttl_ms else [])
        h.cmd(*args)


def test_active_expiry_repeats_while_most_samples_expired():
    h = Harness()
    _fill(h, 1000, 10)
    _fill(h, 50, None, "keep")
    h.advance(11)
    assert h.ks.active_expire(budget_s=5.0) == 1000
    assert len(h.ks.dbs[0]) == 50 and h.ks.expired_keys == 1000


def test_active_expiry_stops_when_few_samples_are_expired():
    h = Harness()
    h.ks.rng = random.Random(7)
    _fill(h, 50, 10, "soon")
    _fill(h, 950, 10_000_000, "late")
    h.advance(11)
    removed = h.ks.active_expire(budget_s=5.0)
    assert 0 <= removed < 50  # ~5% expired: one or two rounds, not a full sweep
    for i in range(50):  # lazily, every expired key is still invisible
        assert h.cmd("GET", f"soon{i}") == NULL


def test_active_expiry_is_bounded_in_time():
    h = Harness()
    _fill(h, 2000, 10)
    h.advance(11)
    assert h.ks.active_expire(budget_s=0.0) <= 20  # one sample of 20, then out of time


def test_cron_runs_the_cycle():
    h = Harness()
    _fill(h, 100, 5)
    h.advance(6)
    h.state.cron()
    assert len(h.ks.dbs[0]) == 0


# --- maxmemory and eviction --------------------------------------------------------

VALUE = "x" * 100
PER_KEY = estimate(b"k0", VALUE.encode())  # every test key k0..k9 costs the same


def _harness(policy: str, keys: int = 10) -> Harness:
    """maxmemory leaves room for ``keys`` test keys beside the server's own overhead."""
    h = Harness(maxmemory_policy=policy, maxmemory_samples=64)
    h.state.evictor.configure(maxmemory=_room_for(h, keys))
    h.ks.rng = random.Random(3)
    return h


def _room_for(h: Harness, keys: int) -> int:
    """A limit with room for ``keys`` test keys once the empty server's overhead is paid."""
    assert h.ks.used == 0
    return h.state.memory.overhead() + PER_KEY * keys


def _fill_keys(h: Harness, n: int = 10, ttl_for=lambda i: None) -> None:
    for i in range(n):
        ttl = ttl_for(i)
        h.cmd("SET", f"k{i}", VALUE, *(["EX", ttl] if ttl else []))
        h.advance(1000)


def _over_and_evict(h: Harness) -> None:
    h.cmd("SET", "kn", VALUE)  # now over maxmemory by exactly one key
    h.state.cron()  # evicts down (a write would do it too, before running)
    assert h.state.memory.used() <= h.state.evictor.maxmemory


def test_memory_usage_and_object_freq_show_what_eviction_sees():
    h = Harness()
    h.cmd("SET", "k0", VALUE)
    assert h.cmd("MEMORY", "USAGE", "k0") == b":%d\r\n" % PER_KEY
    assert h.cmd("MEMORY", "USAGE", "nope") == NULL
    assert h.cmd("OBJECT", "FREQ", "k0").startswith(b"-ERR An LFU maxmemory policy is not selected")


def test_noeviction_answers_oom_to_writes_but_serves_reads_and_deletes():
    h = _harness("noeviction")
    _fill_keys(h)
    h.cmd("SET", "k10", VALUE)
    assert (
        h.cmd("SET", "k11", "x") == b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    )
    assert h.cmd("GET", "k0") == _bulk(VALUE.encode())
    assert h.cmd("DEL", "k0", "k1") == b":2\r\n"
    assert h.cmd("SET", "k11", "x") == b"+OK\r\n"


def test_allkeys_lru_evicts_the_least_recently_used():
    h = _harness("allkeys-lru")
    _fill_keys(h)
    h.cmd("GET", "k0")  # k0 becomes the most recently used; k1 is now the oldest
    _over_and_evict(h)
    assert h.cmd("EXISTS", "k1") == b":0\r\n"
    assert h.cmd("EXISTS", "k0") == b":1\r\n"
    assert h.ks.evicted_keys == 1
    assert "evicted_keys:1\r\n" in h.cmd("INFO", "stats").decode()


def test_volatile_lru_evicts_only_keys_with_a_ttl_and_then_refuses():
    h = _harness("volatile-lru")
    _fill_keys(h, ttl_for=lambda i: 1000 if i in (3, 7) else None)
    _over_and_evict(h)
    assert h.cmd("EXISTS", "k3") == b":0\r\n"  # the older of the two volatile keys
    h.cmd("SET", "k3", VALUE)
    h.cmd("SET", "more", VALUE)
    h.state.cron()
    assert h.cmd("EXISTS", "k7") == b":0\r\n"
    assert h.cmd("SET", "x", "y").startswith(b"-OOM")  # nothing volatile left to evict


def test_volatile_ttl_evicts_the_soonest_to_expire():
    h = _harness("volatile-ttl")
    _fill_keys(h, ttl_for=lambda i: 500 - i * 10)  # k9 expires first
    _over_and_evict(h)
    assert h.cmd("EXISTS", "k9") == b":0\r\n"
    assert h.cmd("EXISTS", "k8") == b":1\r\n"


def test_allkeys_lfu_keeps_the_frequently_used():
    h = _harness("allkeys-lfu")
    _fill_keys(h)
    h.cmd("SET", "kn", VALUE)  # over by one key
    for k in [f"k{i}" for i in range(10) if i != 4] + ["kn"]:
        for _ in range(30):
            h.cmd("GET", k)
    assert int(h.cmd("OBJECT", "FREQ", "k0")[1:-2]) > int(h.cmd("OBJECT", "FREQ", "k4")[1:-2])
    h.state.cron()
    assert h.cmd("EXISTS", "k4") == b":0\r\n"
    assert h.ks.evicted_keys == 1


def test_allkeys_random_evicts_until_under_the_limit():
    h = _harness("allkeys-random", keys=5)
    _fill_keys(h, 20)  # every write past the limit evicts first
    assert h.state.memory.used() <= h.state.evictor.maxmemory + PER_KEY
    assert h.ks.evicted_keys >= 14


def test_config_set_lower_maxmemory_evicts_on_the_next_cron():
    h = Harness()
    limit_n = _room_for(h, 4)
    _fill_keys(h)
    assert h.cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-random") == b"+OK\r\n"
    assert h.cmd("CONFIG", "SET", "maxmemory", str(limit_n)) == b"+OK\r\n"
    h.state.cron()
    assert len(h.ks.dbs[0]) == 4
    assert h.cmd("CONFIG", "SET", "maxmemory-policy", "bogus").startswith(b"-ERR CONFIG SET failed")
    limit = b"%d" % limit_n
    assert h.cmd("CONFIG", "GET", "maxmemory") == resp.map_({b"maxmemory": limit})


# --- every command against odd arguments ------------------------------------------

_NAMES = sorted(
    {c.name for c in TABLE.values() if "blocking" not in c.flags}
    - {"quit", "subscribe", "psubscribe"}
)
_ARGS = st.sampled_from(
    [b"0", b"-1", b"1", b"3", b"k", b"l", b"h", b"s", b"abc", b"1.5", b"", b"*", b"inf",
     b"EX", b"PX", b"EXAT", b"NX", b"XX", b"GT", b"LT", b"KEEPTTL", b"GET", b"PERSIST",
     b"COUNT", b"MATCH", b"TYPE", b"BEFORE", b"AFTER", b"9223372036854775807",
     b"-9223372036854775808", b"maxmemory", b"hz", b"GETNAME", b"NUMSUB", b"CHANNELS"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_NAMES), st.lists(_ARGS, max_size=5)), max_size=12))
@example([("monitor", []), ("monitor", []), ("reset", []), ("monitor", [])])
def test_no_command_crashes_on_odd_arguments_and_replies_stay_valid_resp(script):
    h = Harness()
    monitoring = False
    for name, args in script:
        wire = h.cmd(name, *args)
        if name == "monitor" and not args:
            if monitoring:  # Redis ignores MONITOR from a monitor (monitorCommand): no reply
                assert wire == b"", wire
                continue
            monitoring = wire == b"+OK\r\n"
        elif name == "reset":
            monitoring = False
        parser = ReplyParser()
        parser.feed(wire)
        replies = []
        while (r := parser.next_reply()) is not NEED_DATA:
            replies.append(r)
        assert replies, (name, args, wire)
        db_total = sum(estimate(k, v) for db in h.ks.dbs for k, v in db.data.items())
        assert h.ks.used == db_total, (name, args)


# --- the server's own overhead in used_memory --------------------------------------

OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"


def _info(h: Harness, section: str) -> dict[str, str]:
    text = h.cmd("INFO", section).decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def test_info_memory_splits_used_memory_into_overhead_and_dataset():
    h = Harness()
    empty = _info(h, "memory")
    assert int(empty["used_memory_startup"]) == STARTUP_BYTES
    assert int(empty["mem_clients_normal"]) == CLIENT_BYTES  # the harness's one client
    assert int(empty["used_memory"]) == int(empty["used_memory_overhead"]) > STARTUP_BYTES
    assert empty["used_memory_dataset"] == "0" and empty["used_memory_dataset_perc"] == "0.00%"
    _fill_keys(h)
    m = _info(h, "memory")
    used, overhead = int(m["used_memory"]), int(m["used_memory_overhead"])
    assert int(m["used_memory_dataset"]) == h.ks.used == 10 * PER_KEY
    assert used == overhead + 10 * PER_KEY and overhead == int(empty["used_memory_overhead"])
    perc = 100 * 10 * PER_KEY / (used - STARTUP_BYTES)
    assert m["used_memory_dataset_perc"] == f"{perc:.2f}%"
    assert int(m["used_memory_peak"]) == used and m["used_memory_peak_perc"] == "100.00%"
    h.cmd("FLUSHALL")
    assert int(_info(h, "memory")["used_memory_peak"]) == used  # the peak stays
    h.connect()
    assert int(_info(h, "memory")["mem_clients_normal"]) == 2 * CLIENT_BYTES


def test_maxmemory_1_refuses_writes_on_an_empty_server_but_not_reads_or_deletes():
    h = Harness()
    assert h.cmd("CONFIG", "SET", "maxmemory", "1") == b"+OK\r\n"
    assert h.cmd("SET", "x", "y") == OOM
    assert h.cmd("GET", "x") == NULL and h.cmd("DEL", "x") == b":0\r\n"
    script = "return redis.call('set','x','y')"  # redis-server 7.0's bytes, position and all
    sha = hashlib.sha1(script.encode()).hexdigest().encode()
    assert h.cmd("EVAL", script, 1, "x") == OOM[:-2] + b" script: %s, on @user_script:1.\r\n" % sha
    assert h.cmd("EVAL", "return redis.call('get','x')", 1, "x") == NULL  # reads run
    assert h.cmd("EVAL", "#!lua\nreturn 1", 0).startswith(b"-OOM allow-oom flag is not set")
    assert h.cmd("EVAL", "#!lua flags=no-writes\nreturn 1", 0) == b":1\r\n"
    assert h.cmd("EVAL", "#!lua flags=allow-oom\nreturn redis.call('set','x','y')", 1, "x") == (
        b"+OK\r\n"
    )
    stats = _info(h, "commandstats")
    # refused before running: rejected calls, not calls (Redis 7's commandstats)
    assert stats["cmdstat_set"].startswith("calls=1,")  # the allow-oom script's
    assert "rejected_calls=2,failed_calls=0" in stats["cmdstat_set"]
    assert _info(h, "errorstats")["errorstat_OOM"] == "count=3"  # the EVAL's counted once


def test_over_maxmemory_multi_queues_nothing_and_exec_of_a_write_aborts():
    h = Harness()
    other = h.connect()
    assert h.cmd("MULTI") == b"+OK\r\n" and h.cmd("SET", "x", "1") == b"+QUEUED\r\n"
    h.cmd("CONFIG", "SET", "maxmemory", "1", client=other)
    assert h.cmd("EXEC").startswith(b"-EXECABORT Transaction discarded because of: OOM ")
    assert h.cmd("MULTI") == b"+OK\r\n" and h.cmd("GET", "x") == OOM
    assert h.cmd("DISCARD") == b"+OK\r\n"
    h.cmd("CONFIG", "SET", "maxmemory", "0", client=other)
    assert h.cmd("MULTI") == b"+OK\r\n" and h.cmd("GET", "x") == b"+QUEUED\r\n"
    h.cmd("CONFIG", "SET", "maxmemory", "1", client=other)
    assert h.cmd("EXEC") == b"*1\r\n$-1\r\n"  # nothing in it may grow memory: it runs
    assert h.cmd("EXISTS", "x") == b":0\r\n"


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-random", "allkeys-lfu"])
def test_eviction_keeps_what_fits_beside_the_overhead(policy):
    h = _harness(policy, keys=5)
    _fill_keys(h, 30)  # each write evicts first, so the last one leaves it one key over
    h.state.cron()
    used, limit = h.state.memory.used(), h.state.evictor.maxmemory
    assert used <= limit < used + PER_KEY + 1  # evicted down to the limit, no further
    assert len(h.ks.dbs[0]) >= 4  # not emptied because of the overhead: what fits stays
    assert h.ks.evicted_keys == 30 - len(h.ks.dbs[0])


def test_a_limit_below_the_overhead_evicts_every_key_then_answers_oom():
    h = _harness("allkeys-lru")
    _fill_keys(h)
    assert len(h.ks.dbs[0]) == 10
    h.state.evictor.configure(maxmemory=h.state.memory.overhead() - 1)
    assert h.cmd("SET", "k", "v") == OOM  # Redis too: evicts all it may, still over
    assert len(h.ks.dbs[0]) == 0 and h.ks.evicted_keys == 10
