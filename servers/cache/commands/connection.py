"""Connection commands: PING, ECHO, HELLO, QUIT, RESET, SELECT, CLIENT ..."""

from __future__ import annotations

from typing import Any

from netlib import resp

from ..table import VERSION, CommandError, command, container, to_int

G = "connection"


@command("PING", -1, "fast pubsub", (0, 0, 0), G, "Ping the server")
def ping(c: Any, a: list[bytes]) -> bytes:
    if len(a) > 2:
        raise CommandError(b"-ERR wrong number of arguments for 'ping' command\r\n")
    if c.subscribed:  # RESP2 subscribe mode answers an array, as Redis does
        return resp.bulks([b"pong", a[1] if len(a) > 1 else b""])
    return resp.bulk(a[1]) if len(a) > 1 else resp.PONG


@command("ECHO", 2, "fast", (0, 0, 0), G, "Echo the given string")
def echo(c: Any, a: list[bytes]) -> bytes:
    return resp.bulk(a[1])


@command("QUIT", -1, "fast pubsub", (0, 0, 0), G, "Close the connection")
def quit_(c: Any, a: list[bytes]) -> bytes:
    c.closing = True
    return resp.OK


@command("SELECT", 2, "fast", (0, 0, 0), G, "Change the selected database")
def select(c: Any, a: list[bytes]) -> bytes:
    index = to_int(a[1])
    dbs = c.state.keyspace.dbs
    if not 0 <= index < len(dbs):
        return b"-ERR DB index is out of range\r\n"
    c.db = dbs[index]
    return resp.OK


@command("HELLO", -1, "fast", (0, 0, 0), G, "Handshake with the server (RESP2 or RESP3)")
def hello(c: Any, a: list[bytes]) -> bytes:
    proto = c.proto
    if len(a) > 1:
        proto = to_int(a[1], b"-ERR Protocol version is not an integer or out of range\r\n")
        if proto not in (2, 3):
            return b"-NOPROTO unsupported protocol version\r\n"
    i = 2
    name = None
    while i < len(a):
        opt = a[i].upper()
        if opt == b"AUTH" and i + 2 < len(a):
            i += 3  # no passwords here: the default user has nopass, as in Redis
        elif opt == b"SETNAME" and i + 1 < len(a):
            name = _check_name(a[i + 1])
            i += 2
        else:
            return resp.error(f"Syntax error in HELLO option '{a[i].decode(errors='replace')}'")
    if name is not None:
        c.name = name
    c.proto = proto
    c.update_guard()
    info = {
        "server": "redis", "version": VERSION, "proto": proto, "id": c.id,
        "mode": "standalone", "role": "master", "modules": [],
    }  # fmt: skip
    return resp.map_(
        {k.encode(): v.encode() if isinstance(v, str) else v for k, v in info.items()}, proto
    )


@command("RESET", 1, "fast pubsub", (0, 0, 0), G, "Reset the connection")
def reset(c: Any, a: list[bytes]) -> bytes:
    st = c.state
    for ch in c.channels:
        st.hub.unsubscribe(c, ch)
    for pat in c.patterns:
        st.hub.punsubscribe(c, pat)
    c.channels.clear()
    c.patterns.clear()
    c.db, c.proto, c.name = st.keyspace.dbs[0], 2, b""
    c.multi = None
    c.unwatch()
    c.update_guard()
    return b"+RESET\r\n"


CLIENT = container("CLIENT", G, "A container for client connection commands")


def _check_name(name: bytes) -> bytes:
    if any(b <= 32 or b > 126 for b in name):
        raise CommandError("Client names cannot contain spaces, newlines or special characters.")
    return name


@command("SETNAME", 3, "fast", (0, 0, 0), G, "Set the current connection name", CLIENT)
def client_setname(c: Any, a: list[bytes]) -> bytes:
    c.name = _check_name(a[2])
    return resp.OK


@command("GETNAME", 2, "fast", (0, 0, 0), G, "Get the current connection name", CLIENT)
def client_getname(c: Any, a: list[bytes]) -> bytes:
    return resp.bulk(c.name or None, c.proto)


@command("ID", 2, "fast", (0, 0, 0), G, "Returns the client ID", CLIENT)
def client_id(c: Any, a: list[bytes]) -> bytes:
    return resp.integer(c.id)


@command("SETINFO", 4, "fast", (0, 0, 0), G, "Set client library name or version", CLIENT)
def client_setinfo(c: Any, a: list[bytes]) -> bytes:
    attr = a[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        return resp.error(f"Unrecognized option '{a[2].decode(errors='replace')}'")
    c.lib[attr.decode()] = a[3]
    return resp.OK


@command("LIST", -2, "", (0, 0, 0), G, "List client connections", CLIENT)
def client_list(c: Any, a: list[bytes]) -> bytes:
    lines = "".join(cl.info_line() + "\n" for cl in c.state.clients.values())
    return resp.verbatim(lines, c.proto)


@command("INFO", 2, "", (0, 0, 0), G, "Information about the current connection", CLIENT)
def client_info(c: Any, a: list[bytes]) -> bytes:
    return resp.verbatim(c.info_line() + "\n", c.proto)
