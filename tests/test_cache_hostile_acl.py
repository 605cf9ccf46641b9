"""A hostile user of the cache's AUTH, ACL and introspection, compared with a private redis-server.

Each case drives ``python -m servers.cache`` and a redis-server 7.0 of its own (both on port
0) through the same connections in the same order and asserts the same reply bytes (client
ids, ages and addresses masked where they must differ): a transaction whose user lost a
right between MULTI and EXEC, the ACL LOG of failed logins (HELLO's, in MULTI, a brute force
longer than a minute), CLIENT PAUSE WRITE meeting the write subcommands (XGROUP CREATE,
FUNCTION FLUSH), CLIENT LIST's flags of subscribers and transactions.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from cache_support import Harness

from harness.procs import python_module
from harness.services import RedisServer
from netlib.resp import NEED_DATA, ReplyParser, encode_command
from servers.cache import acl as acl_module

pytestmark = pytest.mark.exercise("N14")

Addr = tuple[str, int]


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[Addr, Addr]]:
    with RedisServer() as real, python_module("servers.cache", port=0) as ours:
        yield (ours.host, ours.port), (real.address.host, real.address.port)  # type: ignore[misc]


class Conn:
    """One connection; ``call`` sends a command and returns its reply's exact bytes."""

    def __init__(self, addr: Addr) -> None:
        self.sock = socket.create_connection(addr, timeout=10)

    def send(self, *args: object) -> None:
        self.sock.sendall(encode_command(*args))  # type: ignore[arg-type]

    def read(self) -> bytes:
        parser, buf = ReplyParser(), b""
        while True:
            chunk = self.sock.recv(65536)
            assert chunk, buf
            buf += chunk
            parser.feed(chunk)
            if parser.next_reply() is not NEED_DATA:
                return buf

    def call(self, *args: object) -> bytes:
        self.send(*args)
        return self.read()

    def close(self) -> None:
        self.sock.close()


def script(addr: Addr, steps: list[tuple[str, tuple[object, ...]]]) -> list[bytes]:
    """Run ``(connection name, command)`` steps on named connections of one server; each
    reply with what differs between two servers (ids, ages, addresses) masked."""
    conns: dict[str, Conn] = {}
    out = []
    try:
        for name, cmd in steps:
            if name not in conns:
                conns[name] = Conn(addr)
            out.append(mask(conns[name].call(*cmd)))
    finally:
        for c in conns.values():
            c.close()
    return out


def mask(reply: bytes) -> bytes:
    reply = re.sub(rb"id=\d+ addr=\S+ laddr=\S+ fd=\S+", b"ID", reply)
    reply = re.sub(rb" age=\d+ idle=\d+ ", b" age=? idle=? ", reply)  # (a slow second)
    reply = re.sub(rb" qbuf=.* events=", b" ... events=", reply)
    reply = re.sub(rb" (lib-name|lib-ver)=\S*", b"", reply)
    reply = re.sub(rb"age-seconds\r\n(\$\d+\r\n[\d.]+|,[\d.]+)\r\n", b"AGE\r\n", reply)
    return re.sub(rb"\$\d+\r\n(ID|\S+ ID)", rb"$?\r\n\1", reply)


def same(both: tuple[Addr, Addr], steps: list[tuple[str, tuple[object, ...]]]) -> list[bytes]:
    ours, real = both
    mine, theirs = script(ours, steps), script(real, steps)
    for step, a, b in zip(steps, mine, theirs, strict=True):
        assert a == b, step
    return mine


# --- MULTI/EXEC: the rights are asked again at EXEC ----------------------------------------------


def test_exec_refuses_what_acl_setuser_took_away_after_queueing(both):
    """Redis's execCommand checks each queued command again: a right taken away between
    MULTI and EXEC refuses that command (and logs it, context multi). It used to run."""
    steps = [
        ("admin", ("ACL", "SETUSER", "txu", "on", ">p", "~*", "&*", "+@all")),
        ("admin", ("ACL", "LOG", "RESET")),
        ("t", ("AUTH", "txu", "p")),
        ("t", ("MULTI",)),
        ("t", ("SET", "txk", "v")),
        ("t", ("GET", "secret:1")),
        ("t", ("PUBLISH", "ch", "hi")),
        ("t", ("INCR", "txn")),
        ("admin", ("ACL", "SETUSER", "txu", "-set", "resetkeys", "~tx*", "resetchannels")),
        ("t", ("EXEC",)),
        ("admin", ("EXISTS", "txk")),
        ("admin", ("ACL", "LOG")),
        ("admin", ("ACL", "DELUSER", "txu")),
    ]
    replies = same(both, steps)
    assert replies[9].startswith(b"*4\r\n-NOPERM ACLs rules changed")
    assert replies[10] == b":0\r\n"


