"""Divergences found by Redis's own TCL units (``bench/redis_suite.py``) on the
introspection, transaction, keyspace and protocol units, each checked here against
a real redis-server (the same bytes, or the same reply through redis-py)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest
import redis
from redis_diff import reply, same

from harness.procs import Child, python_module
from harness.services import RedisServer
from netlib.resp import encode_command


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with python_module("servers.cache", port=0) as child:
        assert isinstance(child, Child)
        yield child.port  # type: ignore[misc]


@pytest.fixture
def ours(port) -> redis.Redis:  # type: ignore[no-untyped-def]
    r = redis.Redis(port=port, db=9)
    r.flushall()
    return r


@pytest.fixture
def real(redis_addr) -> redis.Redis:  # type: ignore[no-untyped-def]
    r = redis.Redis(host=redis_addr.host, port=redis_addr.port, db=9)
    r.flushall()
    return r


def exchange(port: int, cmds: list[tuple[object, ...]], until: bytes) -> bytes:
    """Send ``cmds`` in one write; every byte received until the reply stream ends in ``until``."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(encode_command(*c) for c in cmds))  # type: ignore[arg-type]
        got = b""
        while not got.endswith(until):
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        return got


def test_client_reply_off_skip_on_as_redis(ours, real):
    cmds = [
        ("SELECT", 9), ("CLIENT", "REPLY", "OFF"), ("PING", "a"), ("SET", "k", "v"), ("GET", "nokey"),
        ("CLIENT", "REPLY", "ON"), ("PING", "b"),
        ("CLIENT", "REPLY", "SKIP"), ("PING", "c"), ("PING", "d"),
        ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "ON"), ("PING", "e"),
    ]  # fmt: skip
    port_of = lambda r: r.connection_pool.connection_kwargs["port"]  # noqa: E731
    mine = exchange(port_of(ours), cmds, b"$1\r\ne\r\n")
    theirs = exchange(port_of(real), cmds, b"$1\r\ne\r\n")
    assert mine == theirs == b"+OK\r\n+OK\r\n$1\r\nb\r\n$1\r\nd\r\n+OK\r\n$1\r\ne\r\n"
    assert ours.get("k") == b"v"  # the silenced SET ran
    same(ours, real, "CLIENT", "REPLY", "MAYBE")


def test_reset_turns_client_reply_back_on_as_redis(ours, real):
    """RESET clears CLIENT REPLY OFF/SKIP: under OFF its own +RESET is sent (and what
    follows), under SKIP it is the reply skipped. Ours kept replies off after RESET."""
    port_of = lambda r: r.connection_pool.connection_kwargs["port"]  # noqa: E731
    for mode in ("OFF", "SKIP"):
        cmds = [("CLIENT", "REPLY", mode), ("RESET",), ("PING", "after")]
        mine = exchange(port_of(ours), cmds, b"$5\r\nafter\r\n")
        theirs = exchange(port_of(real), cmds, b"$5\r\nafter\r\n")
        assert mine == theirs, mode
    assert theirs == b"$5\r\nafter\r\n"  # (SKIP) and under OFF: +RESET, then the PING


def test_a_pattern_nesting_more_than_1000_stars_matches_nothing_as_in_redis(ours, real):
    for r in (ours, real):
        r.set(b"a" * 5000, 1)
    for n in (999, 1000, 1001, 2500):
        same(ours, real, "KEYS", "*?" * n)  # Redis gives up past 1000 nested stars
        same(ours, real, "KEYS", "*?" * n + "*")  # a trailing star is not nested


def _fields(line: bytes) -> dict[str, str]:
    return dict(f.split("=", 1) for f in line.decode().split())


def test_client_info_and_list_have_redis_fields_in_redis_order(ours, real):
    mine, theirs = (
        _fields(ours.execute_command("CLIENT", "INFO")),
        _fields(real.execute_command("CLIENT", "INFO")),
    )
    assert list(mine)[: len(theirs)] == list(theirs)  # 7.2's lib-name/lib-ver may follow
    for k in ("flags", "sub", "psub", "ssub", "multi", "qbuf", "multi-mem", "obl", "oll",
              "omem", "events", "cmd", "redir", "resp"):  # fmt: skip
        assert mine[k] == theirs[k], k  # qbuf=26: the running CLIENT INFO is still buffered
    line = [x for x in ours.execute_command("CLIENT", "LIST").splitlines() if x][0]
    assert _fields(line)["cmd"] == "client|list"


