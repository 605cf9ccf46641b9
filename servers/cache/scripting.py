"""Lua scripting for the cache (EVAL and FUNCTION), on Lua 5.1 through ``lupa``.

Redis embeds Lua 5.1; lupa ships several Lua builds and ``lupa.lua51`` is
the same language, so scripts see Redis's semantics: numbers are doubles,
``unpack`` and ``loadstring`` are globals, no integer division or ``goto``.
What differs from Redis's interpreter:

* Redis patches Lua with read-only tables. Stock 5.1 has none, so the
  sandbox (``prelude.lua``) empties the real global table and gives it a
  metatable: reads go to a hidden table of the allowed globals (a missing one
  is "Script attempted to access nonexistent global variable"), writes say
  "Attempt to modify a readonly table", and the libraries (``redis``,
  ``string``, ``cjson``, ...) are proxies that refuse writes the same way.
  ``rawset``/``setmetatable`` are wrapped so they cannot get around it.
* ``cjson``, ``cmsgpack`` and ``bit`` are Python (``lualibs.py``); Redis's
  ``struct`` library is missing. ``math.random`` is Lua's own, not Redis's
  seeded ``redisLrand48`` (seeding with ``math.randomseed`` still works).
* No ``os``, ``io``, ``package``, ``require``, ``loadfile``, ``dofile``,
  ``print``, ``setfenv``/``getfenv``/``newproxy``; binary chunks are refused;
  ``debug`` holds only ``traceback`` (lupa looks it up). Python objects
  cannot be reached from Lua: lupa's ``python`` module is removed and an
  attribute filter refuses every attribute.
* Stock 5.1's ``unpack`` crashes on ranges near 2^31 (Redis patched it);
  the sandbox refuses them with Redis's "too many results to unpack".
* Errors. The ``redis.*`` helpers are Python callables, C functions to Lua as
  Redis's are, raising ``ScriptError`` (an ``{err=...}`` table inside).
  ``redis.call`` and the ``cjson``/``cmsgpack``/``bit`` functions are Lua
  wrappers (a Python callable cannot take the 7999 arguments ``unpack`` gives),
  and a Lua tail call would drop its caller's frame: scripts are compiled with
  ``return redis.call(...)``-like tail calls made plain calls
  (``luabytecode.py``), so every error ends "script: <sha>, on @user_script:N."
  as in Redis. An error table whose ``err`` is no string or number answers "ERR
  unknown error"; redis-server 7.0 crashes on it.

Atomicity and the time limit. Redis runs a script on its one thread; the
only way another client is served meanwhile is the count hook, which after
``busy-reply-threshold`` ms (``lua-time-limit``, 5000 by default) starts
polling the event loop to answer everything ``-BUSY`` except SCRIPT KILL,
FUNCTION KILL and a few connection commands. A Python event loop cannot be
re-entered from inside a callback, so here the script runs in one worker
thread (lupa releases the GIL while Lua runs) and the loop thread *waits*
for it, parked, for up to the threshold: until then nothing else runs, and
``redis.call`` executes commands directly in the worker. Most scripts end
well before that, and the EVAL reply is sent like any other. Past the
threshold the loop thread takes the run's lock (so no command is half
done), marks it timed out and returns to serving: every other client's
commands are answered BUSY through ``Client.guard``, the cron stops (no
expiry or eviction under a running script), the key clock stays frozen at
the script's start as in Redis, and the worker now hands each
``redis.call`` to the loop thread and waits for it, so every keyspace change
still happens on one thread at a time (the hand-over costs ~100 us a
call: past its threshold a script runs slower). SCRIPT KILL sets a flag the
count hook (every 100000 Lua instructions) sees; a script that already
wrote is UNKILLABLE, as in Redis. Redis 7.0 refuses the blocking list and
zset commands in scripts (CMD_NOSCRIPT); the others answer at once.

Commands inside a script run on a ``ScriptClient``: its own database index
(SELECT in a script does not move the caller), RESP2 replies unless the
script calls ``redis.setresp(3)``, and ``in_exec``/``in_script`` both true
so blocking commands answer at once instead of blocking (Redis's
CLIENT_DENY_BLOCKING); handlers that must refuse a blocking option inside
scripts (XREAD BLOCK) test ``client.in_script``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import math
import queue
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lupa.lua51 as lua51
import msgpack

from netlib import resp
from netlib.resp import ProtocolError, split_inline
from servers.respkit import VERSION, Command, CommandError

from . import luabytecode, lualibs
from .acl import describe_client
from .commands.ops import MAY_REPLICATE
from .eviction import OOM_ERROR

if TYPE_CHECKING:
    from .server import State

log = logging.getLogger("servers.cache.scripting")

DEFAULT_BUSY_MS = 5000  # busy-reply-threshold / lua-time-limit
LOAD_TIMEOUT = 0.5  # seconds FUNCTION LOAD may run a library's code (Redis: 500 ms)
DUMP_MAGIC = b"SYSLABFN1"  # FUNCTION DUMP payloads: magic + version, msgpack codes, CRC32
LUA_MEMORY = 256 << 20  # bytes one Lua state may hold: string.rep('x', 2^31) fails, not the server
MAX_NESTING = 500  # a returned table nested deeper answers "reached lua stack limit"
PRELUDE = (Path(__file__).with_name("prelude.lua")).read_text()

NOSCRIPT = b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
BUSY_EVAL = (
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
)
BUSY_FUNCTION = (
    b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
)
NOTBUSY = b"-NOTBUSY No scripts in execution right now.\r\n"
UNKILLABLE = (
    b"-UNKILLABLE Sorry the script already executed write commands against the dataset. "
    b"You can either wait the script termination or kill the server in a hard way using the "
    b"SHUTDOWN NOSAVE command.\r\n"
)
RO_WRITE = "Can not execute a script with write flag using *_ro command."
OOM_SCRIPT = (
    "-OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'"
)

# Commands a script may not call (Redis 7.0's CMD_NOSCRIPT).
UNKNOWN_IN_SCRIPT = b"-ERR Unknown Redis command called from script\r\n"
NOT_IN_SCRIPTS = frozenset(
    """