# --- CLIENT LIST's flags -------------------------------------------------------------------------


def flags_by_name(addr: Addr) -> dict[str, str]:
    """Connections in the states CLIENT LIST shows as flags; name -> flags."""
    setups: dict[str, list[tuple[object, ...]]] = {
        "sub3": [("HELLO", 3), ("SUBSCRIBE", "a")],  # a RESP3 subscriber: still P
        "psub2": [("PSUBSCRIBE", "x*")],
        "multi": [("MULTI",), ("SET", "fk", "1")],
        "dirty": [("WATCH", "fk2"), ("MULTI",)],
        "evict": [("CLIENT", "NO-EVICT", "on"), ("SUBSCRIBE", "b")],
        "mon": [("MONITOR",)],
    }
    conns = []
    try:
        for name, calls in setups.items():
            c = Conn(addr)
            conns.append(c)
            c.call("CLIENT", "SETNAME", name)
            for call in calls:
                c.call(*call)
        admin = Conn(addr)
        conns.append(admin)
        admin.call("SET", "fk2", "touched")  # "dirty" watched it
        blocked = Conn(addr)
        conns.append(blocked)
        blocked.call("CLIENT", "SETNAME", "blocked")
        blocked.send("BLPOP", "nolist", 0)
        listing = b""
        while b"name=blocked" not in listing or b"flags=b" not in listing:
            listing = admin.call("CLIENT", "LIST")
        conns[2].call("CLIENT", "INFO")  # queued: EXEC runs it in the transaction
        multi_info = conns[2].call("EXEC")
        return {
            **dict(re.findall(r"name=(\w+) age=\d+ idle=\d+ flags=(\w+)", listing.decode())),
            "in-multi": re.findall(r"flags=(\w+)", multi_info.decode())[0],
        }
    finally:
        for c in conns:
            c.close()


def test_client_list_flags_as_redis(both):
    """P for any subscriber (a RESP3 one as well), x in MULTI, d for a touched WATCH, e with
    NO-EVICT beside P: each flag shown, not one of them. A RESP3 subscriber and a client in
    MULTI were listed as N."""
    ours, real = both
    mine, theirs = flags_by_name(ours), flags_by_name(real)
    assert mine == theirs
    assert theirs["sub3"] == "P" and theirs["multi"] == "x" and theirs["dirty"] == "xd"
    assert theirs["in-multi"] == "x"


# --- CLIENT PAUSE WRITE and the write subcommands ------------------------------------------------


def held_by_pause(addr: Addr, calls: list[tuple[object, ...]]) -> list[bytes]:
    """Each call sent on its own connection during CLIENT PAUSE WRITE: b"held" when it
    waits (CLIENT LIST shows it blocked before its reply came), else its reply."""
    admin = Conn(addr)
    admin.call("FUNCTION", "FLUSH")
    admin.call("DEL", "ps", "ps2")
    admin.call("XADD", "ps2", "1-1", "f", "v")
    admin.call("XGROUP", "CREATE", "ps2", "g0", "0")
    admin.call("CLIENT", "PAUSE", 60_000, "WRITE")
    out = []
    try:
        for i, call in enumerate(calls):
            c = Conn(addr)
            name = f"held{i}"
            c.call("CLIENT", "SETNAME", name)
            c.send(*call)
            while True:
                listing = admin.call("CLIENT", "LIST").decode()
                flags = re.findall(rf"name={name} age=\d+ idle=\d+ flags=(\w+)", listing)[0]
                c.sock.setblocking(False)
                try:
                    answered = c.sock.recv(65536)
                except BlockingIOError:
                    answered = b""
                c.sock.setblocking(True)
                if answered or "b" in flags:
                    out.append(answered or b"held")
                    break
            c.close()
    finally:
        admin.call("CLIENT", "UNPAUSE")
        admin.call("DEL", "ps", "ps2")
        admin.close()
    return out


