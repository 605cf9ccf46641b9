"""Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT ..., FUNCTION ..., FCALL, FCALL_RO.

The engine (the Lua states, the sandbox, the conversions, the worker thread
and the time limit) is ``servers.cache.scripting``; these handlers parse the
arguments, keep Redis's wording and hand over. The engine is created on the
first scripting command, so a cache that never scripts never starts Lua.
"""

from __future__ import annotations

import time
from typing import Any

from netlib import resp
from servers.respkit.introspect import KEY_FINDERS

from .. import scripting
from ..table import NOT_INTEGER, SYNTAX, CommandError, command, container, to_int
from . import server as server_commands

G = "scripting"
NO = (0, 0, 0)


def engine(c: Any) -> scripting.Engine:
    st = c.state
    e = getattr(st, "scripting", None)
    if e is None:
        e = st.scripting = scripting.Engine(st)
    return e


def _keys_args(
    a: list[bytes], first: int, bad: bytes = NOT_INTEGER
) -> tuple[list[bytes], list[bytes]]:
    """``numkeys key ... arg ...`` starting at ``a[first]``."""
    n = to_int(a[first], bad)
    rest = a[first + 1 :]
    if n > len(rest):
        raise CommandError("Number of keys can't be greater than number of args")
    if n < 0:
        raise CommandError("Number of keys can't be negative")
    return rest[:n], rest[n:]


def _monitor(c: Any, a: list[bytes]) -> None:
    """EVAL, EVALSHA and FCALL are shown to MONITOR before they run (they are skip_monitor
    afterwards), so the commands the script runs, shown as "[db lua]", follow them."""
    if c.state.observer.monitors:
        c.state.observer.feed(c, a[0].decode(errors="replace").lower(), a)


def _eval(c: Any, a: list[bytes], ro: bool) -> bytes | None:
    _monitor(c, a)
    keys, args = _keys_args(a, 2)
    e = engine(c)
    sha = e.load_script(a[1])
    return e.eval(c, sha, keys, args, ro, a)


def _evalsha(c: Any, a: list[bytes], ro: bool) -> bytes | None:
    _monitor(c, a)
    keys, args = _keys_args(a, 2)
    e = engine(c)
    sha = a[1].decode(errors="replace").lower()
    if sha not in e.scripts:
        return scripting.NOSCRIPT
    return e.eval(c, sha, keys, args, ro, a)


KEYS = (0, 0, 0)  # numkeys-based key positions (Redis marks them with key specs)


@command("EVAL", -3, "noscript skip_monitor may_replicate", KEYS, G, "Run a Lua script",
         syntax="script numkeys [key [key ...]] [arg [arg ...]]")  # fmt: skip
def eval_(c: Any, a: list[bytes]) -> bytes | None:
    return _eval(c, a, False)


@command("EVAL_RO", -3, "noscript skip_monitor readonly", KEYS, G, "Run a read-only Lua script",
         syntax="script numkeys [key [key ...]] [arg [arg ...]]")  # fmt: skip
def eval_ro(c: Any, a: list[bytes]) -> bytes | None:
    return _eval(c, a, True)


@command("EVALSHA", -3, "noscript skip_monitor may_replicate", KEYS, G,
         "Run a cached Lua script by its SHA1",
         syntax="sha1 numkeys [key [key ...]] [arg [arg ...]]")  # fmt: skip
def evalsha(c: Any, a: list[bytes]) -> bytes | None:
    return _evalsha(c, a, False)


@command("EVALSHA_RO", -3, "noscript skip_monitor readonly", KEYS, G,
         "Run a cached read-only Lua script by its SHA1",
         syntax="sha1 numkeys [key [key ...]] [arg [arg ...]]")  # fmt: skip
def evalsha_ro(c: Any, a: list[bytes]) -> bytes | None:
    return _evalsha(c, a, True)


# --- SCRIPT ---------------------------------------------------------------------------

SCRIPT = container("SCRIPT", G, "A container for Lua scripts management commands")


@command("LOAD", 3, "noscript", NO, G, "Load a script into the script cache", SCRIPT, "script")
def script_load(c: Any, a: list[bytes]) -> bytes:
    return resp.bulk(engine(c).load_script(a[2]).encode())