acl auth bgrewriteaof bgsave blmove blpop brpop brpoplpush bzpopmax bzpopmin
client|caching client|getname client|getredir client|id client|info client|kill client|list
client|no-evict client|pause client|reply client|setname client|tracking client|trackinginfo
client|unblock client|unpause client|setinfo cluster|reset config|get config|resetstat
config|rewrite config|set debug discard eval eval_ro evalsha evalsha_ro exec failover fcall
fcall_ro function latency module monitor multi psubscribe psync punsubscribe quit replconf
replicaof reset role save script shutdown slaveof ssubscribe subscribe sunsubscribe sync
unsubscribe unwatch wait watch hello
""".split()
)
# What other clients may run while a timed-out script holds the server (CMD_ALLOW_BUSY).
ALLOWED_WHILE_BUSY = frozenset(
    """
auth discard function|kill function|stats hello multi quit replconf reset script|kill shutdown
unwatch watch
""".split()
)
SCRIPT_FLAGS = ("no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys")


def sha1hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def error_text(msg: bytes) -> bytes:
    """Redis's luaPushErrorBuff: "-CODE msg" -> "CODE msg", "msg" -> "ERR msg", CRLF trimmed."""
    if msg.startswith(b"-"):
        code, sep, rest = msg[1:].partition(b" ")
        if not sep:
            code, rest = b"ERR", msg[1:]
    else:
        code, rest = b"ERR", msg
    return code + b" " + rest.strip(b"\r\n")


# Redis 7.0's getAclErrorMessage, after "The user executing the script can't".
SCRIPT_ACL_DENIED = {
    "command": b"run this command or subcommand",
    "key": b"access at least one of the keys mentioned in the command arguments",
    "channel": b"publish to the channel mentioned in the command",
}


class ScriptClient:
    """The client ``redis.call`` runs commands as: the caller's database, never blocks."""

    in_exec = True  # blocking commands answer as if timed out (Redis's CLIENT_DENY_BLOCKING)
    in_script = True
    subscribed = False
    guarded = False
    blocked = None
    closing = False
    name = b""

    def __init__(self, state: State, caller: Any) -> None:
        self.state = state
        self.caller = caller
        self.id = getattr(caller, "id", 0)
        self.db = caller.db
        self.db_index = caller.db_index
        self.proto = 2
        self.multi: list[list[bytes]] | None = None
        self.multi_failed = False
        self.watching: list[Any] = []
        self.watch_dirty = False
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.lib: dict[str, bytes] = {}
        self.out = None

    def select(self, index: int) -> bool:
        if not 0 <= index < self.state.databases:
            return False
        self.db, self.db_index = self.state.database(index), index
        return True

    def send(self, data: bytes) -> None:  # nothing reaches a script but its replies
        pass

    def update_guard(self) -> None:
        pass

    def unwatch(self) -> None:
        pass

    def watch(self, key: bytes) -> None:
        pass

    def park(self, keys: list[bytes], left: bool, timeout: float) -> None:
        raise CommandError("This Redis command is not allowed from script")

    def execute(self, args: list[bytes]) -> bytes:
        return b"*-1\r\n"

    def info_line(self, running: list[bytes] | None = None) -> str:
        return "id=0 name= cmd=eval"

    def protocol_changed(self) -> None:
        pass

    def reset(self) -> None:
        pass


class Run:
    """One script execution: who asked, what it may do, and its progress."""

    def __init__(
        self, engine: Engine, caller: Any, fn: Any, keys: list[bytes], args: list[bytes],
        *, eval_mode: bool, read_only: bool, allow_oom: bool, name: str,
        argv: list[bytes] | None = None,
    ) -> None:  # fmt: skip
        self.engine = engine
        self.caller = caller
        self.client = ScriptClient(engine.state, caller)
        self.fn, self.keys, self.args = fn, keys, args
        self.eval_mode = eval_mode
        self.read_only = read_only
        self.allow_oom = allow_oom
        self.name = name
        self.argv = list(argv or [])  # the EVAL/FCALL command, for FUNCTION STATS
        self.wrote = False
        self.oom = False  # over maxmemory when it started: its first denyoom call is refused
        self.killed = False
        self.timed_out = False
        self.lock = engine.run_lock  # one run at a time: the engine's, reused
        self.done = engine.run_done
        self.done.clear()
        self.reply = b""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = time.monotonic()
        self.real_clock: Callable[[], int] | None = None

    def refuse(self, cmd: Command, args: list[bytes]) -> bytes | None:
        """The BUSY error for another client's command while this run is timed out."""
        name = cmd.name
        if cmd.subcommands and len(args) > 1:
            name += "|" + args[1].decode(errors="replace").lower()
        if name in ALLOWED_WHILE_BUSY:
            return None
        return BUSY_EVAL if self.eval_mode else BUSY_FUNCTION


