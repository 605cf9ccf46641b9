"""A hostile user against the cache's fast paths, compared with a real redis-server 7.0.

Each case sends the same bytes to ``python -m servers.cache`` and to a private
redis-server (both on port 0) and asserts the same reply bytes. Sections: ZADD
scores as strtod reads them (hex floats, signed zero), pipelined runs of
SET/GET/INCR/LPUSH meeting transactions, WATCH, pauses, ACL users, limits and
bad input, and the RESP parser's run cutting fed at every byte boundary.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
import redis

from harness.procs import python_module
from harness.services import RedisServer
from netlib.resp import encode_command

END = encode_command("ECHO", "__END__")
END_REPLY = b"$7\r\n__END__\r\n"


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
    with RedisServer() as real, python_module("servers.cache", port=0) as ours:
        yield (ours.host, ours.port), (real.address.host, real.address.port)


def exchange(addr: tuple[str, int], wire: bytes) -> bytes:
    """Send ``wire`` then ECHO __END__ on a fresh connection; everything up to its reply,
    or up to the server's close (then ending in ``<closed>``)."""
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(wire + END)
        buf = b""
        while not buf.endswith(END_REPLY):
            chunk = s.recv(65536)
            if not chunk:
                return buf + b"<closed>"
            buf += chunk
    return buf[: -len(END_REPLY)]


def cmds(*calls: tuple[object, ...] | list[object]) -> bytes:
    return b"".join(encode_command(*c) for c in calls)


def same(both: tuple[tuple[str, int], tuple[str, int]], wire: bytes) -> bytes:
    ours, real = both
    mine, theirs = exchange(ours, wire), exchange(real, wire)
    assert mine == theirs
    return mine


# -- ZADD scores as strtod reads them ----------------------------------------------------

HEX_SCORES = ["0x10", "0X10", "-0x10", "+0x10", "0x1p3", "0x1.8", "0x.8", "0x1.", "0x1.p1",
              "0x1e", "0x1P-2", "0xAbC", "0x1p-1074", "-0x1p-1074", "0x0p0", "0x1p1023",
              "0xffffffffffffffffffff",
              # refused by ZADD (junk, overflow, underflow to 0), some taken by a range
              "0x", "0x.", "0xp1", "0x1p", "0x1p+", "0x1p1.5", "0x1_0", "0x 1", "0x-1", "+-0x1",
              "0x1p1024", "0x1p-1075", "0x1p99999999999999999999", " 0x10", "0x10 ", "(0x10"]  # fmt: skip


@pytest.mark.parametrize("score", HEX_SCORES)
def test_zadd_reads_hex_floats_as_strtod(both, score):
    """strtod (getDoubleFromObject, zslParseRange) reads C99 hex floats: ZADD 0x10 is 16."""
    same(
        both,
        cmds(
            ["DEL", "z", "u", "g"],
            ["ZADD", "z", score, "m"],
            ["ZSCORE", "z", "m"],
            ["ZINCRBY", "z", "0", "m"],
            ["ZINCRBY", "z", score, "m"],
            ["ZRANGEBYSCORE", "z", score, "+inf"],
            ["ZCOUNT", "z", "-inf", score],
            ["ZADD", "z", "INCR", score, "m"],
            ["GEOADD", "g", score, "0", "x"],
            ["ZUNIONSTORE", "u", "1", "z", "WEIGHTS", score],
            ["ZRANGE", "u", "0", "-1", "WITHSCORES"],
        ),
    )


