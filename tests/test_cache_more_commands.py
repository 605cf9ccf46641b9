"""The list/set/hash/key commands N14 II adds to servers.cache, each reply compared with a real
redis-server's (redis-py on both): LMOVE/RPOPLPUSH/LMPOP/LPOS, the blocking BLMOVE/BRPOPLPUSH/BLMPOP
(woken by the write that serves them, in blocking order), SMOVE and the set STORE forms,
SINTERCARD, HRANDFIELD, LCS, COPY/MOVE/SWAPDB/TOUCH, OBJECT, SORT/SORT_RO, COMMAND GETKEYS."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redis_diff import reply, same, script

from harness.procs import Child, python_module

pytestmark = pytest.mark.exercise("N14")


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


def test_list_moves_and_lpos(ours, real):
    script(ours, real, """
        RPUSH src a b c d
        LMOVE src dst LEFT RIGHT
        LMOVE src dst RIGHT LEFT
        LRANGE src 0 -1
        LRANGE dst 0 -1
        LMOVE src src RIGHT LEFT
        LRANGE src 0 -1
        LMOVE missing dst LEFT LEFT
        LMOVE src dst UP LEFT
        SET str x
        LMOVE src str LEFT LEFT
        LRANGE src 0 -1
        LMOVE str dst LEFT LEFT
        RPOPLPUSH src dst
        RPOPLPUSH src dst
        EXISTS src
        RPUSH l1 1 2 3 4 5
        LMPOP 2 none l1 LEFT COUNT 2
        LMPOP 2 none l1 RIGHT
        LMPOP 1 none LEFT
        LMPOP 0 l1 LEFT
        LMPOP 3 l1 LEFT
        LMPOP 1 l1 LEFT COUNT 0
        LMPOP 1 l1 LEFT COUNT 1 COUNT 1
        LMPOP 1 str LEFT
        RPUSH p a b c a b c a
        LPOS p a
        LPOS p a RANK 2
        LPOS p a RANK -1
        LPOS p a RANK -2 COUNT 0
        LPOS p a COUNT 0
        LPOS p a COUNT 2 MAXLEN 3
        LPOS p z
        LPOS p z COUNT 0
        LPOS p a RANK 0
        LPOS p a COUNT -1
        LPOS p a MAXLEN -1
        LPOS p a BOGUS 1
        LPOS missing a
        LPOS missing a COUNT 1
    """)  # fmt: skip


def test_blocking_moves_served_in_blocking_order(ours, port):
    """Three clients block on one empty list; three pushes serve them first-come first-served."""
    results: dict[str, object] = {}

    def blocked(name: str, *cmd: object) -> None:
        results[name] = redis.Redis(port=port, db=9).execute_command(*cmd)

    threads = []
    for name, cmd in (("first", ("BLMOVE", "q", "out1", "LEFT", "RIGHT", 5)),
                      ("second", ("BRPOPLPUSH", "q", "out2", 5)),
                      ("third", ("BLMPOP", 5, 1, "q", "LEFT", "COUNT", 2))):  # fmt: skip
        t = threading.Thread(target=blocked, args=(name, *cmd))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5
        while ours.info("clients")["blocked_clients"] < len(threads):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    ours.rpush("q", "x1")
    ours.rpush("q", "x2")
    ours.rpush("q", "x3", "x4")
    for t in threads:
        t.join(5)
    assert results == {"first": b"x1", "second": b"x2", "third": [b"q", [b"x3", b"x4"]]}
    assert ours.lrange("out1", 0, -1) == [b"x1"] and ours.lrange("out2", 0, -1) == [b"x2"]


def test_blmove_chain_wakes_a_client_blocked_on_the_destination(ours, port):
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(
        redis.Redis(port=port, db=9).blpop(["dest"], 5)))  # fmt: skip
    t.start()
    while ours.info("clients")["blocked_clients"] < 1:
        time.sleep(0.01)
    t2 = threading.Thread(target=lambda: got.append(
        redis.Redis(port=port, db=9).blmove("src", "dest", 5, "RIGHT", "LEFT")))  # fmt: skip
    t2.start()
    while ours.info("clients")["blocked_clients"] < 2:
        time.sleep(0.01)
    ours.rpush("src", "v")
    t.join(5)
    t2.join(5)
    assert sorted(map(repr, got)) == sorted(map(repr, [b"v", (b"dest", b"v")]))
    assert ours.exists("src", "dest") == 0


def test_blocking_timeouts_and_multi(ours, real):
    for r in (ours, real):
        assert r.blmove("none", "d", 0.05, "LEFT", "LEFT") is None
        assert r.execute_command("BLMPOP", 0.05, 1, "none", "LEFT") is None
    for cmd in (("BLMOVE", "none", "d", "LEFT", "LEFT", 0), ("BRPOPLPUSH", "none", "d", 0),
                ("BLMPOP", 0, 1, "none", "LEFT")):  # fmt: skip
        mine, theirs = ours.pipeline(), real.pipeline()  # MULTI: never blocks
        assert mine.execute_command(*cmd).execute() == theirs.execute_command(*cmd).execute()
    same(ours, real, "BLMOVE", "k", "d", "LEFT", "LEFT", -1)
    same(ours, real, "BLMPOP", "x", 1, "k", "LEFT")


def test_set_moves_and_stores(ours, real):
    script(ours, real, """
        SADD a 1 2 3 x
        SADD b 2 3 4
        SADD c 3 4 5
        SMOVE a b x
        SMOVE a b x
        SMOVE a a 1
        SMOVE a b 2
        ~SMEMBERS a
        SINTERSTORE d a b c
        ~SMEMBERS d
        SUNIONSTORE d a b c
        SCARD d
        SDIFFSTORE d b c
        ~SMEMBERS d
        SDIFFSTORE d none b
        EXISTS d
        SET str x
        SINTERSTORE d a str
        SUNIONSTORE str a b
        TYPE str
        SINTERCARD 2 b c
        SINTERCARD 3 a b c LIMIT 1
        SINTERCARD 2 b c LIMIT 0
        SINTERCARD 0 b
        SINTERCARD 3 b c
        SINTERCARD 2 b c LIMIT -1
        SINTERCARD 2 b c LIMIT
        SINTERCARD 1 none
        SMISMEMBER b 2 9 3
        OBJECT ENCODING b
        SADD b notanint
        OBJECT ENCODING b
        SREM b notanint
        OBJECT ENCODING b
    """)  # fmt: skip


def test_hrandfield_and_hstrlen(ours, real):
    script(ours, real, """
        HSET h f1 v1 f2 value2
        HSTRLEN h f2
        HSTRLEN h none
        HRANDFIELD none
        HRANDFIELD none 3
        HRANDFIELD h 0
        HRANDFIELD h 1 WITHVALUES BOGUS
        HRANDFIELD h 1 NOTWITHVALUES
        OBJECT ENCODING h
    """)  # fmt: skip
    for r in (ours, real):
        assert sorted(r.hrandfield("h", 5)) == [b"f1", b"f2"]
        assert len(r.hrandfield("h", -5)) == 5
        pairs = r.hrandfield("h", 2, withvalues=True)
        assert dict(zip(pairs[::2], pairs[1::2], strict=True)) == {b"f1": b"v1", b"f2": b"value2"}
        assert r.hrandfield("h") in (b"f1", b"f2")


def test_lcs(ours, real):
    script(ours, real, """
        SET a ohmytext
        SET b mynewtext
        LCS a b
        LCS a b LEN
        LCS a b IDX
        LCS a b IDX MINMATCHLEN 4
        LCS a b IDX WITHMATCHLEN
        LCS a b IDX MINMATCHLEN 2 WITHMATCHLEN
        LCS a b LEN IDX
        LCS a none
        LCS a b BOGUS
        RPUSH l x
        LCS a l
    """)  # fmt: skip
    same(ours, real, "SET", "x", "rhyme-and-reason-and-rhythm" * 3)
    same(ours, real, "SET", "y", "the-rhythm-and-the-reason" * 3)
    same(ours, real, "LCS", "x", "y", "IDX", "WITHMATCHLEN")


def test_copy_move_swapdb_touch(ours, real):
    script(ours, real, """
        SET s v
        PEXPIRE s 100000
        RPUSH l a b
        COPY s s2
        TTL s2
        COPY s s2
        COPY s s2 REPLACE
        COPY s s
        COPY l l2 DB 3
        COPY l l2 DB 99
        COPY l l2 BOGUS
        MOVE l 3
        MOVE l 3
        MOVE s 9
        MOVE none 3
        MOVE s 99
        TOUCH s s2 none
        SELECT 3
        LRANGE l2 0 -1
        RPUSH l2 c
        SELECT 9
        SWAPDB 9 3
        LRANGE l2 0 -1
        EXISTS s
        SWAPDB 9 3
        SWAPDB 9 x
        SWAPDB 9 99
        OBJECT ENCODING s
        OBJECT ENCODING l
        SET n 12345
        OBJECT ENCODING n
        APPEND n 6
        OBJECT ENCODING n
        SET big xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
        OBJECT ENCODING big
        OBJECT REFCOUNT n
        SET small 100
        OBJECT REFCOUNT small
        OBJECT ENCODING none
    """)  # fmt: skip
    ours.rpush("l2", "x")
    ours.lpush("l", "y")
    c = ours.copy("l", "lcopy")
    assert c and ours.lrange("lcopy", 0, -1) == ours.lrange("l", 0, -1)
    ours.rpush("lcopy", "only-in-copy")
    assert b"only-in-copy" not in ours.lrange("l", 0, -1)  # a copy, not a shared list


def test_swapdb_wakes_a_client_blocked_in_the_other_db(ours, port):
    got: list[object] = []
    blocker = redis.Redis(port=port, db=5)
    blocker.delete("k")
    t = threading.Thread(target=lambda: got.append(blocker.blpop(["k"], 5)))
    t.start()
    while ours.info("clients")["blocked_clients"] < 1:
        time.sleep(0.01)
    ours.rpush("k", "from-db9")
    ours.swapdb(9, 5)
    t.join(5)
    assert got == [(b"k", b"from-db9")]


def test_sort(ours, real):
    script(ours, real, """
        RPUSH l 3 1 2 10
        SORT l
        SORT l DESC
        SORT l ALPHA
        SORT l LIMIT 1 2
        SORT l LIMIT -5 2
        SORT l LIMIT 2 -1
        SORT l LIMIT 10 1
        MSET w_1 30 w_2 20 w_3 10 w_10 5
        SORT l BY w_*
        SORT l BY w_* GET # GET w_*
        SORT l BY nosort
        SORT l BY nosort GET w_* GET missing_*
        HSET o_1 age 9 name one
        HSET o_2 age 3 name two
        HSET o_3 age 5 name three
        HSET o_10 age 7 name ten
        SORT l BY o_*->age GET o_*->name
        SORT l BY o_*->age DESC GET # GET o_*->name
        SORT l BY o_*->missing ALPHA
        SORT l BY w_* STORE dest
        LRANGE dest 0 -1
        SORT l GET o_*->name STORE dest2
        LRANGE dest2 0 -1
        SORT none STORE dest2
        EXISTS dest2
        SORT_RO l DESC
        SORT_RO l STORE x
        SADD s b a c
        SORT s ALPHA
        SORT s BY nosort STORE ss
        LRANGE ss 0 -1
        RPUSH bad 1 x 2
        SORT bad
        SORT bad ALPHA
        SET str x
        SORT str
        SORT l LIMIT 1
        SORT l BOGUS
        RPUSH f 1.5 -2 1e3 inf -inf
        SORT f
        ZADD z 3 a 1 b 2 c 5 d
        SORT z ALPHA
        SORT z BY nosort
        SORT z BY nosort DESC
        SORT z BY nosort DESC LIMIT 1 2
        SORT z BY w_* GET #
        SORT z BY nosort STORE zs
        LRANGE zs 0 -1
        COMMAND GETKEYS SORT abc STORE def
        COMMAND GETKEYS SORT abc STORE invalid STORE stillbad STORE def
        COMMAND GETKEYS SORT_RO abc
        COMMAND GETKEYS LMPOP 2 a b LEFT
        COMMAND GETKEYS SINTERCARD 2 a b
        COMMAND GETKEYS LMOVE a b LEFT LEFT
        COMMAND GETKEYS GET
        COMMAND GETKEYS NOSUCHCOMMAND x
        COMMAND GETKEYS PING
    """)  # fmt: skip


def test_sort_accepts_a_registered_member_source():
    """The hook the sorted-set family uses: a value type registered with its members in order."""
    from cache_support import Harness

    from servers.cache.commands import sort as sort_module

    class Ranked:  # stands for a sorted set: members in score order
        def __init__(self, members: list[bytes]) -> None:
            self.members = members

    sort_module.SORT_SOURCES[Ranked] = lambda z: z.members
    try:
        h = Harness()
        h.client.db.put_new(b"z", Ranked([b"30", b"4", b"100"]))
        assert h.cmd("SORT", "z") == b"*3\r\n$1\r\n4\r\n$2\r\n30\r\n$3\r\n100\r\n"
        assert h.cmd("SORT", "z", "BY", "nosort", "LIMIT", 0, 2) == b"*2\r\n$2\r\n30\r\n$1\r\n4\r\n"
        assert h.cmd("SORT", "z", "ALPHA", "DESC", "STORE", "d") == b":3\r\n"
        assert h.cmd("LRANGE", "d", 0, -1) == b"*3\r\n$1\r\n4\r\n$2\r\n30\r\n$3\r\n100\r\n"
    finally:
        del sort_module.SORT_SOURCES[Ranked]
    h.client.db.put_new(b"other", Ranked([]))
    assert h.cmd("SORT", "other").startswith(b"-WRONGTYPE")


def test_dump_restore_both_ways_with_redis(ours, real):
    """RDB payloads: ours load in redis-server and redis-server's (listpack, intset, quicklist,
    LZF strings) load here."""
    for r in (ours, real):
        r.set("s", "hello")
        r.set("big", "x" * 300)  # redis-server writes it LZF-compressed
        r.rpush("l", "a", 1, 300, -5, "y" * 100)
        r.sadd("is", 1, 2, -70000)
        r.sadd("ss", "a", "b")
        r.hset("h", mapping={"f": "v", "n": 7, "neg": -9000, "long": "z" * 70})
    views = {b"string": lambda r, k: r.get(k), b"list": lambda r, k: r.lrange(k, 0, -1),
             b"set": lambda r, k: sorted(r.smembers(k)), b"hash": lambda r, k: r.hgetall(k)}  # fmt: skip
    for key in ("s", "big", "l", "is", "ss", "h"):
        view = views[ours.type(key)]
        ours.restore(key + ":r", 0, real.dump(key))
        real.restore(key + ":o", 0, ours.dump(key))
        assert view(ours, key + ":r") == view(real, key)
        assert view(real, key + ":o") == view(ours, key)
    payload = real.dump("s")
    ours.restore("ttl", 5000, payload)
    assert 0 < ours.pttl("ttl") <= 5000
    same(ours, real, "RESTORE", "s", 0, payload)
    same(ours, real, "RESTORE", "s", 0, payload, "REPLACE")
    same(ours, real, "RESTORE", "n", -1, payload)
    same(ours, real, "RESTORE", "n", 0, payload[:-1] + b"\x00")
    same(ours, real, "RESTORE", "n", 0, b"junk")
    same(ours, real, "RESTORE", "n", 0, payload, "BOGUS")
    same(ours, real, "DUMP", "missing")


def test_hincrbyfloat_refuses_an_infinite_increment_as_redis(ours, real):
    script(ours, real, """
        HSET h f 1
        HINCRBYFLOAT h f +inf
        HINCRBYFLOAT h f -Infinity
        HINCRBYFLOAT h f 1e400
        HINCRBYFLOAT h f nan
        INCRBYFLOAT s +inf
    """)  # fmt: skip


def test_sort_by_constant_is_ordered_inside_a_script(ours, real):
    """From a script, a set sorted BY a constant is sorted anyway (a deterministic reply)."""
    members = "a b c d e f g h i l m n o p q r s t u v z aa aaa azz".split()
    for r in (ours, real):
        r.sadd("myset", *members)
    same(ours, real, "EVAL", "return redis.call('sort',KEYS[1],'by','_')", 1, "myset")
    same(ours, real, "EVAL", "return redis.call('sort',KEYS[1],'by','_','get','#','get','_:*')",
         1, "myset")  # fmt: skip
    assert reply(ours, "EVAL", "return redis.call('sort',KEYS[1],'by','_')", 1, "myset") == sorted(
        m.encode() for m in members
    )


def test_cluster_answers_as_a_server_without_cluster_support(ours, real):
    """What redis-server with cluster-enabled no answers, subcommand by subcommand; inside a
    script CLUSTER RESET is refused as a command scripts may not run (Redis's scripting unit)."""
    for cmd in (["CLUSTER", "INFO"], ["CLUSTER", "NODES"], ["CLUSTER", "SLOTS"], ["CLUSTER", "MYID"],
                ["CLUSTER", "KEYSLOT", "foo"], ["CLUSTER", "RESET", "HARD"]):  # fmt: skip
        assert same(ours, real, *cmd)[0] == "error"
    mine = reply(ours, "EVAL", "return redis.call('cluster', 'reset', 'hard')", 0)
    theirs = reply(real, "EVAL", "return redis.call('cluster', 'reset', 'hard')", 0)
    assert mine[0] == theirs[0] == "error"
    assert "command is not allowed" in mine[1] and "command is not allowed" in theirs[1]


def test_min_replicas_to_write_refuses_writes_on_a_server_without_replicas(ours, real):
    """Neither server has a replica: with min-replicas-to-write 1 every write (a plain SET, a
    script that calls one, a script whose shebang does not say no-writes) is -NOREPLICAS."""
    same(ours, real, "SET", "x", "v")
    try:
        for r in (ours, real):
            r.config_set("min-replicas-to-write", 1)
        assert same(ours, real, "SET", "x", "w")[0] == "error"
        assert reply(ours, "SET", "x", "w")[1].startswith("NOREPLICAS")
        same(ours, real, "GET", "x")
        same(ours, real, "EVAL", "return redis.call('get', KEYS[1])", 1, "x")
        same(ours, real, "EVAL", "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", 1, "x")
        for body in ("#!lua\nreturn redis.call('get', KEYS[1])", "return redis.call('set', KEYS[1], 1)"):
            mine, theirs = reply(ours, "EVAL", body, 1, "x"), reply(real, "EVAL", body, 1, "x")
            assert mine[0] == theirs[0] == "error", (body, mine, theirs)
            assert "NOREPLICAS" in mine[1] and "NOREPLICAS" in theirs[1]
    finally:
        for r in (ours, real):
            r.config_set("min-replicas-to-write", 0)
    same(ours, real, "SET", "x", "z")