class Lua:
    """One Lua state with Redis's sandbox and API (EVAL and FUNCTION each have one)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        rt = lua51.LuaRuntime(
            encoding=None,
            unpack_returned_tuples=True,
            register_eval=False,
            register_builtins=False,
            attribute_filter=_no_attributes,
            max_memory=LUA_MEMORY,
        )
        self.rt = rt
        g = rt.globals()
        g.python = None
        py = rt.table_from({
            b"pcall": engine.call,
            b"pcall_table": lambda t, n: engine.call(*(t[i] for i in range(1, n + 1))),
            b"unwrap": _unwrap,
            b"untail": _untail,
            b"sha1hex": _raising(rt, _guard(lambda s=None, *rest: _sha1(s, rest))),
            b"log": _raising(rt, _guard(engine.log)),
            b"setresp": _raising(rt, _guard(engine.setresp)),
            b"set_repl": _raising(rt, _guard(engine.set_repl)),
            b"acl_check_cmd": _raising(rt, _guard(engine.acl_check_cmd)),
            b"register_function": _raising(rt, _guard(engine.register_function)),
            b"error_text": error_text,
            b"killed": engine.killed,
            b"version": VERSION.encode(),
            b"version_num": _version_num(VERSION),
        })  # fmt: skip
        null = rt.eval("setmetatable({}, {__metatable = false, __newindex = function() end})")
        self.null = null
        bit = rt.table_from({k.encode(): _lib(f) for k, f in lualibs.BIT.items()})
        cfg = lualibs.JsonConfig()
        json_fns = {k.encode(): _lib(f) for k, f in cfg.functions().items()}
        json_fns[b"encode"] = _lib(lambda v=None, *_: lualibs.json_encode(cfg, null, v).encode())
        json_fns[b"decode"] = _lib(
            lambda s=b"", *_: lualibs.json_decode(cfg, rt, null, _need_str(s))
        )
        libs = rt.table_from({
            b"json": rt.table_from(json_fns),
            b"msgpack_pack": _lib(lualibs.msgpack_pack),
            b"msgpack_unpack": _lib(lambda s=b"", *_: lualibs.msgpack_unpack(rt, _need_str(s))),
            b"msgpack_unpack_one": _lib(
                lambda s=b"", o=0, *_: lualibs.msgpack_unpack_one(rt, _need_str(s), o)
            ),
            b"msgpack_unpack_limit": _lib(
                lambda s=b"", n=0, o=0, *_: lualibs.msgpack_unpack_limit(rt, _need_str(s), n, o)
            ),
            b"bit": bit,
            b"null": null,
        })  # fmt: skip
        self.api = rt.execute(PRELUDE, py, libs)
        self.compile = self.api[b"compile"]
        self.run_fn = self.api[b"run"]
        self.load_fn = self.api[b"load"]
        self.set_args = self.api[b"set_args"]
        self.shape = self.api[b"shape"]
        self.counted = self.api[b"counted"]

    def table(self, items: list[Any]) -> Any:
        return self.rt.table_from(items)


def _no_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("access to Python objects is not allowed from scripts")


def _version_num(v: str) -> int:
    parts = [int(x) for x in (v.split(".") + ["0", "0"])[:3]]
    return parts[0] << 16 | parts[1] << 8 | parts[2]


def _need_str(s: Any) -> bytes:
    if isinstance(s, bytes):
        return s
    if isinstance(s, (int, float)):
        return str(s).encode()
    raise lualibs.LibError("bad argument #1 (string expected)")


def _sha1(s: Any, rest: tuple[Any, ...]) -> Any:
    if s is None or rest:
        raise lualibs.LibError("wrong number of arguments")
    if isinstance(s, (int, float)) and not isinstance(s, bool):
        s = (f"{s:.14g}").encode()
    if not isinstance(s, bytes):
        raise lualibs.LibError("wrong number of arguments")
    return sha1hex(s).encode()


def _lib(f: Callable[..., Any]) -> Callable[..., Any]:
    """A library function for prelude.lua's ``lib``: (true, results...) or (false, message)."""

    def wrapped(*args: Any) -> Any:
        try:
            r = f(*args)
        except lualibs.LibError as e:
            return False, str(e).encode()
        except (TypeError, ValueError, OverflowError) as e:
            return False, str(e).encode()
        if isinstance(r, tuple):
            return (True, *r)
        return True, r

    return wrapped


def _guard(f: Callable[..., Any]) -> Callable[..., Any]:
    """A redis.* helper: (true, value) or (false, the error message) for ``_raising``."""

    def wrapped(*args: Any) -> Any:
        try:
            return True, f(*args)
        except lualibs.LibError as e:
            return False, error_text(str(e).encode())

    return wrapped


class ScriptError(Exception):
    """A Lua error raised by a Python function: lupa hands Lua the exception itself (a
    userdata), and prelude.lua's ``unwrap`` takes the error value (args[0]) back out."""


def _raising(rt: Any, f: Callable[..., Any]) -> Callable[..., Any]:
    """The redis.* helpers: f gives (true, value) or (false, message[, counted]); the
    error is raised as Redis's C functions raise it, an {err=...} table.

    Being Python, these are C functions to Lua: ``return redis.sha1hex()`` keeps the
    caller's frame, so the error's "on @user_script:N" is the caller's line, as in
    Redis. (A Lua wrapper would be tail-called and the frame lost.)"""

    def wrapped(*args: Any) -> Any:
        r = f(*args)
        if r[0]:
            return r[1] if len(r) > 1 else None
        err = {b"err": r[1]}
        if len(r) > 2 and r[2]:
            err[b"ignore_error_stats_update"] = True
        raise ScriptError(rt.table_from(err))

    return wrapped


def _untail(chunk: Any) -> bytes | None:
    """luabytecode.untail for prelude.lua's compile; None: keep the chunk as it is."""
    try:
        return luabytecode.untail(chunk) if isinstance(chunk, bytes) else None
    except (luabytecode.BadChunk, struct.error, IndexError):
        log.warning("a compiled script's bytecode was not understood: tail calls kept")
        return None


def _unwrap(e: Any) -> Any:
    return e.args[0] if isinstance(e, ScriptError) else e


class Library:
    """A FUNCTION library: its code and the functions it registered."""

    def __init__(self, name: str, code: bytes) -> None:
        self.name = name
        self.code = code
        self.functions: dict[str, dict[str, Any]] = {}