def test_pause_write_holds_write_subcommands(both):
    """XGROUP CREATE/CREATECONSUMER/DESTROY and FUNCTION DELETE/FLUSH are writes (Redis
    flags the subcommand): a WRITE pause holds them, queued in MULTI too, as SET. They ran,
    as the container (XGROUP, FUNCTION) was asked whether it writes. A read goes on."""
    calls: list[tuple[object, ...]] = [
        ("XGROUP", "CREATE", "ps", "g", "$", "MKSTREAM"),
        ("XGROUP", "CREATECONSUMER", "ps2", "g0", "c"),
        ("FUNCTION", "DELETE", "nolib"),
        ("FUNCTION", "FLUSH"),
        ("XINFO", "GROUPS", "ps2"),
    ]
    ours, real = both
    mine, theirs = held_by_pause(ours, calls), held_by_pause(real, calls)
    assert mine == theirs
    assert theirs[:4] == [b"held"] * 4 and theirs[4].startswith(b"*1\r\n")


def test_pause_write_holds_exec_of_a_queued_write_subcommand(both):
    """An EXEC whose queue holds a write subcommand (FUNCTION FLUSH) waits for the pause's
    end, then runs it."""
    results = []
    for addr in both:
        t, admin = Conn(addr), Conn(addr)
        try:
            t.call("CLIENT", "SETNAME", "execer")
            assert t.call("MULTI") == b"+OK\r\n"
            assert t.call("FUNCTION", "FLUSH") == b"+QUEUED\r\n"
            admin.call("CLIENT", "PAUSE", 60_000, "WRITE")
            t.send("EXEC")
            while True:  # until EXEC is held (b) or has run (x gone)
                listing = admin.call("CLIENT", "LIST").decode()
                flags = re.findall(r"name=execer age=\d+ idle=\d+ flags=(\w+)", listing)[0]
                if "b" in flags or "x" not in flags:
                    results.append(flags)
                    break
            admin.call("CLIENT", "UNPAUSE")
            results.append(t.read())
        finally:
            t.close()
            admin.close()
    assert results[:2] == results[2:]
    assert results[:2] == ["xb", b"*1\r\n+OK\r\n"]


# --- ACL LOG of failed logins ---------------------------------------------------------------------


def test_acl_log_names_the_login_command_as_typed(both):
    """A failed HELLO AUTH is logged with object HELLO, a lowercase auth as "auth" (Redis
    logs argv[0]), and an AUTH run by EXEC in context multi: all were "AUTH", toplevel,
    so a HELLO failure and an AUTH failure were merged into one entry."""
    steps = [
        ("admin", ("ACL", "SETUSER", "logu", "on", ">right", "+@all")),
        ("admin", ("ACL", "LOG", "RESET")),
        ("a", ("AUTH", "logu", "wrong")),
        ("a", ("HELLO", 3, "AUTH", "logu", "wrong")),
        ("a", ("auth", "logu", "wrong")),
        ("a", ("hello", 2, "AUTH", "logu", "wrong")),
        ("b", ("MULTI",)),
        ("b", ("AUTH", "logu", "wrong")),
        ("b", ("EXEC",)),
        ("admin", ("ACL", "LOG")),
        ("admin", ("ACL", "DELUSER", "logu")),
    ]
    log = same(both, steps)[9]
    assert log.startswith(b"*5\r\n") and b"$5\r\nmulti\r\n" in log and b"$5\r\nHELLO" in log


def test_acl_log_merges_only_with_the_ten_latest_entries(both):
    """Redis compares a denial with the 10 latest entries only: a failed login after ten
    other denials is a new entry (count 1), not the first one's count 2."""
    steps = [("admin", ("ACL", "LOG", "RESET")), ("a", ("AUTH", "tenu", "wrong"))]
    steps += [("a", ("AUTH", f"other{i}", "wrong")) for i in range(10)]
    steps += [("a", ("AUTH", "tenu", "wrong")), ("admin", ("ACL", "LOG", 20))]
    log = same(both, steps)[-1]
    assert log.startswith(b"*12\r\n")


