"""Redis's error wording, and argument parsing that refuses with it.

Why exact wording. Clients and people match on these lines (redis-py maps
``WRONGTYPE`` and ``NOPROTO`` prefixes to exception classes; a test compares
our bytes with a real redis-server's), so each constant is copied from Redis
7.0's replies, not paraphrased. Errors are exceptions carrying their wire
bytes (``CommandError``): a helper deep in a command (``to_int``) refuses with
Redis's wording and the session loop turns it into the reply.

Redis formats the names and arguments it echoes with ``%.128s`` (at most 128
bytes, cut at a NUL as C strings are) and replaces CR and LF by spaces so an
error stays one line; ``_quote`` does the same.
"""

from __future__ import annotations

import math
from typing import Any

from netlib import resp

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
NOT_INTEGER = b"-ERR value is not an integer or out of range\r\n"
NOT_FLOAT = b"-ERR value is not a valid float\r\n"
SYNTAX = b"-ERR syntax error\r\n"
NO_SUCH_KEY = b"-ERR no such key\r\n"
OVERFLOW = b"-ERR increment or decrement would overflow\r\n"
DB_OUT_OF_RANGE = b"-ERR DB index is out of range\r\n"
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
NOPROTO = b"-NOPROTO unsupported protocol version\r\n"
# What a client past the connection cap reads before being closed.
MAX_CLIENTS = b"-ERR max number of clients reached\r\n"

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# How much of a name or argument Redis echoes in an error (its "%.128s").
ECHO_MAX = 128


class CommandError(Exception):
    """A command refused; ``reply`` is the ``-ERR ...`` line to send."""

    def __init__(self, reply: bytes | str) -> None:
        super().__init__(reply)
        self.reply = reply if isinstance(reply, bytes) else resp.error(reply)


class Refused(CommandError):
    """Refused before it ran, as Redis's processCommand refuses an unknown command: a
    container's unknown subcommand (``cmd`` None: no call counted) or a subcommand's wrong
    arity (``cmd`` the subcommand: a rejected call of it). Inside MULTI it aborts EXEC."""

    def __init__(self, reply: bytes, cmd: Any = None) -> None:
        super().__init__(reply)
        self.cmd = cmd


def _quote(b: bytes, limit: int | None = ECHO_MAX) -> bytes:
    """``%.{limit}s`` of a C string: cut at a NUL and at ``limit`` bytes, CR/LF as spaces."""
    return b.split(b"\0", 1)[0][:limit].replace(b"\r", b" ").replace(b"\n", b" ")


def echoed(template: str, arg: bytes) -> bytes:
    """An ``-ERR`` line that echoes ``arg`` as Redis's ``%s`` does (whole, to a NUL)."""
    return b"-ERR " + template.encode().replace(b"%s", _quote(arg, None)) + b"\r\n"


def unknown_command(args: list[bytes]) -> bytes:
    """Redis's wording: the name, then arguments quoted while the preview is under 128 bytes."""
    preview = b""
    for a in args[1:]:
        if len(preview) >= ECHO_MAX:
            break
        preview += b"'%s' " % _quote(a, ECHO_MAX - len(preview))
    return b"-ERR unknown command '%s', with args beginning with: %s\r\n" % (
        _quote(args[0]),
        preview,
    )


def arity_error(name: str) -> bytes:
    return b"-ERR wrong number of arguments for '%s' command\r\n" % name.encode()


def unknown_subcommand(parent: bytes, sub: bytes) -> bytes:
    return b"-ERR unknown subcommand '%s'. Try %s HELP.\r\n" % (_quote(sub), parent.upper())


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
    err = b"-ERR %s is out of range, must be positive\r\n" % what.encode()
    n = to_int(b, err)
    if n < 0:
        raise CommandError(err)
    return n