class Engine:
    """The scripts, the function libraries and the one running script of a cache."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.busy_ms = DEFAULT_BUSY_MS
        self.scripts: dict[str, tuple[Any, tuple[str, ...] | None, bytes]] = {}
        self.libraries: dict[str, Library] = {}
        self.functions: dict[str, tuple[Library, dict[str, Any]]] = {}
        self.current: Run | None = None
        self.loading: Library | None = None
        self.load_deadline = 0.0
        self.eval_lua = Lua(self)
        self.func_lua = Lua(self)
        self.run_lock = threading.Lock()  # held by the worker while it runs a command
        self.run_done = threading.Event()  # set by the worker when the run's reply is ready
        self._jobs: queue.SimpleQueue[Run] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="lua", daemon=True)
        self._worker.start()

    # -- script cache (EVAL) ---------------------------------------------------------
    def load_script(self, body: bytes) -> str:
        """Compile ``body`` once (SCRIPT LOAD, EVAL); returns its sha. Raises CommandError."""
        sha = sha1hex(body)
        if sha in self.scripts:
            return sha
        flags, skip = parse_shebang(body)
        code = body[skip:] if skip else body  # from the shebang's newline: line numbers kept
        r = self.eval_lua.compile(code, b"@user_script")
        fn = r[0] if isinstance(r, tuple) else r
        if fn is None:
            msg = r[1].decode(errors="replace") if isinstance(r, tuple) else "error"
            raise CommandError(f"Error compiling script (new function): {msg}")
        self.scripts[sha] = (fn, flags, body)
        return sha

    def flush_scripts(self) -> None:
        """SCRIPT FLUSH: forget every script and start a fresh Lua state, as Redis does."""
        self.scripts.clear()
        self.eval_lua = Lua(self)

    # -- running ----------------------------------------------------------------------
    def eval(
        self, c: Any, sha: str, keys: list[bytes], args: list[bytes], ro: bool,
        argv: list[bytes] | None = None,
    ) -> bytes | None:  # fmt: skip
        fn, flags, _ = self.scripts[sha]
        compat = flags is None
        fl = flags or ()
        if not compat:
            refused = self._refuse_flags(fl, ro)
            if refused:
                return refused
        read_only = ro or (not compat and "no-writes" in fl)
        run = Run(
            self, c, fn, keys, args, eval_mode=True, read_only=read_only,
            allow_oom="allow-oom" in fl, name=sha, argv=argv,
        )  # fmt: skip
        return self.start(run)

    def fcall(
        self, c: Any, name: str, keys: list[bytes], args: list[bytes], ro: bool,
        argv: list[bytes] | None = None,
    ) -> bytes | None:  # fmt: skip
        lib, fi = self.functions[name.lower()]
        fl = fi["flags"]
        refused = self._refuse_flags(fl, ro)
        if refused:
            return refused
        run = Run(
            self, c, fi["callback"], keys, args, eval_mode=False,
            read_only=ro or "no-writes" in fl, allow_oom="allow-oom" in fl, name=name, argv=argv,
        )  # fmt: skip
        return self.start(run)

    def _refuse_flags(self, flags: tuple[str, ...], ro: bool) -> bytes | None:
        if "no-writes" not in flags:
            if ro:
                return resp.error(RO_WRITE)
            refused = self.state.admit_replicated_write()  # a script that may write is a write
            if refused is not None:
                return refused
            ev = self.state.evictor
            if "allow-oom" not in flags and ev.maxmemory and self.state.admit_write() is not None:
                return OOM_SCRIPT.encode() + b"\r\n"
        return None

    def start(self, run: Run) -> bytes | None:
        """Run a script; its reply, or None once it timed out (the caller is answered later)."""
        st = self.state
        ks = st.keyspace
        self.current = run
        now = ks.clock()
        real_clock = ks.clock
        ks.clock = lambda: now  # time stands still inside a script, as in Redis
        run.loop = _running_loop()
        if st.evictor.maxmemory:  # evict first, as Redis does before any command
            run.oom = st.admit_write() is not None
        aof = self._aof()
        if aof is not None:
            aof.hold()  # the script's writes reach the file together, when it ends
        self._jobs.put(run)
        wait = self.busy_ms / 1000 if self.busy_ms > 0 and not run.caller.in_exec else None
        if not run.done.wait(wait):
            with run.lock:
                if not run.done.is_set():
                    run.timed_out = True
            if run.timed_out:
                self._enter_busy(run, real_clock)
                return None
        ks.clock = real_clock
        self.current = None
        if aof is not None:
            aof.release()
        return run.reply

    def _aof(self) -> Any:
        p = self.state.persistence
        return p.aof if p is not None else None

    def _enter_busy(self, run: Run, real_clock: Callable[[], int]) -> None:
        st = self.state
        log.warning("slow script detected: still in execution after %d ms", self.busy_ms)
        st.busy_script = run
        run.caller.blocked = run
        for cl in st.clients.values():
            cl.guarded = True
        run.real_clock = real_clock

    def _finish_late(self, run: Run) -> None:
        """The loop thread: a timed-out script ended; answer its caller, let the others in."""
        st = self.state
        if run.real_clock is not None:
            st.keyspace.clock = run.real_clock
        self.current = None
        st.busy_script = None
        aof = self._aof()
        if aof is not None:
            aof.release()
        for cl in st.clients.values():
            cl.update_guard()
        caller = run.caller
        if not caller.conn.closed:
            caller.unblock(run.reply)
        else:
            caller.blocked = None
        if st.wakeups:
            st.serve_wakeups()

    def _work(self) -> None:
        while True:
            run = self._jobs.get()
            try:
                reply = self._execute(run)
            except Exception as e:  # a bug here must not leave the server waiting forever
                log.exception("script failed")
                reply = resp.error(f"Error running script {run.name}, {e}")
            run.reply = reply
            with run.lock:
                run.done.set()
                late = run.timed_out
            if late and run.loop is not None:
                run.loop.call_soon_threadsafe(self._finish_late, run)

    def _execute(self, run: Run) -> bytes:
        lua = self.eval_lua if run.eval_mode else self.func_lua
        try:
            keys, args = lua.table(run.keys), lua.table(run.args)
            if run.eval_mode:
                lua.set_args(keys, args)
                r = lua.run_fn(run.fn)
            else:
                r = lua.run_fn(run.fn, keys, args)
            ok, value = (r[0], r[1] if len(r) > 1 else None) if isinstance(r, tuple) else (r, None)
            if lua.counted(value):  # an error redis.call met (raised or returned): counted
                run.caller.error_counted = True
            if not ok:
                return self._error_reply(run, lua, value)
            out: list[bytes] = []
            to_resp(lua, value, run.caller.proto, run.client.proto, out, 0)
            return b"".join(out)
        finally:
            if run.eval_mode:
                lua.set_args(None, None)
            if lua.rt.get_memory_used() > LUA_MEMORY // 2:  # Lua 5.1 has no emergency GC:
                lua.rt.gccollect()  # a failed memory bomb's garbage would fail the next script

    def _error_reply(self, run: Run, lua: Lua, err: Any) -> bytes:
        if lua51.lua_type(err) != "table":
            msg = err.decode(errors="replace") if isinstance(err, bytes) else str(err)
            return resp.error(f"Error running script {run.name}, {msg[:100]}")
        text = _lua_string(err[b"err"])
        if text is None:  # Redis 7.0 crashes here (a NULL message): answer something
            text = b"ERR unknown error"
        source, line = err[b"source"], err[b"line"]
        if isinstance(source, bytes) and line is not None:
            text += b" script: %s, on %s:%d." % (run.name.encode(), source, int(line))
        return b"-" + text.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"

    def killed(self) -> bytes | None:
        """The count hook's question: the error that stops the running Lua code, or None."""
        run = self.current
        if run is not None and run.killed:
            return b"ERR Script killed by user with SCRIPT KILL..."
        if self.loading is not None and time.monotonic() > self.load_deadline:
            return b"ERR FUNCTION LOAD timeout"
        return None

    def kill(self, eval_mode: bool) -> bytes:
        """SCRIPT KILL / FUNCTION KILL."""
        run = self.current
        if run is None or not run.timed_out:
            return NOTBUSY
        if run.wrote:
            return UNKILLABLE
        if eval_mode and not run.eval_mode:
            return BUSY_FUNCTION
        if not eval_mode and run.eval_mode:
            return BUSY_EVAL
        run.killed = True
        return resp.OK

    # -- redis.call ---------------------------------------------------------------------
    def call(self, *args: Any) -> tuple[Any, ...]:
        """redis.call/redis.pcall: (True, value) or (False, the error message[, True when
        errorstats counted it already: a command's error, not a misuse of the API])."""
        run = self.current
        if run is None:
            return False, _fail(b"redis.call/pcall can only be called inside a script invocation")
        if not args:
            return False, _fail(b"Please specify at least one argument for this redis lib call")
        argv: list[bytes] = []
        for a in args:
            t = type(a)
            if t is bytes:
                argv.append(a)
            elif t is int or t is float:
                argv.append(b"%.17g" % a)
            else:
                return False, _fail(b"Lua redis lib command arguments must be strings or integers")
        reply = self._command(run, argv)
        if reply[:1] == b"-":  # counted in errorstats already (_command)
            return False, _fail(reply.rstrip(b"\r\n")), True
        lua = self.eval_lua if run.eval_mode else self.func_lua
        value, _ = to_lua(lua, reply, 0, run.client.proto)
        return True, value

    def _command(self, run: Run, argv: list[bytes]) -> bytes:
        """redis.call's command: refused (counted as a rejected call) or run (a call)."""
        st = self.state
        cmd = st.registry.get(argv[0])
        if cmd is None:
            st.observer.count_error(UNKNOWN_IN_SCRIPT)
            return UNKNOWN_IN_SCRIPT
        target = cmd
        if cmd.subcommands and len(argv) > 1:
            target = cmd.subcommands.get(argv[1]) or cmd.subcommands.get(argv[1].lower()) or cmd
        refused = self._refusal(run, cmd, target, argv)
        if refused is not None:
            st.observer.rejected(target, refused)
            st.observer.count_error(refused)
            return refused
        if "write" in target.flags:
            run.wrote = True
        with run.lock:
            if not run.timed_out:
                return self._dispatch(run, cmd, argv)
        loop = run.loop
        if loop is None:
            return self._dispatch(run, cmd, argv)
        fut: concurrent.futures.Future[bytes] = concurrent.futures.Future()

        def on_loop() -> None:
            try:
                fut.set_result(self._dispatch(run, cmd, argv))
            except BaseException as e:  # pragma: no cover - handlers answer errors themselves
                fut.set_exception(e)

        loop.call_soon_threadsafe(on_loop)
        return fut.result()

    def _refusal(self, run: Run, cmd: Command, target: Command, argv: list[bytes]) -> bytes | None:
        """Why redis.call may not run this command (Redis's scriptCall checks), or None."""
        n = len(argv)
        if (n != cmd.arity) if cmd.arity > 0 else (n < -cmd.arity):
            return b"-ERR Wrong number of args calling Redis command from script\r\n"
        if cmd.name in NOT_IN_SCRIPTS or target.name in NOT_IN_SCRIPTS:
            return b"-ERR This Redis command is not allowed from script\r\n"
        refused = self._acl_refusal(run, cmd, argv)
        if refused is not None:
            return refused
        write = "write" in target.flags
        if run.read_only and (write or target.name in MAY_REPLICATE):  # PUBLISH too, as Redis
            return b"-ERR Write commands are not allowed from read-only scripts.\r\n"
        if write and (refused := self.state.admit_replicated_write()) is not None:
            return refused
        # Over maxmemory when the script started, a command that may grow memory is refused
        # until the script has written (then it must run to the end: Redis's scriptVerifyOOM).
        if target.denyoom and run.oom and not run.allow_oom and not run.wrote:
            return OOM_ERROR
        return None

    def _acl_refusal(self, run: Run, cmd: Command, argv: list[bytes]) -> bytes | None:
        """The caller's ACL applies inside the script too (Redis's scriptVerifyACL): a user
        without FLUSHALL, or without ``~b*`` keys, gets no more by wrapping them in EVAL."""
        user = getattr(run.caller, "user", None)
        acl = getattr(self.state, "acl", None)
        if user is None or acl is None or user.unrestricted:
            return None
        why = acl.check(user, cmd, argv)
        if why is None:
            return None
        reason, obj = why
        caller = run.caller
        if run.argv:  # client-info's cmd=: the EVAL, or the EXEC running it (Redis's lastcmd)
            running = run.argv[0].decode(errors="replace").lower()
            caller.last_command = "exec" if getattr(caller, "in_exec", False) else running
        acl.add_log(reason, obj, user.name, "lua", describe_client(caller))
        return b"-ERR The user executing the script can't %s\r\n" % SCRIPT_ACL_DENIED[reason]

    def _dispatch(self, run: Run, cmd: Command, argv: list[bytes]) -> bytes:
        st = self.state
        t0 = time.perf_counter()
        try:
            r = cmd.fn(run.client, argv)
        except CommandError as e:
            r = e.reply
        except st.errors as e:
            r = st.error_reply(e, argv)
        st.commands_processed += 1
        if st.observer.monitors:  # MONITOR shows what scripts run, as "[db lua]"
            st.observer.monitor(run.client, cmd, argv, "lua")
        if r is not None and st.persistence is not None:  # the AOF logs the script's writes
            st.persistence.write_log(run.client, cmd, argv, r)
        if r is None:
            r = resp.null_array(run.client.proto)
        st.observer.script_call(cmd, argv, r, time.perf_counter() - t0)
        return r

    # -- the rest of the redis.* API -------------------------------------------------------
    def log(self, level: Any = None, *msg: Any) -> None:
        if level is None or not msg:
            raise lualibs.LibError("redis.log() requires two arguments or more.")
        if not isinstance(level, (int, float)) or isinstance(level, bool):
            raise lualibs.LibError("First argument must be a number (log level).")
        if not 0 <= level <= 3:
            raise lualibs.LibError("Invalid debug level.")
        text = " ".join(m.decode(errors="replace") if isinstance(m, bytes) else str(m) for m in msg)
        log.log(
            (logging.DEBUG, logging.DEBUG, logging.INFO, logging.WARNING)[int(level)], "%s", text
        )

    def setresp(self, *a: Any) -> None:
        run = self.current
        if run is None:
            raise lualibs.LibError("redis.setresp can only be called inside a script invocation")
        if len(a) != 1:
            raise lualibs.LibError("redis.setresp() requires one argument.")
        if a[0] not in (2, 3):
            raise lualibs.LibError("RESP version must be 2 or 3.")
        run.client.proto = int(a[0])

    def set_repl(self, *a: Any) -> None:
        """Accepted and ignored: the cache has no replicas or AOF to propagate to."""
        if self.current is None:
            raise lualibs.LibError("redis.set_repl can only be called inside a script invocation")
        if len(a) != 1:  # one argument, flags; Redis 7.0's message says "two"
            raise lualibs.LibError("redis.set_repl() requires two arguments.")
        if _tonumber(a[0]) & ~3:  # REPL_AOF | REPL_REPLICA; lua_tonumber, then int
            raise lualibs.LibError(
                "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
            )

    def acl_check_cmd(self, *a: Any) -> bool:
        """redis.acl_check_cmd(cmd, args...): may the script's caller run that command line?"""
        run = self.current
        if run is None:
            raise lualibs.LibError(
                "redis.acl_check_cmd can only be called inside a script invocation"
            )
        if not a:
            raise lualibs.LibError("Please specify at least one argument for this redis lib call")
        if not all(isinstance(x, (bytes, int, float)) and not isinstance(x, bool) for x in a):
            raise lualibs.LibError("Lua redis lib command arguments must be strings or integers")
        argv = [x if isinstance(x, bytes) else b"%.17g" % x for x in a]
        cmd = self.state.registry.get(argv[0]) if isinstance(a[0], bytes) else None
        if cmd is None:  # no arity check in Redis 7.0: acl_check_cmd('get') is true
            raise lualibs.LibError("Invalid command passed to redis.acl_check_cmd()")
        user = getattr(run.caller, "user", None)
        acl = getattr(self.state, "acl", None)
        return user is None or acl is None or acl.check(user, cmd, argv) is None

    # -- functions -------------------------------------------------------------------------
    def register_function(self, *a: Any) -> None:
        lib = self.loading
        if lib is None:
            raise lualibs.LibError(
                "redis.register_function can only be called on FUNCTION LOAD command"
            )
        desc = None
        flags: list[str] = []
        if len(a) == 1:
            t = a[0]
            if lua51.lua_type(t) != "table":
                raise lualibs.LibError(
                    "calling redis.register_function with a single argument is only applicable "
                    "to Lua table (representing named arguments)."
                )
            name = callback = None
            for k, v in t.items():
                if not isinstance(k, bytes):
                    raise lualibs.LibError(
                        "named argument key given to redis.register_function is not a string"
                    )
                if k == b"function_name":
                    if not isinstance(v, bytes):
                        raise lualibs.LibError(
                            "function_name argument given to redis.register_function must be a string"
                        )
                    name = v
                elif k == b"description":
                    if not isinstance(v, bytes):
                        raise lualibs.LibError(
                            "description argument given to redis.register_function must be a string"
                        )
                    desc = v
                elif k == b"callback":
                    if lua51.lua_type(v) != "function":
                        raise lualibs.LibError(
                            "callback argument given to redis.register_function must be a function"
                        )
                    callback = v
                elif k == b"flags":
                    if lua51.lua_type(v) != "table":
                        raise lualibs.LibError(
                            "flags argument to redis.register_function must be a table "
                            "representing function flags"
                        )
                    for f in v.values():
                        fs = f.decode(errors="replace") if isinstance(f, bytes) else ""
                        if fs not in SCRIPT_FLAGS:
                            raise lualibs.LibError("unknown flag given")
                        flags.append(fs)
                else:
                    raise lualibs.LibError("unknown argument given to redis.register_function")
            if name is None:
                raise lualibs.LibError("redis.register_function must get a function name argument")
            if callback is None:
                raise lualibs.LibError("redis.register_function must get a callback argument")
        elif len(a) == 2:
            name, callback = a
            if not isinstance(name, bytes):
                raise lualibs.LibError("first argument to redis.register_function must be a string")
            if lua51.lua_type(callback) != "function":
                raise lualibs.LibError(
                    "second argument to redis.register_function must be a function"
                )
        else:
            raise lualibs.LibError("wrong number of arguments to redis.register_function")
        fname = name.decode(errors="replace")
        if not fname or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in fname):
            raise lualibs.LibError(  # sic: Redis 7.0 says "Library" for a function name too
                "Library names can only contain letters, numbers, or underscores(_) and must be "
                "at least one character long"
            )
        if fname in lib.functions:
            raise lualibs.LibError("Function already exists in the library")
        lib.functions[fname] = {
            "callback": callback, "flags": tuple(dict.fromkeys(flags)), "description": desc,
        }  # fmt: skip

    def load_library(self, code: bytes, replace: bool) -> str:
        """FUNCTION LOAD; returns the library name. Raises CommandError."""
        name, _ = parse_library_header(code)
        if name in self.libraries and not replace:
            raise CommandError(f"Library '{name}' already exists")
        lib = self._build(code)
        self._join([lib], replace=True, flush=False)
        return name

    def _build(self, code: bytes) -> Library:
        """Run a library's code once; the functions it registered (nothing installed yet)."""
        name, skip = parse_library_header(code)
        lib = Library(name, code)
        lua = self.func_lua
        r = lua.compile(code[skip:], b"@user_function")  # from the header's newline
        fn = r[0] if isinstance(r, tuple) else r
        if fn is None:
            msg = r[1].decode(errors="replace") if isinstance(r, tuple) else "error"
            raise CommandError(f"Error compiling function: {msg}")
        self.loading = lib
        self.load_deadline = time.monotonic() + LOAD_TIMEOUT
        try:
            res = lua.load_fn(fn)
        finally:
            self.loading = None
        ok = res[0] if isinstance(res, tuple) else res
        if not ok:
            err: Any = res[1] if isinstance(res, tuple) else None
            text = err[b"err"] if lua51.lua_type(err) == "table" else err
            msg = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
            raise CommandError(f"Error registering functions: {msg}")
        if not lib.functions:
            raise CommandError("No functions registered")
        return lib

    def _join(self, libs: list[Library], replace: bool, flush: bool) -> None:
        """Install ``libs`` all or nothing: a name clash leaves everything as it was."""
        new: dict[str, Library] = {} if flush else dict(self.libraries)
        for lib in libs:
            if lib.name in new and not replace:
                raise CommandError(f"Library {lib.name} already exists")
            new[lib.name] = lib
        functions: dict[str, tuple[Library, dict[str, Any]]] = {}
        for lib in new.values():
            for fname, fi in lib.functions.items():
                if fname.lower() in functions:  # function names are case-insensitive
                    raise CommandError(f"Function {fname} already exists")
                functions[fname.lower()] = (lib, fi)
        self.libraries, self.functions = new, functions

    def dump(self) -> bytes:
        """FUNCTION DUMP: every library's code, versioned and checksummed (not Redis's RDB)."""
        body = DUMP_MAGIC + msgpack.packb([lib.code for lib in self.libraries.values()])
        return body + zlib.crc32(body).to_bytes(4, "big")

    def restore(self, payload: bytes, policy: str) -> None:
        """FUNCTION RESTORE with APPEND, REPLACE or FLUSH."""
        body, crc = payload[:-4], payload[-4:]
        if not body.startswith(DUMP_MAGIC) or zlib.crc32(body).to_bytes(4, "big") != crc:
            raise CommandError("DUMP payload version or checksum are wrong")
        try:
            codes = msgpack.unpackb(body[len(DUMP_MAGIC) :])
        except (ValueError, msgpack.ExtraData):
            raise CommandError("DUMP payload version or checksum are wrong") from None
        libs = [self._build(code) for code in codes]
        self._join(libs, replace=policy == "REPLACE", flush=policy == "FLUSH")

    def delete_library(self, name: str) -> None:
        lib = self.libraries.pop(name)
        for fname in lib.functions:
            self.functions.pop(fname.lower(), None)

    def flush_functions(self) -> None:
        self.libraries.clear()
        self.functions.clear()
        self.func_lua = Lua(self)