def test_acl_log_brute_force_stays_one_entry_past_a_minute(monkeypatch):
    """Denials are grouped when the entry was *updated* less than a minute ago (Redis's
    ctime, which age-seconds counts from): an AUTH every 30 s for 3 minutes is one entry of
    count 7, 0 s old. The first denial's time was kept, so a new entry began every minute."""
    now = [1_000_000.0]
    monkeypatch.setattr(acl_module.time, "time", lambda: now[0])
    h = Harness()
    h.cmd("ACL", "SETUSER", "bf", "on", ">right")
    for _ in range(7):
        assert h.cmd("AUTH", "bf", "guess").startswith(b"-WRONGPASS")
        now[0] += 30
    now[0] -= 30
    log = h.cmd("ACL", "LOG")
    assert log.startswith(b"*1\r\n*14\r\n$5\r\ncount\r\n:7\r\n")
    assert b"age-seconds\r\n$1\r\n0\r\n" in log


# --- SLOWLOG --------------------------------------------------------------------------------------


def test_slowlog_keeps_auth_hello_and_multi_redacted(both):
    """Redis 7.0 skips only EXEC in the slow log: AUTH (right or wrong) and HELLO AUTH are
    logged with their credentials redacted, MULTI and DISCARD as they are. They were
    left out."""
    steps = [
        ("admin", ("SLOWLOG", "RESET")),
        ("admin", ("CONFIG", "SET", "slowlog-log-slower-than", 0)),
        ("admin", ("ACL", "SETUSER", "slu", "on", ">right", "+@all")),
        ("a", ("AUTH", "slu", "right")),
        ("a", ("AUTH", "slu", "wrong")),
        ("a", ("HELLO", 2, "AUTH", "slu", "right", "SETNAME", "n")),
        ("a", ("MULTI",)),
        ("a", ("SET", "slk", "1")),
        ("a", ("EXEC",)),
        ("a", ("MULTI",)),
        ("a", ("DISCARD",)),
        ("admin", ("CONFIG", "SET", "slowlog-log-slower-than", 10_000)),
        ("admin", ("ACL", "DELUSER", "slu")),
    ]
    logged = []
    for addr in both:
        script(addr, steps)
        entries = script(addr, [("admin", ("SLOWLOG", "GET", 20))])[0]
        logged.append(re.findall(rb"\*\d+\r\n((?:\$\d+\r\n[^\r]*\r\n)+)\$\d+\r\n127", entries))
    assert logged[0] == logged[1]
    assert (
        b"right" not in b"".join(logged[0]) and b"$4\r\nAUTH\r\n$10\r\n(redacted)" in logged[0][3]
    )


# --- scripts run with the caller's rights ---------------------------------------------------------


def test_script_acl_denials_worded_as_redis(both):
    """redis.call and redis.pcall of what the user may not run, read or publish: Redis 7.0's
    "The user executing the script can't ..." (it was Redis 6's "ACL failure in script: User
    ... has no permissions to ..."), each denial in ACL LOG with context lua."""
    steps = [
        ("admin", ("ACL", "SETUSER", "scu", "on", ">p", "~k*", "&c*", "+@all", "-flushall")),
        ("admin", ("ACL", "LOG", "RESET")),
        ("s", ("AUTH", "scu", "p")),
        ("s", ("EVAL", "return redis.call('get','secret')", 0)),
        ("s", ("EVAL", "return redis.call('flushall')", 0)),
        ("s", ("EVAL", "return redis.pcall('flushall')", 0)),
        ("s", ("EVAL", "return redis.call('publish','x','y')", 0)),
        ("s", ("EVAL", "return redis.acl_check_cmd('get','secret')", 0)),
        ("s", ("EVAL", "return redis.acl_check_cmd('get','k1')", 0)),
        ("admin", ("ACL", "LOG")),
        ("admin", ("ACL", "DELUSER", "scu")),
    ]
    replies = same(both, steps)
    assert replies[4].startswith(b"-ERR The user executing the script can't run this command")


# --- maxmemory and the subcommands that may grow memory -------------------------------------------


