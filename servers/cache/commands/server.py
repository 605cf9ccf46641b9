"""Server commands: INFO, CONFIG GET/SET/RESETSTAT, DBSIZE, FLUSHDB, FLUSHALL, TIME
(COMMAND and its subcommands come with the kit: ``servers.respkit.introspect``)."""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import resource
import time
from collections.abc import Callable
from typing import Any

from netlib import resp
from servers.cli import parse_size
from servers.respkit import kv
from servers.respkit.glob import compile_glob

from ..eviction import POLICIES
from ..table import SYNTAX, CommandError, command, container

G = "server"
log = logging.getLogger(__name__)

# --- INFO -----------------------------------------------------------------------


def _sections(c: Any) -> dict[str, dict[str, Any]]:
    st, ks = c.state, c.state.keyspace
    keyspace = {
        f"db{db.index}": f"keys={len(db)},expires={len(db.expires)},avg_ttl=0"
        for db in ks.dbs
        if len(db)
    }
    return {
        "server": st.info_server(),
        "clients": {
            "connected_clients": len(st.clients),
            # held by CLIENT PAUSE counts too, as in Redis ("paused": ops.PAUSED)
            "blocked_clients": st.blocking.blocked_clients
            + sum(1 for cl in st.clients.values() if cl.blocked == "paused"),
            "pubsub_clients": sum(1 for cl in st.clients.values() if cl.client_type() == b"pubsub"),
        },
        "memory": st.memory.info(),
        "stats": {
            "total_connections_received": st.connections_received,
            # Redis counts a command once it ran (call()): the calls of INFO commandstats,
            # counted up to this INFO (the session flushes its runs' counts before it);
            # a refused or queued command is none, and nor is this INFO
            "total_commands_processed": sum(s.calls for s in st.observer.commands.values()),
            "instantaneous_ops_per_sec": st.ops_per_sec,
            "expired_keys": ks.expired_keys,
            "evicted_keys": ks.evicted_keys,
            "keyspace_hits": ks.hits,
            "keyspace_misses": ks.misses,
            "pubsub_channels": len(st.hub.channels),
            "pubsub_patterns": st.hub.numpat(),
            "total_error_replies": st.observer.error_replies,
        },
        "replication": {  # a master without replicas (the cache has no replication)
            "role": "master",
            "connected_slaves": 0,
            "master_failover_state": "no-failover",
            "master_replid": st.replid,
            "master_replid2": "0" * 40,
            "master_repl_offset": 0,
            "second_repl_offset": -1,
            "repl_backlog_active": 0,
        },  # fmt: skip
        "cpu": _cpu(),
        "keyspace": keyspace,
        **st.extra_sections(),
    }


def _cpu() -> dict[str, str]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "used_cpu_sys": f"{own.ru_stime:.6f}", "used_cpu_user": f"{own.ru_utime:.6f}",
        "used_cpu_sys_children": f"{children.ru_stime:.6f}",
        "used_cpu_user_children": f"{children.ru_utime:.6f}",
    }  # fmt: skip


# What INFO and INFO default leave out (Redis: only ALL / EVERYTHING or by name).
NOT_DEFAULT = ("commandstats", "latencystats")


def info_text(c: Any, wanted: list[str]) -> str:
    sections = _sections(c)
    if not wanted or "default" in wanted:
        named = [w for w in wanted if w != "default" and w in sections]
        wanted = [n for n in sections if n not in NOT_DEFAULT or n in named]
    return kv.info_text(sections, wanted)


@command("INFO", -1, "", (0, 0, 0), G, "Information and statistics about the server")
def info(c: Any, a: list[bytes]) -> bytes:
    text = info_text(c, [x.decode(errors="replace").lower() for x in a[1:]])
    return resp.verbatim(text, c.proto)


# --- CONFIG ---------------------------------------------------------------------


class ConfigError(ValueError):
    """A setter's refusal in Redis's words (the text after "CONFIG SET failed ... - ")."""


def _set_hz(st: Any, v: str) -> None:
    st.hz = min(max(int(v), 1), 500)


def _set_samples(st: Any, v: str) -> None:
    n = int(v)
    if not 1 <= n <= 64:  # (Redis takes up to INT_MAX; the sampler here keeps a 64 cap)
        raise ConfigError("argument must be between 1 and 64 inclusive")
    st.evictor.samples = n


