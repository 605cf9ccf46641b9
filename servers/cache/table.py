"""The cache's command registry: the respkit connection commands plus every family in commands/.

Every command is a function ``handler(client, args) -> bytes | None``
registered with ``@command(...)`` in the file of its family (commands/*.py);
the kit's session loop (``servers.respkit.session``) looks it up, checks the
arity and calls it. This module is what a command file imports: the
decorators bound to the cache's registry, and the kit's error wording and
argument parsing (``to_int``, ``CommandError``, ``WRONGTYPE``, ...).
"""

from __future__ import annotations

from servers.respkit import (
    BASE,
    INT64_MAX,
    INT64_MIN,
    MAX_STRING,
    NO_SUCH_KEY,
    NOT_FLOAT,
    NOT_INTEGER,
    OVERFLOW,
    SYNTAX,
    VERSION,
    WRONGTYPE,
    Command,
    CommandError,
    Registry,
    arity_error,
    to_float,
    to_index,
    to_int,
    to_positive,
)

from . import syntax

REGISTRY = Registry(include=BASE)
REGISTRY.syntax.update(syntax.SYNTAX)
TABLE = REGISTRY.table
command = REGISTRY.command
container = REGISTRY.container

__all__ = [
    "INT64_MAX", "INT64_MIN", "MAX_STRING", "NOT_FLOAT", "NOT_INTEGER", "NO_SUCH_KEY",
    "OVERFLOW", "REGISTRY", "SYNTAX", "TABLE", "VERSION", "WRONGTYPE", "Command", "CommandError",
    "arity_error", "command", "container", "to_float", "to_index", "to_int", "to_positive",
]  # fmt: skip