def test_oom_refuses_denyoom_subcommands_as_redis(both):
    """Over maxmemory XGROUP CREATE (MKSTREAM) and CREATECONSUMER are refused with -OOM as
    Redis flags them denyoom, DESTROY still runs, and INFO commandstats counts the refusals
    under xgroup|create. They ran: the session asked the container XGROUP."""
    steps = [
        ("admin", ("DEL", "oom:new", "oom:s")),
        ("admin", ("XADD", "oom:s", "1-1", "f", "v")),
        ("admin", ("XGROUP", "CREATE", "oom:s", "g", "$")),
        ("admin", ("CONFIG", "RESETSTAT")),
        ("admin", ("CONFIG", "SET", "maxmemory", 1)),
        ("admin", ("XGROUP", "CREATE", "oom:new", "g", "$", "MKSTREAM")),
        ("admin", ("XGROUP", "CREATECONSUMER", "oom:s", "g", "c")),
        ("admin", ("XGROUP", "DESTROY", "oom:s", "g")),
        ("admin", ("MULTI",)),
        ("admin", ("XGROUP", "CREATE", "oom:s", "g2", "$")),
        ("admin", ("EXEC",)),
        ("admin", ("CONFIG", "SET", "maxmemory", 0)),
        ("admin", ("EXISTS", "oom:new")),
        ("admin", ("DEL", "oom:s")),
    ]
    replies = same(both, steps)
    assert replies[5].startswith(b"-OOM") and replies[12] == b":0\r\n"
    stats = []
    for addr in both:
        info = script(addr, [("admin", ("INFO", "commandstats"))])[0].decode()
        stats.append(
            sorted(re.findall(r"cmdstat_(xgroup\S*):calls=(\d+).*?rejected_calls=(\d+)", info))
        )
    assert stats[0] == stats[1]


def test_min_replicas_refuses_write_subcommands_as_redis(both):
    """min-replicas-to-write 1 without replicas refuses every write with -NOREPLICAS, the
    write subcommands too (XGROUP CREATE, FUNCTION FLUSH; queued: EXEC aborts)."""
    steps = [
        ("admin", ("DEL", "nr")),
        ("admin", ("CONFIG", "SET", "min-replicas-to-write", 1)),
        ("admin", ("XGROUP", "CREATE", "nr", "g", "$", "MKSTREAM")),
        ("admin", ("FUNCTION", "FLUSH")),
        ("admin", ("MULTI",)),
        ("admin", ("XGROUP", "CREATE", "nr", "g", "$", "MKSTREAM")),
        ("admin", ("EXEC",)),
        ("admin", ("CONFIG", "SET", "min-replicas-to-write", 0)),
        ("admin", ("EXISTS", "nr")),
    ]
    replies = same(both, steps)
    assert replies[2].startswith(b"-NOREPLICAS") and replies[8] == b":0\r\n"


def test_misconf_refuses_write_subcommands():
    """While the AOF cannot be written (-MISCONF) a write subcommand is refused as SET is
    (in MULTI too: EXEC then aborts), as Redis's processCommand does; a read one runs."""
    h = Harness()
    h.cmd("XADD", "s", "1-1", "f", "v")
    h.state.misconf = b"-MISCONF Errors writing to the AOF file: No space left on device\r\n"
    h.client.update_guard()  # (what saving.py does for each client when the AOF fails)
    assert h.cmd("XGROUP", "CREATE", "s", "g", "$").startswith(b"-MISCONF")
    assert h.cmd("FUNCTION", "FLUSH").startswith(b"-MISCONF")
    assert h.cmd("XINFO", "STREAM", "s").startswith(b"*")
    h.cmd("MULTI")
    assert h.cmd("XGROUP", "CREATE", "s", "g", "$").startswith(b"-MISCONF")  # not queued
    assert h.cmd("EXEC").startswith(b"-EXECABORT")
    h.state.misconf = None
    assert h.cmd("XINFO", "GROUPS", "s") == b"*0\r\n"


# --- INFO commandstats of refused subcommands -----------------------------------------------------