def _set_policy(st: Any, v: str) -> None:
    if v.lower() not in POLICIES:
        raise ValueError(v)
    st.evictor.configure(policy=v.lower())


GETTERS: dict[str, Callable[[Any], str]] = {
    "maxmemory": lambda st: str(st.evictor.maxmemory),
    "maxmemory-policy": lambda st: st.evictor.policy,
    "maxmemory-samples": lambda st: str(st.evictor.samples),
    "hz": lambda st: str(st.hz),
    "port": lambda st: str(st.port),
    "bind": lambda st: "127.0.0.1",
}
SETTERS: dict[str, Callable[[Any, str], None]] = {
    "maxmemory": lambda st, v: st.evictor.configure(maxmemory=parse_size(v)),
    "maxmemory-policy": _set_policy,
    "maxmemory-samples": _set_samples,
    "hz": _set_hz,
}


def _set_min_replicas(field: str) -> Callable[[Any, str], None]:
    def setter(st: Any, v: str) -> None:
        n = int(v)
        if n < 0:
            raise ValueError(v)
        setattr(st, field, n)
        for client in st.clients.values():  # writes are checked only on guarded clients
            client.update_guard()

    return setter


def _get_min_replicas(field: str) -> Callable[[Any], str]:
    return lambda st: str(getattr(st, field))


for _name, _field in (("min-replicas-to-write", "min_replicas_to_write"),
                      ("min-replicas-max-lag", "min_replicas_max_lag")):  # fmt: skip
    GETTERS[_name] = _get_min_replicas(_field)
    SETTERS[_name] = _set_min_replicas(_field)

# Set by CONFIG SET into ``extra_config`` without a setter of their own: "save" (the
# save points the persistence cron and SHUTDOWN read there, saving.Persistence), the
# rest remembered without effect here (clients and benchmarks set them).
INERT = ("save", "appendonly", "lfu-log-factor", "lfu-decay-time")
# Redis 7.0 protects these (enable-protected-configs no): its word for the refusal.
_PROTECTED = ("dir", "dbfilename")


# The numeric parameters' kinds and bounds, as Redis 7.0's config.c declares them: an
# "int" is a strict decimal (string2ll), a "memory" value takes units (memtoull, which
# saturates), and either is then held to [low, high] with Redis's messages. A setter
# gets the number written back as a plain decimal.
_I32, _I64 = 2**31 - 1, 2**63 - 1
NUMERIC: dict[str, tuple[str, int, int]] = {
    "hz": ("int", 0, _I32), "maxmemory-samples": ("int", 1, _I32),
    "maxmemory": ("memory", 0, 2**64 - 1),
    "busy-reply-threshold": ("int", 0, _I64), "lua-time-limit": ("int", 0, _I64),
    "latency-monitor-threshold": ("int", 0, _I64),
    "slowlog-log-slower-than": ("int", -1, _I64), "slowlog-max-len": ("int", 0, _I64),
    "min-replicas-to-write": ("int", 0, _I32), "min-replicas-max-lag": ("int", 0, _I32),
    "lfu-log-factor": ("int", 0, _I32), "lfu-decay-time": ("int", 0, _I32),
    "hll-sparse-max-bytes": ("memory", 0, _I64),
    "list-compress-depth": ("int", 0, _I32),
    "list-max-listpack-size": ("int", -(2**31), _I32),
    "list-max-ziplist-size": ("int", -(2**31), _I32),
    "stream-node-max-bytes": ("memory", 0, _I64), "stream-node-max-entries": ("int", 0, _I64),
    **{f"{t}-max-{enc}-entries": ("int", 0, _I64)
       for t in ("hash", "set", "zset") for enc in ("listpack", "ziplist")},
    **{f"{t}-max-{enc}-value": ("memory", 0, _I64)
       for t in ("hash", "zset") for enc in ("listpack", "ziplist")},
    "set-max-intset-entries": ("int", 0, _I64),
}  # fmt: skip
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_MEMORY = re.compile(r"([0-9]*)(b|k|kb|m|mb|g|gb)?\Z", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 10**6, "mb": 1 << 20, "g": 10**9,
                 "gb": 1 << 30}  # fmt: skip
# Redis's order of the policies in its error message.
_POLICY_ORDER = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                 "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")  # fmt: skip