def test_config_set_of_appendfsync_bind_and_port_to_their_values(ours, real):
    for r in (ours, real):
        for name in ("appendfsync", "bind", "port"):
            value = r.config_get(name)[name]
            assert r.config_set(name, value)
        assert r.config_set("appendfsync", "always") and r.config_get("appendfsync") == {
            "appendfsync": "always"
        }
        r.config_set("appendfsync", "everysec")
    same(ours, real, "CONFIG", "SET", "appendfsync", "sometimes")
    with pytest.raises(redis.ResponseError, match="not supported"):
        ours.config_set("port", "1")


def test_save_inside_multi_is_refused_and_exec_aborts_as_redis(ours, real):
    for r in (ours, real):
        r.delete("foo")
    conns = [(r, r.connection_pool.get_connection()) for r in (ours, real)]
    replies = []
    for r, conn in conns:
        got = []
        for cmd in (("SELECT", 9), ("MULTI",), ("SET", "foo", "bar"), ("SAVE",), ("EXEC",)):
            conn.send_command(*cmd)
            try:
                got.append(conn.read_response())
            except redis.ResponseError as e:
                got.append(("error", str(e)))
        replies.append(got)
        r.connection_pool.release(conn)
    assert replies[0] == replies[1]
    assert replies[0][3] == ("error", "Command not allowed inside a transaction")
    assert ours.get("foo") is None


def _twin(r: redis.Redis) -> redis.Redis:
    kw = r.connection_pool.connection_kwargs
    return redis.Redis(host=kw.get("host", "localhost"), port=kw["port"], db=kw.get("db", 0),
                       single_connection_client=True)  # fmt: skip


def _busy_then_multi(r: redis.Redis) -> tuple[object, object]:
    """A script busy past lua-time-limit; meanwhile another client queues MULTI / INCR
    (refused: BUSY), the script is killed, INCR is queued and EXEC answers."""
    r.config_set("lua-time-limit", 10)
    r.set("xx", 1)
    other, killer = _twin(r), _twin(r)
    pipe = other.connection_pool.get_connection()  # connected (and SELECTed) before the script
    killer.ping()
    busy = r.connection_pool.get_connection()
    busy.send_command("EVAL", "while true do end", 0)
    deadline = time.monotonic() + 5
    while True:
        try:
            other.ping()
        except redis.ResponseError:  # BUSY: the script is past its time limit
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    out = []

    def send(*cmd: object) -> None:
        pipe.send_command(*cmd)
        try:
            out.append(pipe.read_response())
        except redis.ResponseError as e:
            out.append(("error", str(e).split()[0]))

    send("MULTI")
    send("INCR", "xx")
    killer.script_kill()
    with pytest.raises(redis.ResponseError):
        busy.read_response()  # the killed script's error
    send("INCR", "xx")
    send("EXEC")
    busy.disconnect()
    pipe.disconnect()
    return out, killer.get("xx")


def test_a_command_refused_busy_inside_multi_aborts_exec_as_redis(ours, real):
    mine, theirs = _busy_then_multi(ours), _busy_then_multi(real)
    assert mine == theirs
    assert mine[0][-1] == ("error", "Transaction") and mine[1] == b"1"  # EXECABORT: discarded


def test_info_default_all_cpu_and_replication_sections_as_redis(ours, real):
    ours.get("x")  # one call at least in commandstats
    real.get("x")
    for r in (ours, real):
        default, everything = r.info(), r.info("all")
        assert "used_cpu_user" in default and default["master_repl_offset"] == 0
        assert "cmdstat_get" not in default and "cmdstat_get" in everything
        both = r.info("cpu", "default")
        assert "cmdstat_get" not in both and "used_cpu_user" in both and "used_memory" in both
        assert "used_cpu_user_children" in r.info("cpu", "all")
        assert "used_memory" not in r.info("cpu")
        assert r.info("replication")["role"] == "master"