def test_refused_subcommands_counted_under_their_own_row(both):
    """NOPERM (a user without CONFIG SET, without XGROUP) and NOAUTH count as rejected calls of
    the subcommand (config|set, xgroup|create), as Redis's c->cmd; they were counted under
    the container (config, xgroup)."""
    steps = [
        ("admin", ("ACL", "SETUSER", "rcu", "on", ">p", "~*", "+@all", "-config|set", "-xgroup")),
        ("admin", ("CONFIG", "SET", "requirepass", "")),
        ("r", ("AUTH", "rcu", "p")),
        ("unauth", ("PING",)),  # connected while the default user needs no password
        ("admin", ("CONFIG", "RESETSTAT")),
        ("r", ("CONFIG", "SET", "maxmemory", 0)),
        ("r", ("CONFIG", "GET", "maxmemory")),
        ("r", ("XGROUP", "CREATE", "s", "g", "$")),
        ("r", ("XGROUP", "HELP")),
        ("r", ("MULTI",)),
        ("r", ("CONFIG", "SET", "a", "b")),
        ("r", ("EXEC",)),
        ("admin", ("CONFIG", "SET", "requirepass", "rcpw")),
        ("late", ("CONFIG", "GET", "x")),
        ("late", ("XGROUP", "CREATE", "a", "b", "c")),
        ("admin", ("CONFIG", "SET", "requirepass", "")),
        ("admin", ("ACL", "DELUSER", "rcu")),
    ]
    stats = []
    for addr in both:
        script(addr, steps)
        info = script(addr, [("admin", ("INFO", "commandstats"))])[0].decode()
        rows = re.findall(
            r"cmdstat_((?:config|xgroup)\S*):calls=(\d+).*?rejected_calls=(\d+)", info
        )
        stats.append(sorted(rows))
    assert stats[0] == stats[1]
    assert ("config|set", "2", "2") in stats[1] and ("xgroup|create", "0", "2") in stats[1]


# --- ACL LIST / GETUSER ---------------------------------------------------------------------------


def test_flags_in_redis_order_after_reset(both):
    """``reset nopass``: Redis emits its flags in ACLUserFlags' order (off nopass
    sanitize-payload), in ACL LIST (the ACL file's text) and GETUSER; nopass came last."""
    steps = [
        ("admin", ("ACL", "SETUSER", "fo", "reset", "nopass")),
        (
            "admin",
            ("ACL", "SETUSER", "fo2", "reset", "skip-sanitize-payload", "on", ">x", "nopass"),
        ),
        ("admin", ("ACL", "GETUSER", "fo")),
        ("admin", ("ACL", "GETUSER", "fo2")),
        ("admin", ("ACL", "LIST")),
        ("admin", ("ACL", "DELUSER", "fo", "fo2")),
    ]
    replies = same(both, steps)
    assert b"user fo off nopass sanitize-payload resetchannels -@all" in replies[4]


# --- %R~ and %W~ key patterns against Redis's key specs -------------------------------------------

SPLIT_CALLS = [
    "exists w1", "type w1", "llen w1", "strlen w1", "touch w1", "watch w1", "scard w1",
    "object encoding w1", "object freq w1", "memory usage w1", "ttl w1",
    "xgroup create w1 g $", "xgroup destroy w1 g", "xack w1 g 1-1", "xclaim w1 g c 0 1-1",
    "xautoclaim w1 g c 0 0", "geoadd w1 0 0 a", "xreadgroup group g c streams r1 >",
    "eval x 1 r1", "eval x 1 w1", "eval x 1 rw1", "evalsha abc 1 r1", "fcall f 1 r1",
    "eval_ro x 1 r1", "fcall_ro f 1 r1", "copy r1 w1", "set w1 x", "set w1 x get",
    "getdel r1", "xadd w1 * a b", "pfcount r1", "sort r1 store w1", "lmove r1 w1 left left",
]  # fmt: skip


