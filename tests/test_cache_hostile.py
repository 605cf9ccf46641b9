"""A hostile user against servers.cache: Lua sandbox and reply limits, ACL key checks in
unusual positions, redaction of secrets, the AOF manifest and function persistence.

Each test drives real processes (our cache on --port 0, and where a reply is compared a
private redis-server) with real clients (redis-py, redis-cli, raw sockets)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.procs import Child, python_module
from harness.services import RedisServer
from servers.cache.persist import MANIFEST

pytestmark = pytest.mark.exercise("N14")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ours() -> Iterator[int]:
    with python_module("servers.cache", port=0) as child:
        assert isinstance(child, Child)
        yield child.port  # type: ignore[misc]


@pytest.fixture(scope="module")
def theirs() -> Iterator[int]:
    with RedisServer() as r:
        yield r.port


def start(d: Path) -> Child:
    return python_module(
        "servers.cache", "--dir", str(d), "--appendonly", "yes", "--appendfsync", "always", port=0
    ).start()


def start_fails(d: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers.cache", "--port", "0", "--dir", str(d),
         "--appendonly", "yes"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip


# --- the AOF manifest ----------------------------------------------------------------------


def _aof_with_base_and_incr(d: Path) -> Path:
    """A base (written by BGREWRITEAOF) holding l=[a] and n=1, an incr holding n's INCR."""
    server = start(d)
    r = redis.Redis(port=server.port)
    r.rpush("l", "a")
    r.set("n", 1)
    r.bgrewriteaof()
    aof = d / "appendonlydir"
    deadline = time.monotonic() + 60  # the rewrite's end, however slow a busy machine is
    while not (
        r.info("persistence")["aof_rewrite_in_progress"] == 0
        and len((aof / MANIFEST).read_text().splitlines()) == 2
    ):
        assert time.monotonic() < deadline, "BGREWRITEAOF did not finish"
        time.sleep(0.01)
    r.incr("n")
    r.close()
    server.stop()
    return aof


# Each bad manifest is built from the real one's base line (B) and incr line (I).
BAD_MANIFESTS = {
    "empty": "",  # truncated to nothing
    "comment-only": "# only a comment\n",
    "duplicate-incr": "{B}\n{I}\n{I}\n",  # would replay the incr file twice
    "two-bases": "{B}\n{B}\n{I}\n",
    "unknown-type": "{B}\nfile appendonly.aof.3.incr.aof seq 3 type x\n",
    "seq-0": "{B}\nfile appendonly.aof.9.incr.aof seq 0 type i\n",
    "huge-line": "{B}\nfile " + "x" * 5000 + " seq 3 type i\n",
    "dotdot": "{B}\nfile .. seq 3 type i\n",
    "path-traversal": "{B}\nfile ../../etc/passwd seq 3 type i\n",
    "short-line": "{B}\nfile appendonly.aof.3.incr.aof\n",
}


@pytest.mark.parametrize("bad", BAD_MANIFESTS)
def test_a_bad_manifest_refuses_to_start_and_deletes_nothing(tmp_path, bad):
    aof = _aof_with_base_and_incr(tmp_path)
    before = sorted(p.name for p in aof.iterdir())
    base_line, incr_line = (aof / MANIFEST).read_text().splitlines()
    (aof / MANIFEST).write_text(BAD_MANIFESTS[bad].format(B=base_line, I=incr_line))
    res = start_fails(tmp_path)
    assert res.returncode == 2 and "cannot load the saved data" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert sorted(p.name for p in aof.iterdir()) == before  # no file was taken for a leftover


