"""redis.conf files for the cache: ``python -m servers.cache redis.conf [--flags]``.

A config file is read as redis-server reads one: a directive per line, its
arguments split as ``sdssplitargs`` splits them (spaces, "double quotes" with
\\n \\t \\xHH escapes, 'single quotes'), ``#`` comments, the last occurrence
of a directive winning (but ``save``, whose lines add save points up as in
redis-server; ``save ""`` clears them). Each directive then goes to one of
four places:

* a command-line flag (``port``, ``dir``, ``maxmemory``...): ``FLAGS`` maps it
  to the flag's destination, and ``__main__`` makes the value that flag's
  default, so a flag given on the command line still overrides the file;
* a parameter CONFIG SET changes (``slowlog-max-len``, ``client-output-buffer-limit``...):
  applied to the new State by the same setter CONFIG SET calls, so the file
  and CONFIG SET accept and refuse exactly the same values;
* ``user NAME RULES...``: an ACL user, as ACL SETUSER would make it;
* a Redis directive this cache has no use for (``daemonize no``, ``pidfile``,
  ``rdbcompression``...): ``IGNORED`` lists them; each is logged as ignored.

Anything else is refused, as redis-server refuses it: the program stops
before it listens, naming the file, the line and why (an unknown directive,
a missing argument, a value the parameter does not take). Refusing beats
ignoring for a directive we do not know: a typo (``maxmemroy 1gb``) or a
setting we lack would otherwise change nothing, silently. Only the ignored
list is lenient, and only for directives whose absence changes no reply a
client sees (``daemonize yes``, which would, is refused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netlib.resp import ProtocolError, split_inline

__all__ = ["ConfError", "Directive", "FLAGS", "IGNORED", "read", "split_args"]


class ConfError(ValueError):
    """A line of the file that cannot be used: the message says why."""


@dataclass(frozen=True)
class Directive:
    """One line: ``name`` lowercased, its arguments, and where it was."""

    name: str
    args: list[str]
    line: int
    text: str

    def where(self, path: str) -> str:
        return f"{path}, line {self.line}: {self.text.strip()!r}"


def split_args(line: str) -> list[str]:
    """Redis's sdssplitargs, as for an inline command (``resp.split_inline``): words,
    "quoted with escapes" or 'quoted'; ConfError if a quote is unbalanced."""
    try:
        words = split_inline(line.encode("utf-8", "surrogateescape"))
    except ProtocolError:
        raise ConfError("unbalanced quotes") from None
    return [w.decode("utf-8", "surrogateescape") for w in words]


def parse(text: str) -> list[Directive]:
    """Every directive of a config text, in order (ConfError names the bad line)."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = split_args(line)
        except ConfError as e:
            raise ConfError(f"line {number}: {line!r}: {e}") from None
        if words:
            out.append(Directive(words[0].lower(), words[1:], number, line))
    return out


def read(path: str | Path) -> list[Directive]:
    """The directives of a file (OSError if it cannot be read, ConfError if malformed)."""
    try:
        return parse(Path(path).read_text(errors="surrogateescape"))
    except ConfError as e:
        raise ConfError(f"{path}, {e}") from None


# --- where each directive goes --------------------------------------------------------


def _yes_no(v: str) -> str:
    if v.lower() not in ("yes", "no"):
        raise ConfError("argument must be 'yes' or 'no'")
    return v.lower()


def _log_level(v: str) -> str:
    """Redis's levels onto ours: verbose and notice are both INFO here."""
    levels = {"debug": "debug", "verbose": "info", "notice": "info", "warning": "warning",
              "nothing": "error"}  # fmt: skip
    if v.lower() not in levels:
        raise ConfError("argument must be one of debug, verbose, notice, warning, nothing")
    return levels[v.lower()]


def _bind(*addresses: str) -> str:
    """One address: this cache listens on one socket ('-' optional, as Redis writes it)."""
    if len(addresses) != 1:
        raise ConfError("this server listens on one address only")
    return addresses[0].lstrip("-")


def _identity(v: str) -> str:
    return v


# directive -> (argparse dest, conversion to the flag's text). The flag's own type
# (port range, size units...) then checks the text, as it would on the command line.
FLAGS: dict[str, tuple[str, Callable[..., str]]] = {
    "port": ("port", _identity),
    "bind": ("host", _bind),
    "dir": ("dir", _identity),
    "databases": ("databases", _identity),
    "hz": ("hz", _identity),
    "maxmemory": ("maxmemory", _identity),
    "maxmemory-policy": ("maxmemory_policy", str.lower),
    "maxmemory-samples": ("maxmemory_samples", _identity),
    "timeout": ("timeout", _identity),
    "appendonly": ("appendonly", _yes_no),
    "appendfsync": ("appendfsync", str.lower),
    "appenddirname": ("appenddirname", _identity),
    "dbfilename": ("dbfilename", _identity),
    "requirepass": ("requirepass", _identity),
    "aclfile": ("aclfile", _identity),
    "loglevel": ("log_level", _log_level),
    "logfile": ("log_file", _identity),
    "maxclients": ("maxclients", _identity),
}

