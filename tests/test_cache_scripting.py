"""Lua scripting in servers.cache (EVAL, SCRIPT, FUNCTION, FCALL), driven by redis-py and
checked side by side with a real redis-server: the same script must give the same reply."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from harness.procs import Child, python_module
from harness.services import RedisServer

pytestmark = pytest.mark.exercise("N14")

LIB = """#!lua name=mylib
local function incr_by(keys, args)
  return redis.call('INCRBY', keys[1], args[1])
end
local function peek(keys, args)
  return redis.call('GET', keys[1])
end
redis.register_function('my_incr', incr_by)
redis.register_function{function_name='my_peek', callback=peek, flags={'no-writes'},
                        description='read a key'}
"""


@pytest.fixture(scope="module")
def ours() -> Iterator[int]:
    with python_module("servers.cache", port=0) as child:
        assert isinstance(child, Child)
        yield child.port  # type: ignore[misc]


@pytest.fixture(scope="module")
def theirs() -> Iterator[int]:
    with RedisServer() as r:
        yield r.port


@pytest.fixture(params=["ours", "redis"])
def r(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """A redis-py client (RESP3, redis-py 8's default) of our cache, then of a real
    redis-server: every test runs on both."""
    port = request.getfixturevalue("ours" if request.param == "ours" else "theirs")
    client = redis.Redis(port=port, socket_timeout=30)
    client.flushall()
    client.script_flush()
    client.function_flush()
    client.config_set("busy-reply-threshold", 5000)
    yield client
    client.close()


# Conversions, Lua -> RESP and RESP -> Lua, with the exact replies redis-py decodes.
CASES = [
    ("return 'hello'", [], [], b"hello"),
    ("return 100.5", [], [], 100),
    ("return -3.9", [], [], -3),
    ("return true", [], [], 1),
    ("return false", [], [], None),
    ("return nil", [], [], None),
    ("return {1, 2, 3, 'ciao', {1, 2}}", [], [], [1, 2, 3, b"ciao", [1, 2]]),
    ("return {1, 2, nil, 4}", [], [], [1, 2]),  # an array stops at the first nil
    ("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}", ["a", "b"], ["c", "d"],
     [b"a", b"b", b"c", b"d"]),
    ("return redis.call('set', KEYS[1], 'v')", ["k"], [], b"OK"),  # status -> {ok=} -> status
    ("redis.call('set', 'x', 'v'); return redis.call('get', 'x')", [], [], b"v"),
    ("return redis.call('get', 'missing') == false", [], [], 1),  # nil bulk -> false
    ("redis.call('rpush', 'l', 'a', 'b'); return redis.call('lrange', 'l', 0, -1)", [], [],
     [b"a", b"b"]),
    ("return redis.call('incrby', 'n', 41)", [], [], 41),
    ("return redis.pcall('incrby', 'n', 41.9).err", [], [],  # numbers pass as %.17g
     b"ERR value is not an integer or out of range"),
    ("return type(redis.call('incr', 'n2'))", [], [], b"number"),
    ("return redis.status_reply('FINE')", [], [], b"FINE"),
    ("return redis.sha1hex('Pizza & Mandolino')", [], [], b"74822d82031af7493c20eefa13bd07ec4fada82f"),
    ("return cjson.encode({1, 2, {a = 'x'}})", [], [], b'[1,2,{"a":"x"}]'),
    ("return cjson.decode('[1,2,{\"a\":[true,null]}]')[3].a[1]", [], [], 1),
    ("local t = cjson.decode('{\"n\":3.5}'); return tostring(t.n)", [], [], b"3.5"),
    ("return cmsgpack.unpack(cmsgpack.pack({1, 2, 'x'}))", [], [], [1, 2, b"x"]),
    ("return {cmsgpack.unpack(cmsgpack.pack(1, 'two', -3))}", [], [], [1, b"two", -3]),
    ("return bit.tohex(65535, -2147483648)", [], [], b"0000FFFF"),
    ("return {bit.band(12, 10), bit.bor(12, 10), bit.bxor(12, 10), bit.lshift(1, 4)}", [], [],
     [8, 14, 6, 16]),
    ("return redis.REDIS_VERSION ~= nil", [], [], 1),
    ("local ok = pcall(function() error('x') end); return ok == false", [], [], 1),
    ("local r = redis.pcall('incr', 'l2', 'extra'); return type(r)", [], [], b"table"),
]  # fmt: skip


@pytest.mark.parametrize("script,keys,args,expected", CASES)
def test_eval_conversions(r, script, keys, args, expected):
    assert r.eval(script, len(keys), *keys, *args) == expected


def test_errors_raised_by_call_and_returned_by_pcall(r):
    r.set("s", "text")
    with pytest.raises(redis.ResponseError, match="^value is not an integer"):
        r.eval("return redis.call('incr', KEYS[1])", 1, "s")
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        r.eval("return redis.pcall('lpush', KEYS[1], 'x')", 1, "s")
    assert r.eval("local e = redis.pcall('incr', KEYS[1]); return e.err", 1, "s") == (
        b"ERR value is not an integer or out of range"
    )
    with pytest.raises(redis.ResponseError, match="^MY_CODE custom"):
        r.eval("return redis.error_reply('MY_CODE custom')", 0)
    assert r.eval("return redis.error_reply('MY_CODE custom').err", 0) == b"MY_CODE custom"
    with pytest.raises(redis.ResponseError, match="^boom"):
        r.eval("return {err='ERR boom'}", 0)
    with pytest.raises(redis.ResponseError, match="Unknown Redis command called from script"):
        r.eval("return redis.call('nosuchcommand')", 0)
    with pytest.raises(redis.ResponseError, match="Wrong number of args calling Redis command"):
        r.eval("return redis.call('get')", 0)
    with pytest.raises(redis.ResponseError, match="must be strings or integers"):
        r.eval("return redis.call('ping', {})", 0)
    with pytest.raises(redis.ResponseError, match="Error compiling script"):
        r.eval("return (", 0)
    with pytest.raises(redis.ResponseError, match="Number of keys can't be greater"):
        r.eval("return 1", 3, "a")
    with pytest.raises(redis.ResponseError, match="not allowed from script"):
        r.eval("return redis.call('blpop', 'q', 0)", 0)
    with pytest.raises(redis.ResponseError, match="not allowed from script"):
        r.eval("return redis.call('multi')", 0)


def test_select_inside_a_script_does_not_move_the_caller(r):
    r.set("where", "db0")
    assert r.eval("redis.call('select', 9); redis.call('set', 'where', 'db9'); "
                  "return redis.call('get', 'where')", 0) == b"db9"  # fmt: skip
    assert r.get("where") == b"db0"
    assert (
        redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=9).get("where") == b"db9"
    )


def test_register_script_and_the_script_cache(r):
    incr_if_gt = r.register_script(
        "local v = tonumber(redis.call('get', KEYS[1]) or '0') "
        "if v > tonumber(ARGV[1]) then return redis.call('decr', KEYS[1]) end return v"
    )
    r.set("c", 10)
    assert incr_if_gt(keys=["c"], args=[5]) == 9  # first call: NOSCRIPT, then EVAL
    assert r.script_exists(incr_if_gt.sha) == [True]
    assert incr_if_gt(keys=["c"], args=[20]) == 9
    sha = r.script_load("return 'loaded'")
    assert sha == hashlib.sha1(b"return 'loaded'").hexdigest()
    assert r.evalsha(sha, 0) == b"loaded"
    assert r.evalsha(sha.upper(), 0) == b"loaded"
    assert r.script_exists(sha, "0" * 40) == [True, False]
    r.script_flush()
    assert r.script_exists(sha) == [False]
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha(sha, 0)
    assert incr_if_gt(keys=["c"], args=[5]) == 8  # reloaded after the flush


def test_read_only_scripts(r):
    r.set("k", "v")
    assert r.eval_ro("return redis.call('get', KEYS[1])", 1, "k") == b"v"
    with pytest.raises(redis.ResponseError, match="Write commands are not allowed from read-only"):
        r.eval_ro("return redis.call('set', KEYS[1], 'x')", 1, "k")
    sha = r.script_load("return redis.call('get', KEYS[1])")
    assert r.evalsha_ro(sha, 1, "k") == b"v"
    no_writes = "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'x')"
    with pytest.raises(redis.ResponseError, match="Write commands are not allowed from read-only"):
        r.eval(no_writes, 1, "k")
    with pytest.raises(redis.ResponseError, match="Can not execute a script with write flag"):
        r.eval_ro("#!lua\nreturn 1", 0)
    with pytest.raises(redis.ResponseError, match="Unexpected flag in script shebang: bogus"):
        r.eval("#!lua flags=bogus\nreturn 1", 0)
    assert r.get("k") == b"v"


def test_functions(r):
    assert r.function_load(LIB) == b"mylib"
    assert r.fcall("my_incr", 1, "counter", 5) == 5
    assert r.fcall("my_incr", 1, "counter", 2) == 7
    assert r.fcall_ro("my_peek", 1, "counter") == b"7"
    with pytest.raises(redis.ResponseError, match="Can not execute a script with write flag"):
        r.fcall_ro("my_incr", 1, "counter", 1)
    with pytest.raises(redis.ResponseError, match="Library 'mylib' already exists"):
        r.function_load(LIB)
    assert r.function_load(LIB.replace("'my_incr'", "'my_incr2'"), replace=True) == b"mylib"
    with pytest.raises(redis.ResponseError, match="Function not found"):
        r.fcall("my_incr", 1, "counter", 1)
    listing = r.function_list(library="my*", withcode=True)
    assert len(listing) == 1
    lib = dict(zip(listing[0][::2], listing[0][1::2], strict=True))
    assert lib[b"library_name"] == b"mylib" and lib[b"engine"] == b"LUA"
    assert lib[b"library_code"].startswith(b"#!lua name=mylib")
    funcs = {}
    for f in lib[b"functions"]:
        d = dict(zip(f[::2], f[1::2], strict=True))
        funcs[d[b"name"]] = d
    assert set(funcs) == {b"my_incr2", b"my_peek"}
    assert funcs[b"my_peek"][b"flags"] == [b"no-writes"]
    assert funcs[b"my_peek"][b"description"] == b"read a key"
    assert funcs[b"my_incr2"][b"description"] is None
    with pytest.raises(redis.ResponseError, match="Missing library metadata"):
        r.function_load("redis.register_function('x', function() end)")
    with pytest.raises(redis.ResponseError, match="No functions registered"):
        r.function_load("#!lua name=empty\nlocal x = 1")
    with pytest.raises(redis.ResponseError, match="Function my_peek already exists"):
        r.function_load("#!lua name=other\nredis.register_function('my_peek', function() end)")
    with pytest.raises(redis.ResponseError, match="Error registering functions"):
        r.function_load("#!lua name=bad\nredis.call('ping')\n"
                        "redis.register_function('f', function() end)")  # fmt: skip
    assert r.function_delete("mylib") in (b"OK", "OK", True)
    with pytest.raises(redis.ResponseError, match="Library not found"):
        r.function_delete("mylib")
    assert r.function_list() == []


def test_the_sandbox_keeps_scripts_away_from_the_os(r):
    for name in ("os", "io", "loadfile", "dofile", "require", "print", "package", "python"):
        with pytest.raises(redis.ResponseError, match="nonexistent global variable"):
            r.eval(f"return {name}", 0)
    with pytest.raises(redis.ResponseError, match="Attempt to modify a readonly table"):
        r.eval("x = 1", 0)
    with pytest.raises(redis.ResponseError, match="Attempt to modify a readonly table"):
        r.eval("redis.call = function() return 1 end", 0)
    with pytest.raises(redis.ResponseError, match="Attempt to modify a readonly table"):
        r.eval("cjson.encode = nil", 0)
    with pytest.raises(redis.ResponseError, match="Attempt to modify a readonly table"):
        r.eval("setmetatable(_G, {})", 0)
    with pytest.raises(redis.ResponseError, match="attempt to call a nil value"):
        r.eval("return loadstring(string.dump(function() return 1 end))()", 0)
    # a local function and a table of its own are fine
    assert (
        r.eval("local function f(x) return x * 2 end local t = {} t.a = f(21) return t.a", 0) == 42
    )


def test_resp3_conversions(r):
    port = r.connection_pool.connection_kwargs["port"]
    r3 = redis.Redis(port=port, protocol=3)
    r3.hset("h", "field", "value")
    assert r3.eval("redis.setresp(3); return redis.call('hgetall', KEYS[1])", 1, "h") == {
        b"field": b"value"
    }
    assert r3.eval("redis.setresp(2); return redis.call('hgetall', KEYS[1])", 1, "h") == [
        b"field",
        b"value",
    ]
    r2 = redis.Redis(port=port, protocol=2)
    assert r2.eval("redis.setresp(3); return redis.call('hgetall', KEYS[1])", 1, "h") == [
        b"field",
        b"value",
    ]
    r2.close()
    assert r3.eval("return {double=3.5}", 0) == 3.5
    assert r3.eval("redis.setresp(3); return redis.call('get', 'nothing') == nil", 0) == 1
    r3.close()


def test_scripts_are_atomic(r):
    """Read-modify-write inside a script loses no update under concurrent callers."""
    port = r.connection_pool.connection_kwargs["port"]
    script = ("local v = tonumber(redis.call('get', KEYS[1]) or '0') "
              "for i = 1, 200 do local _ = i * i end "
              "redis.call('set', KEYS[1], v + 1) return v + 1")  # fmt: skip

    def worker() -> None:
        c = redis.Redis(port=port)
        s = c.register_script(script)
        for _ in range(100):
            s(keys=["counter"])
        c.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert r.get("counter") == b"400"


def _busy_run(port: int, script: str, out: dict[str, object]) -> threading.Thread:
    def run() -> None:
        c = redis.Redis(port=port, socket_timeout=30)
        try:
            out["reply"] = c.eval(script, 0)
        except redis.ResponseError as e:
            out["error"] = str(e)
        c.close()

    t = threading.Thread(target=run)
    t.start()
    return t


def _wait_busy(r: redis.Redis) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            r.ping()
        except redis.ResponseError as e:
            return str(e)
        time.sleep(0.02)
    raise AssertionError("the script never made the server busy")


def test_script_kill_stops_a_looping_script_while_others_see_busy(r):
    port = r.connection_pool.connection_kwargs["port"]
    r.config_set("busy-reply-threshold", 100)
    out: dict[str, object] = {}
    t = _busy_run(port, "local i = 0 while true do i = i + 1 end", out)
    assert _wait_busy(r).startswith("BUSY Redis is busy running a script")
    with pytest.raises(redis.ResponseError, match="BUSY"):
        r.get("anything")
    with pytest.raises(redis.ResponseError, match="BUSY"):
        r.function_kill()  # an EVAL is killed with SCRIPT KILL
    assert r.script_kill() is True
    t.join(10)
    assert not t.is_alive()
    assert "Script killed by user with SCRIPT KILL" in str(out.get("error"))
    assert r.ping() is True
    with pytest.raises(redis.ResponseError, match="NOTBUSY"):
        r.script_kill()


def test_script_kill_gets_through_pcall(r):
    port = r.connection_pool.connection_kwargs["port"]
    r.config_set("busy-reply-threshold", 100)
    out: dict[str, object] = {}
    loop = "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end"
    t = _busy_run(port, loop, out)
    _wait_busy(r)
    assert r.script_kill() is True
    t.join(10)
    assert "killed by user" in str(out.get("error"))
    assert r.ping() is True


def test_a_script_that_wrote_is_unkillable(r):
    port = r.connection_pool.connection_kwargs["port"]
    r.config_set("busy-reply-threshold", 100)
    out: dict[str, object] = {}
    script = ("redis.call('set', 'written', '1') "
              "local t0 = tonumber(redis.call('time')[1]) "
              "while tonumber(redis.call('time')[1]) - t0 < 2 do end return 'done'")  # fmt: skip
    t = _busy_run(port, script, out)
    _wait_busy(r)
    with pytest.raises(redis.ResponseError, match="^UNKILLABLE"):
        r.script_kill()
    t.join(20)
    assert out.get("reply") == b"done"
    assert r.get("written") == b"1"


def test_function_kill(r):
    port = r.connection_pool.connection_kwargs["port"]
    r.config_set("busy-reply-threshold", 100)
    r.function_load("#!lua name=spin\nredis.register_function('spin', function() "
                    "while true do end end)")  # fmt: skip
    out: dict[str, object] = {}

    def run() -> None:
        c = redis.Redis(port=port, socket_timeout=30)
        try:
            c.fcall("spin", 0)
        except redis.ResponseError as e:
            out["error"] = str(e)

    t = threading.Thread(target=run)
    t.start()
    assert "FUNCTION KILL" in _wait_busy(r)
    with pytest.raises(redis.ResponseError, match="BUSY"):
        r.script_kill()
    assert r.function_kill() in (b"OK", "OK", True)
    t.join(10)
    assert "killed by user" in str(out.get("error"))
    assert r.ping() is True


def test_function_dump_and_restore(r):
    r.function_load(LIB)
    payload = r.function_dump()
    r.function_flush()
    assert r.function_list() == []
    assert r.function_restore(payload) in (b"OK", "OK", True)
    assert r.fcall("my_incr", 1, "n", 3) == 3
    with pytest.raises(redis.ResponseError, match="already exists"):
        r.function_restore(payload)  # APPEND, the default, refuses a library that exists
    assert r.function_restore(payload, "REPLACE") in (b"OK", "OK", True)
    r.function_load("#!lua name=other\nredis.register_function('other_f', function() return 1 end)")
    assert r.function_restore(payload, "FLUSH") in (b"OK", "OK", True)
    assert [lib[1] for lib in r.function_list()] == [b"mylib"]  # 'other' went with the flush
    with pytest.raises(redis.ResponseError, match="payload version or checksum are wrong"):
        r.function_restore(payload[:-1] + bytes([payload[-1] ^ 1]))
    assert r.fcall("my_incr", 1, "n", 1) == 4  # a bad payload changed nothing


def test_library_code_sees_only_the_load_time_api(r):
    with pytest.raises(redis.ResponseError, match="nonexistent global variable 'math'"):
        r.function_load("#!lua name=m\nlocal x = math.random()\n"
                        "redis.register_function('m', function() return 1 end)")  # fmt: skip
    with pytest.raises(redis.ResponseError, match="FUNCTION LOAD timeout"):
        r.function_load("#!lua name=spin\nwhile true do end")
    r.function_load("#!lua name=ok\nredis.register_function('ok_f', function() "
                    "return math.floor(2.5) end)")  # fmt: skip
    assert r.fcall("ok_f", 0) == 2  # at run time the full globals are back


def test_blocking_commands_inside_scripts(r):
    """Redis 7.0 refuses BLPOP & co in scripts; XREAD BLOCK is refused through the
    ``in_script`` flag the stream commands read; XREAD without BLOCK answers at once."""
    r.xgroup_create("s", "g", id="$", mkstream=True)
    assert r.eval("return redis.pcall('xread', 'STREAMS', KEYS[1], '$')", 1, "s") is None
    with pytest.raises(redis.ResponseError, match="not allowed with BLOCK option from scripts"):
        r.eval("return redis.pcall('xread', 'BLOCK', 0, 'STREAMS', KEYS[1], '$')", 1, "s")
    with pytest.raises(redis.ResponseError, match="not allowed with BLOCK option from scripts"):
        r.eval("return redis.pcall('xreadgroup', 'GROUP', 'g', 'c', 'BLOCK', 0, "
               "'STREAMS', KEYS[1], '>')", 1, "s")  # fmt: skip
    with pytest.raises(redis.ResponseError, match="not allowed from script"):
        r.eval("return redis.call('brpop', 'q', 0)", 0)


# Scripts that allocate without bound, each in a bounded number of steps (n counts them),
# with the range n must stop in: 256 MiB is reached before the last step.
BOMBS = [
    ("for i = 1, 64 do s = s .. s n = i end", 20, 28),  # 2^28 bytes: all 256 MiB
    ("s = string.rep('x', 2^20) for i = 1, 1e6 do t[i] = s .. i n = i end", 128, 256),
    ("for i = 1, 1e8 do t[i] = i n = i end", 2**20, 2**24),  # 2^24 slots of 16 bytes
]


def test_a_memory_bomb_fails_its_script_not_the_server():
    """A script that allocates without bound hits the Lua state's memory limit (256 MiB):
    it answers "not enough memory", and its garbage does not fail the next script.

    Deterministic under load: each bomb reaches the limit in a bounded number of steps
    (a string doubled, 1 MiB strings, a table's array doubled), pcall'd twins report the
    step at which allocation failed, and busy-reply-threshold 0 means no wall-clock limit
    can turn a slow run into a BUSY one (string.rep('x', 2^30), which this test used,
    copies byte by byte for seconds and crossed the 5 s threshold on a loaded machine)."""
    from cache_support import Harness

    h = Harness()
    assert h.cmd("CONFIG", "SET", "busy-reply-threshold", "0") == b"+OK\r\n"
    for bomb, fewest, limit in BOMBS:
        r = h.cmd("EVAL", f"local s, t, n = 'x', {{}}, 0 {bomb} return n", "0")
        assert r.startswith(b"-ERR Error running script") and r.endswith(b"not enough memory\r\n")
        counted = f"""local s, t, n = 'x', {{}}, 0
        local ok = pcall(function() {bomb} end)
        s, t = nil, nil return {{tostring(ok), n}}"""
        ok, n = _two(h.cmd("EVAL", counted, "0"))
        assert ok == b"false" and fewest <= n < limit, (bomb, n)
    assert h.cmd("EVAL", "return #string.rep('x', 1e6)", "0") == b":1000000\r\n"


def _two(reply: bytes) -> tuple[bytes, int]:
    """(the string, the integer) of a RESP2 reply *2 $... :..."""
    lines = reply.split(b"\r\n")
    assert lines[0] == b"*2" and lines[3][:1] == b":", reply
    return lines[2], int(lines[3][1:])


# Errors whose reply must be byte for byte Redis 7.0's: the "script: <sha>, on
# @user_script:N." suffix is the line of the frame that called the failing function.
# redis.call and the redis.* helpers are C functions in Redis, so a tail call to one
# keeps its caller's frame (a Lua wrapper here lost it: no suffix at all), and an
# error table's err is taken with lua_tostring (a number is a message).
ERROR_SCRIPTS = [
    "return redis.call('nosuch')",
    "local function f() return redis.call('nosuch') end local x = f() return x",
    "local function f() return redis.call('nosuch') end return f()",
    "redis.call('set', 'k', 'a')\nlocal function f() return redis.call('incr', 'k') end\nreturn f()",
    "\n\nreturn redis.call()",
    "return redis.call('set', {})",
    "return redis.sha1hex()",
    "local function f() return redis.sha1hex() end return f()",
    "return redis.log()",
    "return redis.setresp(9)",
    "return coroutine.wrap(function() return redis.call('nosuch') end)()",
    "return coroutine.wrap(function() error('x') end)()",
    "local function g() error('boom') end local function f() return g() end return f()",
    "error({err=12})",
    "\nreturn error({err=12.5})",
    "local ok, e = pcall(error, {err=12}) return {type(e), e}",
    "local ok, e = pcall(redis.call, 'nosuch') return {type(e), e}",
    "return {xpcall(function() return redis.call('nosuch') end, function(e) return e.err end)}",
    "local co = coroutine.create(function() redis.call('nosuch') end)\n"
    "local ok, e = coroutine.resume(co) return {tostring(ok), e.err}",
    # the API tail-called through a local or a field of a table built in the same function
    # (untail follows MOVE and SETTABLE): the suffix was lost
    "local f = redis.call return f('nosuch')",
    "local f = redis.call; local g = f\nreturn g('set')",
    "local t = {c = redis.call} return t.c('nosuch')",
    "local t = {} t.c = redis.call\nreturn t['c']('nosuch')",
    "local f = redis.pcall return f('nosuch')",
    "local t = {p = redis.pcall} return t.p('nosuch')",
    "local c = cjson.encode return c(function() end)",
    # ... and through an upvalue that held it where the closure was made (nested too)
    "local f = redis.call local function g() return f('nosuch') end return g()",
    "local f = redis.call\nlocal function g() local function h() return f('x') end return h() end\n"
    "return g()",
    "local f = redis.call local g = function(...) return f(...) end return g('nosuch')",
    "local f = redis.call local function g() f = function() return 1 end return f('x') end return g()",
]


@pytest.fixture(scope="module")
def raw_pair(ours: int, theirs: int) -> Iterator[tuple[object, object]]:
    from cache_support import Raw

    a, b = Raw(ours, 2), Raw(theirs, 2)
    yield a, b
    a.close()
    b.close()


@pytest.mark.parametrize("script", ERROR_SCRIPTS)
def test_script_errors_match_redis_byte_for_byte(raw_pair, script):
    a, b = raw_pair
    mine, theirs = a.call("EVAL", script, 0), b.call("EVAL", script, 0)
    assert mine == theirs


def test_an_error_table_without_a_message_answers_unknown_error(ours):
    """error({err=true}) crashes redis-server 7.0 (a NULL message); here it is an error reply."""
    from cache_support import Raw

    c = Raw(ours, 2)
    for script in ("error({err=true})", "error({err={}})", "error({})"):
        sha = hashlib.sha1(script.encode()).hexdigest()
        assert c.call("EVAL", script, 0) == (
            b"-ERR unknown error script: %s, on @user_script:1.\r\n" % sha.encode()
        )
    assert c.call("PING") == b"+PONG\r\n"
    c.close()


def test_7999_arguments_reach_redis_call_as_in_redis(r):
    """unpack's most (Redis's own test): redis.call stays a Lua function for it."""
    script = (
        "local a = {} for i = 1, 7999 do a[i] = 1 end return redis.call('lpush', 'l', unpack(a))"
    )
    assert r.eval(script, 0) == 7999


def test_untail_makes_only_api_tail_calls_plain():
    """luabytecode.untail: ``return redis.call(...)`` becomes a plain call (same results);
    a tail-recursive local function keeps its tail calls (a million deep still runs)."""
    import lupa.lua51 as lua51

    from servers.cache.luabytecode import untail

    rt = lua51.LuaRuntime(encoding=None, register_eval=False)
    load, dump = rt.eval("loadstring"), rt.eval("string.dump")
    code = b"""redis = {call = function(...) return select('#', ...), debug.getinfo(2, 'l') end}
    local function via(...) return redis.call(...) end
    local t = {call = function(n) return n end}  -- a user's own table: stays a tail call
    local function own(n) return t.call(n) end
    local function loop(n) if n == 0 then return 'done' end return loop(n - 1) end
    local n, caller = via(1, nil, 3)
    return n, caller and caller.currentline or -1, loop(1000000)"""
    chunk = dump(load(code, b"@user_script"))
    patched = untail(chunk)
    assert sum(a != b for a, b in zip(chunk, patched, strict=True)) == 1  # one opcode
    assert load(code, b"@user_script")() == (3, -1, b"done")  # the tail call lost line 2
    assert load(patched, b"@user_script")() == (3, 2, b"done")  # kept: via's line


def test_a_library_error_in_a_tail_call_keeps_its_position(ours):
    """``return cjson.decode(bad)``: Redis's prefix and suffix, the caller's line (the
    message after the prefix is our JSON decoder's, not Redis's C one)."""
    from cache_support import Raw

    c = Raw(ours, 2)
    script = "\nreturn cjson.decode('{')"
    sha = hashlib.sha1(script.encode()).hexdigest().encode()
    got = c.call("EVAL", script, 0)
    assert got.startswith(b"-ERR user_script:2: ")
    assert got.endswith(b" script: %s, on @user_script:2.\r\n" % sha)
    c.close()


TAIL_SCRIPTS = [
    # a user's table with a field named call: its tail calls stay tail calls (Redis runs it)
    "local t = {} function t.call(n) if n == 0 then return 'done' end return t.call(n - 1) end\n"
    "return t.call(100000)",
    # past 256 constants the key 'call' is loaded into a register: still redis.call's position
    "local t = {" + ",".join(f"'s{i}'" for i in range(300)) + "}\nreturn redis.call('nosuch')",
    "local t = {" + ",".join(f"k{i}=1" for i in range(300)) + "}\n\nreturn redis.call('nosuch')",
]


@pytest.mark.parametrize("script", TAIL_SCRIPTS)
def test_tail_calls_match_redis_byte_for_byte(raw_pair, script):
    a, b = raw_pair
    assert a.call("EVAL", script, 0) == b.call("EVAL", script, 0)


HELPER_SCRIPTS = [
    "return redis.set_repl(redis.REPL_ALL)",  # one argument, as Redis scripts call it
    "return redis.set_repl(redis.REPL_NONE)",
    "return redis.set_repl('3')",
    "return redis.set_repl(2.5)",
    "return redis.set_repl(4)",
    "return redis.set_repl(1, 2)",
    "return redis.set_repl()",
    "return redis.acl_check_cmd()",
    "return redis.acl_check_cmd('get')",  # Redis 7.0 checks no arity here
    "return redis.acl_check_cmd('get', {})",
    "return redis.acl_check_cmd('nosuch', 'a')",
]


@pytest.mark.parametrize("script", HELPER_SCRIPTS)
def test_set_repl_and_acl_check_cmd_match_redis_byte_for_byte(raw_pair, script):
    a, b = raw_pair
    assert a.call("EVAL", script, 0) == b.call("EVAL", script, 0)