def _served_blpop_in_slowlog(r: redis.Redis) -> list[bytes]:
    r.config_set("slowlog-log-slower-than", 0)
    waiter = _twin(r)
    conn = waiter.connection_pool.get_connection()
    conn.send_command("BLPOP", "l", 0)
    deadline = time.monotonic() + 5
    while r.info("clients")["blocked_clients"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pipe = r.pipeline(transaction=True)
    pipe.lpush("l", "foo")
    r.slowlog_reset()
    pipe.execute()
    assert conn.read_response() == [b"l", b"foo"]
    conn.disconnect()
    entries = r.execute_command("SLOWLOG", "GET")
    r.config_set("slowlog-log-slower-than", 10000)
    return [e[3] for e in entries]


def test_a_served_blpop_is_in_the_slowlog_as_sent_as_redis(ours, real):
    mine, theirs = _served_blpop_in_slowlog(ours), _served_blpop_in_slowlog(real)
    assert mine[0] == theirs[0] == [b"BLPOP", b"l", b"0"]


def test_sscan_as_redis(ours, real):
    for r in (ours, real):
        r.sadd("small", *range(20))
        r.sadd("big", *(f"m{i}" for i in range(1000)))
        r.set("str", "x")
    same(ours, real, "SSCAN", "nokey", 0)
    same(ours, real, "SSCAN", "str", 0)
    same(ours, real, "SSCAN", "small", 0, "COUNT", 0)
    same(ours, real, "SSCAN", "small", "x")
    for r in (ours, real):
        cursor, small = r.sscan("small", 0, match="1*")
        assert cursor == 0 and sorted(small) == sorted(str(i).encode() for i in range(20)
                                                       if str(i).startswith("1"))  # fmt: skip
        seen, cursor, calls = set(), None, 0
        while cursor != 0:
            cursor, got = r.sscan("big", cursor or 0, count=100)
            seen.update(got)
            calls += 1
        assert len(seen) == 1000 and calls > 1


def _histogram(r: redis.Redis, *names: str) -> dict[bytes, tuple[object, object]]:
    r.config_resetstat()
    r.set("a", "b")
    r.set("c", "d")
    r.execute_command("CLIENT", "ID")
    raw = reply(r, "LATENCY", "HISTOGRAM", *names)
    out = {}
    for name, body in _as_dict(raw).items():
        fields = _as_dict(body)
        buckets = _as_dict(fields[b"histogram_usec"])
        out[name] = (fields[b"calls"], list(buckets.values())[-1])  # cumulative: last is all
    return out


def _as_dict(x: object) -> dict:  # type: ignore[type-arg]
    """A RESP3 map as parsed, or a RESP2 flat array of pairs."""
    if isinstance(x, dict):
        return x
    assert isinstance(x, list)
    return dict(zip(x[::2], x[1::2], strict=True))


def test_latency_histogram_names_and_calls_as_redis(ours, real):
    for names in ((), ("set", "nosuch"), ("client",), ("client|id", "get")):
        mine, theirs = _histogram(ours, *names), _histogram(real, *names)
        assert mine == theirs, names
    assert _histogram(ours)[b"set"] == (2, 2)


def _paused_write_is_blocked(
    r: redis.Redis, *cmd: object, multi: bool = False
) -> tuple[int, object]:
    writer = _twin(r)
    conn = writer.connection_pool.get_connection()
    if multi:  # the write is queued before the pause; its EXEC is held
        for queued in (("MULTI",), ("SET", "FOO", "BAR")):
            conn.send_command(*queued)
            conn.read_response()
    r.execute_command("CLIENT", "PAUSE", 60000, "WRITE")
    conn.send_command(*cmd)
    deadline = time.monotonic() + 5
    while (n := r.info("clients")["blocked_clients"]) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    r.execute_command("CLIENT", "UNPAUSE")
    answer = conn.read_response()
    conn.disconnect()
    return n, answer


def test_a_client_held_by_pause_counts_in_blocked_clients_as_redis(ours, real):
    cmd = ("SET", "FOO", "BAR")
    assert (
        _paused_write_is_blocked(ours, *cmd) == _paused_write_is_blocked(real, *cmd) == (1, b"OK")
    )
    for r in (ours, real):
        r.pfadd("hll", "x")
    cmd = ("PFCOUNT", "hll")  # may replicate (it may rewrite its cache): held like a write
    assert _paused_write_is_blocked(ours, *cmd) == _paused_write_is_blocked(real, *cmd) == (1, 1)
    mine = _paused_write_is_blocked(ours, "EXEC", multi=True)
    assert mine == _paused_write_is_blocked(real, "EXEC", multi=True) == (1, [b"OK"])


def _no_writes_eval_under_pause(r: redis.Redis) -> object:
    r.execute_command("CLIENT", "PAUSE", 60000, "WRITE")
    try:
        return _twin(r).eval("#!lua flags=no-writes\nreturn 'ro'", 0)  # not held
    finally:
        r.execute_command("CLIENT", "UNPAUSE")


def test_a_no_writes_script_runs_under_a_write_pause_as_redis(ours, real):
    assert _no_writes_eval_under_pause(ours) == _no_writes_eval_under_pause(real) == b"ro"


# --- found by the units runtest now starts our server for (unit/info, unit/obuf-limits) ---


def _latencystats(r: redis.Redis) -> dict[str, str]:
    text = reply(r, "INFO", "latencystats").decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def test_latency_tracking_and_info_latencystats_as_redis(ours, real):
    """unit/info 'latencystats: disable/enable', 'configure percentiles', 'bad configure'."""
    for r in (ours, real):
        r.config_resetstat()
        r.config_set("latency-tracking", "no")
        r.set("a", "b")
        assert "latency_percentiles_usec_set" not in _latencystats(r)
        r.config_set("latency-tracking", "yes")
        r.set("a", "b")
        r.execute_command("CLIENT", "ID")
        stats = _latencystats(r)
        assert re.fullmatch(
            r"p50=[\d.]+,p99=[\d.]+,p99\.9=[\d.]+", stats["latency_percentiles_usec_set"]
        )
        assert "latency_percentiles_usec_client|id" in stats
        r.config_set("latency-tracking-info-percentiles", "0.0 50.0 100.0")
        assert re.fullmatch(r"p0=[\d.]+,p50=[\d.]+,p100=[\d.]+",
                            _latencystats(r)["latency_percentiles_usec_set"])  # fmt: skip
        r.config_resetstat()
        assert "latency_percentiles_usec_set" not in _latencystats(r)
    same(ours, real, "CONFIG", "GET", "latency-tracking-info-percentiles")
    same(ours, real, "CONFIG", "GET", "latency-tracking")
    for bad in ("10.0 50.0 a", "10.0 50.0 101.0", "-1"):
        same(ours, real, "CONFIG", "SET", "latency-tracking-info-percentiles", bad)
    same(ours, real, "CONFIG", "GET", "latency-tracking-info-percentiles")  # unchanged
    for r in (ours, real):
        r.config_set("latency-tracking-info-percentiles", "50 99 99.9")


def test_client_output_buffer_limit_config_errors_as_redis(ours, real):
    """unit/obuf-limits 'CONFIG SET client-output-buffer-limit': Redis's refusals, and the
    replica class shown as 'slave'."""
    old = {r: r.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
           for r in (ours, real)}  # fmt: skip
    for bad in ("wrong number", "invalid_class 10mb 10mb 60", "master 10mb 10mb 60",
                "normal 10mbs 10mb 60", "replica 10mb 10mbs 60", "pubsub 10mb 10mb 60s"):  # fmt: skip
        same(ours, real, "CONFIG", "SET", "client-output-buffer-limit", bad)
    same(ours, real, "CONFIG", "SET", "client-output-buffer-limit",
         "normal 1mb 2mb 60 replica 3mb 4mb 70 pubsub 5mb 6mb 80")  # fmt: skip
    assert same(ours, real, "CONFIG", "GET", "client-output-buffer-limit") == {
        b"client-output-buffer-limit": (
            b"normal 1048576 2097152 60 slave 3145728 4194304 70 pubsub 5242880 6291456 80"
        )
    }
    for r, value in old.items():
        r.config_set("client-output-buffer-limit", value)


def _subscriber_cut_after_publishing_stops(r: redis.Redis) -> bool:
    """A subscriber that does not read, taken past the pubsub soft limit (1 s) by messages
    that then stop: is it disconnected within 4 s without a further message?"""
    port = r.connection_pool.connection_kwargs["port"]
    old = r.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    r.config_set("client-output-buffer-limit", "pubsub 0 100000 1")
    sub = socket.socket()
    sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sub.connect(("127.0.0.1", port))
    try:
        sub.sendall(
            encode_command("CLIENT", "SETNAME", "slowsub") + encode_command("SUBSCRIBE", "ch")
        )
        deadline = time.monotonic() + 5
        while r.pubsub_numsub("ch")[0][1] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for _ in range(
            20_000
        ):  # until its unsent replies pass the soft limit (as unit/obuf-limits)
            r.publish("ch", "x" * 1000)
            line = [x for x in r.client_list() if x["name"] == "slowsub"][0]
            if int(line["omem"]) > 100_000:
                break
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            if b"name=slowsub" not in r.execute_command("CLIENT", "LIST"):
                return True
            time.sleep(0.05)
        return False
    finally:
        sub.close()
        r.config_set("client-output-buffer-limit", old)


def test_a_subscriber_over_the_soft_limit_is_cut_when_its_time_is_up_as_redis(ours, real):
    """unit/obuf-limits 'soft limit ... is enforced when no traffic': Redis's clientsCron
    checks the limits; ours checked only when a message was published."""
    assert _subscriber_cut_after_publishing_stops(real)
    assert _subscriber_cut_after_publishing_stops(ours)


def _exec_of_no_writes_scripts_under_pause(r: redis.Redis) -> tuple[object, int]:
    conn = _twin(r).connection_pool.get_connection()
    for queued in (("MULTI",), ("EVAL", "#!lua flags=no-writes\nreturn 12", 0),
                   ("EVAL", "#!lua flags=no-writes\nreturn 13", 0)):  # fmt: skip
        conn.send_command(*queued)
        conn.read_response()
    r.execute_command("CLIENT", "PAUSE", 100000, "WRITE")
    try:
        conn.send_command("EXEC")
        if not conn.can_read(timeout=2):  # held: the answer comes after UNPAUSE
            return "held", r.info("clients")["blocked_clients"]
        return conn.read_response(), r.info("clients")["blocked_clients"]
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
        conn.disconnect()


def test_exec_of_no_writes_scripts_runs_under_a_write_pause_as_redis(ours, real):
    """unit/pause 'Test read-only scripts in mutli-exec are not blocked by pause RO'."""
    mine, theirs = (
        _exec_of_no_writes_scripts_under_pause(ours),
        _exec_of_no_writes_scripts_under_pause(real),
    )
    assert mine == theirs == ([12, 13], 0)


SHARD_CONVERSATION = [
    ("SSUBSCRIBE", "ch1", "ch2"), ("SUBSCRIBE", "ch1"), ("SSUBSCRIBE", "ch1"),
    ("PING",), ("SET", "k", "v"), ("SUNSUBSCRIBE", "nosuch"), ("UNSUBSCRIBE",),
    ("SUNSUBSCRIBE", "ch2"), ("SUNSUBSCRIBE",), ("SUNSUBSCRIBE",), ("PING", "done"),
]  # fmt: skip


def test_sharded_pubsub_conversation_as_redis(ours, real):
    """unit/pubsubshard (and unit/acl, which stopped at SPUBLISH): confirmations counted
    per family, subscribe mode, SUNSUBSCRIBE of everything and of nothing."""
    port_of = lambda r: r.connection_pool.connection_kwargs["port"]  # noqa: E731
    end = b"$4\r\ndone\r\n"
    mine = exchange(port_of(ours), SHARD_CONVERSATION, end)
    assert mine == exchange(port_of(real), SHARD_CONVERSATION, end)
    assert b"ssubscribe\r\n$3\r\nch1\r\n:1" in mine and b"-ERR Can't execute 'set'" in mine


def _spublish_seen(r: redis.Redis) -> tuple[object, ...]:
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(encode_command("SSUBSCRIBE", "sch"))
        got = b""
        while not got.endswith(b":1\r\n"):
            got += s.recv(4096)
        counts = (r.execute_command("SPUBLISH", "sch", "hello"), r.publish("sch", "plain"),
                  reply(r, "PUBSUB", "SHARDCHANNELS"), reply(r, "PUBSUB", "SHARDNUMSUB", "sch", "x"),
                  reply(r, "PUBSUB", "CHANNELS"))  # fmt: skip
        got = b""
        while not got.endswith(b"hello\r\n"):
            got += s.recv(4096)
        return (*counts, got)


def test_spublish_reaches_shard_subscribers_only_as_redis(ours, real):
    mine = _spublish_seen(ours)
    assert mine == _spublish_seen(real)
    assert (
        mine[0] == 1
        and mine[1] == 0
        and mine[-1] == b"*3\r\n$8\r\nsmessage\r\n$3\r\nsch\r\n$5\r\nhello\r\n"
    )


def _new_users_channels(r: redis.Redis) -> list[object]:
    out = []
    for value in ("allchannels", "resetchannels"):
        r.config_set("acl-pubsub-default", value)
        r.acl_setuser(f"u-{value}", enabled=True, nopass=True)
        out.append(_as_dict(reply(r, "ACL", "GETUSER", f"u-{value}"))[b"channels"])
        out.append(reply(r, "CONFIG", "GET", "acl-pubsub-default"))
        r.execute_command("ACL", "SETUSER", f"u-{value}", "reset", "on", "nopass")
        out.append(_as_dict(reply(r, "ACL", "GETUSER", f"u-{value}"))[b"channels"])  # reset
        r.acl_deluser(f"u-{value}")
    return out


def test_acl_pubsub_default_as_redis(ours, real):
    """unit/acl's servers start with acl-pubsub-default; new users take its channels."""
    mine = _new_users_channels(ours)
    assert mine == _new_users_channels(real)
    same(ours, real, "CONFIG", "SET", "acl-pubsub-default", "sometimes")
    assert mine[0] == mine[2] == b"&*" and mine[3] == mine[5] == b""


def _restored_idle_and_freq(r: redis.Redis) -> tuple[object, object]:
    """unit/dump 'RESTORE can set LRU' / 'can set LFU'."""
    r.set("foo", "bar")
    encoded = r.dump("foo")
    try:
        r.delete("foo")
        r.config_set("maxmemory-policy", "allkeys-lru")
        r.restore("foo", 0, encoded, idletime=1000)
        idle = r.object("idletime", "foo")
        r.delete("foo")
        r.config_set("maxmemory-policy", "allkeys-lfu")
        r.restore("foo", 0, encoded, frequency=100)
        return idle, r.object("freq", "foo")
    finally:
        r.config_set("maxmemory-policy", "noeviction")


def test_restore_idletime_and_freq_as_redis(ours, real):
    mine, theirs = _restored_idle_and_freq(ours), _restored_idle_and_freq(real)
    assert 1000 <= mine[0] <= 1010 and 1000 <= theirs[0] <= 1010  # type: ignore[operator]
    assert mine[1] == theirs[1] == 100


GETKEYS = [
    ("MEMORY", "USAGE", "key"), ("XGROUP", "CREATE", "key", "g", "$"), ("EVAL", "return 1", 0),
    ("EVAL", "return 1", 1, "k"), ("MEMORY", "DOCTOR"), ("PING", "x"), ("CONFIG", "GET", "x"),
    ("SET", "k"), ("OBJECT", "FREQ", "k"), ("LCS", "a", "b"),
]  # fmt: skip


def test_command_getkeys_of_subcommands_and_optional_keys_as_redis(ours, real):
    """unit/introspection-2 'COMMAND GETKEYS MEMORY USAGE', 'XGROUP', 'EVAL without keys':
    the subcommand's keys; no keys at all is an empty array when they are optional."""
    for cmd in GETKEYS:
        same(ours, real, "COMMAND", "GETKEYS", *cmd)


def test_memory_doctor_as_redis(ours, real):
    """unit/acl's subcommand rules name memory|doctor; an empty instance's report."""
    same(ours, real, "MEMORY", "DOCTOR")


def _sorted_reply(r: redis.Redis, *cmd: object) -> object:
    got = reply(r, *cmd)
    return sorted(got) if isinstance(got, list) else got


def test_command_list_filterby_as_redis(ours, real):
    """unit/introspection-2 'COMMAND LIST ...': subcommands listed, the three filters."""
    for cmd in (("bad",), ("FILTERBY", "bad"), ("FILTERBY", "bad", "x"), ("FILTERBY", "MODULE", "m"),
                ("FILTERBY", "ACLCAT", "nosuch"), ("FILTERBY", "PATTERN", "set"),
                ("FILTERBY", "PATTERN", "CONFIG*"), ("FILTERBY", "ACLCAT", "hyperloglog")):  # fmt: skip
        assert _sorted_reply(ours, "COMMAND", "LIST", *cmd) == _sorted_reply(
            real, "COMMAND", "LIST", *cmd
        ) or (
            cmd[-1] == "CONFIG*"  # (CONFIG REWRITE is not implemented here)
        ), cmd
    everything = reply(ours, "COMMAND", "LIST")
    assert b"client|list" in everything and b"set" in everything
    assert set(reply(ours, "COMMAND", "LIST", "FILTERBY", "PATTERN", "CONFIG*")) <= set(
        reply(real, "COMMAND", "LIST", "FILTERBY", "PATTERN", "CONFIG*"))  # fmt: skip
    scripting = reply(ours, "COMMAND", "LIST", "FILTERBY", "ACLCAT", "scripting")
    assert b"eval" in scripting and b"script|kill" in scripting and b"set" not in scripting


def _movable(r: redis.Redis) -> set[bytes]:
    out = set()
    for entry in reply(r, "COMMAND", "INFO"):
        for e in [entry, *entry[9]]:
            if b"movablekeys" in e[2]:
                out.add(e[0])
    return out


def test_command_info_movablekeys_as_redis(ours, real):
    """unit/introspection-2 'ZUNIONSTORE command is marked with movablekeys' and its kin."""
    mine = _movable(ours)
    assert {b"zunionstore", b"xread", b"eval", b"sort", b"sort_ro", b"georadius"} <= mine
    assert mine == _movable(real) & set(reply(ours, "COMMAND", "LIST"))


def test_config_set_duplicate_and_immutable_as_redis(ours, real):
    """unit/introspection 'CONFIG SET duplicate configs', 'CONFIG SET set immutable'."""
    same(ours, real, "CONFIG", "SET", "maxmemory", "10000001", "maxmemory", "10000002")
    same(ours, real, "CONFIG", "SET", "daemonize", "yes")
    same(ours, real, "CONFIG", "SET", "pidfile", "/tmp/x.pid")
    same(ours, real, "CONFIG", "GET", "maxmemory")  # unchanged by the refused pair


def test_a_read_only_script_may_not_publish_as_redis(ours, real):
    """unit/pause 'Test may-replicate commands are rejected in RO scripts'."""
    same(ours, real, "EVAL_RO", "return redis.call('publish','ch','msg')", 0)
    same(ours, real, "EVAL", "#!lua flags=no-writes\nreturn redis.call('publish','ch','msg')", 0)
    same(ours, real, "EVAL", "return redis.call('publish','ch','msg')", 0)


def _expired_during_pause(r: redis.Redis) -> tuple[int, object, int]:
    before = r.info("stats")["expired_keys"]
    pipe = r.pipeline(transaction=True)
    pipe.set("foo", "bar", px=10)
    pipe.set("bar", "foo", px=10)
    pipe.execute_command("CLIENT", "PAUSE", 50000, "WRITE")
    pipe.execute()
    try:
        time.sleep(0.3)  # past their TTL, and past a few cron ticks
        gone = (r.get("foo"), r.get("bar"))
        during = r.info("stats")["expired_keys"] - before
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
    r.get("foo")
    r.get("bar")
    return during, gone, r.info("stats")["expired_keys"] - before


def test_no_key_expires_during_a_pause_as_redis(ours, real):
    """unit/pause 'Test both active and passive expires are skipped during client pause'."""
    assert _expired_during_pause(ours) == _expired_during_pause(real) == (0, (None, None), 2)


DRYRUNS = [
    ("scripter", "EVAL_RO", "", 0), ("nobody", "get", "x"), ("scripter", "nosuch"),
    ("scripter", "get", "kx"), ("scripter", "get", "x"), ("scripter", "get"),
    ("scripter", "publish", "other", "m"), ("scripter", "config", "nosub"),
    ("scripter", "config", "get", "x"), ("default", "set", "a", "b"),
]  # fmt: skip


def test_acl_dryrun_readonly_and_acl_cat_errors_as_redis(ours, real):
    """unit/acl 'ACL requires explicit permission for scripting for EVAL_RO...' (ACL DRYRUN,
    a +readonly rule) and 'ACL CAT with illegal arguments'."""
    for r in (ours, real):
        r.execute_command("ACL", "SETUSER", "scripter", "on", "nopass", "+readonly", "+get", "~k*",
                          "&ch", "+publish")  # fmt: skip
    try:
        for cmd in DRYRUNS:
            same(ours, real, "ACL", "DRYRUN", *cmd)
        same(ours, real, "READONLY")
        same(ours, real, "READWRITE")
        same(ours, real, "ACL", "CAT", "NON_EXISTS", "NON_EXISTS2")
        same(ours, real, "ACL", "CAT", "NON_EXISTS")
    finally:
        for r in (ours, real):
            r.acl_deluser("scripter")


PATTERN_AFTER_ALL = [
    ("u1", "~*", "~foo"), ("u2", "allkeys", "%R~foo"), ("u3", "&*", "&x"),
    ("u4", "~*", "&*", "+@all", "~*"), ("u5", "allchannels", "&*"),
]  # fmt: skip


def test_a_pattern_after_all_keys_or_channels_is_refused_as_redis(ours, real):
    """unit/acl 'Single channel is not valid with allchannels' (and its keys twin)."""
    for rules in PATTERN_AFTER_ALL:
        same(ours, real, "ACL", "SETUSER", *rules)
    for r in (ours, real):
        r.config_set("acl-pubsub-default", "allchannels")
    try:
        same(ours, real, "ACL", "SETUSER", "onechannel", "&test")
    finally:
        for r in (ours, real):
            r.config_set("acl-pubsub-default", "resetchannels")
            for name in ("u4", "u5", "onechannel"):
                r.acl_deluser(name)


def _acl_load_cuts(port: int) -> tuple[bool, bool, object]:
    """ACL LOAD by alice: is alice's connection cut after its +OK, is a default-user client
    kept, and what did LOAD answer."""
    alice = redis.Redis(
        port=port, username="alice", password="alice", single_connection_client=True
    )
    bystander = redis.Redis(port=port, single_connection_client=True)
    bystander.ping()
    loaded = alice.execute_command("ACL", "LOAD")
    try:
        alice.connection.retry_on_error = []  # type: ignore[union-attr]
        alice.connection.retry = redis.retry.Retry(redis.backoff.NoBackoff(), 0)  # type: ignore[union-attr]
        alice.ping()
        cut = False
    except redis.ConnectionError:
        cut = True
    return cut, bystander.ping(), loaded


def test_acl_load_disconnects_the_clients_of_reloaded_users_as_redis(tmp_path):
    """unit/acl 'ACL load and save': every user but default is new after ACL LOAD."""
    acl = tmp_path / "users.acl"
    acl.write_text("user alice on >alice ~* &* +@all\nuser default on nopass ~* &* +@all\n")
    with python_module("servers.cache", "--aclfile", str(acl), port=0) as child:
        assert child.port is not None
        mine = _acl_load_cuts(child.port)
    with RedisServer(extra_args=["--aclfile", str(acl)]) as real:
        theirs = _acl_load_cuts(real.port)
    assert mine == theirs == (True, True, b"OK")


FIRST_ARG_RULES = [
    ("SETUSER", "newuser", "on", "nopass", "-@all", "+acl", "+select|0"), ("GETUSER", "newuser"),
    ("DRYRUN", "newuser", "select", "0"), ("DRYRUN", "newuser", "select", "1"),
    ("SETUSER", "newuser", "+config|get|appendonly"), ("SETUSER", "newuser", "-select|0"),
    ("SETUSER", "newuser", "+select|"), ("SETUSER", "newuser", "+config|"),
    ("SETUSER", "u2", "-@all", "+select|0", "+select"), ("GETUSER", "u2"),
    ("SETUSER", "bob", "-@all", "+memory|doctor", "+memory"), ("GETUSER", "bob"),
    ("SETUSER", "alice", "+@all", "-memory|doctor", "-memory"), ("GETUSER", "alice"),
    ("SETUSER", "carol", "+@all", "-memory", "+memory|doctor"), ("GETUSER", "carol"),
    ("DRYRUN", "carol", "memory", "doctor"), ("DRYRUN", "carol", "memory", "usage", "x"),
]  # fmt: skip
MINE = (b"newuser", b"u2", b"bob", b"alice", b"carol")


def _newuser_unordered(got: object) -> object:
    """newuser's ``+acl`` and ``+select|0`` in either order: redis-server 7.0 lists a
    user's command and first-arg rules in its command table's order, which its hash seed
    changes from one start to the next ("-@all +select|0 +acl" or "-@all +acl +select|0")."""
    if isinstance(got, dict):
        return {**got, b"commands": sorted(got[b"commands"].split())}
    if isinstance(got, bytes) and got.split()[1] == b"newuser":
        return sorted(got.split())
    return got


def test_acl_first_arg_rules_and_rule_compaction_as_redis(ours, real):
    """unit/acl 'ACLs can block SELECT of all but a specific DB', 'ACLs cannot include a
    subcommand with a specific arg', 'ACLs set can include subcommands, if already full
    command exists' (a rule replaces earlier ones for the same command), ACL LIST by name."""
    try:
        for cmd in FIRST_ARG_RULES:
            if cmd == ("GETUSER", "newuser"):
                mine, theirs = (_newuser_unordered(reply(r, "ACL", *cmd)) for r in (ours, real))
                assert mine == theirs
            else:
                same(ours, real, "ACL", *cmd)
        mine, theirs = (
            [_newuser_unordered(u) for u in reply(r, "ACL", "LIST") if u.split()[1] in MINE]
            for r in (ours, real)
        )  # (the shared redis-server has others' users)
        assert mine == theirs and len(mine) == 5
    finally:
        for r in (ours, real):
            r.acl_deluser("newuser", "u2", "bob", "alice", "carol")
