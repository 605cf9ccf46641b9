"""AUTH's users and the ACL command: SETUSER, GETUSER, LIST, USERS, DELUSER, WHOAMI, CAT,
LOG, DRYRUN, SAVE, LOAD, GENPASS (the users themselves: ``servers.cache.acl``).

How a check reaches a command. A client whose user may run everything and
is logged in costs nothing: it is not ``restricted``, so the session's fast
path never asks. Otherwise the client is ``guarded`` and ``guard`` calls
``permission`` before each command: NOAUTH for an unauthenticated client
(but AUTH, HELLO, QUIT and RESET), NOPERM with Redis 7.0's wording for a
command, key or channel the user may not use, each denial in ACL LOG.

Logged in or let in. As in Redis, a client's ``logged_in`` (its c->authenticated)
is set by AUTH/HELLO AUTH, or at connection (and RESET) while the default user
has no password; whether it must authenticate is asked again whenever the
default user changes (``open_door``, ``refresh``): clearing requirepass lets in a
client that never logged in, setting it again shuts it out. HELLO wants a login.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from netlib import resp
from servers.respkit.registry import arity_ok

from ..acl import (
    CATEGORIES,
    NO_AUTH_COMMANDS,
    NOAUTH,
    NOPERM_CHANNEL,
    NOPERM_KEY,
    Acl,
    AclError,
    User,
    all_commands,
    categories,
    describe_client,
    has_spaces,
    to_bytes,
    to_str,
)
from ..table import Command, CommandError, command, container, to_int
from . import server as server_commands

G = "server"
NO = (0, 0, 0)
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
NO_PASSWORD = (
    b"-ERR AUTH <password> called without any password configured for the default user. "
    b"Are you sure your configuration is correct?\r\n"
)
NO_ACLFILE = (
    "This Redis instance is not configured to use an ACL file. You may want to specify users "
    "via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis "
    "configuration file set) in order to store users in the Redis configuration."
)


# --- hooks the State and the Client call ----------------------------------------------


def login(c: Any, user: bytes | None, password: bytes, via: bytes = b"AUTH") -> bytes | None:
    """AUTH and HELLO AUTH: None when logged in, else the error and an ACL LOG entry whose
    object is the command as typed (``via``: AUTH, auth, HELLO), as Redis logs argv[0]; its
    context is multi inside EXEC."""
    acl: Acl = c.state.acl
    if user is None:
        if acl.default.nopass:
            return NO_PASSWORD
        user = b"default"
    name = to_str(user)
    found = acl.authenticate(name, password)
    if found is None:
        context = "multi" if c.in_exec else "toplevel"
        c.last_command = "exec" if c.in_exec else to_str(via).lower()  # (client-info's cmd=)
        acl.add_log("auth", to_str(via), name, context, describe_client(c))
        return WRONGPASS
    set_user(c, found, True)
    return None


def set_user(c: Any, user: User, logged_in: bool) -> None:
    """``logged_in`` is Redis's ``c->authenticated``; the session's ``authenticated`` is
    whether authentication is *required* of it (Redis's ``authRequired``), which also
    depends on the default user: see ``open_door``."""
    c.user = user
    c.user_name = user.name
    c.logged_in = logged_in
    c.set_authenticated(logged_in or open_door(c.state))
    c.update_guard()


def open_door(state: Any) -> bool:
    """The default user needs no password (Redis's authRequired is then false for everyone:
    a client that never logged in runs as default, without the unauthenticated limits)."""
    d = state.acl.default
    return bool(d.enabled and d.nopass)


def fresh_login(c: Any) -> None:
    """A new connection (and RESET): the default user, logged in if it needs no password."""
    set_user(c, c.state.acl.default, open_door(c.state))


def permission(c: Any, cmd: Command, args: list[bytes]) -> bytes | None:
    """The refusal for this client running ``args`` (NOAUTH, NOPERM), or None."""
    if cmd.name in NO_AUTH_COMMANDS:  # always allowed, as Redis's "no-auth" commands
        return None
    if not c.authenticated:
        return NOAUTH
    user: User = c.user
    if user.unrestricted:
        return None
    why = c.state.acl.check(user, cmd, args)
    if why is None:
        return None
    reason, obj = why
    context = "multi" if c.multi is not None else "toplevel"
    c.last_command = cmd.name  # (Redis's client-info names the refused command: its lastcmd)
    c.state.acl.add_log(reason, obj, user.name, context, describe_client(c))
    if reason == "command":
        return b"-NOPERM this user has no permissions to run the '%s' command\r\n" % to_bytes(obj)
    return NOPERM_KEY if reason == "key" else NOPERM_CHANNEL


EXEC_NOPERM = (
    b"-NOPERM ACLs rules changed between the moment the transaction was accumulated and the "
    b"EXEC call. This command is no longer allowed for the following reason: %s\r\n"
)
_EXEC_REASONS = {
    "command": b"no permission to execute the command or subcommand",
    "key": b"no permission to touch the specified keys",
    "channel": b"no permission to access one of the channels used as arguments",
}


def recheck(c: Any, args: list[bytes]) -> bytes | None:
    """A queued command's permission at EXEC (None: it may run). Without this, a command
    queued while allowed ran after ACL SETUSER had taken the right away."""
    user: User = c.user
    if user.unrestricted:
        return None
    cmd = c.state.registry.get(args[0])
    why = c.state.acl.check(user, cmd, args) if cmd is not None else None
    if why is None:
        return None
    reason, obj = why
    c.last_command = "exec"  # (what Redis's client-info names: the command being run)
    c.state.acl.add_log(reason, obj, user.name, "multi", describe_client(c))
    refused = EXEC_NOPERM % _EXEC_REASONS[reason]
    c.state.observer.count_error(refused)
    return refused


def refresh(state: Any, gone: set[str] = frozenset(), me: Any = None) -> None:  # type: ignore[assignment]
    """Users changed: clients of a deleted user are closed, so are subscribers whose user may
    no longer read a channel they hold (Redis kills them too), the rest re-check their guard.
    ``me``, the client that made the change, is closed only once its reply is sent."""
    door = open_door(state)
    for cl in list(state.clients.values()):
        if cl.user_name in gone or _lost_a_channel(cl):
            if cl is me:
                me.closing = True  # as Redis's CLOSE_AFTER_REPLY: ACL DELUSER itself answers :1
            else:
                cl.conn.close()
        else:
            if not cl.logged_in and cl.authenticated != door:  # requirepass set or cleared
                cl.set_authenticated(door)
            cl.update_guard()


def _lost_a_channel(cl: Any) -> bool:
    user = cl.user
    if user.allchannels or not (cl.channels or cl.patterns or cl.shard_channels):
        return False
    return not all(user.may_publish(ch) for ch in cl.channels | cl.shard_channels) or not all(
        user.may_publish(p, literal=True) for p in cl.patterns
    )


def set_requirepass(state: Any, password: str) -> None:
    """``requirepass``: the default user's one password (empty: nopass), as Redis does."""
    rules = ["resetpass", f">{password}"] if password else ["nopass"]
    state.acl.setuser("default", rules)
    state.requirepass = password
    refresh(state)


def load_aclfile(state: Any, path: str, me: Any = None) -> None:
    """Replace every user by the file's (raises AclError; then nothing changes). As
    Redis's ACL LOAD, every user but default is a new one: their clients are
    disconnected (``me``, the one loading, once its +OK is sent)."""
    try:
        text = to_str(Path(path).read_bytes())
    except OSError as e:
        raise AclError(f"Error loading ACLs, opening file '{path}': {e.strerror}") from None
    users = state.acl.parse_file(text, path)
    gone = set(state.acl.users) - {"default"}
    for name, u in users.items():  # keep the objects clients hold
        if name in state.acl.users:
            state.acl.users[name].__dict__.update(u.__dict__)
        else:
            state.acl.users[name] = u
    for name in set(state.acl.users) - set(users):
        del state.acl.users[name]
    refresh(state, gone, me)


# --- ACL ------------------------------------------------------------------------------

ACL = container("ACL", G, "A container for Access List Control commands")


def sub(name: str, arity: int, summary: str, syntax: str | None = None, admin: bool = True) -> Any:
    flags = "admin noscript loading stale" if admin else "noscript loading stale"
    return command(name, arity, flags, NO, G, summary, ACL, syntax)


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


@sub(
    "SETUSER",
    -3,
    "Modify or create the rules for a specific ACL user",
    "username [rule [rule ...]]",
)
def acl_setuser(c: Any, a: list[bytes]) -> bytes:
    if has_spaces(_s(a[2])):
        raise CommandError("Usernames can't contain spaces or null characters")
    try:
        c.state.acl.setuser(_s(a[2]), [_s(r) for r in a[3:]])
    except AclError as e:
        bad = next((_s(r) for r in a[3:] if _bad(c, _s(r))), _s(a[-1]))
        raise CommandError(f"Error in ACL SETUSER modifier '{bad}': {e}") from None
    refresh(c.state, me=c)
    return resp.OK


def _bad(c: Any, rule: str) -> bool:
    try:
        User("probe").apply(rule, c.state.registry)
    except AclError:
        return True
    return False


@sub("GETUSER", 3, "Get the rules for a specific ACL user", "username")
def acl_getuser(c: Any, a: list[bytes]) -> bytes:
    u = c.state.acl.users.get(_s(a[2]))
    if u is None:
        return resp.null(c.proto)
    flags = ["on" if u.enabled else "off"] + (["nopass"] if u.nopass else []) + u.flags
    fields: dict[bytes, Any] = {
        b"flags": [to_bytes(f) for f in flags],
        b"passwords": [h.encode() for h in u.passwords],
        b"commands": to_bytes(u.command_text()),
        b"keys": to_bytes(" ".join(u.key_words())),
        b"channels": to_bytes(" ".join(w for w in u.channel_words() if w != "resetchannels")),
        b"selectors": [],
    }
    return resp.map_(fields, c.proto)


@sub("LIST", 2, "List the current ACL rules in ACL config file format")
def acl_list(c: Any, a: list[bytes]) -> bytes:
    users = c.state.acl.users  # in name order, as Redis's radix tree lists them
    return resp.bulks([to_bytes(users[n].describe()) for n in sorted(users)])


@sub("USERS", 2, "List the username of all the configured ACL users")
def acl_users(c: Any, a: list[bytes]) -> bytes:
    return resp.bulks([to_bytes(n) for n in sorted(c.state.acl.users)])


@sub("WHOAMI", 2, "Return the name of the user associated to the current connection", admin=False)
def acl_whoami(c: Any, a: list[bytes]) -> bytes:
    return resp.bulk(to_bytes(c.user_name))


@sub(
    "DELUSER",
    -3,
    "Remove the specified ACL users and the associated rules",
    "username [username ...]",
)
def acl_deluser(c: Any, a: list[bytes]) -> bytes:
    acl = c.state.acl
    names = {_s(x) for x in a[2:]}
    if "default" in names:
        raise CommandError("The 'default' user cannot be removed")
    gone = {n for n in names if n in acl.users}
    for n in gone:
        del acl.users[n]
    refresh(c.state, gone, me=c)
    return resp.integer(len(gone))


@sub(
    "CAT",
    -2,
    "List the ACL categories or the commands inside a category",
    "[categoryname]",
    admin=False,
)
def acl_cat(c: Any, a: list[bytes]) -> bytes:
    if len(a) == 2:
        return resp.bulks([x.encode() for x in CATEGORIES])
    if len(a) > 3:  # Redis's addReplySubcommandSyntaxError
        raise CommandError(
            f"unknown subcommand or wrong number of arguments for '{_s(a[1])}'. "
            f"Try {_s(a[0]).upper()} HELP."
        )
    cat = _s(a[2]).lower()
    if cat not in CATEGORIES:
        raise CommandError(f"Unknown category '{_s(a[2])}'")
    names = sorted(
        cmd.name for cmd, p in all_commands(c.state.registry) if cat in categories(cmd, p)
    )
    return resp.bulks([n.encode() for n in names])


@sub(
    "GENPASS",
    -2,
    "Generate a pseudorandom secure password to use for ACL users",
    "[bits]",
    admin=False,
)
def acl_genpass(c: Any, a: list[bytes]) -> bytes:
    bits = 256
    if len(a) > 2:
        bits = to_int(a[2])
        if not 0 < bits <= 4096:
            raise CommandError(
                "ACL GENPASS argument must be the number of bits for the output password, "
                "a positive number up to 4096"
            )
    chars = (bits + 3) // 4
    return resp.bulk(secrets.token_hex((chars + 1) // 2)[:chars].encode())


@sub("LOG", -2, "List latest events denied because of ACLs in place", "[count|RESET]")
def acl_log(c: Any, a: list[bytes]) -> bytes:
    acl = c.state.acl
    count = 10  # without a count, the 10 latest (Redis's aclCommand LOG)
    if len(a) > 3:
        raise CommandError(
            "unknown subcommand or wrong number of arguments for 'LOG'. Try ACL HELP."
        )
    if len(a) == 3:
        if a[2].upper() == b"RESET":
            acl.log.clear()
            return resp.OK
        count = max(to_int(a[2]), 0)  # (a negative count lists nothing, as in Redis)
    now_ms = int(time.time() * 1000)
    entries = acl.log[:count]
    return b"*%d\r\n" % len(entries) + b"".join(_log_entry(e, now_ms, c.proto) for e in entries)


def _log_entry(e: Any, now_ms: int, proto: int) -> bytes:
    """One ACL LOG entry as Redis 7.0 writes it: age-seconds is whole milliseconds over 1000
    in its addReplyDouble's ``%.17g`` (0.005 reads "0.0050000000000000001", 0 reads "0")."""
    age = b"%.17g" % ((now_ms - int(e.created * 1000)) / 1000)
    fields = (
        (b"count", resp.integer(e.count)),
        (b"reason", resp.bulk(e.reason.encode())),
        (b"context", resp.bulk(e.context.encode())),
        (b"object", resp.bulk(to_bytes(e.object))),
        (b"username", resp.bulk(to_bytes(e.username))),
        (b"age-seconds", b",%s\r\n" % age if proto == 3 else resp.bulk(age)),
        (b"client-info", resp.bulk(to_bytes(e.client_info))),
    )
    head = b"%%%d\r\n" % len(fields) if proto == 3 else b"*%d\r\n" % (2 * len(fields))
    return head + b"".join(resp.bulk(k) + v for k, v in fields)


@sub(
    "DRYRUN",
    -4,
    "Returns whether the user can execute the given command without executing the command.",
    "username command [arg [arg ...]]",
)
def acl_dryrun(c: Any, a: list[bytes]) -> bytes:
    """Redis 7.0's checks in its order: the user, the command (a container's subcommand
    named), its arity, then the permission: +OK, or why not as a bulk string."""
    user = c.state.acl.users.get(_s(a[2]))
    if user is None:
        raise CommandError(f"User '{_s(a[2])}' not found")
    argv = a[3:]
    cmd = c.state.registry.table.get(argv[0].lower())
    if cmd is not None and cmd.subcommands and len(argv) > 1:
        cmd = cmd.subcommands.get(argv[1].lower())
    if cmd is None:
        raise CommandError(f"Command '{_s(argv[0])}' not found")
    if not arity_ok(cmd.arity, len(argv)):
        raise CommandError(f"wrong number of arguments for '{cmd.name}' command")
    why = c.state.acl.check(user, cmd, argv)
    if why is None:
        return resp.OK
    reason, obj = why
    return resp.bulk(f"This user has no permissions to {_DRYRUN_VERB[reason]} the '{obj}' "
                     f"{reason}".encode("utf-8", "surrogateescape"))  # fmt: skip


_DRYRUN_VERB = {"command": "run", "key": "access", "channel": "access"}


@sub("SAVE", 2, "Save the current ACL rules in the configured ACL file")
def acl_save(c: Any, a: list[bytes]) -> bytes:
    path = c.state.aclfile
    if not path:
        raise CommandError(NO_ACLFILE)
    tmp = Path(path + ".tmp")
    try:
        tmp.write_bytes(to_bytes(c.state.acl.file_text()))
        tmp.replace(path)
    except OSError as e:
        raise CommandError(
            f"There was an error trying to save the ACLs. Please check the server logs for more information ({e.strerror})"
        ) from None
    return resp.OK


@sub("LOAD", 2, "Reload the ACLs from the configured ACL file")
def acl_load(c: Any, a: list[bytes]) -> bytes:
    path = c.state.aclfile
    if not path:
        raise CommandError(NO_ACLFILE)
    try:
        load_aclfile(c.state, path, me=c)
    except AclError as e:  # (Redis's own words: every error of the file, or why it can't open)
        raise CommandError(str(e)) from None
    return resp.OK


# --- CONFIG requirepass / aclfile ---------------------------------------------------


def _set_pubsub_default(st: Any, value: str) -> None:
    """``acl-pubsub-default allchannels|resetchannels``: what a user created from now on
    may publish and subscribe to (users that exist keep their channels)."""
    if value.lower() not in ("allchannels", "resetchannels"):
        raise server_commands.ConfigError(
            "argument(s) must be one of the following: allchannels, resetchannels"
        )
    st.acl.pubsub_all = value.lower() == "allchannels"


server_commands.GETTERS["acl-pubsub-default"] = lambda st: (
    "allchannels" if st.acl.pubsub_all else "resetchannels"
)
server_commands.SETTERS["acl-pubsub-default"] = _set_pubsub_default


def _set_log_max(st: Any, value: str) -> None:
    """``acllog-max-len``: the ACL LOG keeps this many entries (the oldest go at once)."""
    n = int(value)
    if n < 0:
        raise ValueError(value)
    st.acl.log_max = n
    del st.acl.log[n:]


server_commands.NUMERIC["acllog-max-len"] = ("int", 0, 2**63 - 1)  # (Redis's bounds and words)
server_commands.GETTERS["acllog-max-len"] = lambda st: str(st.acl.log_max)
server_commands.SETTERS["acllog-max-len"] = _set_log_max
server_commands.GETTERS["requirepass"] = lambda st: st.requirepass
server_commands.GETTERS["aclfile"] = lambda st: st.aclfile
server_commands.SETTERS["requirepass"] = set_requirepass
