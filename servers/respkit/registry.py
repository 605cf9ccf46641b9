"""The command registry: name -> handler, arity, flags, key positions, documentation.

Strategy. Every command is a function ``handler(session, args) -> bytes | None``
registered with ``@registry.command(...)`` in the file of its family: it
returns the encoded reply, or None when the session will answer later (a
blocked BLPOP, a merge running in a thread). The session loop looks the name
up, checks the arity exactly as Redis does (positive: exactly that many
words, negative: at least), and calls it. Each name is stored in lower and
upper case so the common spellings skip a ``.lower()`` per command.

A *container* (CLIENT, COMMAND, CONFIG) holds subcommands, each a Command of
its own with its own arity (``client|setname``), dispatched by the
container's handler with Redis's "unknown subcommand" wording.

Each server has its own Registry; ``Registry(include=BASE)`` starts it with
the connection commands every RESP server answers (``respkit.connection``).
``syntax`` maps a command's full name to its argument line as Redis's docs
write it (``key [key ...]``); COMMAND DOCS hands it to redis-cli, which shows
it as the typing hint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import Refused, arity_error, unknown_subcommand

Handler = Callable[[Any, list[bytes]], bytes | None]
# ``many(session, cmds, start, stop, out, room)``: run ``cmds[start]`` and the calls
# right after it (before ``stop``), while each is *plain*: the same spelling of this command's name, a call
# the handler answers without an error, without blocking and with no effect but its
# own (the caller has made sure nothing observes single calls: no MONITOR, no low
# slow-log threshold, no guard, no maxmemory, no blocked client; a ``RunLog``, the AOF,
# is given the calls that ran). Appends each
# reply to ``out``; stops once the replies passed ``room`` bytes. Returns (calls run,
# bytes appended); (0, 0) leaves ``cmds[start]`` to the ordinary path.
RunHandler = Callable[[Any, list[list[bytes]], int, int, list[bytes], int], tuple[int, int]]
# ``columns(session, name, columns, out, room)``: the same for a read that is a grid of
# calls of this command spelled ``name`` (``RequestParser.take_grid``): ``columns[i]``
# holds argument ``i + 1`` of every call (the keys, then the values), a sequence each;
# the calls have the command's arity, not always the run's (SET with options). Runs the calls from the first while each is plain, as ``many``;
# returns (calls run, bytes appended); the session runs the rest the ordinary way.
ColumnsHandler = Callable[[Any, bytes, list[Any], list[bytes], int], tuple[int, int]]


@dataclass(slots=True)
class Command:
    name: str  # the full lower-case name: "get", "client|setname"
    fn: Handler
    arity: int
    flags: tuple[str, ...]
    first_key: int
    last_key: int
    step: int
    group: str
    summary: str
    denyoom: bool = False  # refused when memory is full (the server's admit_write)
    pubsub_ok: bool = False  # allowed in RESP2 subscribe mode
    subcommands: dict[bytes, Command] = field(default_factory=dict)
    bare: Handler | None = None  # a container's handler when called without subcommand
    # Its statistics may be counted per run of calls (``Session.run``): it names keys, so it
    # is not one of the commands that read or reset them (INFO, CONFIG RESETSTAT name none).
    bulk_stats: bool = False
    # Runs a run of plain calls of this command at once (``Session.run``), or None. See
    # ``RunHandler`` for the contract.
    many: RunHandler | None = None
    # Runs a read that is a grid of calls of this command at once (``Session.run_grid``),
    # or None: ``ColumnsHandler``.
    columns: ColumnsHandler | None = None

    def dispatch(self, session: Any, args: list[bytes]) -> bytes | None:
        """A container's handler: find the subcommand, check its arity, run it (``Refused``
        if there is none or its arity is wrong: the session counts it as Redis does)."""
        if len(args) == 1 and self.bare is not None:
            return self.bare(session, args)
        refused = self.refusal(args)
        if refused is not None:
            raise refused
        return self.subcommands[args[1].lower()].fn(session, args)

    def called(self, args: list[bytes]) -> Command:
        """What ``args`` call: the subcommand they name (``config|get``), else this command."""
        if self.subcommands and len(args) > 1:
            return self.subcommands.get(args[1].lower()) or self
        return self

    def refusal(self, args: list[bytes]) -> Refused | None:
        """Why a container refuses ``args`` before running (an unknown subcommand, a
        subcommand's wrong arity), or None."""
        if len(args) == 1 and self.bare is not None:
            return None
        sub = self.subcommands.get(args[1]) or self.subcommands.get(args[1].lower())
        if sub is None:
            return Refused(unknown_subcommand(args[0], args[1]))
        if not arity_ok(sub.arity, len(args)):
            return Refused(arity_error(sub.name), sub)
        return None

    def unique_subcommands(self) -> list[Command]:
        return list({id(s): s for s in self.subcommands.values()}.values())


def arity_ok(arity: int, n: int) -> bool:
    return n == arity if arity > 0 else n >= -arity


def _both_cases(table: dict[bytes, Command], name: str, cmd: Command) -> None:
    table[name.lower().encode()] = cmd
    table[name.upper().encode()] = cmd


class Registry:
    """One server's commands (``table``) and their documentation (``syntax``)."""

    def __init__(self, include: Registry | None = None) -> None:
        self.table: dict[bytes, Command] = {}
        self.syntax: dict[str, str] = {}
        if include is not None:
            self.include(include)

    def include(self, other: Registry, names: Iterable[str] | None = None) -> None:
        """Add another registry's commands, or only ``names`` of them (another server's
        GET and DEL, say). Containers are copied: subcommands added here stay here."""
        wanted = None if names is None else {n.lower() for n in names}
        for cmd in other.commands():
            if wanted is not None and cmd.name not in wanted:
                continue
            if cmd.subcommands or cmd.bare is not None:
                cmd = replace(cmd, subcommands=dict(cmd.subcommands))
                cmd.fn = cmd.dispatch
            _both_cases(self.table, cmd.name, cmd)
        self.syntax.update(
            {k: v for k, v in other.syntax.items() if wanted is None or k.split("|")[0] in wanted}
        )

    def command(
        self,
        name: str,
        arity: int,
        flags: str = "",
        keys: tuple[int, int, int] = (1, 1, 1),
        group: str = "generic",
        summary: str = "",
        parent: Command | None = None,
        syntax: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated handler (as a subcommand of ``parent`` if given)."""

        def deco(fn: Handler) -> Handler:
            fl = tuple(flags.split())
            full = f"{parent.name}|{name.lower()}" if parent else name.lower()
            doc = summary or (fn.__doc__ or "").strip()
            cmd = Command(full, fn, arity, fl, *keys, group, doc)
            cmd.denyoom = "denyoom" in fl
            if parent is not None and cmd.denyoom:  # the session asks the container first
                parent.denyoom = True  # (XGROUP: CREATE may grow memory, DESTROY may not)
            cmd.pubsub_ok = "pubsub" in fl
            cmd.bulk_stats = keys[0] > 0 and parent is None
            _both_cases(parent.subcommands if parent else self.table, name, cmd)
            if syntax is not None:
                self.syntax[full] = syntax
            return fn

        return deco

    def container(
        self, name: str, group: str, summary: str, bare: Handler | None = None
    ) -> Command:
        """A command with subcommands (CONFIG, CLIENT, COMMAND, PUBSUB), HELP included."""
        arity = -1 if bare else -2
        cmd = Command(name.lower(), _unset, arity, (), 0, 0, 0, group, summary, bare=bare)
        cmd.fn = cmd.dispatch
        _both_cases(self.table, name, cmd)
        self.command("HELP", 2, "loading stale", (0, 0, 0), group, "Show helpful text", cmd)(_help)
        return cmd

    def get(self, name: bytes) -> Command | None:
        return self.table.get(name) or self.table.get(name.lower())

    def lookup(self, name: bytes) -> Command | None:
        """A command or ``parent|sub`` subcommand by its full name (COMMAND INFO/DOCS)."""
        parent, _, sub = name.lower().partition(b"|")
        cmd = self.table.get(parent)
        if cmd is not None and sub:
            return cmd.subcommands.get(sub)
        return cmd

    def commands(self) -> list[Command]:
        """Every command once (the table holds each under two spellings)."""
        return list({id(cmd): cmd for cmd in self.table.values()}.values())

    def __iter__(self) -> Iterator[Command]:
        return iter(self.commands())

    def __len__(self) -> int:
        return len(self.commands())

    # -- documentation -------------------------------------------------------------
    def arguments(self, name: str) -> list[dict[bytes, Any]]:
        """The ``arguments`` of one command's COMMAND DOCS entry (empty: takes none)."""
        return [
            {b"name": w.encode(), b"type": b"key" if w in ("key", "newkey") else b"string"}
            for w in words(self.syntax.get(name, ""))
        ]


def _help(session: Any, args: list[bytes]) -> bytes:
    """``CLIENT HELP``: each subcommand with its arguments and summary, Redis's layout."""
    registry: Registry = session.state.registry
    parent = registry.table[args[0].lower()]
    name = parent.name.upper()
    lines = [f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"]
    for sub in sorted(parent.unique_subcommands(), key=lambda c: c.name == f"{parent.name}|help"):
        word = sub.name.partition("|")[2].upper()
        lines.append(f"{word} {registry.syntax.get(sub.name, '')}".rstrip())
        lines.append(f"    {sub.summary}.")
    return b"*%d\r\n" % len(lines) + b"".join(b"+%s\r\n" % ln.encode() for ln in lines)


def _unset(session: Any, args: list[bytes]) -> bytes | None:  # pragma: no cover
    raise AssertionError("a container's handler is its dispatch")


def words(syntax: str) -> list[str]:
    """Split at spaces outside brackets: ``key [key ...]`` -> ``['key', '[key ...]']``.

    Why flat words. redis-cli 7 builds its grey typing hints from the
    ``arguments`` of COMMAND DOCS. Redis describes each argument as a nested
    tree; we hand redis-cli one argument per top-level word, named by the word
    itself (``[NX|XX]`` included), so the hint reads exactly like Redis's
    while a server's syntax table stays a readable page. What this gives up:
    a client that walks the tree sees flat words.
    """
    out: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(syntax + " "):
        depth += (ch == "[") - (ch == "]")
        if ch == " " and depth == 0:
            if i > start:
                out.append(syntax[start:i])
            start = i + 1
    return out
