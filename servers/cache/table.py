"""The command table: name -> handler, arity, flags, key positions; shared errors and argument parsing.

Strategy. Every command is a function ``handler(client, args) -> bytes | None``
registered with ``@command(...)`` in the file of its family (commands/*.py):
it returns the encoded reply, or None when the client has blocked (BLPOP) and
will be answered later. The dispatcher (client.py) looks the name up in
``TABLE``, checks the arity exactly as Redis does (positive: exactly that many
words, negative: at least), and calls it. The table stores each name in lower
and upper case so the common spellings skip a ``.lower()`` per command.

Errors are exceptions carrying their wire bytes (``CommandError``), so deep
helpers (``to_int``) can refuse an argument with Redis's exact wording and the
dispatcher turns it into the reply. Keys, arity and flags feed ``COMMAND INFO``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netlib import resp

Handler = Callable[[Any, list[bytes]], bytes | None]

# The Redis version whose replies and error wording we follow (Debian 12's redis-server).
VERSION = "7.0.15"

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
NOT_INTEGER = b"-ERR value is not an integer or out of range\r\n"
NOT_FLOAT = b"-ERR value is not a valid float\r\n"
SYNTAX = b"-ERR syntax error\r\n"
NO_SUCH_KEY = b"-ERR no such key\r\n"
OVERFLOW = b"-ERR increment or decrement would overflow\r\n"

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Largest string value: Redis's proto-max-bulk-len again (APPEND, SETRANGE).
MAX_STRING = resp.MAX_BULK_LEN


class CommandError(Exception):
    """A command refused; ``reply`` is the ``-ERR ...`` line to send."""

    def __init__(self, reply: bytes | str) -> None:
        super().__init__(reply)
        self.reply = reply if isinstance(reply, bytes) else resp.error(reply)


@dataclass(slots=True)
class Command:
    name: str
    fn: Handler
    arity: int
    flags: tuple[str, ...]
    first_key: int
    last_key: int
    step: int
    group: str
    summary: str
    denyoom: bool = False
    pubsub_ok: bool = False  # allowed in RESP2 subscribe mode
    subcommands: dict[bytes, Command] = field(default_factory=dict)
    bare: Handler | None = None  # a container's handler when called without subcommand


TABLE: dict[bytes, Command] = {}


def _register(table: dict[bytes, Command], name: str, cmd: Command) -> None:
    table[name.lower().encode()] = cmd
    table[name.upper().encode()] = cmd


def command(
    name: str,
    arity: int,
    flags: str = "",
    keys: tuple[int, int, int] = (1, 1, 1),
    group: str = "generic",
    summary: str = "",
    parent: Command | None = None,
) -> Callable[[Handler], Handler]:
    """Register the decorated handler (as a subcommand of ``parent`` if given)."""

    def deco(fn: Handler) -> Handler:
        fl = tuple(flags.split())
        full = f"{parent.name}|{name.lower()}" if parent else name.lower()
        cmd = Command(full, fn, arity, fl, *keys, group, summary or (fn.__doc__ or "").strip())
        cmd.denyoom = "denyoom" in fl
        cmd.pubsub_ok = "pubsub" in fl
        _register(parent.subcommands if parent else TABLE, name, cmd)
        return fn

    return deco


def container(name: str, group: str, summary: str, bare: Handler | None = None) -> Command:
    """A command with subcommands (CONFIG, CLIENT, COMMAND, PUBSUB)."""
    arity = -1 if bare else -2
    cmd = Command(name.lower(), _dispatch_sub, arity, (), 0, 0, 0, group, summary, bare=bare)
    _register(TABLE, name, cmd)
    return cmd


def _dispatch_sub(client: Any, args: list[bytes]) -> bytes | None:
    parent = TABLE[args[0].lower()]
    if len(args) == 1 and parent.bare is not None:
        return parent.bare(client, args)
    sub = parent.subcommands.get(args[1]) or parent.subcommands.get(args[1].lower())
    if sub is None:
        name = args[1].decode(errors="replace")
        return resp.error(f"unknown subcommand '{name[:128]}'. Try {parent.name.upper()} HELP.")
    if not arity_ok(sub.arity, len(args)):
        return arity_error(sub.name)
    return sub.fn(client, args)


def arity_ok(arity: int, n: int) -> bool:
    return n == arity if arity > 0 else n >= -arity


def arity_error(name: str) -> bytes:
    return b"-ERR wrong number of arguments for '%s' command\r\n" % name.encode()


def unknown_command(args: list[bytes]) -> bytes:
    """Redis's wording: the name and the first arguments, each quoted."""
    name = args[0][:128].decode(errors="replace")
    rest = " ".join(f"'{a[:128].decode(errors='replace')}'" for a in args[1:])
    return resp.error(
        f"unknown command '{name}', with args beginning with: {rest}" + (" " if rest else "")
    )


# --- argument parsing with Redis's error wording -------------------------------


def to_int(b: bytes, err: bytes = NOT_INTEGER) -> int:
    """A strict 64-bit decimal as Redis's string2ll: no spaces, '+', or leading zeros."""
    try:
        n = int(b)
    except ValueError:
        raise CommandError(err) from None
    if n < INT64_MIN or n > INT64_MAX or b"%d" % n != b:
        raise CommandError(err)
    return n


def to_float(b: bytes, err: bytes = NOT_FLOAT) -> float:
    """A float as Redis's strtold check: no spaces, no NaN; 'inf' is allowed."""
    if not b or b != b.strip() or b"_" in b:
        raise CommandError(err)
    try:
        x = float(b)
    except ValueError:
        raise CommandError(err) from None
    if math.isnan(x):
        raise CommandError(err)
    return x


def to_index(b: bytes) -> int:
    """A list index or range bound (any 64-bit integer)."""
    return to_int(b)


def to_positive(b: bytes, what: str = "value") -> int:
    n = to_int(b, b"-ERR %s is out of range, must be positive\r\n" % what.encode())
    if n < 0:
        raise CommandError(b"-ERR %s is out of range, must be positive\r\n" % what.encode())
    return n