@command("EXISTS", -3, "noscript", NO, G, "Whether scripts are in the cache", SCRIPT,
         "sha1 [sha1 ...]")  # fmt: skip
def script_exists(c: Any, a: list[bytes]) -> bytes:
    scripts = engine(c).scripts
    return resp.array([int(s.decode(errors="replace").lower() in scripts) for s in a[2:]])


def _sync_async(a: list[bytes], what: str) -> None:
    if len(a) > 3:
        sub = a[1].decode(errors="replace").lower()
        raise CommandError(
            f"unknown subcommand or wrong number of arguments for '{sub}'. "
            f"Try {a[0].decode(errors='replace').upper()} HELP."
        )
    if len(a) == 3 and a[2].upper() not in (b"SYNC", b"ASYNC"):
        raise CommandError(what)


@command("FLUSH", -2, "noscript", NO, G, "Remove every script from the cache", SCRIPT,
         "[ASYNC|SYNC]")  # fmt: skip
def script_flush(c: Any, a: list[bytes]) -> bytes:
    _sync_async(a, "SCRIPT FLUSH only support SYNC|ASYNC option")
    engine(c).flush_scripts()
    return resp.OK


@command("KILL", 2, "noscript allow_busy", NO, G, "Kill the running script", SCRIPT)
def script_kill(c: Any, a: list[bytes]) -> bytes:
    return engine(c).kill(eval_mode=True)


# --- FUNCTION and FCALL -------------------------------------------------------------------

FUNCTION = container("FUNCTION", G, "A container for function commands")


@command("LOAD", -3, "noscript write denyoom", NO, G, "Create a function library", FUNCTION,
         "[REPLACE] function-code")  # fmt: skip
def function_load(c: Any, a: list[bytes]) -> bytes:
    replace = False
    i = 2
    while i < len(a) - 1:
        if a[i].upper() == b"REPLACE":
            replace = True
        else:
            raise CommandError(f"Unknown option given: {a[i].decode(errors='replace')}")
        i += 1
    if i >= len(a):
        raise CommandError("Function code is missing")
    return resp.bulk(engine(c).load_library(a[-1], replace).encode())


@command("DELETE", 3, "noscript write", NO, G, "Delete a library and its functions", FUNCTION,
         "library-name")  # fmt: skip
def function_delete(c: Any, a: list[bytes]) -> bytes:
    e = engine(c)
    name = a[2].decode(errors="replace")
    if name not in e.libraries:
        raise CommandError("Library not found")
    e.delete_library(name)
    return resp.OK


@command("FLUSH", -2, "noscript write", NO, G, "Delete every library", FUNCTION, "[ASYNC|SYNC]")
def function_flush(c: Any, a: list[bytes]) -> bytes:
    _sync_async(a, "FUNCTION FLUSH only supports SYNC|ASYNC option")
    engine(c).flush_functions()
    return resp.OK


@command("KILL", 2, "noscript allow_busy", NO, G, "Kill the running function", FUNCTION)
def function_kill(c: Any, a: list[bytes]) -> bytes:
    return engine(c).kill(eval_mode=False)


@command("DUMP", 2, "noscript", NO, G, "Serialize every library", FUNCTION)
def function_dump(c: Any, a: list[bytes]) -> bytes:
    return resp.bulk(engine(c).dump())


@command("RESTORE", -3, "noscript write denyoom", NO, G, "Restore libraries from a dump",
         FUNCTION, "serialized-value [FLUSH|APPEND|REPLACE]")  # fmt: skip
def function_restore(c: Any, a: list[bytes]) -> bytes:
    if len(a) > 4:
        raise CommandError(
            "unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP."
        )
    policy = a[3].upper().decode(errors="replace") if len(a) == 4 else "APPEND"
    if policy not in ("FLUSH", "APPEND", "REPLACE"):
        raise CommandError(
            "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
        )
    engine(c).restore(a[2], policy)
    return resp.OK


@command("LIST", -2, "noscript", NO, G, "List the libraries and their functions", FUNCTION,
         "[LIBRARYNAME library-name-pattern] [WITHCODE]")  # fmt: skip