def _fail(msg: bytes) -> bytes:
    """The message of an error table (prelude.lua wraps it: ``{err = msg}``)."""
    return error_text(msg)


def _lua_string(v: Any) -> bytes | None:
    """lua_tostring: a string, or a number as Lua prints it (%.14g); None otherwise."""
    if isinstance(v, bytes):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return b"%.14g" % v
    return None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _split_args(line: bytes) -> list[str]:
    """A shebang line's words, quotes honoured as Redis's sdssplitargs does."""
    try:
        words = split_inline(line)
    except ProtocolError:
        raise CommandError("Invalid library metadata") from None
    return [w.decode(errors="replace") for w in words]


def parse_shebang(body: bytes) -> tuple[tuple[str, ...] | None, int]:
    """An EVAL script's ``#!lua flags=...`` line: (flags or None without one, its length)."""
    if not body.startswith(b"#!"):
        return None, 0
    end = body.find(b"\n")
    line = body[2:] if end < 0 else body[2:end]
    parts = _split_args(line)
    if not parts:
        raise CommandError("Invalid script shebang")
    if parts[0] != "lua":
        raise CommandError(f"Unexpected engine in script shebang: {parts[0]}")
    flags: list[str] = []
    for part in parts[1:]:
        if part.startswith("flags="):
            for f in part[6:].split(","):
                if not f:
                    continue
                if f not in SCRIPT_FLAGS:
                    raise CommandError(f"Unexpected flag in script shebang: {f}")
                flags.append(f)
        else:
            raise CommandError(f"Unknown lua shebang option: {part}")
    return tuple(flags), (len(body) if end < 0 else end)


