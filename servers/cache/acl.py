"""ACL users as Redis 7 has them: passwords, command rules, key and channel patterns.

Strategy. A ``User`` keeps its rules the way they were written (``-@all
+@read +set``) and a compiled form the session checks: ``allowed``, the set
of full command names (``get``, ``config|get``) the rules add up to over the
registry as it is now (one set operation per rule: ``_names_of`` indexes what
each rule word names), and ``firstargs``, Redis 7.0's first-arg rules
(``+select|0``: SELECT 0 only). ``allcommands`` means "every command, also those
registered later", as Redis's ``+@all``. A key pattern carries the access it
grants (``~p`` read and write, ``%R~p`` read, ``%W~p`` write); each key of a
call needs what Redis's key specs say (``key_roles``): a read command reads,
a write command reads and writes unless it only writes (``WRITE_ONLY``: SET,
LPUSH, DEL...), and the STORE forms read their sources and write their
destination. Keys in movable positions (XREAD's STREAMS, numkeys, STORE
options) are found by ``KEY_FINDERS`` (``commands/keyfinders.py``). Channels are globs matched against PUBLISH and
SUBSCRIBE arguments; a PSUBSCRIBE pattern must be one of them literally,
as Redis 7 requires.

Passwords are kept only as SHA-256 hex digests and compared with
``hmac.compare_digest`` (constant time), as Redis stores them.

Categories are data, not code: ``categories(cmd)`` derives a command's Redis
ACL categories from its registry group (``string``, ``list``, a new family's
``sorted-set``, ``stream``, ...) and flags (``write`` -> @write, ``readonly``
-> @read, ``fast`` -> @fast else @slow, ``blocking``, ``admin``), plus the
``EXTRA`` table for the ones Redis marks by hand (``@dangerous``,
``@admin``, ``@keyspace``). A new command family gets sensible categories by
its group alone; ``declare(name, ...)`` adds more.

This module is sans-IO: the session asks ``check`` and reports what it says;
the ACL commands (``commands/acl.py``) edit users through ``setuser``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from servers.respkit import Command, Registry
from servers.respkit.glob import compile_glob, match
from servers.respkit.introspect import KEY_FINDERS

NOAUTH = b"-NOAUTH Authentication required.\r\n"
NOPERM_KEY = b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
NOPERM_CHANNEL = (
    b"-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"
)
# What an unauthenticated client may run (Redis's "no-auth" commands).
NO_AUTH_COMMANDS = frozenset({"auth", "hello", "quit", "reset"})
ACL_LOG_MAX = 128  # Redis's acllog-max-len
ACL_LOG_MERGE_SECONDS = 60  # identical denials within this are one entry, counted
ACL_LOG_SCAN = 10  # how many of the latest entries a denial is compared with (Redis's toscan)

# Every category Redis 7.0 has, in ACL CAT's order.
CATEGORIES = (
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
    "dangerous", "connection", "transaction", "scripting",
)  # fmt: skip
# A registry group -> the category it implies (a family's data type).
GROUP_CATEGORY = {
    "string": "string", "list": "list", "hash": "hash", "set": "set",
    "sorted-set": "sortedset", "sorted_set": "sortedset", "sortedset": "sortedset",
    "zset": "sortedset", "geo": "geo", "stream": "stream", "hyperloglog": "hyperloglog",
    "bitmap": "bitmap", "pubsub": "pubsub", "connection": "connection",
    "transactions": "transaction", "transaction": "transaction", "scripting": "scripting",
    "generic": "keyspace",
}  # fmt: skip
_DANGER = ("admin", "dangerous")
# Categories Redis gives by hand, beyond what group and flags say (full names).
EXTRA: dict[str, tuple[str, ...]] = {
    "flushdb": ("keyspace", "dangerous"), "flushall": ("keyspace", "dangerous"),
    "keys": ("dangerous",), "dbsize": ("keyspace",), "info": ("dangerous",),
    "sort": ("dangerous",), "sort_ro": ("dangerous",), "swapdb": ("keyspace", "dangerous"),
    "config": _DANGER, "monitor": _DANGER, "slowlog": _DANGER, "latency": _DANGER,
    "acl": _DANGER, "debug": _DANGER, "save": _DANGER, "bgsave": _DANGER,
    "bgrewriteaof": _DANGER, "shutdown": _DANGER, "lastsave": ("admin", "dangerous", "fast"),
    "client|kill": _DANGER, "client|list": _DANGER, "client|pause": _DANGER,
    "client|unpause": _DANGER, "client|no-evict": _DANGER, "memory|doctor": ("slow",),
    "acl|whoami": (), "acl|cat": (), "acl|genpass": (), "acl|log": _DANGER,
}  # fmt: skip
CONTAINER_EXTRA = {"command": ("connection",)}  # (command.json's own acl_categories)
_SAFE_SUBS = ("acl|whoami", "acl|cat", "acl|genpass", "client|setname", "client|getname",
              "client|id", "client|info", "client|setinfo")  # fmt: skip

_cache: dict[int, frozenset[str]] = {}


def declare(name: str, *cats: str) -> None:
    """Add categories to a command (``declare("zadd", "sortedset")``), for new families."""
    EXTRA[name] = tuple(EXTRA.get(name, ())) + tuple(c.lstrip("@") for c in cats)
    _cache.clear()


def categories(cmd: Command, parent: Command | None = None) -> frozenset[str]:
    """The ACL categories of one command or subcommand (computed once, then cached)."""
    got = _cache.get(id(cmd))
    if got is not None:
        return got
    if parent is None and cmd.subcommands:  # a container (CONFIG): Redis 7.0 gives it @slow
        got = _cache[id(cmd)] = frozenset({"slow", *CONTAINER_EXTRA.get(cmd.name, ())})
        return got  # only; its subcommands have the categories that say what they do
    cats: set[str] = set()
    group_cat = GROUP_CATEGORY.get(cmd.group)
    if group_cat:
        cats.add(group_cat)
    fl = cmd.flags
    if "write" in fl:
        cats.add("write")
    if "readonly" in fl:
        cats.add("read")
    cats.add("fast" if "fast" in fl else "slow")
    if "blocking" in fl:
        cats.add("blocking")
    if "admin" in fl:
        cats.update(_DANGER)
    if parent is not None and cmd.name not in _SAFE_SUBS:
        cats.update(EXTRA.get(parent.name, ()))
    cats.update(EXTRA.get(cmd.name, ()))
    if "admin" in cats:
        cats.discard("fast")
        cats.add("slow")
    result = frozenset(cats)
    _cache[id(cmd)] = result
    return result


def all_commands(registry: Registry) -> Iterable[tuple[Command, Command | None]]:
    """Every command and subcommand, each with its parent (None at the top level)."""
    for cmd in registry.commands():
        yield cmd, None
        for sub in cmd.unique_subcommands():
            yield sub, cmd


# The command names each rule word stands for, per registry (its commands are set up at
# start; the count notices one that grew): "@cat" -> that category's, "cmd" -> cmd and
# its subcommands, "@all" -> every one.
_NAMES: dict[int, tuple[int, dict[str, frozenset[str]]]] = {}


def _names_of(registry: Registry, word: str) -> frozenset[str]:
    size = len(registry.table)
    cached = _NAMES.get(id(registry))
    if cached is None or cached[0] != size:
        every = list(all_commands(registry))
        index: dict[str, set[str]] = {"@all": {c.name for c, _ in every}}
        for c, parent in every:
            for cat in categories(c, parent):
                index.setdefault("@" + cat, set()).add(c.name)
            index.setdefault(c.name, set()).add(c.name)
            if parent is not None:
                index.setdefault(parent.name, set()).add(c.name)
        cached = _NAMES[id(registry)] = (size, {k: frozenset(v) for k, v in index.items()})
    return cached[1].get(word, frozenset())


def to_bytes(s: str) -> bytes:
    """Names, patterns and rules are any bytes, as in Redis: they travel as str with
    surrogate escapes (a byte that is not UTF-8 stays itself both ways)."""
    return s.encode("utf-8", "surrogateescape")


def to_str(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def sha256_hex(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


UNKNOWN_RULE = "Unknown command or category name in ACL"


class AclError(Exception):
    """A malformed ACL rule: ``message`` is Redis's reason."""


