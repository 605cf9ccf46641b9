"""The cache in operation, with clients nobody here wrote: redis-py's ``monitor()``,
``client_list``/``client_kill_filter``, ``slowlog_get``; redis-cli ``monitor``; CLIENT PAUSE,
LATENCY, MEMORY USAGE, INFO commandstats/errorstats, and a slow subscriber cut off by
``client-output-buffer-limit pubsub`` (all against a real ``python -m servers.cache``)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest
import redis
from cache_support import Harness

from netlib.resp import encode_command

pytestmark = pytest.mark.exercise("N14")


@pytest.fixture
def port(launch) -> int:
    return int(launch("servers.cache").port)


def test_redis_py_monitor_sees_commands_with_passwords_redacted(port):
    r = redis.Redis(port=port)
    seen: list[str] = []
    with r.monitor() as m:
        ready = threading.Event()

        def feed() -> None:
            ready.wait(5)
            w = redis.Redis(port=port, db=3)
            w.set("greeting", 'say "hi"\n')
            w.execute_command("AUTH", "default", "topsecret")
            w.get("greeting")
            w.close()

        t = threading.Thread(target=feed)
        t.start()
        ready.set()
        for event in m.listen():
            seen.append(event["command"])
            if event["command"].startswith("GET"):
                assert event["db"] == 3 and event["client_address"] == "127.0.0.1"
                break
        t.join()
    cmds = [s for s in seen if not s.startswith(("CLIENT", "SELECT", "HELLO"))]
    assert cmds[0] == 'SET greeting say "hi"\\n' or cmds[0].startswith("SET greeting")
    assert any("(redacted)" in s and "topsecret" not in s for s in seen)
    assert cmds[-1] == "GET greeting"
    r.close()


def test_redis_cli_monitor_prints_redis_lines(port):
    mon = subprocess.Popen(
        ["redis-cli", "-p", str(port), "monitor"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert mon.stdout is not None
        assert mon.stdout.readline() == "OK\n"
        r = redis.Redis(port=port)
        r.rpush("queue", "a b")
        line = mon.stdout.readline()
        while "rpush" not in line.lower():
            line = mon.stdout.readline()
        ts, rest = line.split(" ", 1)
        assert abs(float(ts) - time.time()) < 30
        assert rest.startswith("[0 127.0.0.1:") and rest.endswith('] "RPUSH" "queue" "a b"\n')
        r.close()
    finally:
        mon.kill()
        mon.wait()


def test_client_list_and_kill_filters(port):
    admin = redis.Redis(port=port, decode_responses=True)
    victims = [redis.Redis(port=port, single_connection_client=True) for _ in range(3)]
    for i, v in enumerate(victims):
        v.client_setname(f"victim{i}")
    listed = {c["name"]: c for c in admin.client_list()}
    assert {"victim0", "victim1", "victim2"} <= set(listed)
    assert listed["victim0"]["user"] == "default" and listed["victim0"]["cmd"].startswith("client")
    # by ID, by ADDR, by the old ip:port form, by USER with SKIPME
    assert admin.client_kill_filter(_id=listed["victim0"]["id"]) == 1
    assert admin.client_kill_filter(addr=listed["victim1"]["addr"]) == 1
    assert admin.client_kill(listed["victim2"]["addr"]) is True
    names = {c["name"] for c in admin.client_list()}
    assert not names & {"victim0", "victim1", "victim2"}
    with pytest.raises(redis.exceptions.ResponseError, match="No such client"):
        admin.client_kill("127.0.0.1:1")
    other = redis.Redis(port=port, single_connection_client=True)
    other_id = other.client_id()
    assert admin.client_kill_filter(user="default", skipme=True) >= 1  # not the caller
    assert admin.ping()
    assert other_id not in {int(c["id"]) for c in admin.client_list()}
    with pytest.raises(redis.exceptions.ResponseError, match="No such user"):
        admin.client_kill_filter(user="ghost")
    assert admin.client_no_evict("on") == "OK"
    assert "e" in admin.client_info()["flags"]
    admin.close()


def test_client_pause_write_holds_writes_not_reads(port):
    admin = redis.Redis(port=port)
    admin.set("k", "before")
    assert admin.client_pause(10_000, all=False)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET k\r\nSET k after\r\nGET k\r\n")
    s.settimeout(0.5)
    assert s.recv(100) == b"$6\r\nbefore\r\n"  # the read ran, the write waits...
    with pytest.raises(TimeoutError):
        s.recv(100)  # ...and so does everything behind it
    assert admin.get("k") == b"before"
    assert admin.client_unpause()
    s.settimeout(5)
    got = b""
    while not got.endswith(b"after\r\n"):
        got += s.recv(100)
    assert got == b"+OK\r\n$5\r\nafter\r\n"
    s.close()
    admin.close()


def test_client_pause_all_expires_by_itself(port):
    admin = redis.Redis(port=port)
    assert admin.client_pause(300)
    t0 = time.monotonic()
    other = redis.Redis(port=port)
    assert other.ping()  # held until the pause ends
    assert time.monotonic() - t0 >= 0.25
    admin.close()
    other.close()


def test_slowlog_via_config_and_redis_py(port):
    r = redis.Redis(port=port)
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()
    r.set("k", "x" * 300)
    r.execute_command("AUTH", "default", "hunter2")
    entries = r.slowlog_get(10)
    cmds = [e["command"] for e in entries]
    assert cmds[0] == b"AUTH (redacted) (redacted)"  # logged as Redis 7.0 does, its secret not
    set_entry = next(e for e in entries if e["command"].startswith(b"SET"))
    assert b"... (172 more bytes)" in set_entry["command"]
    assert set_entry["duration"] >= 0 and abs(set_entry["start_time"] - time.time()) < 30
    assert r.slowlog_len() >= 2
    r.config_set("slowlog-max-len", 2)
    r.ping()
    r.ping()
    assert r.slowlog_len() == 2
    r.config_set("slowlog-log-slower-than", -1)
    r.slowlog_reset()
    r.ping()
    assert r.slowlog_len() == 0
    assert r.config_get("slowlog-*") == {
        "slowlog-log-slower-than": "-1",
        "slowlog-max-len": "2",
    } or r.config_get("slowlog-*") == {b"slowlog-log-slower-than": b"-1", b"slowlog-max-len": b"2"}
    r.close()


def test_latency_monitor_records_slow_commands(port):
    r = redis.Redis(port=port)
    r.config_set("latency-monitor-threshold", 1)
    members = [str(i) for i in range(100_000)]
    r.sadd("big", *members)  # well over 1 ms in Python
    latest = {e[0]: e for e in r.execute_command("LATENCY", "LATEST")}
    assert latest[b"fast-command"][2] >= 1  # SADD is @fast
    history = r.execute_command("LATENCY", "HISTORY", "fast-command")
    assert history and history[-1][1] >= 1
    # (On a loaded machine LATENCY itself may take over 1 ms and add a "command" event:
    # the monitor is turned off before the reset so that nothing comes after it.)
    r.config_set("latency-monitor-threshold", 0)
    assert r.execute_command("LATENCY", "RESET") >= 1
    assert r.execute_command("LATENCY", "LATEST") == []
    assert r.memory_usage("big") > 100_000 * 5
    assert r.memory_usage("nothing") is None
    r.close()


def test_info_commandstats_errorstats_and_resetstat(port):
    r = redis.Redis(port=port)
    r.config_resetstat()  # what redis-py sent on connecting is forgotten
    r.set("s", "v")
    r.get("s")
    with pytest.raises(redis.exceptions.ResponseError):
        r.incr("s")
    with pytest.raises(redis.exceptions.ResponseError):
        r.lpush("s", "x")
    stats = r.info("commandstats")
    assert stats["cmdstat_get"]["calls"] == 1
    assert stats["cmdstat_incrby"]["failed_calls"] == 1
    errors = r.info("errorstats")
    assert errors["errorstat_ERR"]["count"] == 1 and errors["errorstat_WRONGTYPE"]["count"] == 1
    r.config_resetstat()
    assert "cmdstat_get" not in r.info("commandstats")
    r.close()


def test_rejected_calls_are_counted_apart_from_failed_ones():
    h = Harness()
    h.cmd("ACL", "SETUSER", "u", "on", "nopass", "~*", "+@all", "-get")
    c = h.connect()
    h.cmd("AUTH", "u", "x", client=c)
    assert h.cmd("GET", "k", client=c).startswith(b"-NOPERM")
    text = h.cmd("INFO", "commandstats", "errorstats").decode()
    assert "cmdstat_get:calls=0," in text and "rejected_calls=1,failed_calls=0" in text
    assert "errorstat_NOPERM:count=1" in text


def test_commandstats_counted_per_run_are_exact_within_one_pipeline():
    """The session counts a run of ordinary calls at once: INFO in the same pipeline still
    sees every call before it, errors are failed calls, RESETSTAT drops what came before
    it, and a slow-log threshold of 0 logs every command of the run."""
    h = Harness()
    pipeline = [("SET", "a", "1"), ("SET", "b", "2"), ("INCR", "a"), ("INCR", "a"),
                ("INCR", "b"), ("GET", "a"), ("INFO", "commandstats")]  # fmt: skip
    replies = h.raw(b"".join(encode_command(*c) for c in pipeline))
    text = replies.split(b"$", 1)[1].decode()
    assert "cmdstat_set:calls=2," in text and "cmdstat_incr:calls=3," in text
    assert "cmdstat_get:calls=1," in text
    h.cmd("SET", "s", "x")
    assert h.cmd("INCR", "s").startswith(b"-ERR")
    text = h.cmd("INFO", "commandstats").decode()
    assert "cmdstat_incr:calls=4," in text and "rejected_calls=0,failed_calls=1" in text
    replies = h.raw(b"".join(encode_command(*c) for c in [
        ("SET", "a", "1"), ("CONFIG", "RESETSTAT"), ("GET", "a"), ("GET", "a"),
        ("CONFIG", "SET", "slowlog-log-slower-than", "0"), ("SLOWLOG", "RESET"),
        ("GET", "a"), ("GET", "a"), ("SLOWLOG", "LEN"), ("INFO", "commandstats")]))  # fmt: skip
    assert b":3\r\n" in replies  # SLOWLOG RESET itself (logged once it ran) and both GETs
    text = replies.rsplit(b"$", 1)[1].decode()
    assert "cmdstat_set" not in text and "cmdstat_get:calls=4," in text


def test_a_slow_subscriber_is_cut_at_the_configured_pubsub_limit(port):
    admin = redis.Redis(port=port)
    admin.config_set("client-output-buffer-limit", "pubsub 512kb 128kb 1")
    sub = socket.create_connection(("127.0.0.1", port))
    sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sub.sendall(b"SUBSCRIBE firehose\r\n")
    sub.recv(100)
    msg = b"x" * 65536
    receivers = []
    for _ in range(300):  # ~20 MB: far past what the socket buffers hold
        receivers.append(admin.publish("firehose", msg))
        if receivers[-1] == 0:
            break
    assert receivers[-1] == 0  # the subscriber is gone; publishing went on
    assert admin.pubsub_numsub("firehose") == [(b"firehose", 0)]
    assert len(receivers) < 300
    sub.close()
    admin.close()


def _received_until_closed(sock: socket.socket) -> bytes:
    """Every byte the server sends before it closes ``sock`` (a reset counts as closed)."""
    got = b""
    sock.settimeout(10)
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except ConnectionResetError:
        pass
    return got


@pytest.mark.parametrize("server", ["ours", "redis-server"])
def test_a_reply_past_the_normal_hard_limit_closes_the_client_without_a_byte(
    server, port, redis_addr
):
    """client-output-buffer-limit normal: a reply that would take the client past the hard
    limit is not sent at all (Redis closes the client, its replies dropped); the same for
    the replies of one pipelined read, and an EXEC runs whole first. Ours answered all."""
    p = port if server == "ours" else redis_addr.port
    admin = redis.Redis(port=p)
    admin.flushall()
    admin.config_set("client-output-buffer-limit", "normal 100000 0 0")
    try:
        admin.rpush("big", *[b"x" * 1000] * 150)
        for cmds in ([("LRANGE", "big", 0, -1)], [("GET", "small"), ("LRANGE", "big", 0, -1)],
                     [("MULTI",), ("SET", "k", "v"), ("LRANGE", "big", 0, -1), ("EXEC",)]):  # fmt: skip
            sock = socket.create_connection(("127.0.0.1", p))
            sock.sendall(b"".join(encode_command(*c) for c in cmds))
            assert _received_until_closed(sock) == b"", cmds
            sock.close()
        assert admin.get("k") == b"v"  # the transaction ran to its end before the close
        assert admin.lrange("big", 0, 0) == [b"x" * 1000]  # (a reply under the limit: sent)
    finally:
        admin.config_set("client-output-buffer-limit", "normal 0 0 0")
        admin.close()


def test_a_huge_random_count_stops_at_the_normal_hard_limit(port):
    """HRANDFIELD/SRANDMEMBER with a count of -999999999 (7 GB of reply): refused as out of
    range without a limit; under one, the client is disconnected once the reply passes it,
    as Redis stops the run mid-way (unit/obuf-limits). Ours answered "out of range"."""
    admin = redis.Redis(port=port)
    admin.hset("myhash", "a", "b")
    admin.sadd("myset", "a")
    with pytest.raises(redis.ResponseError, match="out of range"):
        admin.hrandfield("myhash", -999999999)
    admin.config_set("client-output-buffer-limit", "normal 1000000 0 0")
    try:
        for cmd in (("HRANDFIELD", "myhash", -999999999), ("SRANDMEMBER", "myset", -999999999)):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(encode_command(*cmd))
            assert _received_until_closed(sock) == b"", cmd
            sock.close()
        assert admin.hrandfield("myhash", -3) == [b"a"] * 3  # (under the limit: answered)
    finally:
        admin.config_set("client-output-buffer-limit", "normal 0 0 0")
        admin.close()


def _pipeline_without_reading(p: int, name: bytes) -> socket.socket:
    """A client that sends GETs of a 16 KiB value and never reads a reply, until the
    server closes it (True) or stops taking its requests for 10 s (a timeout)."""
    sock = socket.create_connection(("127.0.0.1", p))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.sendall(encode_command("CLIENT", "SETNAME", name))
    batch = encode_command("GET", "v16k") * 100
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        for _ in range(10_000):  # 16 GB of replies: far past any limit and socket buffer
            sock.sendall(batch)
    return sock


def test_a_client_pipelining_without_reading_is_disconnected_past_the_normal_hard_limit(port):
    """The limit, not TCP backpressure, bounds such a client, as in Redis: ours stopped
    reading it once 256 KiB were unsent, so it hung there forever, never disconnected."""
    admin = redis.Redis(port=port)
    admin.set("v16k", b"v" * 16384)
    admin.config_set("client-output-buffer-limit", "normal 4mb 0 0")
    try:
        _pipeline_without_reading(port, b"greedy").close()
        assert "greedy" not in {c["name"] for c in admin.client_list()}
    finally:
        admin.config_set("client-output-buffer-limit", "normal 0 0 0")
        admin.close()


def test_a_client_over_the_normal_soft_limit_for_its_seconds_is_disconnected(port):
    """Over the soft limit (but not the hard one) for longer than its seconds: the cron
    closes the client even though nothing more is written to it."""
    admin = redis.Redis(port=port)
    admin.set("v16k", b"v" * 16384)
    admin.config_set("client-output-buffer-limit", "normal 0 1mb 1")
    try:
        started = time.monotonic()
        _pipeline_without_reading(port, b"lagging").close()
        assert time.monotonic() - started >= 1
        assert "lagging" not in {c["name"] for c in admin.client_list()}
    finally:
        admin.config_set("client-output-buffer-limit", "normal 0 0 0")
        admin.close()


def test_redis_cli_bigkeys_memkeys_and_latency(port):
    r = redis.Redis(port=port)
    r.set("s", "abc")
    r.rpush("l", "a", "b", "c")
    r.hset("h", "f", "v")
    r.close()

    def cli(*args: str) -> str:
        res = subprocess.run(["redis-cli", "-p", str(port), *args],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
        assert res.returncode == 0, res.stderr
        return res.stdout

    big = cli("--bigkeys")
    assert "Biggest   list found '\"l\"' has 3 items" in big
    assert "1 strings with 3 bytes" in big
    mem = cli("--memkeys")
    assert "1 lists with" in mem and "bytes" in mem
    # --latency runs until interrupted; --latency-history prints a line per interval
    proc = subprocess.Popen(["redis-cli", "-p", str(port), "--latency-history", "-i", "1"],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        lo, hi, avg, samples = proc.stdout.readline().split()  # not a tty: "min max avg n"
        assert 0 <= int(lo) <= float(avg) <= int(hi) and int(samples) >= 1
    finally:
        proc.kill()
        proc.wait()
