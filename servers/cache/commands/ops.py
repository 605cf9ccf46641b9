"""The cache in operation: MONITOR, CLIENT KILL/PAUSE/UNPAUSE/NO-EVICT, SLOWLOG, LATENCY,
MEMORY USAGE, and the CONFIG parameters behind them (the records: ``servers.cache.observe``).

CLIENT PAUSE holds commands without blocking the loop: a paused client's
``guard`` answers ``HOLD`` and the session keeps that command and the rest of
its pipeline in ``pending`` (``ALL``: every command; ``WRITE``: the first
write-flagged one); UNPAUSE or the timer releases them in order. CLIENT
commands themselves are never held, so UNPAUSE can always get through.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from netlib import resp
from servers.cli import parse_size
from servers.respkit import HOLD

from ..observe import percentile_text
from ..table import REGISTRY, SYNTAX, CommandError, command, container, to_int
from . import server as server_commands

G = "server"
NO = (0, 0, 0)
CLIENT = REGISTRY.table[b"client"]
PAUSED = "paused"  # the ``blocked`` reason of a client held by CLIENT PAUSE


def client_sub(name: str, arity: int, summary: str, syntax: str | None = None) -> Any:
    return command(
        name, arity, "admin noscript loading stale", NO, "connection", summary, CLIENT, syntax
    )


# --- MONITOR ------------------------------------------------------------------------------


@command(
    "MONITOR",
    1,
    "admin noscript loading stale",
    NO,
    G,
    "Listen for all requests received by the server in real time",
)
def monitor(c: Any, a: list[bytes]) -> bytes:
    """A second MONITOR is answered nothing (``monitor_refusal``); inside EXEC, as in a
    script, Redis refuses it (its CLIENT_DENY_BLOCKING)."""
    if c.in_exec:
        raise CommandError("MONITOR isn't allowed for DENY BLOCKING client")
    c.state.observer.add_monitor(c)
    c.monitoring = True
    c.update_guard()
    return resp.OK


# A monitor is a replica to Redis: it may not read or write keys any more.
REPLICA_KEYSPACE = b"-ERR Replica can't interact with the keyspace\r\n"


def monitor_refusal(cmd: Any) -> bytes | None:
    """What a monitoring client gets instead of running ``cmd`` (guarded), or None: no
    reply at all to MONITOR again (Redis returns early), REPLICA_KEYSPACE to a command
    that reads, writes or may replicate."""
    if cmd.name == "monitor":
        return b""
    if "write" in cmd.flags or "readonly" in cmd.flags or cmd.name in MAY_REPLICATE:
        return REPLICA_KEYSPACE
    return None


def forget(c: Any) -> None:
    """A closed or RESET client stops monitoring."""
    c.state.observer.remove_monitor(c)
    c.monitoring = False


# --- CLIENT KILL ------------------------------------------------------------------------------

KILL_SYNTAX = (
    "ip:port | [ID client-id] [TYPE NORMAL|MASTER|SLAVE|REPLICA|PUBSUB] [USER username] "
    "[ADDR ip:port] [LADDR ip:port] [SKIPME yes|no] [MAXAGE maxage]"
)
CLIENT_TYPES = (b"normal", b"master", b"replica", b"slave", b"pubsub")


def _laddr(cl: Any) -> str:
    s = cl.conn.sockname
    return f"{s[0]}:{s[1]}" if len(s) >= 2 else ""


@client_sub("KILL", -3, "Kill the connection of a client", KILL_SYNTAX)
def client_kill(c: Any, a: list[bytes]) -> bytes:
    clients = c.state.clients
    if len(a) == 3:  # the old form: CLIENT KILL addr:port, +OK or an error
        addr = a[2].decode(errors="replace")
        for cl in list(clients.values()):
            if str(cl.conn.peer) == addr:
                _kill(c, cl)
                return resp.OK
        raise CommandError("No such client")
    if len(a) % 2:
        return SYNTAX
    tests: list[Any] = []
    skipme = True
    for i in range(2, len(a), 2):
        opt, val = a[i].upper(), a[i + 1]
        text = val.decode(errors="replace")
        if opt == b"ID":
            want = to_int(val, b"-ERR client-id should be greater than 0\r\n")
            if want <= 0:
                raise CommandError("client-id should be greater than 0")
            tests.append(lambda cl, w=want: cl.id == w)
        elif opt == b"TYPE":
            kind = val.lower()
            if kind not in CLIENT_TYPES:
                raise CommandError(f"Unknown client type '{text}'")
            tests.append(lambda cl, k=kind: cl.client_type() == k)
        elif opt == b"USER":
            if text not in c.state.acl.users:
                raise CommandError(f"No such user '{text}'")
            tests.append(lambda cl, u=text: cl.user_name == u)
        elif opt == b"ADDR":
            tests.append(lambda cl, ad=text: str(cl.conn.peer) == ad)
        elif opt == b"LADDR":
            tests.append(lambda cl, ad=text: _laddr(cl) == ad)
        elif opt == b"SKIPME":
            if val.lower() not in (b"yes", b"no"):
                return SYNTAX
            skipme = val.lower() == b"yes"
        elif opt == b"MAXAGE":
            age = to_int(val, SYNTAX)  # (Redis's word for a bad MAXAGE)
            tests.append(lambda cl, m=age: time.monotonic() - cl.created >= m)
        else:
            return SYNTAX
    killed = 0
    for cl in list(clients.values()):
        if skipme and cl is c:
            continue
        if all(t(cl) for t in tests):
            _kill(c, cl)
            killed += 1
    return resp.integer(killed)


def _kill(me: Any, cl: Any) -> None:
    if cl is me:
        me.closing = True  # closed once this batch is answered, as Redis's CLOSE_AFTER_REPLY
    else:
        cl.conn.log.info("closing: CLIENT KILL by client id=%d", me.id)
        cl.conn.close()


# --- CLIENT PAUSE / UNPAUSE / NO-EVICT ------------------------------------------------------


@client_sub(
    "PAUSE", -3, "Stop processing commands from clients for some time", "timeout [WRITE|ALL]"
)
def client_pause(c: Any, a: list[bytes]) -> bytes:
    if len(a) > 4:
        raise CommandError(
            "unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP."
        )
    ms = to_int(a[2], b"-ERR timeout is not an integer or out of range\r\n")
    if ms < 0:
        raise CommandError("timeout is negative")
    mode = "all"
    if len(a) == 4:
        if a[3].upper() not in (b"WRITE", b"ALL"):
            raise CommandError("CLIENT PAUSE mode must be WRITE or ALL")
        mode = a[3].decode().lower()
    st = c.state
    end = time.monotonic() + ms / 1000
    if st.pause is None or end > st.pause[0] or mode == "all":
        st.pause = (max(end, st.pause[0]) if st.pause else end, mode)
    st.keyspace.expire_paused = True  # no key expires while paused, as in Redis 7.0
    if st.pause_timer is not None:
        st.pause_timer.cancel()
    st.pause_timer = asyncio.get_running_loop().call_later(
        st.pause[0] - time.monotonic(), unpause, st
    )
    for cl in st.clients.values():
        cl.update_guard()
    return resp.OK


def unpause(st: Any) -> None:
    """The pause ends: every held client runs what it was sent, in order."""
    st.pause = None
    st.keyspace.expire_paused = False
    if st.pause_timer is not None:
        st.pause_timer.cancel()
        st.pause_timer = None
    for cl in list(st.clients.values()):
        cl.update_guard()
        if cl.blocked == PAUSED:
            cl.blocked = None
            cl.resume()


# What Redis flags may-replicate: held by a WRITE pause like the writes.
MAY_REPLICATE = frozenset({"eval", "evalsha", "fcall", "pfcount", "publish", "spublish"})


def held(c: Any, cmd: Any, args: list[bytes] | None = None) -> bytes | None:
    """While paused: HOLD for a command the pause covers (the guard's answer), else None."""
    pause = c.state.pause
    if pause is None or cmd.name == "client" or c.blocked is not None:
        return None
    cmd = cmd.called(args or [])  # (XGROUP CREATE, FUNCTION FLUSH: the subcommand writes)
    if pause[1] == "all" or (_writes(c, cmd) and not _no_writes_script(c, cmd, args or [])):
        c.blocked = PAUSED
        return HOLD
    return None


def _no_writes_script(c: Any, cmd: Any, args: list[bytes]) -> bool:
    """An EVAL / EVALSHA / FCALL of a script flagged ``no-writes``: a WRITE pause lets it run,
    as Redis does (a script without flags counts as a write)."""
    flags: Any = None
    engine = c.state.scripting
    try:
        if cmd.name == "eval" and len(args) > 1:
            from ..scripting import parse_shebang

            flags = parse_shebang(args[1])[0]
        elif cmd.name == "evalsha" and len(args) > 1 and engine is not None:
            entry = engine.scripts.get(args[1].decode(errors="replace").lower())
            flags = entry[1] if entry else None
        elif cmd.name == "fcall" and len(args) > 1 and engine is not None:
            entry = engine.functions.get(args[1].decode(errors="replace").lower())
            flags = entry[1]["flags"] if entry else None
    except CommandError:  # a bad shebang: refused when it runs
        return False
    return flags is not None and "no-writes" in flags


def _writes(c: Any, cmd: Any) -> bool:
    """A command a WRITE pause holds: a write, a may-replicate one, or an EXEC queueing one."""
    if "write" in cmd.flags or cmd.name in MAY_REPLICATE:
        return True
    if cmd.name == "exec" and c.multi:
        registry = c.state.registry
        for args in c.multi:
            queued = registry.get(args[0])
            if queued is not None:
                queued = queued.called(args)
            if queued is None or not ("write" in queued.flags or queued.name in MAY_REPLICATE):
                continue
            if not _no_writes_script(c, queued, args):  # a queued no-writes EVAL is a read
                return True
    return False


@client_sub("UNPAUSE", 2, "Resume processing of clients that were paused")
def client_unpause(c: Any, a: list[bytes]) -> bytes:
    unpause(c.state)
    return resp.OK


@client_sub("NO-EVICT", 3, "Set client eviction mode for the current connection", "ON|OFF")
def client_no_evict(c: Any, a: list[bytes]) -> bytes:
    v = a[2].upper()
    if v not in (b"ON", b"OFF"):
        return SYNTAX
    c.no_evict = v == b"ON"
    return resp.OK


@command("REPLY", 3, "noscript loading stale", NO, "connection",
         "Instruct the server whether to reply to commands", CLIENT, "ON|OFF|SKIP")  # fmt: skip
def client_reply(c: Any, a: list[bytes]) -> bytes | None:
    """OFF and SKIP have no reply themselves (None: nothing to send, nothing blocked)."""
    mode = a[2].upper()
    if mode not in (b"ON", b"OFF", b"SKIP"):
        return SYNTAX
    c.reply_mode = mode
    c.update_guard()
    return resp.OK if mode == b"ON" else None


# --- SLOWLOG ------------------------------------------------------------------------------

SLOWLOG = container("SLOWLOG", G, "A container for slow log commands")


def _sl(name: str, arity: int, summary: str, syntax: str | None = None) -> Any:
    return command(name, arity, "admin loading stale", NO, G, summary, SLOWLOG, syntax)


@_sl("GET", -2, "Get the slow log's entries", "[count]")
def slowlog_get(c: Any, a: list[bytes]) -> bytes:
    log = c.state.observer.slowlog
    n = 10
    if len(a) > 2:
        n = to_int(a[2], b"-ERR count should be greater than or equal to -1\r\n")
        if n < -1:
            raise CommandError("count should be greater than or equal to -1")
        if n == -1:
            n = len(log)
    return resp.array(list(log)[:n], c.proto)


@_sl("LEN", 2, "Get the slow log's length")
def slowlog_len(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(len(c.state.observer.slowlog))


@_sl("RESET", 2, "Clear all entries from the slow log")
def slowlog_reset(c: Any, a: list[bytes]) -> bytes:
    c.state.observer.slowlog.clear()
    return resp.OK


# --- LATENCY ------------------------------------------------------------------------------

LATENCY = container("LATENCY", G, "A container for latency diagnostics commands")


def _lat(name: str, arity: int, summary: str, syntax: str | None = None) -> Any:
    return command(name, arity, "admin noscript loading stale", NO, G, summary, LATENCY, syntax)


@_lat("LATEST", 2, "Return the latest latency samples for all events")
def latency_latest(c: Any, a: list[bytes]) -> bytes:
    ev = c.state.observer.latency
    rows = [
        [name.encode(), e.samples[-1][0], e.latest, e.max] for name, e in ev.items() if e.samples
    ]
    return resp.array(rows, c.proto)


@_lat("HISTORY", 3, "Return timestamp-latency samples for the event", "event")
def latency_history(c: Any, a: list[bytes]) -> bytes:
    e = c.state.observer.latency.get(a[2].decode(errors="replace"))
    rows = [[ts, ms] for ts, ms in e.samples] if e else []
    return resp.array(rows, c.proto)


@_lat("RESET", -2, "Reset latency data for one or more events", "[event [event ...]]")
def latency_reset(c: Any, a: list[bytes]) -> bytes:
    ev = c.state.observer.latency
    names = [x.decode(errors="replace") for x in a[2:]] or list(ev)
    n = 0
    for name in names:
        if ev.pop(name, None) is not None:
            n += 1
    return resp.integer(n)


@_lat("HISTOGRAM", -2, "Return the cumulative distribution of latencies of a subset of commands "
      "or all", "[command [command ...]]")  # fmt: skip
def latency_histogram(c: Any, a: list[bytes]) -> bytes:
    """Per command (a container's name: each of its subcommands; unknown names are skipped)
    its calls and ``histogram_usec``. Calls are counted in runs (``Session.run``), not timed
    one by one, so the distribution is a single bucket: the power of two at or above the
    mean time per call (Redis's HdrHistogram has one per call, in the same power-of-two
    buckets, cumulative)."""
    stats = c.state.observer.commands
    if len(a) == 2:
        names = list(stats)
    else:
        names = []
        for x in a[2:]:
            want = x.decode(errors="replace").lower()
            names += [n for n in stats if n == want or n.startswith(want + "|")]
    out: dict[bytes, Any] = {}
    for name in dict.fromkeys(names):
        st = stats[name]
        if not st.calls:
            continue
        mean_us = st.seconds * 1e6 / st.calls
        bucket = 1 << max(0, math.ceil(math.log2(mean_us))) if mean_us > 1 else 1
        out[name.encode()] = {
            b"calls": st.calls, b"histogram_usec": {bucket: st.calls}
        }  # fmt: skip
    return resp.map_(out, c.proto)


# --- MEMORY USAGE ------------------------------------------------------------------------

MEMORY = container("MEMORY", G, "A container for memory diagnostics commands")

DOCTOR_EMPTY = (
    "Hi Sam, this instance is empty or is using very little memory, my issues detector can't "
    "be used in these conditions. Please, leave for your mission on Earth and fill it with some "
    "data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
)
DOCTOR_FINE = (
    "Hi Sam, I can't find any memory issue in your instance. "
    "I can only account for what occurs on this base.\n"
)


@command("DOCTOR", 2, "", (0, 0, 0), G, "Outputs memory problems report", MEMORY)
def memory_doctor(c: Any, a: list[bytes]) -> bytes:
    """Redis's report: below 5 MB used the detector declines, as Redis's does; above, none of
    Redis's checks (fragmentation, peak, big client buffers) applies here: no issue found."""
    used = c.state.memory.used()
    return resp.verbatim(DOCTOR_EMPTY if used < 5 << 20 else DOCTOR_FINE, c.proto)


@command(
    "USAGE",
    -3,
    "readonly",
    (2, 2, 1),
    "keyspace",
    "Estimate the memory usage of a key",
    MEMORY,
    "key [SAMPLES count]",
)
def memory_usage(c: Any, a: list[bytes]) -> bytes:
    for j in range(3, len(a), 2):  # SAMPLES may repeat, as in Redis; each count is checked
        if a[j].upper() != b"SAMPLES" or j + 1 == len(a) or to_int(a[j + 1]) < 0:
            return SYNTAX
    if c.db.peek(a[2]) is None:
        return resp.null(c.proto)
    return resp.integer(c.db.size_of(a[2]))


# --- CONFIG parameters ---------------------------------------------------------------------

CLASSES = ("normal", "replica", "pubsub")


def _obl_text(st: Any) -> str:
    """CONFIG GET's text: Redis 7.0 still names the replica class ``slave`` there (sizes in
    bytes)."""
    return " ".join(
        f"{'slave' if k == 'replica' else k} {h} {s} {t}"
        for k, (h, s, t) in st.output_limits.items()
    )


def _set_obl(st: Any, value: str) -> None:
    """``client-output-buffer-limit "pubsub 32mb 8mb 60 normal 0 0 0"``: class hard soft secs
    (all checked before any is set; refusals in Redis's words)."""
    words = value.split()
    if not words or len(words) % 4:
        raise server_commands.ConfigError(
            "Wrong number of arguments in buffer limit configuration."
        )
    new = dict(st.output_limits)
    for i in range(0, len(words), 4):
        kind = words[i].lower()
        kind = "replica" if kind == "slave" else kind
        if kind not in CLASSES:
            raise server_commands.ConfigError(
                "Invalid client class specified in buffer limit configuration."
            )
        try:
            hard, soft = parse_size(words[i + 1]), parse_size(words[i + 2])
            secs = int(words[i + 3])
        except ValueError:
            secs = -1
        if secs < 0:
            raise server_commands.ConfigError(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            )
        new[kind] = (hard, soft, secs)
    st.output_limits = new
    st.limits_output = any(new["normal"][:2])
    for client in st.clients.values():
        client.limit_output(st.limits_output)
        client.conn.set_write_high_water(max(new["normal"][:2]))


def _set_percentiles(st: Any, value: str) -> None:
    """``latency-tracking-info-percentiles "50 99 99.9"``: each in [0, 100] ("" : none)."""
    try:
        ps = [float(w) for w in value.split()]
    except ValueError:
        raise server_commands.ConfigError(
            "Invalid latency-tracking-info-percentiles parameters"
        ) from None
    if any(not 0.0 <= p <= 100.0 for p in ps):
        raise server_commands.ConfigError(
            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
        )
    st.observer.percentiles = ps


def _set_tracking(st: Any, value: str) -> None:
    if value.lower() not in ("yes", "no"):
        raise server_commands.ConfigError("argument must be 'yes' or 'no'")
    st.observer.latency_tracking = value.lower() == "yes"


server_commands.GETTERS.update({
    "latency-tracking": lambda st: "yes" if st.observer.latency_tracking else "no",
    "latency-tracking-info-percentiles": lambda st: " ".join(
        percentile_text(p) for p in st.observer.percentiles),
})  # fmt: skip
server_commands.SETTERS.update({
    "latency-tracking": _set_tracking,
    "latency-tracking-info-percentiles": _set_percentiles,
})  # fmt: skip
server_commands.GETTERS.update({
    "slowlog-log-slower-than": lambda st: str(st.observer.slower_than_us),
    "slowlog-max-len": lambda st: str(st.observer.slowlog.maxlen),
    "latency-monitor-threshold": lambda st: str(st.observer.latency_threshold_ms),
    "client-output-buffer-limit": _obl_text,
})  # fmt: skip
server_commands.SETTERS.update({
    "slowlog-log-slower-than": lambda st, v: st.observer.set_slowlog_threshold(int(v)),
    "slowlog-max-len": lambda st, v: st.observer.set_slowlog_len(int(v)),
    "latency-monitor-threshold": lambda st, v: st.observer.set_latency_threshold(int(v)),
    "client-output-buffer-limit": _set_obl,
})  # fmt: skip
