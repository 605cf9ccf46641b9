"""The command table: name -> (arity, handler). One small function per command.

Arity follows Redis's convention: N means exactly N arguments including the
name, -N means at least N. A handler gets the session's context and the
arguments and returns reply bytes, or ``DEFER`` when it answers later (MERGE
runs in a worker thread so the event loop keeps serving reads and writes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netlib import resp
from servers.respkit.glob import compile_glob
from storage.bitcask import format as fmt

if TYPE_CHECKING:
    from .server import Session

VERSION = "7.0.0-syslab-bitcask"  # HELLO's "version": clients only check it is 6+

DEFER = b""  # the handler will reply itself when its work is done

Handler = Callable[["Session", list[bytes]], bytes]


@dataclass(frozen=True)
class Command:
    arity: int
    handler: Handler


TABLE: dict[bytes, Command] = {}


def command(name: str, arity: int) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        TABLE[name.encode()] = Command(arity, fn)
        return fn

    return register


def arity_ok(cmd: Command, argc: int) -> bool:
    return argc == cmd.arity if cmd.arity > 0 else argc >= -cmd.arity


def arity_error(name: bytes) -> bytes:
    return resp.error(f"wrong number of arguments for '{name.decode(errors='replace')}' command")


def unknown(args: list[bytes]) -> bytes:
    name = args[0][:128].decode(errors="replace")
    rest = " ".join(f"'{a[:128].decode(errors='replace')}'" for a in args[1:])
    return resp.error(f"unknown command '{name}', with args beginning with: {rest}")


# -- the data commands -----------------------------------------------------------
@command("get", 2)
def get(s: Session, args: list[bytes]) -> bytes:
    return resp.bulk(s.db.get(args[1]), s.proto)


def storable(key: bytes) -> bool:
    """Within the engine's key limits (a key outside them cannot be stored, so is never there)."""
    return 0 < len(key) <= fmt.MAX_KEY_SIZE


@command("set", 3)
def set_(s: Session, args: list[bytes]) -> bytes:
    key, value = args[1], args[2]
    if not storable(key):
        return resp.error(f"key length must be 1..{fmt.MAX_KEY_SIZE} bytes")
    if len(value) > fmt.MAX_VALUE_SIZE:
        return resp.error(f"value longer than {fmt.MAX_VALUE_SIZE} bytes")
    s.db.put(key, value)
    return resp.OK


@command("del", -2)
def delete(s: Session, args: list[bytes]) -> bytes:
    return resp.integer(sum(s.db.delete(k) for k in args[1:] if storable(k)))


@command("exists", -2)
def exists(s: Session, args: list[bytes]) -> bytes:
    return resp.integer(sum(k in s.db for k in args[1:]))


@command("keys", 2)
def keys(s: Session, args: list[bytes]) -> bytes:
    matches = compile_glob(args[1])
    return resp.bulks([k for k in s.db.keys() if matches(k)], s.proto)


@command("dbsize", 1)
def dbsize(s: Session, args: list[bytes]) -> bytes:
    return resp.integer(len(s.db))


@command("merge", 1)
def merge(s: Session, args: list[bytes]) -> bytes:
    if s.db.merging:
        return resp.error("merge already in progress")
    s.start_merge()
    return DEFER


def merge_reply(stats: dict[str, int]) -> bytes:
    return resp.simple(
        "OK merged {files_merged} files into {files_written}: {keys_copied} live keys, "
        "{bytes_before} -> {bytes_after} bytes".format(**stats)
    )


# -- what clients send on connect, and the courtesies -----------------------------------
@command("ping", -1)
def ping(s: Session, args: list[bytes]) -> bytes:
    if len(args) > 2:
        return arity_error(args[0])
    return resp.bulk(args[1], s.proto) if len(args) == 2 else resp.simple("PONG")


@command("echo", 2)
def echo(s: Session, args: list[bytes]) -> bytes:
    return resp.bulk(args[1], s.proto)


@command("hello", -1)
def hello(s: Session, args: list[bytes]) -> bytes:
    if len(args) > 1:
        try:
            proto = int(args[1])
        except ValueError:
            return resp.error("Protocol version is not an integer or out of range")
        if proto not in (2, 3):
            return resp.error("unsupported protocol version", "NOPROTO")
        s.proto = proto
    info = {
        "server": "syslab-bitcask", "version": VERSION, "proto": s.proto,
        "id": s.id, "mode": "standalone", "role": "master", "modules": [],
    }  # fmt: skip
    return resp.map_(info, s.proto)


@command("command", -1)
def command_(s: Session, args: list[bytes]) -> bytes:
    """Enough for redis-cli's start-up (COMMAND DOCS) and ``COMMAND COUNT``."""
    sub = args[1].lower() if len(args) > 1 else b""
    if sub == b"count":
        return resp.integer(len(TABLE))
    if sub == b"docs":
        return resp.map_({}, s.proto)
    return resp.bulks(sorted(TABLE), s.proto)


@command("client", -2)
def client(s: Session, args: list[bytes]) -> bytes:
    """CLIENT SETNAME / SETINFO (redis-py sends them) are accepted; ID and GETNAME answer."""
    sub = args[1].lower()
    if sub == b"id":
        return resp.integer(s.id)
    if sub == b"getname":
        return resp.bulk(s.name or None, s.proto)
    if sub == b"setname" and len(args) == 3:
        s.name = args[2]
    return resp.OK


@command("select", 2)
def select(s: Session, args: list[bytes]) -> bytes:
    return resp.OK if args[1] == b"0" else resp.error("DB index is out of range")


@command("quit", 1)
def quit_(s: Session, args: list[bytes]) -> bytes:
    s.closing = True
    return resp.OK