def parse_library_header(code: bytes) -> tuple[str, int]:
    """FUNCTION LOAD's ``#!lua name=<lib>`` line: (library name, its length)."""
    if not code.startswith(b"#!"):
        raise CommandError("Missing library metadata")
    end = code.find(b"\n")
    line = code if end < 0 else code[:end]
    parts = _split_args(line)  # "#!lua name=x": the engine is the first word after "#!"
    if not parts:
        raise CommandError("Invalid library metadata")
    engine, name = parts[0][2:], None
    for part in parts[1:]:
        if not part:
            continue
        if part.startswith("name="):
            if name is not None:
                raise CommandError("Invalid metadata value, name argument was given multiple times")
            name = part[5:]
        else:
            raise CommandError(f"Invalid metadata value given: {part}")
    if name is None:
        raise CommandError("Library name was not given")
    if not name or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
        raise CommandError(
            "Library names can only contain letters, numbers, or underscores(_) and must be at "
            "least one character long"
        )
    if engine.lower() != "lua":
        raise CommandError(f"Engine '{engine}' not found")
    return name, (len(code) if end < 0 else end)


# -- conversions --------------------------------------------------------------------------


def _line(data: bytes, i: int) -> tuple[bytes, int]:
    j = data.index(b"\r\n", i)
    return data[i:j], j + 2