def _checked(name: str, value: str) -> str:
    """``value`` for parameter ``name`` as its setter takes it, or Redis's ConfigError."""
    if name in NUMERIC:
        kind, low, high = NUMERIC[name]
        if kind == "int":
            if not _DECIMAL.match(value) or not -(2**63) <= int(value) <= _I64:
                raise ConfigError("argument couldn't be parsed into an integer")
            n = int(value)
        else:
            m = _MEMORY.match(value)
            if m is None or not m[1] and not m[2]:
                raise ConfigError("argument must be a memory value")
            n = min(int(m[1] or 0), 2**64 - 1) * _MEMORY_UNITS[(m[2] or "").lower()]
            n = min(n, 2**64 - 1)
        if not low <= n <= high:
            raise ConfigError(f"argument must be between {low} and {high} inclusive")
        return str(n)
    if name == "maxmemory-policy" and value.lower() not in _POLICY_ORDER:
        raise ConfigError("argument(s) must be one of the following: " + ", ".join(_POLICY_ORDER))
    if name == "appendonly" and value.lower() not in ("yes", "no"):
        raise ConfigError("argument must be 'yes' or 'no'")
    if name == "save":
        check_save(value)
    return value


def check_save(value: str) -> None:
    """Redis's "save" sanity check: pairs of seconds (>= 1) and changes (>= 0)."""
    words = value.split()
    if len(words) % 2 or any(
        not re.fullmatch(r"[+-]?[0-9]+", w) or int(w) < (0 if i % 2 else 1)
        for i, w in enumerate(words)
    ):
        raise ConfigError("Invalid save parameters")


# Redis's immutable parameters this cache has no CONFIG GET for: refused as Redis refuses
# them (not as unknown), since a redis.conf may name them (servers/cache/conf.py).
REDIS_IMMUTABLE = frozenset({
    "daemonize", "pidfile", "unixsocket", "unixsocketperm", "logfile", "syslog-enabled",
    "syslog-ident", "supervised", "always-show-logo", "io-threads", "io-threads-do-reads",
    "appendfilename", "cluster-enabled", "cluster-config-file", "tcp-backlog", "set-proc-title",
    "enable-protected-configs", "enable-debug-command", "enable-module-command",
})  # fmt: skip

# Mutable in Redis (it rebinds its listeners), not here: setting the current value is a no-op.
_LISTENING = ("bind", "port")


def _shell_setting(
    field: str, parse: Callable[[str], Any], text: Callable[[Any], str]
) -> tuple[Callable[[Any], str], Callable[[Any, str], None]]:
    """A CONFIG parameter kept in the netlib shell's settings (connection cap, idle timeout)."""

    def get(st: Any) -> str:
        return text(getattr(st.shell.config, field)) if st.shell is not None else ""

    def set_(st: Any, v: str) -> None:
        value = parse(v)
        if st.shell is not None:
            st.shell.config = dataclasses.replace(st.shell.config, **{field: value})

    return get, set_


def _positive(v: str) -> int:
    n = int(v)
    if n < 1:
        raise ValueError(v)
    return n


def _idle(v: str) -> float:
    n = int(v)
    if n < 0:
        raise ValueError(v)
    return float(n) if n else math.inf


GETTERS["maxclients"], SETTERS["maxclients"] = _shell_setting("max_connections", _positive, str)
GETTERS["timeout"], SETTERS["timeout"] = _shell_setting(
    "idle_timeout", _idle, lambda t: "0" if t == math.inf else str(int(t))
)


def _config_value(st: Any, name: str) -> str | None:
    if name in GETTERS:
        return GETTERS[name](st)
    return st.extra_config.get(name)


CONFIG = container("CONFIG", G, "A container for server configuration commands")


@command("GET", -3, "", (0, 0, 0), G, "Get configuration parameters", CONFIG)
def config_get(c: Any, a: list[bytes]) -> bytes:
    st = c.state
    names = sorted(set(GETTERS) | set(st.extra_config))
    found: dict[bytes, bytes] = {}
    for pat in a[2:]:
        match = compile_glob(pat.lower())
        for name in names:
            if match(name.encode()):
                found[name.encode()] = (_config_value(st, name) or "").encode()
    return resp.map_(found, c.proto)