@dataclass
class User:
    name: str
    enabled: bool = False
    nopass: bool = False
    passwords: list[str] = field(default_factory=list)  # SHA-256 hex, in order added
    rules: list[str] = field(default_factory=lambda: ["-@all"])
    allcommands: bool = False
    allowed: set[str] = field(default_factory=set)
    firstargs: dict[str, frozenset[bytes]] = field(default_factory=dict)  # +select|0: SELECT 0 only
    keys: list[tuple[str, bytes]] = field(default_factory=list)  # ("RW"|"R"|"W", pattern)
    allkeys: bool = False
    channels: list[bytes] = field(default_factory=list)
    allchannels: bool = False
    flags: list[str] = field(default_factory=list)  # sanitize-payload, as Redis shows it
    # What ``keys`` and ``channels`` hold, as sets (``_add_once``): a pattern given again is
    # not added twice, and 30000 patterns in one SETUSER are not 450M list comparisons.
    _seen: dict[int, tuple[list[Any], set[Any]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def unrestricted(self) -> bool:
        return self.allcommands and self.allkeys and self.allchannels

    # -- passwords -----------------------------------------------------------------
    def check_password(self, password: bytes) -> bool:
        if not self.enabled:
            return False
        if self.nopass:
            return True
        digest = sha256_hex(password)
        ok = False
        for h in self.passwords:  # every one is compared: no early exit to time
            ok |= hmac.compare_digest(h, digest)
        return ok

    # -- rules ------------------------------------------------------------------------
    def apply(self, rule: str, registry: Registry) -> None:
        """One ``ACL SETUSER`` word; raises AclError on a malformed one."""
        low = rule.lower()
        if low == "on":
            self.enabled = True
        elif low == "off":
            self.enabled = False
        elif low == "nopass":
            self.nopass, self.passwords = True, []
        elif low == "resetpass":
            self.nopass, self.passwords = False, []
        elif rule.startswith(">"):
            self._add_hash(sha256_hex(rule[1:].encode("utf-8", "surrogateescape")))
        elif rule.startswith("<"):
            self._drop_hash(sha256_hex(rule[1:].encode("utf-8", "surrogateescape")))
        elif rule.startswith("#"):
            self._add_hash(_valid_hash(rule[1:]))
        elif rule.startswith("!"):
            self._drop_hash(_valid_hash(rule[1:]))
        elif low in ("allkeys", "~*"):
            self.allkeys, self.keys = True, []
        elif low == "resetkeys":
            self.allkeys, self.keys = False, []
        elif rule[:1] in ("~", "%"):
            self._add_key(*_key_rule(rule))
        elif low in ("allchannels", "&*"):
            self.allchannels, self.channels = True, []
        elif low == "resetchannels":
            self.allchannels, self.channels = False, []
        elif rule.startswith("&"):
            if has_spaces(rule[1:]):
                raise AclError("Syntax error")
            if self.allchannels:  # Redis's EISDIR
                raise AclError(
                    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not "
                    "valid and does not have any effect. Try 'resetchannels' to start with an "
                    "empty list of channels"
                )
            self._add_once(self.channels, to_bytes(rule[1:]))
        elif low in ("allcommands", "+@all"):
            self.rules, self.allcommands = ["+@all"], True
            self.compile(registry)
        elif low in ("nocommands", "-@all"):
            self.rules, self.allcommands = ["-@all"], False
            self.compile(registry)
        elif rule[:1] in ("+", "-"):  # ("+" alone: an unknown command, as Redis says)
            self._command_rule(rule, registry)
        elif low == "reset":
            self.__init__(self.name)  # type: ignore[misc]
            self.flags = ["sanitize-payload"]
        elif low in ("sanitize-payload", "skip-sanitize-payload"):
            self.flags = [low]
        else:
            raise AclError("Syntax error")

    def _add_hash(self, h: str) -> None:
        self.nopass = False
        if h not in self.passwords:
            self.passwords.append(h)

    def _drop_hash(self, h: str) -> None:
        if h not in self.passwords:
            raise AclError("The password you are trying to remove from the user does not exist")
        self.passwords.remove(h)

    def _add_key(self, perm: str, pattern: str) -> None:
        if has_spaces(pattern):
            raise AclError("Syntax error")
        if self.allkeys:  # Redis's EEXIST
            raise AclError(
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and "
                "does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            )
        key = pattern.encode("utf-8", "surrogateescape")
        seen = self._seen.get(id(self.keys))
        if seen is None or seen[0] is not self.keys:
            seen = self._seen[id(self.keys)] = (self.keys, {p for _, p in self.keys})
        if key not in seen[1]:
            self.keys.append((perm, key))
            seen[1].add(key)
            return
        for i, (had, p) in enumerate(self.keys):  # the same pattern again: its rights add up
            if p == key:  # (Redis: "%R~a ~a" is "~a", "%R~* %W~*" is "~*")
                self.keys[i] = ("RW" if set(had + perm) == {"R", "W"} else had, p)

    def _add_once(self, items: list[Any], item: Any) -> None:
        """Append ``item`` to ``items`` (``keys`` or ``channels``) unless it is there; the
        set beside a list is made again when the list was replaced (a reset)."""
        seen = self._seen.get(id(items))
        if seen is None or seen[0] is not items:
            seen = self._seen[id(items)] = (items, set(items))
        if item not in seen[1]:
            items.append(item)
            seen[1].add(item)

    def _command_rule(self, rule: str, registry: Registry) -> None:
        sign, name = rule[0], rule[1:].lower()
        if name.startswith("@"):
            if name[1:] not in CATEGORIES:
                raise AclError(UNKNOWN_RULE)
        else:
            parts = name.split("|")  # command[|subcommand], Redis's errors in its order
            cmd = registry.lookup(to_bytes(parts[0]))
            subcommand = cmd.subcommands.get(to_bytes(parts[1])) if cmd and len(parts) > 1 else None
            if sign == "+" and len(parts) == 2 and parts[0] and not parts[1]:  # "+get|"
                raise AclError("Syntax error")
            if sign == "+" and len(parts) == 3 and subcommand is not None:
                raise AclError("Allowing first-arg of a subcommand is not supported")
            # "+select|0": a command without subcommands, then its first argument
            first_arg = sign == "+" and len(parts) == 2 and cmd is not None and not cmd.subcommands
            if (
                cmd is None
                or len(parts) > 2
                or (len(parts) == 2 and not subcommand and not first_arg)
            ):
                raise AclError(UNKNOWN_RULE)
        # An earlier rule this one overrides whole is dropped (as Redis's
        # ACLUpdateCommandRules): the same category, the same command, or a subcommand (or
        # first argument) of the command named now. So the list, and GETUSER's text, stay
        # as short as the rules that still matter, however often the user is changed.
        # A rule that changes nothing the rules left allow is not recorded either (Redis:
        # "+@all +client|id" reads back "+@all", "-@all +@connection +client|id" reads
        # back "-@all +@connection").
        sub_prefix = name + "|"
        kept = [r for r in self.rules if r[1:] != name and not r[1:].startswith(sub_prefix)]
        if len(kept) != len(self.rules):  # (what the dropped rules did is undone first)
            self.rules = kept or ["-@all"]
            self.compile(registry)
        if self._changes(sign + name, registry):
            self.rules.append(sign + name)
            self._apply_rule(sign + name, registry)  # (one rule: a replay of all of them per
            # rule made a SETUSER of a few hundred rules stall the server for seconds)
        self.allcommands = self.rules[0] == "+@all" and all(r[0] == "+" for r in self.rules)

    def _changes(self, rule: str, registry: Registry) -> bool:
        """Whether ``rule`` allows or denies anything the rules so far do not already."""
        base, bar, arg = rule[1:].partition("|")
        if bar and rule[0] == "+":
            cmd = registry.lookup(to_bytes(base))
            if cmd is not None and not cmd.subcommands:  # a first argument (+select|0)
                return base not in self.allowed and to_bytes(arg) not in self.firstargs.get(
                    base, ()
                )
        hit = _names_of(registry, rule[1:])
        if rule[0] == "+":
            return not hit <= self.allowed
        return bool(hit & self.allowed) or any(n in self.firstargs for n in hit)

    def compile(self, registry: Registry) -> None:
        """Replay the command rules over today's registry into ``allowed`` and ``firstargs``."""
        self.allowed, self.firstargs = set(), {}
        for r in self.rules:
            self._apply_rule(r, registry)
        self.allcommands = self.rules[0] == "+@all" and all(r[0] == "+" for r in self.rules)

    def _apply_rule(self, rule: str, registry: Registry) -> None:
        """One rule into ``allowed``, or into ``firstargs`` for ``+select|0`` (a command
        without subcommands, then an argument: SELECT 0 only, until a later rule allows or
        denies SELECT as a whole; Redis 7.0's deprecated first-arg rules). ``firstargs`` is
        replaced, never changed in place: SETUSER's copy of a user shares it."""
        base, bar, arg = rule[1:].partition("|")
        if bar and rule[0] == "+":
            cmd = registry.lookup(to_bytes(base))
            if cmd is not None and not cmd.subcommands:
                args = self.firstargs.get(base, frozenset()) | {to_bytes(arg)}
                self.firstargs = {**self.firstargs, base: args}
                return
        hit = _names_of(registry, rule[1:])
        if rule[0] == "+":
            self.allowed |= hit
        else:
            self.allowed -= hit
        if self.firstargs:
            self.firstargs = {n: a for n, a in self.firstargs.items() if n not in hit}

    # -- checks ------------------------------------------------------------------------
    def may_run(self, name: str, args: list[bytes] | None = None) -> bool:
        if self.allcommands or name in self.allowed:
            return True
        allowed_args = self.firstargs.get(name)  # (only commands without subcommands)
        return bool(allowed_args and args and len(args) > 1 and args[1].lower() in allowed_args)

    def may_access(self, key: bytes, write: bool, read: bool) -> bool:
        if self.allkeys:
            return True
        for perm, pattern in self.keys:
            if (not write or "W" in perm) and (not read or "R" in perm) and match(pattern, key):
                return True
        return False

    def reads_every_key(self) -> bool:
        """``~*`` or ``%R~*``: what SORT's BY and GET patterns need (they read any key)."""
        return self.allkeys or any(p == b"*" and "R" in perm for perm, p in self.keys)

    def may_publish(self, channel: bytes, literal: bool = False) -> bool:
        if self.allchannels:
            return True
        if literal:
            return channel in self.channels
        return any(compile_glob(p)(channel) for p in self.channels)

    # -- description -------------------------------------------------------------------
    def describe(self) -> str:
        """The user as one ``ACL LIST`` line (also the ACL file's format)."""
        words = ["user", self.name, "on" if self.enabled else "off"]
        if self.nopass:  # (Redis's ACLUserFlags order: on/off, nopass, the sanitize flags)
            words.append("nopass")
        words += self.flags
        words += ["#" + h for h in self.passwords]
        words += self.key_words()
        words += self.channel_words()
        words.append(self.command_text())
        return " ".join(w for w in words if w)

    def key_words(self) -> list[str]:
        if self.allkeys:
            return ["~*"]
        return [("~" if p == "RW" else f"%{p}~") + to_str(k) for p, k in self.keys]

    def channel_words(self) -> list[str]:
        if self.allchannels:
            return ["&*"]
        return ["resetchannels"] + ["&" + to_str(c) for c in self.channels]

    def command_text(self) -> str:
        return " ".join(self.rules)


def _key_rule(rule: str) -> tuple[str, str]:
    """``~pattern`` or ``%R~pattern``, ``%W~``, ``%RW~`` as (rights, pattern), parsed as Redis's
    ACLSetSelector: each of R and W at most once, then ``~`` (``%R`` alone is an empty
    pattern); ``%RW~*`` is a pattern, only ``~*`` means allkeys."""
    if rule[0] == "~":
        return "RW", rule[1:]
    perm = ""
    i = 1
    while i < len(rule):
        ch = rule[i].upper()
        i += 1
        if ch in "RW" and ch not in perm:
            perm += ch
        elif ch == "~":
            break
        else:
            raise AclError("Syntax error")
    if not perm:
        raise AclError("Syntax error")
    return ("RW" if len(perm) == 2 else perm), rule[i:]


def has_spaces(s: str) -> bool:
    """A space, tab, newline (C's isspace) or NUL: not allowed in a user name or a key or
    channel pattern, as Redis's ACLStringHasSpaces. ACL LIST and the ACL file separate
    words with spaces and users with newlines: ``~a\nuser evil on nopass ~* +@all``
    would come back from ACL SAVE + ACL LOAD as a second user."""
    return any(ch in " \t\n\r\v\f\0" for ch in s)


def _valid_hash(h: str) -> str:
    """As Redis's ACLCheckPasswordHash: 64 lowercase hex digits (``A``-``F`` refused)."""
    if len(h) != 64 or any(ch not in "0123456789abcdef" for ch in h):
        raise AclError(
            "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
        )
    return h


@dataclass
class LogEntry:
    count: int
    reason: str  # auth, command, key, channel
    context: str  # toplevel, multi, lua
    object: str
    username: str
    created: float  # the last update (Redis's ctime): a merged denial moves it
    client_info: str


class Acl:
    """The users of one server, the ACL log, and the checks the session runs."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.users: dict[str, User] = {}
        self.log: list[LogEntry] = []  # newest first
        # acl-pubsub-default: the channels a new user starts with (Redis 7: resetchannels)
        self.pubsub_all = False
        self.log_max = ACL_LOG_MAX  # acllog-max-len
        self.reset_default()

    def reset_default(self) -> None:
        self.users = {"default": self.new_user("default", ["on", "nopass", "~*", "&*", "+@all"])}

    def new_user(self, name: str, rules: Iterable[str]) -> User:
        u = User(name, allchannels=self.pubsub_all)
        self._apply(u, rules)
        u.compile(self.registry)
        return u

    def _apply(self, u: User, rules: Iterable[str]) -> None:
        """The rules in order; ``reset`` leaves the channels acl-pubsub-default gives."""
        for r in rules:
            self._apply_one(u, r)

    def _apply_one(self, u: User, rule: str) -> None:
        u.apply(rule, self.registry)
        if self.pubsub_all and rule.lower() == "reset":
            u.allchannels = True

    @property
    def default(self) -> User:
        return self.users["default"]

    def setuser(self, name: str, rules: list[str]) -> User:
        """Apply ``rules`` to a copy of the user (created if new); all or nothing."""
        old = self.users.get(name)
        u = User(name, allchannels=self.pubsub_all)
        if old is not None:
            u.__dict__.update({k: (list(v) if isinstance(v, list) else set(v) if isinstance(v, set) else v)
                               for k, v in old.__dict__.items()})  # fmt: skip
        self._apply(u, rules)
        if old is not None:
            old.__dict__.update(u.__dict__)  # connected clients hold the object: change it in place
            return old
        self.users[name] = u
        return u

    def authenticate(self, name: str, password: bytes) -> User | None:
        user = self.users.get(name)
        if user is None:
            sha256_hex(password)  # same work whether the user exists or not
            return None
        return user if user.check_password(password) else None

    def check(self, user: User, cmd: Command, args: list[bytes]) -> tuple[str, str] | None:
        """Why ``user`` may not run ``args`` (reason, object), or None when it may."""
        target = cmd.called(args)
        name = target.name
        if not user.may_run(name, args):
            return "command", name
        if not user.allkeys and (target.first_key > 0 or target.name in KEY_FINDERS):
            for key, read, write in key_roles(target, args):
                if not user.may_access(key, write, read):
                    return "key", to_str(key)
        if not user.allchannels:
            for ch, literal in channel_args(name, args):
                if not user.may_publish(ch, literal):
                    return "channel", to_str(ch)
        return None

    def add_log(self, reason: str, obj: str, username: str, context: str, client_info: str) -> None:
        """As Redis's addACLLogEntry: a denial like one of the ``ACL_LOG_SCAN`` latest entries,
        updated less than a minute ago, counts there (and updates it: a brute force of AUTH
        stays one entry however long it goes on); else it is a new entry, first."""
        now = time.time()
        for i, e in enumerate(self.log[:ACL_LOG_SCAN]):
            if (e.reason, e.object, e.username, e.context) == (reason, obj, username, context) and (
                abs(now - e.created) <= ACL_LOG_MERGE_SECONDS
            ):
                e.count += 1
                e.client_info = client_info
                e.created = now  # (Redis's ctime: the last update, what age-seconds counts from)
                self.log.insert(0, self.log.pop(i))  # the latest denial first, as Redis
                return
        self.log.insert(0, LogEntry(1, reason, context, obj, username, now, client_info))
        del self.log[self.log_max :]

    # -- the ACL file ------------------------------------------------------------------
    def parse_file(self, text: str, filename: str = "") -> dict[str, User]:
        """Users from an ACL file's text; raises AclError with every error, as Redis 7.0.

        Redis's grammar (ACLLoadFromFile): a line trimmed of spaces, tabs and CR/LF is
        split on single spaces, so an empty word is no rule at all; it must be ``user
        NAME rules...`` (no comments); a duplicate user, a rule naming an unknown command
        (each one) and the first other bad rule of a line are reported, the whole file is
        refused, and the message says "no change ... was performed".
        """
        users: dict[str, User] = {}
        errors: list[str] = []
        for n, line in enumerate(text.split("\n"), 1):
            line = line.strip(" \t\r\n")
            if not line:
                continue
            words = line.split(" ")
            if words[0] != "user" or len(words) < 2:
                errors.append(
                    f"{filename}:{n} should start with user keyword followed by the username. "
                )
                continue
            name = words[1]
            if name in users:
                errors.append(f"WARNING: Duplicate user '{name}' found on line {n}. ")
                continue
            u = users[name] = User(name, allchannels=self.pubsub_all)
            reported = False
            for rule in words[2:]:
                rule = rule.strip("\t\r\n")
                if not rule:
                    continue
                try:
                    self._apply_one(u, rule)
                except AclError as e:
                    if str(e) == UNKNOWN_RULE:
                        errors.append(
                            f"{filename}:{n}: Error in applying operation '{rule}': {e}. "
                        )
                    elif not reported:  # (the others may follow from the first)
                        errors.append(f"{filename}:{n}: {e}. ")
                        reported = True
            u.compile(self.registry)
        if errors:
            raise AclError(
                "".join(errors)
                + "WARNING: ACL errors detected, no change to the previously active ACL rules "
                "was performed"
            )
        if "default" not in users:
            users["default"] = self.new_user("default", ["on", "nopass", "~*", "&*", "+@all"])
        return users

    def file_text(self) -> str:
        """ACL SAVE's text: the users in name order, as Redis writes (and ACL LIST shows) them."""
        return "".join(self.users[n].describe() + "\n" for n in sorted(self.users))


def key_args(cmd: Command, args: list[bytes]) -> list[bytes]:
    """The key arguments of a call: the command's key finder (EVAL's numkeys, SORT's STORE,
    LMPOP...) when it has one, else its first/last/step positions."""
    finder = KEY_FINDERS.get(cmd.name)
    if finder is not None:
        return finder(args)
    first, last, step = cmd.first_key, cmd.last_key, cmd.step or 1
    if first <= 0 or first >= len(args):
        return []
    end = last if last > 0 else len(args) + last
    return args[first : end + 1 : step]


# Write commands that only write their keys, never hand their content back (Redis's key
# specs without ACCESS): a write-only user (%W~) may run them. Every other write command
# needs read access too: LPOP, GETDEL, INCR, SET ... GET answer with what was there.
WRITE_ONLY = frozenset(
    """
set setex psetex setnx mset msetnx append setrange lpush rpush lpushx rpushx linsert lset
lrem ltrim sadd srem hset hsetnx hmset hdel zadd zrem zremrangebyrank zremrangebyscore
zremrangebylex del unlink expire pexpire expireat pexpireat persist xadd xdel xtrim xsetid
pfadd restore
""".split()
)


def _store(dest: int, sources: slice) -> Any:
    """A command that reads ``sources`` and writes ``dest`` (ZUNIONSTORE, COPY, BITOP...)."""

    def roles(cmd: Command, args: list[bytes]) -> list[tuple[bytes, bool, bool]]:
        keys = key_args(cmd, args)
        d = args[dest] if dest < len(args) else None
        return [(k, k is not d, k is d) for k in keys[sources]] + (
            [(d, False, True)] if d is not None else []
        )

    return roles


def _move(cmd: Command, args: list[bytes]) -> list[tuple[bytes, bool, bool]]:
    """RENAME, LMOVE, SMOVE...: the source is read and emptied, the destination written."""
    return [(args[1], True, True), (args[2], False, True)]


def _store_option(cmd: Command, args: list[bytes]) -> list[tuple[bytes, bool, bool]]:
    """SORT/GEORADIUS: the key is read; a STORE (or STOREDIST) destination written."""
    return [(k, i == 0, i > 0) for i, k in enumerate(key_args(cmd, args))]


def _pfmerge(cmd: Command, args: list[bytes]) -> list[tuple[bytes, bool, bool]]:
    """PFMERGE reads its sources and merges into the destination (read and written)."""
    return [(args[1], True, True)] + [(k, True, False) for k in args[2:]]


def _set(cmd: Command, args: list[bytes]) -> list[tuple[bytes, bool, bool]]:
    return [(args[1], any(a.upper() == b"GET" for a in args[3:]), True)]


KEY_ROLES: dict[str, Any] = {
    "zunionstore": _store(1, slice(1, None)), "zinterstore": _store(1, slice(1, None)),
    "zdiffstore": _store(1, slice(1, None)), "sunionstore": _store(1, slice(1, None)),
    "sinterstore": _store(1, slice(1, None)), "sdiffstore": _store(1, slice(1, None)),
    "zrangestore": _store(1, slice(1, None)), "geosearchstore": _store(1, slice(1, None)),
    "bitop": _store(2, slice(1, None)), "copy": _store(2, slice(0, 1)),
    "rename": _move, "renamenx": _move, "lmove": _move, "rpoplpush": _move, "blmove": _move,
    "brpoplpush": _move, "smove": _move,
    "sort": _store_option, "georadius": _store_option, "georadiusbymember": _store_option,
    "set": _set, "pfmerge": _pfmerge,
}  # fmt: skip


# Where Redis 7.0's key spec says otherwise than the command's flags: read when the spec
# has ACCESS (the value is handed back), write when it has INSERT, DELETE or UPDATE. A spec
# with neither (EXISTS, TYPE, LLEN, WATCH, OBJECT ENCODING: only the key's existence or
# metadata) needs a pattern that matches, whatever it grants: ``%W~w*`` may EXISTS w1.
# XGROUP CREATE, XACK, GEOADD change a key without reading it; EVAL and FCALL's keys may
# be read and written. (Compared with src/commands.c's key specs, one per command here.)
KEY_ACCESS: dict[str, tuple[bool, bool]] = {
    **dict.fromkeys(
        """exists type touch watch strlen llen scard sismember zcard hlen hexists hstrlen xlen
        object|freq object|encoding object|idletime object|refcount memory|usage""".split(),
        (False, False),
    ),
    **dict.fromkeys(
        """geoadd xack xclaim xautoclaim xgroup|create xgroup|setid xgroup|destroy
        xgroup|createconsumer xgroup|delconsumer""".split(),
        (False, True),
    ),
    **dict.fromkeys("eval evalsha fcall".split(), (True, True)),
    **dict.fromkeys("xreadgroup pfdebug".split(), (True, False)),
}


def key_roles(cmd: Command, args: list[bytes]) -> list[tuple[bytes, bool, bool]]:
    """Each key of a call with the access it needs: (key, read, write)."""
    roles = KEY_ROLES.get(cmd.name)
    if roles is not None:
        return list(roles(cmd, args))
    access = KEY_ACCESS.get(cmd.name)
    if access is not None:
        read, write = access
    else:
        write = "write" in cmd.flags
        read = not write or cmd.name not in WRITE_ONLY
    return [(k, read, write) for k in key_args(cmd, args)]


_CHANNEL_ARGS = {"publish": (1, 2), "spublish": (1, 2)}
_SUBSCRIBERS = ("subscribe", "ssubscribe")


def channel_args(name: str, args: list[bytes]) -> list[tuple[bytes, bool]]:
    """Channels a command names, each with ``literal`` (a PSUBSCRIBE pattern)."""
    if name in _CHANNEL_ARGS:
        lo, hi = _CHANNEL_ARGS[name]
        return [(a, False) for a in args[lo:hi]]
    if name in _SUBSCRIBERS:
        return [(a, False) for a in args[1:]]
    if name == "psubscribe":
        return [(a, True) for a in args[1:]]
    return []


def describe_client(c: Any) -> str:
    try:
        return str(c.info_line())
    except Exception:  # pragma: no cover - a half-built test session
        return ""