def to_lua(lua: Lua, data: bytes, i: int, proto: int) -> tuple[Any, int]:
    """One RESP reply at ``data[i:]`` as the Lua value Redis gives a script; (value, next i)."""
    kind = data[i : i + 1]
    line, i = _line(data, i + 1)
    t = lua.rt.table_from
    if kind == b"$":
        n = int(line)
        if n < 0:
            return False, i
        return data[i : i + n], i + n + 2
    if kind == b":":
        return int(line), i
    if kind == b"+":
        return t({b"ok": line}), i
    if kind == b"-":
        return t({b"err": line}), i
    if kind in (b"*", b">", b"~", b"%", b"|"):
        n = int(line)
        if n < 0:
            return False, i
        if kind == b"%" or kind == b"|":
            pairs = []
            for _ in range(n):
                k, i = to_lua(lua, data, i, proto)
                v, i = to_lua(lua, data, i, proto)
                pairs.append((k, v))
            if kind == b"|":  # an attribute: skip it, the reply follows
                return to_lua(lua, data, i, proto)
            m = lua.rt.table()
            for k, v in pairs:
                m[k] = v
            return t({b"map": m}), i
        items = []
        for _ in range(n):
            v, i = to_lua(lua, data, i, proto)
            items.append(v)
        if kind == b"~":
            s = lua.rt.table()
            for v in items:
                s[v] = True
            return t({b"set": s}), i
        return t(items), i
    if kind == b"_":
        return None, i
    if kind == b",":
        return t({b"double": float(line)}), i
    if kind == b"#":
        return line == b"t", i
    if kind == b"(":
        return t({b"big_number": line}), i
    if kind in (b"=", b"!"):
        n = int(line)
        body = data[i : i + n]
        if kind == b"!":
            return t({b"err": body}), i + n + 2
        return t({b"verbatim_string": t({b"format": body[:3], b"string": body[4:]})}), i + n + 2
    raise ValueError(f"unexpected reply type {kind!r}")


