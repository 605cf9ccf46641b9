"""SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE, SHUTDOWN, INFO persistence and the CONFIG
parameters ``appendonly``, ``appendfsync``, ``dir``, ``dbfilename``, ``appenddirname``,
``shutdown-on-sigterm``, ``shutdown-on-sigint``, ``shutdown-timeout`` (the files and the
controller: ``servers.cache.persist`` and ``saving``; how the server ends: ``shutdown``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from netlib import resp

from .. import shutdown
from ..persist import POLICIES
from ..scripting import BUSY_EVAL, BUSY_FUNCTION
from ..table import SYNTAX, CommandError, command
from . import server as server_commands

log = logging.getLogger("servers.cache.persist")

G = "server"
NO = (0, 0, 0)
FLAGS = "admin noscript"
NO_DIR = "persistence is off: start the server with --dir"


def _persistence(c: Any) -> Any:
    p = c.state.persistence
    if p is None:
        raise CommandError(NO_DIR)
    return p


@command("SAVE", 1, FLAGS + " no_multi", NO, G, "Synchronously save the dataset to disk")
def save(c: Any, a: list[bytes]) -> bytes:
    p = _persistence(c)
    if p.child is not None and p.child[1] == "save":
        raise CommandError("Background save already in progress")
    try:
        p.save()
    except OSError as e:
        raise CommandError(f"saving failed: {e.strerror or e}") from None
    return resp.OK


@command("BGSAVE", -1, FLAGS, NO, G, "Asynchronously save the dataset to disk", syntax="[SCHEDULE]")
def bgsave(c: Any, a: list[bytes]) -> bytes:
    """During a rewrite: refused, or with SCHEDULE started once the rewrite ends (Redis).
    Inside EXEC: scheduled, as Redis does (a fork there saved half the transaction)."""
    if len(a) > 2 or (len(a) == 2 and a[1].upper() != b"SCHEDULE"):
        return SYNTAX
    p = _persistence(c)
    if p.child is not None and p.child[1] == "save":
        raise CommandError("Background save already in progress")
    if p.child is not None or c.in_exec:
        if len(a) == 1 and not c.in_exec:
            raise CommandError(ANOTHER_CHILD)
        p.save_scheduled = True
        return resp.simple("Background saving scheduled")
    err = p.bgsave()
    if err:
        raise CommandError(err)
    return resp.simple("Background saving started")


ANOTHER_CHILD = (
    "Another child process is active (AOF?): can't BGSAVE right now. "
    "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
)


@command("BGREWRITEAOF", 1, FLAGS, NO, G, "Asynchronously rewrite the append-only file")
def bgrewriteaof(c: Any, a: list[bytes]) -> bytes:
    """During a BGSAVE, or inside EXEC: started by the cron later, as Redis schedules it
    (inside EXEC the new incr file got the transaction's later writes, the old one the
    earlier: a transaction split across two files)."""
    p = _persistence(c)
    if p.child is not None and p.child[1] == "rewrite":
        raise CommandError("Background append only file rewriting already in progress")
    if p.child is not None or c.in_exec:
        p.rewrite_scheduled = True
        return resp.simple("Background append only file rewriting scheduled")
    err = p.bgrewrite()
    if err:
        raise CommandError(err)
    return resp.simple("Background append only file rewriting started")


@command("LASTSAVE", 1, "fast", NO, G, "The Unix time of the last successful save")
def lastsave(c: Any, a: list[bytes]) -> bytes:
    p = c.state.persistence
    return resp.integer(p.lastsave if p is not None else int(c.state.started))


@command("SHUTDOWN", -1, "admin noscript loading stale no_multi allow_busy", NO, G,
         "Synchronously save the dataset to disk and then shut down the server",
         syntax="[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]")  # fmt: skip
def shutdown_(c: Any, a: list[bytes]) -> bytes | None:
    """No reply once it worked: the connection closes and the process exits 0 (the steps
    and what a failure answers: ``servers.cache.shutdown``). Past busy-reply-threshold a
    script holds the server: only NOSAVE may end it then (its writes are not logged)."""
    parsed = shutdown.parse_command(a[1:])
    if parsed is None:
        return SYNTAX
    flags, abort = parsed
    if abort:  # a shutdown waits only for replicas: none here, so none is ever in progress
        return shutdown.NOT_IN_PROGRESS
    busy = c.state.busy_script
    if busy is not None and not flags.nosave:
        return BUSY_EVAL if busy.eval_mode else BUSY_FUNCTION
    if not shutdown.shut_down(c.state, flags):
        return shutdown.FAILED
    c.closing = True  # nothing after it in the pipeline runs
    return None


def _set_shutdown_on(name: str) -> Callable[[Any, str], None]:
    def setter(st: Any, v: str) -> None:
        st.shutdown_on[name] = shutdown.parse_config(v)

    return setter


def _get_shutdown_on(name: str) -> Callable[[Any], str]:
    return lambda st: shutdown.config_text(st.shutdown_on[name])


def _set_appendonly(st: Any, v: str) -> None:
    if v.lower() not in ("yes", "no"):
        raise ValueError(v)
    p = st.persistence
    if p is None:
        if v.lower() == "yes":
            raise server_commands.ConfigError("persistence is off: start the server with --dir")
        return
    try:
        p.set_appendonly(v.lower() == "yes")
    except OSError as e:  # the directory a file, unwritable, full: Redis's words
        log.error("can't turn on the AOF in %s: %s", p.aof_dir, e)
        raise server_commands.ConfigError("Unable to turn on AOF. Check server logs.") from None


def _set_fsync(st: Any, v: str) -> None:
    """Without a data directory there is no AOF to sync: the policy is only recorded (as
    Redis records it while appendonly is no)."""
    if v.lower() not in POLICIES:
        raise CommandError(
            "CONFIG SET failed (possibly related to argument 'appendfsync') - "
            "argument(s) must be one of the following: everysec, always, no"
        )
    if st.persistence is None:
        st.appendfsync = v.lower()
        return
    st.persistence.set_policy(v.lower())


def _p(st: Any, attr: str, default: str) -> str:
    p = st.persistence
    return str(getattr(p, attr)) if p is not None else default


server_commands.GETTERS.update({
    "appendonly": lambda st: "yes" if st.persistence is not None and st.persistence.aof else "no",
    "appendfsync": lambda st: _p(st, "policy", getattr(st, "appendfsync", "everysec")),
    "dir": lambda st: _p(st, "dir", ""),
    "dbfilename": lambda st: _p(st, "dbfilename", "dump.sdb"),
    "appenddirname": lambda st: _p(st, "dirname", "appendonlydir"),
})  # fmt: skip
server_commands.SETTERS.update({
    "appendonly": _set_appendonly,
    "appendfsync": _set_fsync,
})  # fmt: skip
for _sig in ("sigterm", "sigint"):
    server_commands.GETTERS[f"shutdown-on-{_sig}"] = _get_shutdown_on(_sig)
    server_commands.SETTERS[f"shutdown-on-{_sig}"] = _set_shutdown_on(_sig)
server_commands.GETTERS["shutdown-timeout"] = lambda st: str(st.shutdown_timeout)
server_commands.SETTERS["shutdown-timeout"] = lambda st, v: setattr(st, "shutdown_timeout", int(v))
server_commands.NUMERIC["shutdown-timeout"] = ("int", 0, 2**31 - 1)
