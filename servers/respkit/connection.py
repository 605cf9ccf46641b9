"""The connection commands every RESP server answers: HELLO, AUTH, PING, ECHO, QUIT,
RESET, SELECT, CLIENT ..., registered in ``BASE`` (a server's registry includes it).

They follow Redis 7.0's replies and wording (a test compares them with a real
redis-server's). Unless the server has users (``state.authenticate``, the cache's ACL), the
only user is ``default`` with ``nopass``, as on a fresh Redis, so ``AUTH
default <any>`` and ``HELLO 3 AUTH default <any>`` succeed, another user name
is refused with WRONGPASS, and a bare ``AUTH <password>`` gets Redis's "no
password configured" error.
"""

from __future__ import annotations

from typing import Any

from netlib import resp

from .errors import (
    DB_OUT_OF_RANGE,
    NOPROTO,
    SYNTAX,
    WRONGPASS,
    CommandError,
    arity_error,
    echoed,
    to_int,
)
from .registry import Registry
from .state import VERSION

BASE = Registry()
command = BASE.command
G = "connection"
NO = (0, 0, 0)  # no key positions

NOT_PROTOCOL = b"-ERR Protocol version is not an integer or out of range\r\n"
NO_PASSWORD = (
    b"-ERR AUTH <password> called without any password configured for the default user. "
    b"Are you sure your configuration is correct?\r\n"
)
NOAUTH_HELLO = (
    b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    b"HELLO AUTH <user> <pass> option can be used to authenticate the client and "
    b"select the RESP protocol version at the same time\r\n"
)
BAD_NAME = "Client names cannot contain spaces, newlines or special characters."


@command("PING", -1, "fast pubsub", NO, G, "Ping the server", syntax="[message]")
def ping(c: Any, a: list[bytes]) -> bytes:
    if len(a) > 2:
        return arity_error("ping")
    if c.subscribed:  # RESP2 subscribe mode answers an array, as Redis does
        return resp.bulks([b"pong", a[1] if len(a) > 1 else b""])
    return resp.bulk(a[1]) if len(a) > 1 else resp.PONG


@command("ECHO", 2, "fast", NO, G, "Echo the given string", syntax="message")
def echo(c: Any, a: list[bytes]) -> bytes:
    return resp.bulk(a[1])


@command("QUIT", -1, "fast pubsub", NO, G, "Close the connection")
def quit_(c: Any, a: list[bytes]) -> bytes:
    c.closing = True
    return resp.OK


@command("SELECT", 2, "fast", NO, G, "Change the selected database", syntax="index")
def select(c: Any, a: list[bytes]) -> bytes:
    return resp.OK if c.select(to_int(a[1])) else DB_OUT_OF_RANGE


def authenticate(c: Any, user: bytes | None, password: bytes, via: bytes) -> bytes | None:
    """The error for a login (None: logged in). Without users (the kit's default): any
    password is right for ``default``; a server with users overrides ``state.authenticate``
    (``via``: the command as the client spelled it, AUTH or HELLO, which its log names)."""
    hook = getattr(c.state, "authenticate", None)
    if hook is not None:
        result: bytes | None = hook(c, user, password, via)
        return result
    if user is None:
        return NO_PASSWORD
    return None if user == b"default" else WRONGPASS


@command("AUTH", -2, "fast", NO, G, "Authenticate the connection", syntax="[username] password")
def auth(c: Any, a: list[bytes]) -> bytes:
    if len(a) > 3:
        return SYNTAX
    if len(a) == 2:
        return authenticate(c, None, a[1], a[0]) or resp.OK
    return authenticate(c, a[1], a[2], a[0]) or resp.OK


HELLO_SYNTAX = "[protover [AUTH username password] [SETNAME clientname]]"