def _number(v: float) -> int:
    """A Lua number as the integer reply Redis gives: truncated, and what a C cast to long
    long cannot hold (NaN, +-inf, beyond +-2^63) is INT64_MIN, as x86 answers. lupa hands
    whole numbers over as Python ints of any size: ":18446744073709551616" is no RESP
    integer (redis-cli: "Bad integer value")."""
    if math.isnan(v) or math.isinf(v) or not -(2**63) <= v < 2**63:
        return -(2**63)
    return int(v)


def to_resp(lua: Lua, v: Any, proto: int, script_proto: int, out: list[bytes], depth: int) -> None:
    """A script's return value as RESP for a client speaking ``proto`` (Redis's rules)."""
    if v is None:
        out.append(resp.null(proto))
        return
    t = type(v)
    if t is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(v), v))
        return
    if t is bool:
        if script_proto == 2:
            out.append(b":1\r\n" if v else resp.null(proto))
        else:
            out.append(resp.boolean(v, proto))
        return
    if t is int or t is float:
        out.append(b":%d\r\n" % _number(v))
        return
    if lua51.lua_type(v) != "table":
        out.append(resp.null(proto))
        return
    if depth >= MAX_NESTING:
        out.append(b"-ERR reached lua stack limit\r\n")
        return
    kind, x = lua.shape(v)
    if kind == b"err":
        out.append(b"-" + x.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n")
        return
    if kind == b"ok":
        out.append(b"+" + x.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n")
        return
    if kind == b"double":
        out.append(resp.double(float(x), proto))
        return
    if kind == b"big_number":
        out.append(b"(" + x + b"\r\n" if proto == 3 else b"$%d\r\n%s\r\n" % (len(x), x))
        return
    if kind == b"map":
        items = list(x.items())
        out.append(
            (b"%%%d\r\n" if proto == 3 else b"*%d\r\n") % (len(items) * (1 if proto == 3 else 2))
        )
        for k, val in items:
            to_resp(lua, k, proto, script_proto, out, depth + 1)
            to_resp(lua, val, proto, script_proto, out, depth + 1)
        return
    if kind == b"set":
        keys = list(x.keys())
        out.append((b"~%d\r\n" if proto == 3 else b"*%d\r\n") % len(keys))
        for k in keys:
            to_resp(lua, k, proto, script_proto, out, depth + 1)
        return
    n = int(x)
    out.append(b"*%d\r\n" % n)
    for i in range(1, n + 1):
        to_resp(lua, v[i], proto, script_proto, out, depth + 1)


def _tonumber(v: Any) -> int:
    """lua_tonumber of a Lua value cast to int as Redis's C does: a numeric string counts,
    anything else is 0."""
    if isinstance(v, bytes):
        try:
            v = float(v)
        except ValueError:
            return 0
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) < 2**63:
        return int(v)
    return 0