@command("SET", -4, "", (0, 0, 0), G, "Set configuration parameters", CONFIG)
def config_set(c: Any, a: list[bytes]) -> bytes:
    """All or nothing, as Redis 7.0: every name is checked first (unknown, immutable,
    given twice), then the values are set in order, and one refused puts back those set
    before it. A name's error spells it as the client did, a value's as Redis does."""
    st = c.state
    if len(a) % 2:  # (a name without its value: Redis's syntax error, after the arity's check)
        return SYNTAX
    pairs = [(a[i].decode(errors="replace"), a[i + 1].decode(errors="replace"))
             for i in range(2, len(a), 2)]  # fmt: skip
    seen: set[str] = set()
    for given, value in pairs:
        name = given.lower()
        failed = f"CONFIG SET failed (possibly related to argument '{given}') - "
        if name in REDIS_IMMUTABLE:
            raise CommandError(failed + "can't set immutable config")
        if name in _LISTENING:  # Redis rebinds its listeners; here only the value they have
            if value != _config_value(st, name):
                raise CommandError(failed + "changing it on a running server is not supported")
            continue
        if name not in SETTERS and name not in INERT:
            if name in GETTERS or name in st.extra_config:
                why = "protected" if name in _PROTECTED else "immutable"
                raise CommandError(failed + f"can't set {why} config")
            raise CommandError(f"Unknown option or number of arguments for CONFIG SET - '{given}'")
        if name in seen:
            raise CommandError(failed + "duplicate parameter")
        seen.add(name)
    done: list[tuple[str, str | None]] = []
    for given, value in pairs:
        name = given.lower()
        if name in _LISTENING:
            continue
        try:
            old = _config_value(st, name)
            _set(st, name, _checked(name, value))
            done.append((name, old))
        except ValueError as e:
            for set_name, was in reversed(done):
                _restore(st, set_name, was)
            why = (
                str(e) if isinstance(e, ConfigError) else f"argument couldn't be parsed: '{value}'"
            )
            raise CommandError(  # (here Redis names the parameter itself)
                f"CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ) from None
    return resp.OK


def _set(st: Any, name: str, value: str) -> None:
    if name in SETTERS:
        SETTERS[name](st, value)
    else:
        st.extra_config[name] = value


def _restore(st: Any, name: str, old: str | None) -> None:
    """Put back a parameter's value from before a CONFIG SET that failed further on."""
    if old is None:
        st.extra_config.pop(name, None)
        return
    try:
        _set(st, name, old)
    except ValueError:  # (a value it had is one it takes: nothing to do if not)
        pass


@command("RESETSTAT", 2, "", (0, 0, 0), G, "Reset the statistics INFO reports", CONFIG)
def config_resetstat(c: Any, a: list[bytes]) -> bytes:
    st, ks = c.state, c.state.keyspace
    ks.hits = ks.misses = ks.expired_keys = ks.evicted_keys = 0
    st.commands_processed = st.connections_received = 0
    st.observer.reset()
    return resp.OK


# --- keyspace-wide --------------------------------------------------------------


@command("DBSIZE", 1, "readonly fast", (0, 0, 0), G, "The number of keys in the database")
def dbsize(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(len(c.db))


def _flush_mode(a: list[bytes]) -> None:
    if len(a) > 2 or (len(a) == 2 and a[1].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError(SYNTAX)


@command("FLUSHDB", -1, "write", (0, 0, 0), G, "Remove every key of the current database")
def flushdb(c: Any, a: list[bytes]) -> bytes:
    _flush_mode(a)
    c.db.flush()
    return resp.OK


@command("FLUSHALL", -1, "write", (0, 0, 0), G, "Remove every key of every database")
def flushall(c: Any, a: list[bytes]) -> bytes:
    _flush_mode(a)
    state = c.state
    state.keyspace.flushall()  # (counts the keys removed, as Redis 7.0)
    # As Redis's flushAllDataAndResetRDB: a BGSAVE under way is killed (it would save
    # what is gone), and with save points the empty dataset is saved at once (so
    # rdb_changes_since_last_save reads 0 after it, as Redis 7.0.15 answers).
    p = state.persistence
    if p is not None:
        if p.child is not None and p.child[1] == "save":
            p.kill_child("FLUSHALL")
        if state.extra_config.get("save", "").split():
            try:
                p.save()
            except OSError as e:
                log.warning("FLUSHALL could not save the empty dataset: %s", e)
    return resp.OK


@command("TIME", 1, "fast", (0, 0, 0), G, "The server time")
def time_(c: Any, a: list[bytes]) -> bytes:
    us = time.time_ns() // 1000
    return resp.bulks([b"%d" % (us // 1_000_000), b"%d" % (us % 1_000_000)])