@command("HELLO", -1, "fast", NO, G, "Handshake (RESP2 or RESP3)", syntax=HELLO_SYNTAX)
def hello(c: Any, a: list[bytes]) -> bytes:
    proto = c.proto
    if len(a) > 1:
        proto = to_int(a[1], NOT_PROTOCOL)
        if proto not in (2, 3):
            return NOPROTO
    name = None
    i = 2
    while i < len(a):  # in order, as Redis 7.0: each option is checked where it stands
        opt = a[i].upper()
        if opt == b"AUTH" and i + 2 < len(a):
            refused = authenticate(c, a[i + 1], a[i + 2], a[0])
            if refused:
                return refused
            i += 3
        elif opt == b"SETNAME" and i + 1 < len(a):
            name = _check_name(a[i + 1])
            i += 2
        else:
            return echoed("Syntax error in HELLO option '%s'", a[i])
    if not c.logged_in:  # (Redis asks c->authenticated here, not whether auth is required)
        return NOAUTH_HELLO
    if name is not None:
        c.name = name
    c.proto = proto
    c.protocol_changed()
    info = {
        b"server": b"redis", b"version": VERSION.encode(), b"proto": proto, b"id": c.id,
        b"mode": b"standalone", b"role": b"master", b"modules": [],
    }  # fmt: skip
    return resp.map_(info, proto)


@command("RESET", 1, "fast pubsub", NO, G, "Reset the connection")
def reset(c: Any, a: list[bytes]) -> bytes | None:
    c.reset()
    return c.end_batch_after_logout(b"+RESET\r\n")  # (the rest meets the logged-out limits)


# --- CLIENT -----------------------------------------------------------------------

CLIENT = BASE.container("CLIENT", G, "A container for client connection commands")


def _check_name(name: bytes) -> bytes:
    if any(b <= 32 or b > 126 for b in name):
        raise CommandError(BAD_NAME)
    return name


def sub(name: str, arity: int, summary: str, syntax: str | None = None, flags: str = "fast") -> Any:
    return command(name, arity, flags, NO, G, summary, CLIENT, syntax)


@sub("SETNAME", 3, "Set the current connection name", "connection-name")
def client_setname(c: Any, a: list[bytes]) -> bytes:
    c.name = _check_name(a[2])
    return resp.OK


@sub("GETNAME", 2, "Get the current connection name")
def client_getname(c: Any, a: list[bytes]) -> bytes:
    return resp.bulk(c.name or None, c.proto)


@sub("ID", 2, "Returns the client ID")
def client_id(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(c.id)


@sub("SETINFO", 4, "Set client library name or version", "LIB-NAME libname|LIB-VER libver")
def client_setinfo(c: Any, a: list[bytes]) -> bytes:
    """Redis 7.2's; redis-py sends it on connect (7.0 has no SETINFO, clients ignore that)."""
    attr = a[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        return echoed("Unrecognized option '%s'", a[2])
    if any(b <= 32 or b > 126 for b in a[3]):  # it would break CLIENT LIST's lines
        return resp.error(f"{attr.decode()} cannot contain spaces, newlines or special characters.")
    c.lib[attr.decode()] = a[3]
    return resp.OK


LIST_SYNTAX = "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]"
CLIENT_TYPES = (b"normal", b"master", b"replica", b"slave", b"pubsub")


def _list_filter(a: list[bytes]) -> tuple[bytes | None, set[int] | None]:
    """CLIENT LIST's ``TYPE t`` or ``ID id ...`` (Redis takes one of the two)."""
    if len(a) == 2:
        return None, None
    opt = a[2].upper()
    if opt == b"TYPE" and len(a) == 4:
        kind = a[3].lower()
        if kind not in CLIENT_TYPES:
            raise CommandError(echoed("Unknown client type '%s'", a[3]))
        return kind, None
    if opt == b"ID" and len(a) > 3:
        return None, {to_int(x, b"-ERR Invalid client ID\r\n") for x in a[3:]}
    raise CommandError(SYNTAX)


@sub("LIST", -2, "List client connections", LIST_SYNTAX, flags="")
def client_list(c: Any, a: list[bytes]) -> bytes:
    kind, ids = _list_filter(a)
    c.last_command = "client|list"  # Redis names the command being run
    lines = "".join(
        cl.info_line(a if cl is c else None) + "\n"
        for cl in c.state.clients.values()
        if (kind is None or cl.client_type() == kind) and (ids is None or cl.id in ids)
    )
    return resp.verbatim(lines, c.proto)


@sub("INFO", 2, "Information about the current connection", flags="")
def client_info(c: Any, a: list[bytes]) -> bytes:
    c.last_command = "client|info"
    return resp.verbatim(c.info_line(a) + "\n", c.proto)