@pytest.mark.parametrize("proto", ["2", "3"])
def test_a_negative_zero_score_is_spelled_0(both, proto):
    """ZADD z -0 m: redis-server 7.0 answers ZSCORE 0 (and ,0 in RESP3), never -0."""
    wire = cmds(
        ["HELLO", proto, "SETNAME", "x"],
        ["DEL", "z", "u"],
        ["ZADD", "z", "-0", "m", "0", "n", "-0.0", "o", "-0e5", "p"],
        ["ZADD", "z", "-.0", "q"],  # (the one-pair short way)
        ["ZINCRBY", "z", "-0", "m"],
        ["ZADD", "z", "INCR", "-0", "m"],
        ["ZMSCORE", "z", "m", "n", "q"],
        ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        ["ZUNIONSTORE", "u", "1", "z", "WEIGHTS", "-1"],
        ["ZRANGE", "u", "0", "-1", "WITHSCORES"],
        ["ZPOPMIN", "z"],
        ["ZRANGEBYSCORE", "z", "-1", "1", "WITHSCORES"],
    )
    ours, real = both
    mine, theirs = exchange(ours, wire), exchange(real, wire)
    # (HELLO's reply carries each server's own client id)
    assert mine[mine.index(b"modules") :] == theirs[theirs.index(b"modules") :]


# -- RESP headers in the middle of a run of same-size commands -------------------------

RUN = cmds(*[["SET", "a", "1"]] * 3)
BAD_HEADERS = [
    b"*1\r\n$04\r\nPING\r\n",  # a bulk length with a leading zero: string2ll refuses it
    b"*01\r\n$4\r\nPING\r\n",
    b"*00\r\n",
    b"*-0\r\n",
    b"*1\r\n$-0\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$+4\r\nPING\r\n",
    b"*+1\r\n$4\r\nPING\r\n",
    b"*1\r\n$4 \r\nPING\r\n",
    b"*1\r\n$536870913\r\n",
    b"*1\r\n$9999999999999999999\r\n",
    b"*1\r\n$0x4\r\nPING\r\n",
    b"*-1\r\n*1\r\n$4\r\nPING\r\n",  # a null multibulk is skipped
    b"*0\r\n*1\r\n$4\r\nPING\r\n",
    b"*1\r\n$0\r\n\r\n",
]