def function_list(c: Any, a: list[bytes]) -> bytes:
    from servers.respkit.glob import compile_glob

    pattern, withcode = None, False
    i = 2
    while i < len(a):
        opt = a[i].upper()
        if opt == b"WITHCODE" and not withcode:
            withcode = True
            i += 1
        elif opt == b"LIBRARYNAME" and pattern is None:
            if i + 1 >= len(a):
                raise CommandError("library name argument was not given")
            pattern = compile_glob(a[i + 1])
            i += 2
        else:
            raise CommandError(f"Unknown argument {a[i].decode(errors='replace')}")
    out = []
    for lib in engine(c).libraries.values():
        if pattern is not None and not pattern(lib.name.encode()):
            continue
        funcs = [
            {b"name": name.encode(), b"description": fi["description"],
             b"flags": resp.RespSet(f.encode() for f in fi["flags"])}
            for name, fi in lib.functions.items()
        ]  # fmt: skip
        fields: dict[bytes, Any] = {
            b"library_name": lib.name.encode(), b"engine": b"LUA", b"functions": funcs,
        }  # fmt: skip
        if withcode:
            fields[b"library_code"] = lib.code
        out.append(fields)
    return resp.array(out, c.proto)


@command("STATS", 2, "noscript allow_busy", NO, G, "The running script and the engines",
         FUNCTION)  # fmt: skip
def function_stats(c: Any, a: list[bytes]) -> bytes:
    e = engine(c)
    run = e.current
    if run is not None and run.eval_mode:
        return scripting.BUSY_EVAL
    running = None
    if run is not None:
        running = {
            b"name": run.name.encode(), b"command": run.argv,
            b"duration_ms": int((time.monotonic() - run.started) * 1000),
        }  # fmt: skip
    lua = {b"libraries_count": len(e.libraries), b"functions_count": len(e.functions)}
    return resp.map_({b"running_script": running, b"engines": {b"LUA": lua}}, c.proto)


def _fcall(c: Any, a: list[bytes], ro: bool) -> bytes | None:
    _monitor(c, a)
    e = engine(c)
    name = a[1].decode(errors="replace")
    if name.lower() not in e.functions:
        raise CommandError("Function not found")
    keys, args = _keys_args(a, 2, b"-ERR Bad number of keys provided\r\n")
    return e.fcall(c, name, keys, args, ro, a)


@command("FCALL", -3, "noscript skip_monitor may_replicate", KEYS, G, "Call a function",
         syntax="function numkeys [key [key ...]] [arg [arg ...]]")  # fmt: skip
def fcall(c: Any, a: list[bytes]) -> bytes | None:
    return _fcall(c, a, False)


@command("FCALL_RO", -3, "noscript skip_monitor readonly", KEYS, G, "Call a read-only function",
         syntax="function numkeys [key [key ...]] [arg [arg ...]]")  # fmt: skip
def fcall_ro(c: Any, a: list[bytes]) -> bytes | None:
    return _fcall(c, a, True)


# --- configuration -------------------------------------------------------------------------


def _get_busy(st: Any) -> str:
    e = getattr(st, "scripting", None)
    return str(e.busy_ms if e is not None else scripting.DEFAULT_BUSY_MS)


def _set_busy(st: Any, value: str) -> None:
    ms = int(value)
    if ms < 0:
        raise ValueError(value)
    e = getattr(st, "scripting", None)
    if e is None:
        e = st.scripting = scripting.Engine(st)
    e.busy_ms = ms


def _numkeys_keys(args: list[bytes]) -> list[bytes]:
    """COMMAND GETKEYS for EVAL/FCALL and their variants: the numkeys keys after argv[2]."""
    try:
        n = int(args[2])
    except ValueError:
        return []
    return args[3 : 3 + n] if 0 <= n <= len(args) - 3 else []


for _cmd in ("eval", "eval_ro", "evalsha", "evalsha_ro", "fcall", "fcall_ro"):
    KEY_FINDERS[_cmd] = _numkeys_keys

for _name in ("busy-reply-threshold", "lua-time-limit"):
    server_commands.GETTERS[_name] = _get_busy
    server_commands.SETTERS[_name] = _set_busy

__all__ = ["SYNTAX", "engine"]
