"""COMMAND, COMMAND COUNT / LIST / INFO / DOCS: a server describes its own registry.

redis-cli calls COMMAND DOCS at start-up for its typing hints and redis-py
may call COMMAND INFO; both are answered from the session's registry, so a
server built on the kit describes exactly the commands it has. An entry
follows Redis 7.0's shape (name, arity, flags, first key, last key, step,
ACL categories, tips, key specs, subcommands); tips and key specs are empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netlib import resp
from netlib.resp import SimpleString

from .connection import BASE, NO
from .glob import compile_glob
from .registry import Command, Registry, arity_ok

G = "server"


def _entry(c: Any, cmd: Command, parent: Command | None = None) -> list[Any]:
    """Redis 7.0's shape; ``movablekeys`` added to the flags of a command whose keys a
    finder locates (``KEY_FINDERS``), the ACL categories from the server's state."""
    flags = list(cmd.flags) + (["movablekeys"] if cmd.name in KEY_FINDERS else [])
    order = c.state.category_order
    cats = sorted(
        c.state.command_categories(cmd, parent),
        key=lambda x: (order.index(x) if x in order else len(order), x),
    )
    return [
        cmd.name.encode(), cmd.arity, [SimpleString(f) for f in flags],
        cmd.first_key, cmd.last_key, cmd.step, [SimpleString("@" + x) for x in cats], [], [],
        [_entry(c, s, cmd) for s in cmd.unique_subcommands()],
    ]  # fmt: skip


def _registry(c: Any) -> Registry:
    registry: Registry = c.state.registry
    return registry


def _all(c: Any, a: list[bytes]) -> bytes:
    return resp.array([_entry(c, cmd) for cmd in _registry(c).commands()], c.proto)


COMMAND = BASE.container("COMMAND", G, "Information about commands", bare=_all)


def sub(name: str, arity: int, summary: str, syntax: str | None = None) -> Any:
    return BASE.command(name, arity, "", NO, G, summary, COMMAND, syntax)


@sub("COUNT", 2, "The number of commands")
def command_count(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(len(_registry(c)))


@sub(
    "LIST",
    -2,
    "The names of all commands",
    "[FILTERBY MODULE module|ACLCAT category|PATTERN pattern]",
)
def command_list(c: Any, a: list[bytes]) -> bytes:
    """Every command and subcommand (``client|list``), or those FILTERBY one ACL category,
    a glob PATTERN over the full names (case-insensitive), or a MODULE (none here)."""
    every: list[tuple[Command, Command | None]] = [(cmd, None) for cmd in _registry(c).commands()]
    every += [(sub, cmd) for cmd, _ in list(every) for sub in cmd.unique_subcommands()]
    if len(a) == 2:
        keep = every
    elif len(a) == 5 and a[2].lower() == b"filterby" and a[3].lower() in FILTERS:
        kind, value = a[3].lower(), a[4].lower()
        if kind == b"module":
            keep = []
        elif kind == b"aclcat":
            cat = value.decode(errors="replace")
            keep = [(x, p) for x, p in every if cat in c.state.command_categories(x, p)]
        else:
            match = compile_glob(value)
            keep = [(x, p) for x, p in every if match(x.name.encode())]
    else:
        return b"-ERR syntax error\r\n"
    return resp.bulks([x.name.encode() for x, _ in keep])


FILTERS = (b"module", b"aclcat", b"pattern")


@sub("INFO", -2, "Details about commands", "[command-name [command-name ...]]")
def command_info(c: Any, a: list[bytes]) -> bytes:
    if len(a) == 2:
        return _all(c, a)
    entries = [_registry(c).lookup(n) for n in a[2:]]
    body = [resp.array(_entry(c, e), c.proto) if e else resp.null_array(c.proto) for e in entries]
    return b"*%d\r\n" % len(body) + b"".join(body)


def _doc(registry: Registry, cmd: Command) -> dict[bytes, Any]:
    doc: dict[bytes, Any] = {
        b"summary": cmd.summary.encode(),
        b"since": b"1.0.0",
        b"group": cmd.group.encode(),
    }
    args = registry.arguments(cmd.name)
    if args:
        doc[b"arguments"] = args
    subs = cmd.unique_subcommands()
    if subs:
        doc[b"subcommands"] = {s.name.encode(): _doc(registry, s) for s in subs}
    return doc


@sub("DOCS", -2, "Documentary information about commands", "[command-name [command-name ...]]")
def command_docs(c: Any, a: list[bytes]) -> bytes:
    registry = _registry(c)
    cmds = registry.commands() if len(a) == 2 else [x for x in map(registry.lookup, a[2:]) if x]
    return resp.map_({cmd.name.encode(): _doc(registry, cmd) for cmd in cmds}, c.proto)


# Commands whose keys are not at fixed positions (Redis's "movablekeys": SORT's
# STORE, LMPOP's numkeys...) register how to find them: full name -> args -> keys.
KEY_FINDERS: dict[str, Callable[[list[bytes]], list[bytes]]] = {}


@sub("GETKEYS", -4, "The keys of a full command line", "command [arg [arg ...]]")
def command_getkeys(c: Any, a: list[bytes]) -> bytes:
    """Redis 7.0's order: a command (or the subcommand named: MEMORY USAGE) without key
    arguments at all is refused before its arity is checked; one whose keys are optional
    (EVAL with numkeys 0) answers an empty array."""
    args = a[2:]
    cmd = _registry(c).get(args[0])
    if cmd is None:
        return b"-ERR Invalid command specified\r\n"
    cmd = cmd.called(args)
    finder = KEY_FINDERS.get(cmd.name)
    if finder is None and cmd.first_key <= 0:
        return b"-ERR The command has no key arguments\r\n"
    if not arity_ok(cmd.arity, len(args)):
        return b"-ERR Invalid number of arguments specified for command\r\n"
    if finder is not None:
        keys = finder(args)
    else:
        last = cmd.last_key if cmd.last_key >= 0 else len(args) + cmd.last_key
        keys = args[cmd.first_key : last + 1 : max(cmd.step, 1)]
    if not keys:
        if cmd.name in NO_MANDATORY_KEYS:
            return resp.bulks([])
        return b"-ERR Invalid arguments specified for command\r\n"
    return resp.bulks(keys)


# Commands whose key arguments may all be absent (Redis's no_mandatory_keys flag).
NO_MANDATORY_KEYS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro",
                               "migrate"})  # fmt: skip