def test_a_manifest_not_utf8_refuses_to_start_with_one_line(tmp_path):
    aof = _aof_with_base_and_incr(tmp_path)
    (aof / MANIFEST).write_bytes(b"file \xff\xfe seq 1 type i\n")
    res = start_fails(tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


def test_the_base_is_loaded_first_whatever_the_manifest_order(tmp_path):
    aof = _aof_with_base_and_incr(tmp_path)
    lines = (aof / MANIFEST).read_text().splitlines()
    (aof / MANIFEST).write_text("\n".join(reversed(lines)) + "\n")  # incr line first
    server = start(tmp_path)
    r = redis.Redis(port=server.port)
    assert r.lrange("l", 0, -1) == [b"a"] and r.get("n") == b"2"
    r.close()
    server.stop()


# --- ACL: keys in unusual positions, write-only and read-only key patterns ------------------

ACL_CALLS = [
    "SORT allowed:l STORE secret", "EVAL return 1 1 secret", "FCALL f 1 secret",
    "XREADGROUP GROUP g c STREAMS secret >", "XREAD COUNT 1 STREAMS allowed:s secret 0 0",
    "XREAD STREAMS secret 0", "GEORADIUS allowed:g 0 0 10 km STORE secret",
    "GEORADIUS allowed:g 0 0 10 km STOREDIST secret",
    "GEORADIUSBYMEMBER allowed:g m 10 km STORE secret",
    "GEOSEARCHSTORE secret allowed:g FROMLONLAT 0 0 BYRADIUS 1 km", "OBJECT ENCODING secret",
    "MEMORY USAGE secret", "LMPOP 2 allowed:l secret LEFT", "ZMPOP 1 secret MIN",
    "BZMPOP 0.01 1 secret MIN", "ZUNIONSTORE allowed:z 2 allowed:a secret",
    "ZUNIONSTORE secret 1 allowed:a", "ZINTERSTORE allowed:z 2 allowed:a secret",
    "ZDIFFSTORE allowed:z 2 allowed:a secret", "ZINTERCARD 2 allowed:a secret",
    "ZDIFF 2 allowed:a secret", "ZUNION 2 allowed:a secret", "ZINTER 2 allowed:a secret",
    "SINTERCARD 2 allowed:a secret", "XINFO STREAM secret", "XGROUP CREATE secret g $ MKSTREAM",
    "BITOP AND allowed:d allowed:a secret", "PFCOUNT allowed:a secret", "MSET allowed:a 1 secret 2",
    "RENAME allowed:a secret", "COPY allowed:a secret", "WATCH secret", "BLPOP allowed:l secret 0.01",
]  # fmt: skip
# With ~mine* and one more pattern on secret*: write-only (%W) or read-only (%R) access.
RW_CALLS = [
    "LPOP secret", "GETDEL secret", "SPOP secret", "SET secret v GET", "GETSET secret v",
    "ZUNIONSTORE mine 1 secret", "SUNIONSTORE mine secret", "COPY secret mine",
    "RENAME secret mine", "LMOVE secret mine LEFT LEFT", "SORT secret STORE mine", "INCR secret",
    "SET secret v", "LPUSH secret a", "DEL secret", "HSET secret a b", "EXPIRE secret 100",
    "ZPOPMIN secret", "HGETALL secret", "GET secret", "PFMERGE mine secret",
    "BITOP AND mine secret", "SMOVE secret mine a", "ZRANGESTORE mine secret 0 -1",
    "GEORADIUS secret 0 0 1 km STORE mine", "HINCRBY secret f 1", "RPOPLPUSH secret mine",
    "GETEX secret", "ZINCRBY secret 1 a", "SETNX secret v", "MSET secret v", "XADD secret * a b",
    "XTRIM secret MAXLEN 1", "UNLINK secret", "SETBIT secret 1 1", "RESTORE secret 0 x",
]  # fmt: skip


def _denied(port: int, rules: list[str], calls: list[str]) -> list[str]:
    admin = redis.Redis(port=port, protocol=2)
    admin.flushall()
    admin.execute_command("ACL", "SETUSER", "u", "reset", "on", ">pw", *rules, "+@all")
    denied = []
    for call in calls:
        r = redis.Redis(port=port, username="u", password="pw", protocol=2, socket_timeout=5)
        try:
            r.execute_command(*call.split())
        except redis.exceptions.NoPermissionError:
            denied.append(call)
        except redis.ResponseError:
            pass  # allowed, then failed for another reason
        r.close()
    admin.execute_command("ACL", "DELUSER", "u")
    admin.close()
    return denied


@pytest.mark.parametrize(
    "rules, calls",
    [(["~allowed*"], ACL_CALLS), (["~mine*", "%W~secret*"], RW_CALLS),
     (["~mine*", "%R~secret*"], RW_CALLS)],
    ids=["unusual-positions", "write-only", "read-only"],
)  # fmt: skip
def test_acl_key_patterns_guard_every_key_position_as_redis(ours, theirs, rules, calls):
    assert _denied(ours, rules, calls) == _denied(theirs, rules, calls)


# --- Lua --------------------------------------------------------------------------------------


def test_a_pattern_too_deep_for_the_c_stack_fails_its_script_not_the_server(ours):
    """Stock Lua 5.1 (Redis's too) recurses once per pattern item: 200000 'a?' items took
    the whole process down with SIGSEGV."""
    r = redis.Redis(port=ours, socket_timeout=30, retry_on_error=[])
    for fn in ("find", "match", "gmatch", "gsub"):
        extra = ", 'x'" if fn == "gsub" else ""
        deep = f"string.rep('a?', 200000){extra}"
        for script in (f"return string.{fn}(string.rep('a', 200000), {deep})",
                       f"return (string.rep('a', 200000)):{fn}({deep})"):  # fmt: skip
            with pytest.raises(redis.ResponseError, match="pattern too complex"):
                r.eval(script, 0)
    assert r.ping()
    # ordinary patterns, and plain finds of any length, still work
    assert r.eval("return {string.find('hello world', 'o w')}", 0) == [5, 7]
    assert r.eval("return (string.gsub('abc', '%w', '%0%0'))", 0) == b"aabbcc"
    assert r.eval("return string.find(string.rep('-', 5000), string.rep('-', 5000), 1, true)", 0)
    assert r.eval("return #string.match(string.rep('a', 50), string.rep('a?', 1500))", 0) == 50


def test_lua_numbers_beyond_int64_answer_int64_min_as_redis(ours, theirs):
    script = "return {2^63, 2^64, -2^63, -2^70, 1e300, 2^63 - 1024, 0/0, 1/0, 3.7, -3.7, 42}"
    mine, real = redis.Redis(port=ours), redis.Redis(port=theirs)
    assert mine.eval(script, 0) == real.eval(script, 0)
    for port in (ours, theirs):  # hiredis refused ":18446744073709551616" ("Bad integer value")
        res = subprocess.run(["redis-cli", "-p", str(port), "EVAL", "return 2^64", "0"],
                             capture_output=True, text=True, timeout=10)  # fmt: skip
        assert res.returncode == 0 and res.stdout == "-9223372036854775808\n"


# --- secrets in SLOWLOG -------------------------------------------------------------------------


def _slowlog_of_secrets(port: int) -> list[list[bytes]]:
    r = redis.Redis(port=port, protocol=2, single_connection_client=True)
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()
    r.execute_command("ACL", "SETUSER", "bob", "on", ">hunter2", "~*", "+@all")
    r.execute_command("CONFIG", "SET", "requirepass", "s3cret")
    r.execute_command("AUTH", "default", "s3cret")
    entries = r.execute_command("SLOWLOG", "GET", 10)
    r.execute_command("CONFIG", "SET", "requirepass", "")
    r.config_set("slowlog-log-slower-than", 10000)
    r.execute_command("ACL", "DELUSER", "bob")
    r.close()
    return [e[3] for e in entries if e[3][0].lower() in (b"acl", b"config")]


def test_slowlog_redacts_acl_setuser_and_config_set_requirepass_as_redis(ours, theirs):
    mine = _slowlog_of_secrets(ours)
    assert not any(b"hunter2" in a or b"s3cret" in a for e in mine for a in e), mine
    assert mine == _slowlog_of_secrets(theirs)


# --- ACL SETUSER words that would break the ACL file -------------------------------------------

BAD_SETUSERS = [
    ["a b", "on"],
    ["u2", "on", "~foo bar"],
    ["u3", "on", "&ch x"],
    ["u4", "on", "~foo\nuser evil on nopass ~* +@all"],
    ["u5", "on", "%R~a\tb"],
    ["u6\x00", "on"],
]


def _setuser_replies(port: int) -> list[str]:
    r = redis.Redis(port=port, protocol=2)
    out = []
    for words in BAD_SETUSERS:
        try:
            out.append(str(r.execute_command("ACL", "SETUSER", *words)))
        except redis.ResponseError as e:
            out.append(str(e))
    r.close()
    return out


def test_acl_setuser_refuses_spaces_so_acl_save_cannot_inject_a_user(tmp_path, theirs):
    aclfile = tmp_path / "users.acl"
    aclfile.write_text("user default on nopass ~* &* +@all\n")
    with python_module("servers.cache", "--aclfile", str(aclfile), port=0) as child:
        assert _setuser_replies(child.port) == _setuser_replies(theirs)  # type: ignore[arg-type]
        r = redis.Redis(port=child.port)
        assert r.execute_command("ACL", "SAVE") == b"OK"
        assert r.execute_command("ACL", "LOAD") == b"OK"
        assert r.execute_command("ACL", "USERS") == [b"default"]
        r.close()
    assert "evil" not in aclfile.read_text()


# --- what a restart keeps ------------------------------------------------------------------------

LIB = "#!lua name=lib1\nredis.register_function('f1', function() return 42 end)"


@pytest.mark.parametrize("how", ["aof", "rewrite", "snapshot"])
def test_consumer_groups_and_functions_survive_a_restart(tmp_path, how):
    """XGROUP and FUNCTION are containers: their writing subcommands were never logged
    (the AOF hook looked at the container's flags), nor were libraries in base files."""
    args = ["--dir", str(tmp_path)] + (["--appendonly", "yes"] if how != "snapshot" else [])
    with python_module("servers.cache", *args, port=0) as server:
        r = redis.Redis(port=server.port)
        r.xgroup_create("s", "g", id="$", mkstream=True)
        r.xadd("s", {"a": "b"}, id="1-1")
        r.xgroup_createconsumer("s", "g", "alice")
        r.function_load(LIB)
        r.eval("redis.call('xgroup', 'create', 's', 'g2', '0')", 0)
        if how == "rewrite":
            r.bgrewriteaof()
            while r.info("persistence")["aof_rewrite_in_progress"]:
                r.ping()
            r.xgroup_setid("s", "g", "1-1")
        elif how == "snapshot":
            r.save()
        r.close()
    with python_module("servers.cache", *args, port=0) as server:
        r = redis.Redis(port=server.port)
        groups = {g["name"]: g for g in r.xinfo_groups("s")}
        assert set(groups) == {b"g", b"g2"}
        assert groups[b"g"]["consumers"] == 1
        if how == "rewrite":
            assert groups[b"g"]["last-delivered-id"] == b"1-1"
        assert r.fcall("f1", 0) == 42
        r.close()


def test_sigkill_during_a_long_script_leaves_none_of_its_writes(tmp_path):
    """Past busy-reply-threshold the loop serves others (BUSY) and flushes the AOF: the
    script's first write reached the file alone, so a crash left half a script applied."""
    server = start(tmp_path)
    r = redis.Redis(port=server.port, socket_timeout=30)
    r.config_set("busy-reply-threshold", 100)
    script = """
redis.call('set', 'x', '1')
local t0 = tonumber(redis.call('time')[1])
while tonumber(redis.call('time')[1]) - t0 < 4 do end
redis.call('set', 'y', '1')
"""
    caller = subprocess.Popen(["redis-cli", "-p", str(server.port), "EVAL", script, "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    other = redis.Redis(port=server.port, socket_timeout=30, retry_on_error=[])
    # Until the script is past its threshold: others get BUSY. (Timed, not counted: a
    # hundred PINGs could all be answered before redis-cli had even started its EVAL.)
    deadline = time.monotonic() + 10
    while True:
        try:
            other.ping()
        except redis.exceptions.BusyLoadingError:
            break
        except redis.ResponseError as e:
            if "BUSY" in str(e):
                break
            raise
        if time.monotonic() > deadline:
            pytest.fail("the script never got past busy-reply-threshold")
        time.sleep(0.02)
    other.close()
    server.proc.kill()  # type: ignore[union-attr]
    server.proc.wait()  # type: ignore[union-attr]
    caller.wait(timeout=30)
    server.stop()
    server = start(tmp_path)
    r = redis.Redis(port=server.port)
    assert (r.get("x"), r.get("y")) == (None, None)
    # a script that ends after its threshold: all its writes are logged (acknowledged)
    r.config_set("busy-reply-threshold", 100)
    r.eval(script.replace("< 4", "< 1"), 0)
    server.proc.kill()  # type: ignore[union-attr]
    server.proc.wait()  # type: ignore[union-attr]
    server.stop()
    server = start(tmp_path)
    r = redis.Redis(port=server.port)
    assert (r.get("x"), r.get("y")) == (b"1", b"1")
    r.close()
    server.stop()


# --- MONITOR ---------------------------------------------------------------------------------------


def _monitor_lines(port: int) -> list[bytes]:
    r = redis.Redis(port=port, protocol=2)
    r.function_load(LIB.replace("lib1", "mon") .replace("f1", "mon_incr")
                    .replace("function() return 42 end",
                             "function(k) return redis.call('incr', k[1]) end"), replace=True)  # fmt: skip
    with r.monitor() as m:
        r.eval("redis.call('set', KEYS[1], 'v') return redis.call('get', KEYS[1])", 1, "k")
        r.fcall("mon_incr", 1, "cnt")
        r.execute_command("SELECT", 0)  # the last line: everything before it arrived
        lines = []
        for info in m.listen():
            if info["command"] == "SELECT 0":
                break
            if not info["command"].startswith("CLIENT SETINFO"):  # not in Redis 7.0: failed
                lines.append((info["db"], info["client_type"], info["command"]))
    r.close()
    return lines


def test_monitor_shows_the_commands_scripts_run_as_lua(ours, theirs):
    mine = _monitor_lines(ours)
    assert (0, "lua", "set k v") in mine and (0, "lua", "incr cnt") in mine
    assert mine == _monitor_lines(theirs)


SPARSE = ["{[1]=1,[3]=3}", "{[1]=1,[30]=3}", "{[1]=1,[11]=3,[2]=2,[3]=3,[4]=4,[5]=5}", "{}",
          "{[1.0]=1,[2]=2}", "{[0]=1}", "{1,2,nil,4}", "{a={[1]=1,[3]=3}}"]  # fmt: skip


@pytest.mark.parametrize("table", SPARSE)
def test_cjson_encodes_arrays_with_holes_as_lua_cjson(ours, theirs, table):
    """{[1]=1,[3]=3} is [1,null,3] for lua-cjson (it was {"1":1,"3":3}); an excessively
    sparse one is an error; cmsgpack keeps its own rule (a hole makes a map)."""
    script = (f"local ok, v = pcall(cjson.encode, {table}) "
              f"return {{tostring(ok), v, cmsgpack.pack({table})}}")  # fmt: skip
    assert redis.Redis(port=ours).eval(script, 0) == redis.Redis(port=theirs).eval(script, 0)


def _acl_log(port: int) -> list[tuple[int, bytes, bytes]]:
    r = redis.Redis(port=port, protocol=2)
    r.execute_command("ACL", "LOG", "RESET")
    r.execute_command("ACL", "SETUSER", "bob", "on", ">pw", "~b*", "+get", "+multi")
    for _ in range(3):
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, username="bob", password="bad", protocol=2,
                        retry=Retry(NoBackoff(), 0)).ping()  # fmt: skip
    bob = redis.Redis(port=port, username="bob", password="pw", protocol=2)
    for call in (("GET", "x"), ("SET", "b", "1"), ("GET", "x")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            bob.execute_command(*call)
    bob.close()
    entries = [dict(zip(e[::2], e[1::2], strict=True)) for e in r.execute_command("ACL", "LOG")]
    r.execute_command("ACL", "DELUSER", "bob")
    r.close()
    return [(e[b"count"], e[b"reason"], e[b"object"]) for e in entries
            if e[b"object"] != b"client|setinfo"]  # fmt: skip


def test_acl_log_puts_a_repeated_denial_first_as_redis(ours, theirs):
    assert _acl_log(ours) == _acl_log(theirs)


# --- ACL names, passwords and patterns that are not UTF-8 --------------------------------------

BINARY_SETUSERS = [
    ("ACL", "SETUSER", b"\xffu", "on", b">p\xfe", b"~k\xfd*", b"&c\xfc", "+@all"),
    ("ACL", "SETUSER", "x", b"+\xff"), ("ACL", "SETUSER", "x", b"%\xff~a"),
    ("ACL", "SETUSER", "x", b"\xff"), ("ACL", "USERS"), ("ACL", "LIST"),
    ("ACL", "GETUSER", b"\xffu"),
]  # fmt: skip


def _binary_acl(port: int) -> list[object]:
    r = redis.Redis(port=port, protocol=2)
    out: list[object] = []
    for call in BINARY_SETUSERS:
        try:
            out.append(r.execute_command(*call))
        except redis.ResponseError as e:
            out.append(str(e))
    u = redis.Redis(port=port, username=b"\xffu", password=b"p\xfe", protocol=2)
    out += [u.execute_command("ACL", "WHOAMI"), u.get(b"k\xfd1")]
    with pytest.raises(redis.exceptions.NoPermissionError):
        u.publish(b"c\xfd", "x")
    u.close()
    out.append(r.execute_command("ACL", "LOG", "1")[0][7:10])
    r.execute_command("ACL", "DELUSER", b"\xffu")
    r.execute_command("ACL", "LOG", "RESET")
    r.close()
    return out


def test_acl_names_and_patterns_are_bytes_as_in_redis(ours, theirs):
    """A byte that is not UTF-8 in ACL SETUSER crashed the session ('surrogates not
    allowed'); ACL LIST showed U+FFFD for it, so ACL SAVE wrote another pattern."""
    assert _binary_acl(ours) == _binary_acl(theirs)


def test_an_acl_file_that_is_not_utf8_loads_and_saves_byte_for_byte(tmp_path):
    aclfile = tmp_path / "users.acl"
    text = b"user default on nopass ~* &* +@all\nuser \xffu on >p\xfe ~k\xfd* &c\xfc +@all\n"
    aclfile.write_bytes(text)
    with python_module("servers.cache", "--aclfile", str(aclfile), port=0) as child:
        r = redis.Redis(port=child.port)
        assert r.execute_command("ACL", "USERS") == [b"default", b"\xffu"]
        u = redis.Redis(port=child.port, username=b"\xffu", password=b"p\xfe")
        assert u.execute_command("ACL", "WHOAMI") == b"\xffu"
        u.close()
        listed = r.execute_command("ACL", "LIST")
        assert r.execute_command("ACL", "SAVE") == b"OK"
        assert r.execute_command("ACL", "LOAD") == b"OK"
        assert r.execute_command("ACL", "LIST") == listed
        r.close()
    assert aclfile.read_bytes().splitlines() == listed


LOOPS_IN_COROUTINES = [
    "local co = coroutine.wrap(function() while true do end end) co()",
    "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
    "while true do pcall(coroutine.wrap(function() while true do end end)) end",
    "coroutine.wrap(function() while true do pcall(function() while true do end end) end end)()",
]


@pytest.mark.parametrize("script", LOOPS_IN_COROUTINES)
def test_script_kill_stops_a_loop_inside_a_coroutine(ours, script):
    """Stock 5.1 keeps a Lua hook function per thread: the kill hook never ran inside a
    coroutine, so the first script above held the server until SHUTDOWN NOSAVE."""
    r = redis.Redis(port=ours, socket_timeout=30)
    r.config_set("busy-reply-threshold", 100)
    errors: list[str] = []

    def run() -> None:
        c = redis.Redis(port=ours, socket_timeout=60)
        try:
            c.eval(script, 0)
        except redis.ResponseError as e:
            errors.append(str(e))

    t = threading.Thread(target=run)
    t.start()
    for _ in range(200):  # until it is past its threshold and SCRIPT KILL is accepted
        try:
            if r.script_kill():
                break
        except redis.ResponseError as e:
            assert "NOTBUSY" in str(e) or "No scripts" in str(e), e
        time.sleep(0.02)
    t.join(timeout=10)
    assert not t.is_alive() and errors and "Script killed by user" in errors[0]
    assert r.ping()
    r.config_set("busy-reply-threshold", 5000)


COROUTINE_SCRIPTS = [
    "local n = 0 for i = 1, 3 do local co = coroutine.create(function() coroutine.yield(i) end)"
    " n = n + select(2, coroutine.resume(co)) end return n",
    "local f = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)"
    " local x = f(1) local y = f(10) return {x, y}",
    "local f = coroutine.wrap(function() error('boom') end) local ok, e = pcall(f) return e",
    "local f = coroutine.wrap(function() end) f() local ok, e = pcall(f) return e",
    "for i = 1, 100000 do coroutine.resume(coroutine.create(function() end)) end return 1",
]


def test_coroutines_behave_as_in_redis(ours, theirs):
    for script in COROUTINE_SCRIPTS:
        assert redis.Redis(port=ours).eval(script, 0) == redis.Redis(port=theirs).eval(script, 0)
