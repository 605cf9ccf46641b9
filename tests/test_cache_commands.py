"""servers.cache command by command: (setup, command, exact reply bytes), in-process with an
injected clock. Replies and error wording follow Redis 7.0."""

from __future__ import annotations

from collections import deque

import pytest
from cache_support import Harness

from servers.cache.keyspace import estimate

pytestmark = pytest.mark.exercise("N14")

WT = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
NOTINT = b"-ERR value is not an integer or out of range\r\n"

# (setup commands, command, expected reply); commands are split on spaces.
CASES = [
    # connection
    ([], "PING", b"+PONG\r\n"),
    ([], "PING hi", b"$2\r\nhi\r\n"),
    ([], "PING a b", b"-ERR wrong number of arguments for 'ping' command\r\n"),
    ([], "ECHO x", b"$1\r\nx\r\n"),
    ([], "SELECT 16", b"-ERR DB index is out of range\r\n"),
    ([], "SELECT x", NOTINT),
    ([], "HELLO 4", b"-NOPROTO unsupported protocol version\r\n"),
    ([], "CLIENT GETNAME", b"$-1\r\n"),
    (["CLIENT SETNAME me"], "CLIENT GETNAME", b"$2\r\nme\r\n"),
    ([], "CLIENT NOPE", b"-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"),
    ([], "NOPE a b", b"-ERR unknown command 'NOPE', with args beginning with: 'a' 'b' \r\n"),
    ([], "GET", b"-ERR wrong number of arguments for 'get' command\r\n"),
    ([], "CONFIG GET", b"-ERR wrong number of arguments for 'config|get' command\r\n"),
    (
        [],
        "CONFIG SET nope 1",
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'nope'\r\n",
    ),
    ([], "CONFIG GET hz", b"*2\r\n$2\r\nhz\r\n$2\r\n10\r\n"),
    (["SET a 1", "SELECT 1"], "DBSIZE", b":0\r\n"),
    (["SET a 1", "SET b 2"], "DBSIZE", b":2\r\n"),
    (["SET a 1", "SELECT 1", "SET b 1", "FLUSHDB"], "DBSIZE", b":0\r\n"),
    (["SET a 1", "SELECT 1", "FLUSHALL", "SELECT 0"], "EXISTS a", b":0\r\n"),
    # keys
    (["SET a 1", "SET b 2"], "DEL a b c", b":2\r\n"),
    (["SET a 1"], "UNLINK a", b":1\r\n"),
    (["SET a 1"], "EXISTS a a x", b":2\r\n"),
    (["SET a 1", "LPUSH l x", "HSET h f v", "SADD s m"], "TYPE l", b"+list\r\n"),
    (["SADD s m"], "TYPE s", b"+set\r\n"),
    ([], "TYPE nothing", b"+none\r\n"),
    (["SET a 1"], "RENAME a b", b"+OK\r\n"),
    ([], "RENAME a b", b"-ERR no such key\r\n"),
    (["SET a 1", "SET b 2"], "RENAMENX a b", b":0\r\n"),
    (
        ["SET a 1"],
        "EXPIRE a 10 NX XX",
        b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
    ),
    (
        ["SET a 1"],
        "EXPIRE a 10 GT LT",
        b"-ERR GT and LT options at the same time are not compatible\r\n",
    ),
    (["SET a 1"], "EXPIRE a 10 YY", b"-ERR Unsupported option YY\r\n"),
    (["SET a 1"], "EXPIRE a 10 GT", b":0\r\n"),  # no TTL counts as infinite
    (["SET a 1"], "EXPIRE a 10 LT", b":1\r\n"),
    (["SET a 1", "EXPIRE a 10"], "EXPIRE a 20 NX", b":0\r\n"),
    (["SET a 1", "EXPIRE a 10"], "EXPIRE a 20 XX", b":1\r\n"),
    (["SET a 1", "EXPIRE a 10"], "TTL a", b":10\r\n"),
    (["SET a 1", "PEXPIRE a 1500"], "PTTL a", b":1500\r\n"),
    (["SET a 1", "PEXPIRE a 1500"], "TTL a", b":2\r\n"),  # rounded like Redis
    (["SET a 1"], "TTL a", b":-1\r\n"),
    ([], "TTL a", b":-2\r\n"),
    (["SET a 1", "EXPIRE a -1"], "EXISTS a", b":0\r\n"),  # a past time deletes
    (["SET a 1", "EXPIRE a 10"], "PERSIST a", b":1\r\n"),
    (["SET a 1"], "PERSIST a", b":0\r\n"),
    (
        ["SET a 1"],
        "EXPIRE a 9223372036854775807",
        b"-ERR invalid expire time in 'expire' command\r\n",
    ),
    (["SET ab 1", "SET b 1", "SET ac 1"], "KEYS a?", b"*2\r\n$2\r\nab\r\n$2\r\nac\r\n"),
    (["SET a 1"], "SCAN 0 COUNT 0", b"-ERR syntax error\r\n"),
    ([], "SCAN x", b"-ERR invalid cursor\r\n"),
    (["SET a 1", "LPUSH l x"], "SCAN 0 TYPE list", b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nl\r\n"),
    (["SET a 1", "SET b 1"], "SCAN 0 MATCH b", b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nb\r\n"),
    # strings
    ([], "GET a", b"$-1\r\n"),
    (["SET a hello"], "GET a", b"$5\r\nhello\r\n"),
    (["LPUSH a x"], "GET a", WT),
    (["SET a 1"], "SET a 2 NX", b"$-1\r\n"),
    ([], "SET a 2 XX", b"$-1\r\n"),
    (["SET a 1"], "SET a 2 GET", b"$1\r\n1\r\n"),
    (["LPUSH a 1"], "SET a 2 GET", WT),
    ([], "SET a 1 EX 0", b"-ERR invalid expire time in 'set' command\r\n"),
    ([], "SET a 1 EX x", NOTINT),
    ([], "SET a 1 NX XX", b"-ERR syntax error\r\n"),
    ([], "SET a 1 EX 1 PX 1", b"-ERR syntax error\r\n"),
    (["SET a 1 EX 100", "SET a 2 KEEPTTL"], "TTL a", b":100\r\n"),
    (["SET a 1 EX 100", "SET a 2"], "TTL a", b":-1\r\n"),
    (["SET a 1 PX 100"], "PTTL a", b":100\r\n"),
    (["SET a 1"], "SETNX a 2", b":0\r\n"),
    ([], "SETEX a 0 v", b"-ERR invalid expire time in 'setex' command\r\n"),
    (["SETEX a 5 v"], "TTL a", b":5\r\n"),
    (["PSETEX a 5000 v"], "TTL a", b":5\r\n"),
    (["SET a 1"], "GETSET a 2", b"$1\r\n1\r\n"),
    (["SET a 1", "GETDEL a"], "EXISTS a", b":0\r\n"),
    (["SET a 1", "GETEX a EX 50"], "TTL a", b":50\r\n"),
    (["SET a 1 EX 9", "GETEX a PERSIST"], "TTL a", b":-1\r\n"),
    (["SET a 1", "LPUSH l x"], "MGET a l z", b"*3\r\n$1\r\n1\r\n$-1\r\n$-1\r\n"),
    ([], "MSET a 1 b", b"-ERR wrong number of arguments for 'mset' command\r\n"),
    (["MSET a 1 b 2"], "MGET a b", b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
    (["SET b 1"], "MSETNX a 1 b 2", b":0\r\n"),
    (["SET a ab"], "APPEND a cd", b":4\r\n"),
    (["SET a abc"], "STRLEN a", b":3\r\n"),
    (["SET a Hello"], "GETRANGE a 1 -2", b"$3\r\nell\r\n"),
    (["SET a Hello"], "GETRANGE a -100 100", b"$5\r\nHello\r\n"),
    (["SET a Hello"], "GETRANGE a 3 1", b"$0\r\n\r\n"),
    ([], "SETRANGE a 3 xy", b":5\r\n"),
    (["SETRANGE a 3 xy"], "GET a", b"$5\r\n\x00\x00\x00xy\r\n"),
    ([], "SETRANGE a -1 x", b"-ERR offset is out of range\r\n"),
    (["SET n 41"], "INCR n", b":42\r\n"),
    (["SET n x"], "INCR n", NOTINT),
    (["SET n 010"], "INCR n", NOTINT),
    (["SET n 9223372036854775807"], "INCR n", b"-ERR increment or decrement would overflow\r\n"),
    ([], "DECRBY n -9223372036854775808", b"-ERR decrement would overflow\r\n"),
    ([], "INCRBY n 5", b":5\r\n"),
    ([], "DECR n", b":-1\r\n"),
    (["SET n 10.50"], "INCRBYFLOAT n 0.1", b"$4\r\n10.6\r\n"),
    (["SET n 5.0e3"], "INCRBYFLOAT n 2.0e2", b"$4\r\n5200\r\n"),
    ([], "INCRBYFLOAT n abc", b"-ERR value is not a valid float\r\n"),
    ([], "BLPOP l 1e300", b"-ERR timeout is negative\r\n"),  # as Redis on x86-64
    (["SADD s a"], "SRANDMEMBER s -9223372036854775807", b"-ERR value is out of range\r\n"),
    (["SADD s a"], "SRANDMEMBER s -10000001", b"-ERR value is out of range\r\n"),
    ([], "BLPOP l inf", b"-ERR timeout is negative\r\n"),
    # strtold's range (ERANGE is refused by Redis): beyond a long double, or underflowing to 0
    ([], "INCRBYFLOAT n 1e5000", b"-ERR value is not a valid float\r\n"),
    ([], "INCRBYFLOAT n 1e-99999", b"-ERR value is not a valid float\r\n"),
    ([], "INCRBYFLOAT n 1e-999999999", b"-ERR value is not a valid float\r\n"),  # no 10**1e9
    (["SET n 1e-999999999"], "INCRBYFLOAT n 1", b"-ERR value is not a valid float\r\n"),
    ([], "INCRBYFLOAT n inf", b"-ERR increment would produce NaN or Infinity\r\n"),
    (["SET n 1 EX 100", "INCR n"], "TTL n", b":100\r\n"),
    # lists
    (["RPUSH l a b c"], "LRANGE l 0 -1", b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (["LPUSH l a b c"], "LRANGE l 0 -1", b"*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
    (["RPUSH l a b c"], "LRANGE l -2 100", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (["RPUSH l a"], "LRANGE l 5 10", b"*0\r\n"),
    ([], "LPUSHX l a", b":0\r\n"),
    (["RPUSH l a"], "RPUSHX l b", b":2\r\n"),
    (["RPUSH l a b c"], "LPOP l", b"$1\r\na\r\n"),
    (["RPUSH l a b c"], "RPOP l 2", b"*2\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    ([], "LPOP l 2", b"*-1\r\n"),
    ([], "LPOP l", b"$-1\r\n"),
    (["RPUSH l a"], "LPOP l -1", b"-ERR value is out of range, must be positive\r\n"),
    (["RPUSH l a", "LPOP l"], "EXISTS l", b":0\r\n"),  # emptied lists vanish
    (["RPUSH l a b"], "LLEN l", b":2\r\n"),
    (["RPUSH l a b"], "LINDEX l -1", b"$1\r\nb\r\n"),
    (["RPUSH l a b"], "LINDEX l 2", b"$-1\r\n"),
    (["RPUSH l a b"], "LSET l 5 x", b"-ERR index out of range\r\n"),
    ([], "LSET l 0 x", b"-ERR no such key\r\n"),
    (["RPUSH l a b", "LSET l -1 z"], "LRANGE l 0 -1", b"*2\r\n$1\r\na\r\n$1\r\nz\r\n"),
    (["RPUSH l a b a c a"], "LREM l -2 a", b":2\r\n"),
    (
        ["RPUSH l a b a c a", "LREM l -2 a"],
        "LRANGE l 0 -1",
        b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
    ),
    (["RPUSH l a b c d", "LTRIM l 1 -2"], "LRANGE l 0 -1", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (["RPUSH l a b", "LTRIM l 5 10"], "EXISTS l", b":0\r\n"),
    (["RPUSH l a c"], "LINSERT l BEFORE c b", b":3\r\n"),
    (["RPUSH l a c"], "LINSERT l AFTER z b", b":-1\r\n"),
    (["RPUSH l a c"], "LINSERT l MIDDLE c b", b"-ERR syntax error\r\n"),
    (["RPUSH l a"], "BLPOP l 0", b"*2\r\n$1\r\nl\r\n$1\r\na\r\n"),
    ([], "BLPOP l x", b"-ERR timeout is not a float or out of range\r\n"),
    ([], "BLPOP l -1", b"-ERR timeout is negative\r\n"),
    (["SET s x"], "LPUSH s a", WT),
    # hashes
    ([], "HSET h f", b"-ERR wrong number of arguments for 'hset' command\r\n"),
    ([], "HSET h f 1 g 2", b":2\r\n"),
    (["HSET h f 1"], "HSET h f 2 g 3", b":1\r\n"),
    (["HSET h f 1"], "HGET h f", b"$1\r\n1\r\n"),
    (["HSET h f 1"], "HMGET h f x", b"*2\r\n$1\r\n1\r\n$-1\r\n"),
    (["HSET h f 1 g 2"], "HDEL h f x", b":1\r\n"),
    (["HSET h f 1", "HDEL h f"], "EXISTS h", b":0\r\n"),
    (["HSET h f 1"], "HEXISTS h f", b":1\r\n"),
    (["HSET h f 1 g 2"], "HLEN h", b":2\r\n"),
    (["HSET h f 1 g 2"], "HKEYS h", b"*2\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (["HSET h f 1 g 2"], "HVALS h", b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
    (["HSET h f 1"], "HGETALL h", b"*2\r\n$1\r\nf\r\n$1\r\n1\r\n"),
    (["HSET h f 1", "HELLO 3"], "HGETALL h", b"%1\r\n$1\r\nf\r\n$1\r\n1\r\n"),
    (["HSET h f 1"], "HINCRBY h f 41", b":42\r\n"),
    (["HSET h f x"], "HINCRBY h f 1", b"-ERR hash value is not an integer\r\n"),
    (["HSET h f x"], "HINCRBYFLOAT h f 1", b"-ERR hash value is not a float\r\n"),
    ([], "HINCRBYFLOAT h f 1.5", b"$3\r\n1.5\r\n"),
    (["HSET h f 1"], "HSETNX h f 2", b":0\r\n"),
    (["HSET h f 1"], "HSCAN h 0", b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nf\r\n$1\r\n1\r\n"),
    (["SET h x"], "HGET h f", WT),
    # sets
    ([], "SADD s a b a", b":2\r\n"),
    (["SADD s a b"], "SREM s a z", b":1\r\n"),
    (["SADD s a"], "SISMEMBER s a", b":1\r\n"),
    (["SADD s a b c"], "SCARD s", b":3\r\n"),
    (["SADD s a"], "SMEMBERS s", b"*1\r\n$1\r\na\r\n"),
    (["SADD s a", "HELLO 3"], "SMEMBERS s", b"~1\r\n$1\r\na\r\n"),
    (["SADD s a"], "SPOP s", b"$1\r\na\r\n"),
    (["SADD s a", "SPOP s"], "EXISTS s", b":0\r\n"),
    ([], "SPOP s", b"$-1\r\n"),
    (["SADD s a"], "SRANDMEMBER s -3", b"*3\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"),
    (["SADD a 1 2 3", "SADD b 2 3 4"], "SINTER a b nothing", b"*0\r\n"),
    (["SADD a 1 2", "SADD b 2 3"], "SDIFF a b", b"*1\r\n$1\r\n1\r\n"),
    (["SADD a 1", "SADD b 1"], "SUNION a b", b"*1\r\n$1\r\n1\r\n"),
    (["SET s x"], "SADD s a", WT),
    # transactions
    (["MULTI", "SET a 1", "INCR a", "LPUSH a x"], "EXEC", b"*3\r\n+OK\r\n:2\r\n" + WT),
    ([], "EXEC", b"-ERR EXEC without MULTI\r\n"),
    (["MULTI"], "MULTI", b"-ERR MULTI calls can not be nested\r\n"),
    (["MULTI", "SET a 1", "DISCARD"], "EXISTS a", b":0\r\n"),
    (["MULTI"], "BLPOP q 0", b"+QUEUED\r\n"),
    (["MULTI", "BLPOP q 0"], "EXEC", b"*1\r\n*-1\r\n"),  # never blocks inside EXEC
    (["SET k 1", "WATCH k", "SET k 2", "MULTI", "INCR k"], "EXEC", b"*-1\r\n"),
    (["WATCH k", "MULTI", "INCR k"], "EXEC", b"*1\r\n:1\r\n"),
    (["WATCH k", "SET k 1", "UNWATCH", "MULTI"], "EXEC", b"*0\r\n"),
    (["MULTI"], "WATCH k", b"-ERR WATCH inside MULTI is not allowed\r\n"),
    (["SET k 1 PX 10", "WATCH k", "SELECT 1", "SET k 2", "SELECT 0", "MULTI"], "EXEC", b"*0\r\n"),
    # pub/sub (RESP2, no subscribers)
    ([], "PUBLISH ch hi", b":0\r\n"),
    ([], "PUBSUB NUMSUB ch", b"*2\r\n$2\r\nch\r\n:0\r\n"),
    ([], "UNSUBSCRIBE", b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES, ids=[c[1] for c in CASES])
def test_command_reply_bytes(setup, command, expected):
    h = Harness()
    for s in setup:
        reply = h.cmd(*s.split())
        assert not reply.startswith(b"-"), (s, reply)
    assert h.cmd(*command.split()) == expected


def _accounted(h: Harness) -> int:
    return sum(estimate(k, v) for db in h.ks.dbs for k, v in db.data.items())


def test_memory_estimate_follows_every_change():
    h = Harness()
    script = [
        "SET a hello", "APPEND a world", "SETRANGE a 20 x", "INCR n", "INCRBYFLOAT f 1.5",
        "RPUSH l a bb ccc", "LPUSH l z", "LSET l 0 zzzz", "LREM l 0 bb", "LINSERT l AFTER a q",
        "LTRIM l 1 -1", "RPOP l", "HSET h f 1 g 22", "HSET h f 333", "HINCRBY h n 5", "HDEL h g",
        "SADD s a b c", "SREM s a", "SPOP s", "RENAME a b", "DEL n", "GETDEL f", "MSET x 1 y 2",
    ]  # fmt: skip
    for line in script:
        h.cmd(*line.split())
        assert h.ks.used == _accounted(h), line
    h.cmd("FLUSHALL")
    assert h.ks.used == 0


def test_memory_estimate_follows_keys_across_databases():
    """A string's estimate is derived, an aggregate's kept in ``sizes``: both follow
    COPY, MOVE, SWAPDB, a SET over a list and FLUSHDB of one database."""
    h = Harness()
    script = [
        "SET s hello", "RPUSH l a bb", "COPY s s2 DB 1", "COPY l l2 DB 1", "MOVE s 2",
        "SET l now-a-string", "RPUSH s3 x", "SWAPDB 0 1", "RENAME l2 l3", "SELECT 1",
        "FLUSHDB", "SELECT 2", "SET s 12345678", "MEMORY USAGE s",
    ]  # fmt: skip
    for line in script:
        assert not h.cmd(*line.split()).startswith(b"-"), line
        assert h.ks.used == _accounted(h), line
        for db in h.ks.dbs:
            assert db.sizes == {
                k: estimate(k, v) for k, v in db.data.items() if type(v) is not bytes
            }
    assert h.cmd("MEMORY", "USAGE", "s") == b":%d\r\n" % estimate(b"s", b"12345678")
    h.cmd("SELECT", "0")
    assert h.cmd("MEMORY", "USAGE", "l3") == b":%d\r\n" % estimate(b"l3", deque([b"a", b"bb"]))


def test_subscribe_mode_allows_only_pubsub_commands():
    h = Harness()
    assert h.cmd("SUBSCRIBE", "ch") == b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
    assert h.cmd("GET", "a") == (
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
        b"RESET are allowed in this context\r\n"
    )
    assert h.cmd("PING") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    other = h.connect()
    assert h.cmd("PUBLISH", "ch", "hi", client=other) == b":1\r\n"
    assert h.wire.take() == b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
    h.cmd("UNSUBSCRIBE")
    assert h.cmd("GET", "a") == b"$-1\r\n"


def test_resp3_publish_to_self_arrives_as_push_before_the_reply():
    h = Harness()
    h.cmd("HELLO", "3")
    h.cmd("PSUBSCRIBE", "n*")
    assert h.cmd("GET", "a") == b"_\r\n"  # RESP3 keeps every command available
    assert h.cmd("PUBLISH", "news", "x") == (
        b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$1\r\nx\r\n:1\r\n"
    )


def test_a_write_by_another_client_fails_the_watchers_exec():
    h = Harness()
    other = h.connect()
    h.cmd("SET", "balance", "10")
    h.cmd("WATCH", "balance")
    assert h.cmd("DECRBY", "balance", "3", client=other) == b":7\r\n"
    h.cmd("MULTI")
    h.cmd("SET", "balance", "0")
    assert h.cmd("EXEC") == b"*-1\r\n"
    assert h.cmd("GET", "balance") == b"$1\r\n7\r\n"
    h.cmd("WATCH", "balance")
    h.cmd("MULTI")
    h.cmd("SET", "balance", "0")
    assert h.cmd("EXEC") == b"*1\r\n+OK\r\n"  # nobody wrote in between this time
    assert not h.ks.dbs[0].watchers  # EXEC forgets the watched keys


def test_an_expiring_watched_key_counts_as_written():
    h = Harness()
    h.cmd("SET", "k", "v", "PX", "5")
    h.cmd("WATCH", "k")
    h.advance(6)
    h.cmd("MULTI")
    h.cmd("GET", "k")  # queued; the key is expired meanwhile
    h.ks.active_expire(1.0)
    assert h.cmd("EXEC") == b"*-1\r\n"


def test_an_error_while_queueing_aborts_exec():
    h = Harness()
    assert h.raw(b"MULTI\r\nSET a 1\r\nGET\r\nEXEC\r\nEXISTS a\r\n") == (
        b"+OK\r\n+QUEUED\r\n-ERR wrong number of arguments for 'get' command\r\n"
        b"-EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n"
    )


def test_quit_answers_ok_ignores_the_rest_and_closes():
    h = Harness()
    assert h.raw(b"PING\r\nQUIT\r\nPING\r\n") == b"+PONG\r\n+OK\r\n"
    assert h.wire.closed


def test_protocol_error_answers_earlier_commands_then_closes():
    h = Harness()
    assert h.raw(b"PING\r\n*1\r\n+x\r\n") == (
        b"+PONG\r\n-ERR Protocol error: expected '$', got '+'\r\n"
    )
    # Half-closed (FIN after the error), the rest discarded until the linger deadline.
    assert h.wire.half_closed and h.wire.deadline is not None
    assert h.raw(b"PING\r\n") == b""


def test_info_reports_sections_and_counters():
    h = Harness()
    h.cmd("SET", "a", "1", "PX", "10")
    h.advance(11)
    h.cmd("GET", "a")
    text = h.cmd("INFO").decode()
    for section in ("# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"):
        assert section in text
    assert "expired_keys:1\r\n" in text and "evicted_keys:0\r\n" in text
    assert "keyspace_misses:1\r\n" in text
    h.cmd("SET", "b", "1", "EX", "100")
    assert "db0:keys=1,expires=1," in h.cmd("INFO", "keyspace").decode()


def test_command_count_info_and_docs_describe_the_table():
    h = Harness()
    n = int(h.cmd("COMMAND", "COUNT")[1:-2])
    assert n > 90
    info = h.cmd("COMMAND", "INFO", "get", "nope")
    assert info.startswith(b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n") and info.endswith(b"*-1\r\n")
    assert b"Get the value of a key" in h.cmd("COMMAND", "DOCS", "get")


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (b"h?llo", b"hello", True),
        (b"h*llo", b"heeeello", True),
        (b"h*llo", b"hllo", True),
        (b"h[ae]llo", b"hallo", True),
        (b"h[ae]llo", b"hillo", False),
        (b"h[^e]llo", b"hello", False),
        (b"h[^e]llo", b"hallo", True),
        (b"h[a-b]llo", b"hbllo", True),
        (b"h[b-a]llo", b"hallo", True),  # a reversed range is swapped, as in Redis
        (b"h\\*llo", b"h*llo", True),
        (b"h\\*llo", b"hello", False),
        (b"a.b", b"axb", False),  # regex metacharacters are literals
        (b"*", b"", True),
        (b"x\ny", b"x\ny", True),
    ],
)
def test_glob_patterns_follow_redis_stringmatch(pattern, text, matches):
    from servers.respkit.glob import match

    assert match(pattern, text) is matches


def test_scan_returns_every_key_present_throughout_exactly_once():
    h = Harness()
    for i in range(200):
        h.cmd("SET", f"stay:{i}", "v")
    seen: list[bytes] = []
    cursor, step = b"0", 0
    while True:
        reply = h.cmd("SCAN", cursor, "COUNT", "15")
        parts = reply.split(b"\r\n")
        cursor = parts[2]
        seen += [p for p in parts[4:] if p and not p.startswith((b"$", b"*"))]
        # churn while iterating: delete some never-kept keys, add new ones
        h.cmd("SET", f"new:{step}", "v")
        h.cmd("DEL", f"new:{step - 3}")
        step += 1
        if cursor == b"0":
            break
    stay = [k for k in seen if k.startswith(b"stay:")]
    assert sorted(stay) == sorted(f"stay:{i}".encode() for i in range(200))
    assert len(stay) == len(set(stay))


def test_hscan_of_a_big_hash_iterates_every_field():
    h = Harness()
    fields = [f"f{i}" for i in range(300)]
    h.cmd("HSET", "h", *[x for f in fields for x in (f, "v")])
    got, cursor = [], b"0"
    while True:
        parts = h.cmd("HSCAN", "h", cursor, "COUNT", "50").split(b"\r\n")
        cursor = parts[2]
        got += [p for p in parts[4:] if p and not p.startswith((b"$", b"*"))][::2]
        if cursor == b"0":
            break
    assert sorted(got) == sorted(f.encode() for f in fields)


def test_blocked_clients_are_served_fifo_by_one_multi_element_push():
    h = Harness()
    first, second = h.connect(), h.connect()
    other_db = h.connect()
    assert h.cmd("BLPOP", "q", "0", client=first) == b""  # parked: no reply yet
    assert h.cmd("BLPOP", "q", "0", client=second) == b""
    h.cmd("SELECT", "1", client=other_db)
    assert h.cmd("LPUSH", "q", "x", client=other_db) == b":1\r\n"  # another db: nobody wakes
    assert first[1].take() == b""
    assert h.cmd("RPUSH", "q", "a", "b", "c") == b":3\r\n"
    assert first[1].take() == b"*2\r\n$1\r\nq\r\n$1\r\na\r\n"
    assert second[1].take() == b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n"
    assert h.cmd("LRANGE", "q", "0", "-1") == b"*1\r\n$1\r\nc\r\n"
    assert not h.state.blocking.waiters