@pytest.mark.parametrize("bad", BAD_HEADERS)
@pytest.mark.parametrize("before", [b"", RUN, RUN + b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n"])
def test_odd_headers_after_a_run_answer_as_redis(both, before, bad):
    """A run of SETs cut column by column, then a header Redis's string2ll judges."""
    same(both, before + bad)


# -- what a client's line says about the command it runs ---------------------------------


def _cmd_fields(reply: bytes) -> list[bytes]:
    return re.findall(rb"cmd=(\S+)", reply)


@pytest.mark.parametrize(
    "wire",
    [
        cmds(["CLIENT", "INFO"]),
        cmds(["SET", "a", "1"], ["SET", "a", "2"], ["GET", "a"], ["CLIENT", "INFO"]),
        cmds(["CLIENT", "SETNAME", "me"], ["CONFIG", "GET", "x"], ["CLIENT", "INFO"]),
    ],
)
def test_client_info_names_the_running_command(both, wire):
    """A pipeline ending in CLIENT INFO: Redis's line says cmd=client|info (its lastcmd is
    set before the call), not the previous batch's last command."""
    ours, real = both
    assert _cmd_fields(exchange(ours, wire)) == _cmd_fields(exchange(real, wire))


def test_client_list_names_another_clients_last_command(both):
    """cmd= of another connection: its last command's full name (config|get), NULL after an
    unknown command."""
    seen = []
    for addr in both:
        a = socket.create_connection(addr, timeout=10)
        b = socket.create_connection(addr, timeout=10)
        a.sendall(cmds(["CLIENT", "SETNAME", "aa"], ["SET", "k", "v"], ["CONFIG", "GET", "x"]))
        b.sendall(cmds(["CLIENT", "SETNAME", "bb"], ["GET", "k"], ["NOSUCH"]))
        for s in (a, b):  # (both answered: the commands ran)
            buf = b""
            while not buf.endswith(
                b"\r\n-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
            ) and not buf.endswith(b"*0\r\n"):
                buf += s.recv(65536)
        lines = exchange(addr, cmds(["CLIENT", "LIST"])).decode().splitlines()
        seen.append(sorted(re.findall(r"name=(aa|bb) .*?cmd=(\S+)", "\n".join(lines))))
        a.close()
        b.close()
    assert seen[0] == seen[1] == [("aa", "config|get"), ("bb", "NULL")]


def test_acl_log_shows_ten_entries_without_a_count(both):
    """ACL LOG with no count answers the 10 latest entries (Redis's default), each naming the
    refused command in its client-info (cmd=set)."""
    wire = cmds(
        ["ACL", "LOG", "RESET"],
        ["ACL", "SETUSER", "limited", "on", ">pw", "~ok:*", "+@all"],
        ["AUTH", "limited", "pw"],
        *[["SET", f"no:{i}", "v"] for i in range(12)],
    )
    got = []
    for addr in both:
        exchange(addr, wire)
        r = redis.Redis(*addr)
        log = r.acl_log()
        objects = [e["object"] for e in log]
        commands = [e["client-info"]["cmd"] for e in log]  # (redis-py splits the line)
        got.append((len(log), objects, commands, len(r.acl_log(count=20))))
        r.close()
    assert got[0] == got[1]
    assert got[0][0] == 10 and got[0][2] == ["set"] * 10


# -- PFADD and friends on a value that is no HLL -----------------------------------------


@pytest.mark.parametrize(
    "setup",
    [["SET", "h", "notahll"], ["LPUSH", "h", "x"], ["SADD", "h", "x"], ["ZADD", "h", "1", "x"]],
)
def test_hll_commands_on_another_type_say_wrongtype_as_redis(both, setup):
    """A string that is no HLL: "Key is not a valid HyperLogLog string value."; a list, set
    or zset: checkType's usual WRONGTYPE wording, as isHLLObjectOrReply answers."""
    same(
        both,
        cmds(
            ["DEL", "h", "g"],
            setup,
            ["PFADD", "h", "a"],
            ["PFADD", "h"],
            ["PFCOUNT", "h"],
            ["PFCOUNT", "g", "h"],
            ["PFMERGE", "h", "g"],
            ["PFMERGE", "g", "h"],
            ["PFADD", "g", "a"],
            ["PFMERGE", "h", "g"],
        ),
    )


# -- INFO after runs: write commands look keys up without hits or misses ------------------


def _hits_misses(addr: tuple[str, int]) -> tuple[int, int]:
    r = redis.Redis(*addr)
    try:
        info = r.info("stats")
        return info["keyspace_hits"], info["keyspace_misses"]
    finally:
        r.close()


WRITES = [
    ["INCR", "n"],
    ["DECR", "n"],
    ["INCRBY", "n", "2"],
    ["LPUSH", "l", "x"],
    ["RPUSH", "l", "y"],
    ["LPUSHX", "l", "z"],
    ["ZADD", "z", "1", "a"],
    ["ZADD", "z", "NX", "2", "b"],
    ["ZINCRBY", "z", "1", "a"],
    ["GEOADD", "g", "1", "1", "a"],
    ["XADD", "x", "*", "f", "v"],
]


@pytest.mark.parametrize("write", WRITES, ids=lambda w: " ".join(w))
def test_writes_in_a_run_count_no_keyspace_hits_or_misses(both, write):
    """A run of INCRs (LPUSHes, ZADDs, XADDs) on a missing then a present key: Redis's
    lookupKeyWrite counts neither keyspace_hits nor keyspace_misses; the GETs around do."""
    wire = cmds(["DEL", "n", "l", "z", "g", "x"], ["GET", "n"], *[write] * 8, ["GET", "n"])
    moved = []
    for addr in both:
        before = _hits_misses(addr)
        exchange(addr, wire)
        after = _hits_misses(addr)
        moved.append((after[0] - before[0], after[1] - before[1]))
    assert moved[0] == moved[1]


# -- a container's unknown subcommand or wrong arity is refused before it runs -----------


@pytest.mark.parametrize(
    "bad", [["CLIENT", "FOO"], ["CLIENT", "GETNAME", "x"], ["OBJECT", "FOO", "x"], ["XINFO", "FOO"]]
)
def test_a_refused_subcommand_aborts_multi_as_redis(both, bad):
    """Queued in MULTI, an unknown subcommand (or a subcommand's wrong arity) is answered at
    once and EXEC answers EXECABORT, as for an unknown command."""
    same(both, cmds(["SET", "a", "0"], ["MULTI"], bad, ["SET", "a", "1"], ["EXEC"], ["GET", "a"]))


def test_a_refused_subcommand_counts_as_redis(both):
    """Outside MULTI: no call of the container counted; a wrong arity is a rejected call of
    the subcommand (cmdstat_client|getname rejected_calls=1); errorstat ERR each."""
    wire = cmds(
        ["CONFIG", "RESETSTAT"],
        ["SET", "a", "1"],
        ["CLIENT", "FOO"],
        ["CONFIG", "FOO"],
        ["OBJECT", "FOO", "x"],
        ["CLIENT", "GETNAME", "x"],
        ["XINFO", "FOO"],
        ["SET", "a", "2"],
        ["CONFIG", "GET", "maxmemory"],
        ["INFO", "commandstats"],
        ["INFO", "errorstats"],
    )
    counted = []
    for addr in both:
        out = exchange(addr, wire)
        stats = re.findall(
            rb"(cmdstat_[^:]+):calls=(\d+),.*?rejected_calls=(\d+),failed_calls=(\d+)", out
        )
        counted.append((sorted(stats), re.findall(rb"errorstat_\S+", out)))
    assert counted[0] == counted[1]


@pytest.mark.parametrize(
    "call",
    [
        ["EXISTS", "n", "nope", "n"],
        ["TYPE", "n"],
        ["TYPE", "nope"],
        ["SET", "s", "v", "GET"],
        ["SET", "s", "v", "NX", "GET"],
        ["SET", "t", "v", "XX", "GET"],
        ["SET", "n", "v", "NX"],
    ],
    ids=lambda w: " ".join(w),
)
def test_reads_count_keyspace_hits_and_misses_as_redis(both, call):
    """EXISTS and TYPE read with lookupKeyReadWithFlags (a hit or a miss each, no LRU
    touch); SET ... GET reads the old value as GET does."""
    wire = cmds(["DEL", "n", "s", "t"], ["SET", "n", "1"], *[call] * 3)
    moved = []
    for addr in both:
        before = _hits_misses(addr)
        exchange(addr, wire)
        after = _hits_misses(addr)
        moved.append((after[0] - before[0], after[1] - before[1]))
    assert moved[0] == moved[1]


# -- INFO total_commands_processed inside a pipeline --------------------------------------


@pytest.mark.parametrize(
    "calls",
    [
        [],
        [["SET", "a", "1"]] * 2,
        [["GET", "a"]] * 50,  # a run
        [["NOSUCH"]],
        [["SET", "a"]],
        [["CLIENT", "FOO"]],
        [["MULTI"], ["SET", "a", "1"], ["EXEC"]],
        [["MULTI"], ["NOSUCH"], ["EXEC"]],
        [["GET", "a"], ["GET", "a", "b"], ["LPUSH", "a", "x"]],
        [["EVAL", "redis.call('set', 'a', '1') return redis.call('get', 'a')", "0"]],
    ],
)
def test_total_commands_processed_counts_what_ran_as_redis(both, calls):
    """Redis counts a command once call() ran it: INFO in the same pipeline sees the calls
    before it (RESETSTAT included), and refused or queued commands are not counted."""
    wire = cmds(["CONFIG", "RESETSTAT"], *calls, ["INFO", "stats"], ["SET", "q", "1"], ["INFO"])
    ours, real = (re.findall(rb"total_commands_processed:(\d+)", exchange(a, wire)) for a in both)
    assert ours == real