def test_read_write_key_patterns_follow_redis_key_specs(both):
    """A key needs read access when Redis's key spec hands its value back (ACCESS), write
    when it changes it (INSERT/DELETE/UPDATE), and only a matching pattern when neither:
    ``%W~w*`` may EXISTS, TYPE or WATCH w1 and XGROUP CREATE/XACK/GEOADD on it, while
    EVAL's keys need both (``%R~r*`` may not EVAL on r1). Each was the other way round."""
    steps = [("admin", ("ACL", "SETUSER", "rw", "on", "nopass", "+@all", "%R~r*", "%W~w*", "~rw*"))]
    steps += [("admin", ("ACL", "DRYRUN", "rw", *call.split())) for call in SPLIT_CALLS]
    steps += [
        ("u", ("AUTH", "rw", "x")),
        ("u", ("EXISTS", "w1")),
        ("u", ("EVAL", "return 1", 1, "r1")),
        ("admin", ("ACL", "DELUSER", "rw")),
    ]
    replies = same(both, steps)
    assert replies[1] == b"+OK\r\n" and replies[-3] == b":0\r\n"
    assert replies[-2].startswith(b"-NOPERM")


def test_key_pattern_rules_parsed_and_merged_as_redis(both):
    """``%R~a ~a`` is one pattern ``~a`` (rights add up), ``%R~* %W~*`` is ``~*`` and not
    allkeys (``~y`` may follow, ``%RW~*`` too), ``%RR~x`` is refused, ``%R`` alone is the
    empty pattern. Patterns were kept twice, ``%RW~*`` wiped the list into allkeys,
    ``%RR~x`` was taken and ``%R`` refused."""
    rules = [
        ["%WR~x", "%R~", "~", "&", "%RW~*", "~y"],
        ["%R~*", "%W~*", "~y"],
        ["%R~*", "~*"],
        ["~a", "~a", "%R~a"],
        ["%W~a", "%R~a"],
        ["%W~a", "%W~a"],
        ["%R"],
        ["%RW"],
        ["%RR~x"],
        ["%rw~x", "%Wr~y", "%w~z", "%x~a"],
        ["%~a"],
        ["%"],
        ["allkeys", "%R~x"],
    ]
    steps = []
    for i, words in enumerate(rules):
        steps += [
            ("admin", ("ACL", "SETUSER", f"kp{i}", "reset", *words)),
            ("admin", ("ACL", "GETUSER", f"kp{i}")),
            ("admin", ("ACL", "DELUSER", f"kp{i}")),
        ]
    replies = same(both, steps)
    assert b"$10\r\n~x ~ ~* ~y\r\n" in replies[1]


# --- CONFIG SET of the ACL settings ---------------------------------------------------------------


def test_config_set_acl_settings_refused_in_redis_words(both):
    """acllog-max-len is an integer from 0 (Redis's bounds and wording: it said "couldn't
    be parsed: '-1'"), and CONFIG SET requirepass without a value pair is a syntax error,
    not a wrong number of arguments."""
    steps = [
        ("admin", ("CONFIG", "SET", "acllog-max-len", -1)),
        ("admin", ("CONFIG", "SET", "acllog-max-len", "abc")),
        ("admin", ("CONFIG", "SET", "acllog-max-len", 2**63)),
        ("admin", ("CONFIG", "SET", "acllog-max-len", 5)),
        ("admin", ("CONFIG", "GET", "acllog-max-len")),
        ("admin", ("CONFIG", "SET", "acllog-max-len", 128)),
        ("admin", ("CONFIG", "SET", "requirepass", "a", "b")),
        ("admin", ("CONFIG", "GET", "requirepass")),
        ("admin", ("INFO", "errorstats")),
    ]
    replies = same(both, [("admin", ("CONFIG", "RESETSTAT")), *steps])
    assert replies[1].endswith(b"argument must be between 0 and 9223372036854775807 inclusive\r\n")


def test_acl_log_age_in_redis_double_form(monkeypatch):
    """age-seconds is whole milliseconds over 1000 written with Redis 7.0's ``%.17g``
    (redis-server answered "0.0050000000000000001" 5 ms after a denial; it read "0.005")."""
    now = [2_000_000.0]
    monkeypatch.setattr(acl_module.time, "time", lambda: now[0])
    h = Harness()
    h.cmd("AUTH", "nobody", "x")
    now[0] += 0.0054
    assert b"age-seconds\r\n$21\r\n0.0050000000000000001\r\n" in h.cmd("ACL", "LOG")
    h.cmd("HELLO", 3)
    assert b"age-seconds\r\n,0.0050000000000000001\r\n" in h.cmd("ACL", "LOG")