# Redis directives with no effect on what a client of this cache sees: logged and
# skipped. (A value that would matter, such as daemonize yes, is refused instead.)
IGNORED: dict[str, Callable[[list[str]], bool]] = {
    name: (lambda args: True)
    for name in (
        "always-show-logo", "pidfile", "unixsocket", "unixsocketperm", "rdbcompression",
        "rdbchecksum", "activerehashing", "no-appendfsync-on-rewrite", "slave-serve-stale-data",
        "replica-serve-stale-data", "repl-diskless-sync-delay", "repl-diskless-sync",
        "enable-protected-configs", "enable-debug-command", "enable-module-command",
        "propagation-error-behavior", "protected-mode", "tcp-backlog", "tcp-keepalive",
        "syslog-enabled", "syslog-ident", "set-proc-title", "proc-title-template",
        "supervised", "locale-collate", "lazyfree-lazy-eviction", "lazyfree-lazy-expire",
        "lazyfree-lazy-server-del", "lazyfree-lazy-user-del", "lazyfree-lazy-user-flush",
        "jemalloc-bg-thread", "activedefrag", "crash-log-enabled", "crash-memcheck-enabled",
        "appendfilename", "aof-use-rdb-preamble", "aof-timestamp-enabled",
        "auto-aof-rewrite-percentage", "auto-aof-rewrite-min-size", "stop-writes-on-bgsave-error",
        "io-threads", "io-threads-do-reads", "dynamic-hz",
    )
}  # fmt: skip
IGNORED["daemonize"] = lambda args: args == ["no"]  # yes would detach: refused


def apply_settings(state: Any, directives: list[Directive], path: str) -> None:
    """The CONFIG SET parameters and ACL users of a file, onto a new State (ConfError)."""
    from .acl import AclError
    from .commands import acl as acl_commands
    from .commands import server as server_commands

    users: set[str] = set()
    saves: list[str] = []  # the save points of the "save" lines so far
    for d in directives:
        if d.name in FLAGS or d.name in IGNORED:
            continue
        if d.name == "user":
            if not d.args:
                raise ConfError(f"{d.where(path)}: user needs a name")
            if d.args[0] in users:  # as redis-server: one definition per user
                raise ConfError(f"{d.where(path)}: Duplicate user '{d.args[0]}' found")
            users.add(d.args[0])
            try:  # as redis-server: the user is defined from scratch (default included)
                state.acl.setuser(d.args[0], ["reset", *d.args[1:]])
            except AclError as e:
                raise ConfError(f"{d.where(path)}: {e}") from None
            acl_commands.refresh(state)
            continue
        settable = d.name in server_commands.SETTERS or d.name in server_commands.INERT
        if not settable:
            raise ConfError(f"{d.where(path)}: unknown directive (bad name or not supported)")
        value = " ".join(d.args)
        try:
            if d.name == "save":  # save points add up, line after line; ``save ""`` clears
                server_commands.check_save(value)
                points = [] if not value else [*saves, value]
                saves = points
                value = " ".join(points)
            if d.name in server_commands.SETTERS:
                server_commands.SETTERS[d.name](state, value)
            else:
                state.extra_config[d.name] = value
        except ValueError:
            raise ConfError(f"{d.where(path)}: bad value {value!r}") from None
        except server_commands.CommandError as e:
            raise ConfError(f"{d.where(path)}: {e}") from None


def flag_defaults(directives: list[Directive], path: str) -> tuple[dict[str, str], list[str]]:
    """argparse defaults from the file's flag directives, and the ignored directives' names;
    ConfError for an unknown directive, an ignored one with a value that matters, or a flag
    directive with the wrong number of arguments."""
    from .commands import server as server_commands

    out: dict[str, str] = {}
    ignored: list[str] = []
    for d in directives:
        if d.name in FLAGS:
            dest, convert = FLAGS[d.name]
            try:
                out[dest] = convert(*d.args)
            except TypeError:
                raise ConfError(f"{d.where(path)}: wrong number of arguments") from None
            except ConfError as e:
                raise ConfError(f"{d.where(path)}: {e}") from None
        elif d.name in IGNORED:
            if not IGNORED[d.name](d.args):
                raise ConfError(f"{d.where(path)}: not supported by this server")
            ignored.append(d.name)
        elif (
            d.name != "user"
            and d.name not in server_commands.SETTERS
            and (d.name not in server_commands.INERT)
        ):
            raise ConfError(f"{d.where(path)}: unknown directive (bad name or not supported)")
    return out, ignored
