"""``make redis-tests``: Redis's own TCL test units against syslab's cache and a real redis-server.

Redis ships its conformance suite with its source (``tests/unit/*.tcl``, run
by ``./runtest``). Pointed at an external server (``--host --port``) it
sends real commands over a socket and checks the replies, so it is a test
of the cache written by nobody here. This runner, per unit:

1. starts ``python -m servers.cache`` and a private ``redis-server``, each on
   a free port;
2. runs ``./runtest --single UNIT --host 127.0.0.1 --port P`` against each,
   skipping by tag only what an external server cannot do (DEBUG,
   replication, spawning local servers, large memory...);
3. parses the ``[ok]`` / ``[err]`` / ``[exception]`` lines and prints a
   tally: tests passed and failed, ours beside redis-server's (a unit that
   dies on an exception counts what ran before it).

The units of ``LOCAL_UNITS`` (auth, acl, info, introspection, pause, obuf-limits...)
need servers started with settings of their own (``start_server {overrides
{requirepass foobar}}``) or are tagged ``external:skip``: for them runtest runs
without ``--host`` and starts ``src/redis-server CONFIG`` itself. Each server
gets its own private copy whose ``src/`` holds that program: the installed
redis-server, or for ours ``shim_text``'s script, which starts ``python -m
servers.cache CONFIG`` (the cache reads redis.conf files: servers/cache/conf.py).
Tests out of the cache's scope that would stop a unit are skipped on both
servers (``LOCAL_SKIP_TESTS``), with replication and DEBUG by tag.

The source: ``$REDIS_SRC``, else /work/redis-src/redis-7.0.15, else ``apt-get
source redis`` into ~/.cache/syslab/redis-src (deb-src must be enabled).
runtest writes into ``tests/tmp``, so each run copies ``runtest`` and
``tests/`` into a private temporary folder: two runs never share files.

    python -m bench.redis_suite [--units unit/type/list,unit/sort] [--only ours] [--verbose]

Exit code 0 when every unit ran (whatever the tally), 2 when the source or
tclsh is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.procs import python_module
from harness.services import RedisServer

UNITS = [
    "unit/type/string", "unit/type/incr", "unit/type/list", "unit/type/list-2",
    "unit/type/list-3", "unit/type/hash", "unit/type/set", "unit/type/zset",
    "unit/type/stream", "unit/type/stream-cgroups", "unit/geo", "unit/hyperloglog",
    "unit/bitops", "unit/sort", "unit/scripting", "unit/functions",
    "unit/keyspace", "unit/expire", "unit/scan", "unit/protocol", "unit/quit",
    "unit/info-command", "unit/slowlog",
]  # fmt: skip
# Units whose tests start their own servers (``start_server {overrides {requirepass foobar}}``,
# ``external:skip``): run without --host, runtest spawns ``src/redis-server CONFIG`` itself.
# Our private copy's src/redis-server is a shim starting servers.cache on that config file.
LOCAL_UNITS = [
    "unit/auth", "unit/acl", "unit/acl-v2", "unit/info", "unit/limits", "unit/obuf-limits",
    "unit/querybuf", "unit/introspection", "unit/introspection-2", "unit/pause",
    "unit/pubsub", "unit/pubsubshard", "unit/latency-monitor", "unit/dump", "unit/multi",
    "unit/networking", "unit/tracking", "unit/shutdown", "unit/oom-score-adj", "unit/client-eviction",
    "unit/replybufsize", "unit/pendingquerybuf",
]  # fmt: skip
# Tests skipped on both servers (``--skiptest``) in a unit that would otherwise stop there:
# features out of this cache's scope (replication, DEBUG, CONFIG REWRITE, keyspace
# notifications, ACL selectors...), listed so that the rest of the unit runs.
LOCAL_SKIP_TESTS: dict[str, list[str]] = {
    "unit/acl": ["ACLs set can exclude subcommands, if already full command exists",  # (MEMORY STATS)
                 "ACL GETUSER is able to translate back command permissions",  # (DEBUG)
                 "ACL #5998 regression: memory leaks adding / removing subcommands",
                 "Test loading duplicate users in config on startup",  # (redis-server argv)
                 "ACL from config file and config rewrite",  # (CONFIG REWRITE)
                 "/ACLs can (block|include) .*(first-arg|specific arg|DEBUG)"],
    "unit/introspection": ["CONFIG REWRITE sanity", "/CONFIG REWRITE handles", "CONFIG SET with multiple args",
                           "/config during loading", "CONFIG save params special case handled properly"],
    "unit/introspection-2": ["/COMMAND GETKEYSANDFLAGS"],
    "unit/pubsub": ["/^Keyspace notifications", "/^Keyevent"],
    "unit/pubsubshard": ["setup replication for following tests",
                         "publish message to master and receive on replica"],
    "unit/latency-monitor": ["LATENCY of expire events are correctly collected", "/LATENCY DOCTOR",
                             "LATENCY RESET is able to reset events"],  # (needs the events above)
    "unit/multi": ["MULTI with SHUTDOWN", "/MULTI with config set appendonly",
                   "/exec with write commands and state change", "/MULTI propagation",
                   "/MULTI with BGREWRITEAOF", "MULTI with FLUSHALL and AOF"],
}  # fmt: skip
# Out of scope with a server of our own (replication, DEBUG internals, huge allocations).
LOCAL_SKIP_TAGS = ["needs:debug", "needs:repl", "repl", "masterauth", "large-memory"]
# What an external server cannot be asked for (Redis's own tags).
SKIP_TAGS = [
    "needs:debug", "needs:repl", "needs:config-maxmemory", "needs:save", "needs:reset",
    "needs:other-server", "external:skip", "large-memory",
]  # fmt: skip
DEFAULT_SRC = Path("/work/redis-src/redis-7.0.15")
CACHE_DIR = Path.home() / ".cache" / "syslab" / "redis-src"
UNIT_TIMEOUT_S = 1800  # a whole unit
TEST_TIMEOUT_S = (
    300  # runtest --timeout: one test silent for this long (a client never woken) fails the unit
)
PORTCOUNT = 2000  # the ports runtest may start servers on, from its base port
# The same with servers of its own: a hang there is a server not answering (not a slow
# external one), and each start_server block starts a fresh server anyway.
LOCAL_TEST_TIMEOUT_S = 90
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LINE = re.compile(r"^\[(ok|err|exception|skip|ignore)\]:\s*(.*?)(?: \(\d+ ms\))?$")
OURS, REDIS = "syslab-cache", "redis-server"


@dataclass
class UnitResult:
    unit: str
    server: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    exception: str = ""
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.exception


def find_source() -> Path | None:
    """The Redis source tree with ``tests/``: env, the shared copy, or an apt-get source cache."""
    for cand in (os.environ.get("REDIS_SRC"), DEFAULT_SRC):
        if cand and (Path(cand) / "tests" / "test_helper.tcl").exists():
            return Path(cand)
    if CACHE_DIR.exists():
        for d in sorted(CACHE_DIR.glob("redis-*")):
            if (d / "tests" / "test_helper.tcl").exists():
                return d
    if shutil.which("apt-get") is None:
        return None
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["apt-get", "source", "redis"],
                       cwd=CACHE_DIR, capture_output=True, text=True, timeout=600)  # fmt: skip
    if r.returncode != 0:
        print(f"apt-get source redis failed: {r.stderr.strip()[-300:]} (enable deb-src: "
              "'Types: deb deb-src' in /etc/apt/sources.list.d/debian.sources, apt-get update)",
              file=sys.stderr)  # fmt: skip
        return None
    for d in sorted(CACHE_DIR.glob("redis-*")):
        if (d / "tests" / "test_helper.tcl").exists():
            return d
    return None


def private_copy(src: Path, server: str = REDIS) -> Path:
    """runtest + tests/ in a fresh temporary folder (runtest writes into tests/tmp), and the
    ``src/`` programs runtest starts: redis-cli and friends (the installed ones) and
    ``src/redis-server``, the installed one or, for ours, ``shim_text``'s script."""
    root = Path(tempfile.mkdtemp(prefix="redis-suite-"))
    shutil.copy2(src / "runtest", root / "runtest")
    shutil.copytree(src / "tests", root / "tests", ignore=shutil.ignore_patterns("tmp"))
    (root / "tests" / "tmp").mkdir(exist_ok=True)
    (root / "src").mkdir()
    for tool in ("redis-cli", "redis-benchmark", "redis-check-aof", "redis-check-rdb",
                 "redis-server"):  # fmt: skip
        found = shutil.which(tool)
        if found and not (tool == "redis-server" and server == OURS):
            (root / "src" / tool).symlink_to(found)
    if server == OURS:
        shim = root / "src" / "redis-server"
        shim.write_text(shim_text())
        shim.chmod(0o755)
    return root


def shim_text() -> str:
    """``src/redis-server CONFIG [--name value...]`` for runtest: syslab's cache on that file.

    runtest starts the server in the background, remembers the pid, waits (up to two
    minutes) for `` PID: <pid>`` in its standard output, then at most 5 s for a PING
    answer, then for ``Ready to accept``; it stops it with SIGTERM. The shim (``SHIM``)
    writes CONFIG plus the trailing ``--name value`` options as config lines
    (redis-server's own command line), less ``SHIM_DROPS``, and execs the cache on
    it (the same pid), its log on standard output (redis-server's default logfile):
    the cache reads the file itself (servers/cache/conf.py) and, once listening,
    logs "Ready to accept connections, PID: <pid>", so a slow start (a loaded
    machine, Python's imports) is waited for rather than taken for a failed one."""
    repo = Path(__file__).resolve().parent.parent
    return (
        SHIM.replace("@PYTHON@", sys.executable)
        .replace("@REPO@", repr(str(repo)))
        .replace("@DROPS@", repr(SHIM_DROPS))
    )


# Directives of tests/assets/default.conf the cache refuses (it has no keyspace notifications)
# and that the shim leaves out, so that the rest of each unit runs; the tests that need
# them fail, and count.
SHIM_DROPS = ("notify-keyspace-events",)

SHIM = """#!@PYTHON@
# redis-server for Redis's runtest: syslab's cache in its place (bench/redis_suite.py)
import os, socket, sys

print("syslab servers.cache standing in for redis-server", flush=True)
conf, options = sys.argv[1], sys.argv[2:]
lines = []
for line in open(conf):
    words = line.split(None, 1)
    if words and words[0].lower() in @DROPS@:
        print("shim: not passed on:", line.strip(), flush=True)
    else:
        lines.append(line.rstrip("\\n"))
for arg in options:  # --name [value...]: one more config line, as redis-server reads them
    if arg.startswith("--") and len(arg) > 2:
        lines.append(arg[2:])
    elif lines:
        lines[-1] += ' "' + arg.replace("\\\\", "\\\\\\\\").replace('"', '\\\\"') + '"'
with open(conf + ".syslab", "w") as out:
    out.write("\\n".join(lines) + "\\n")
# runtest retries another port when the log says so (it checked the port, someone took it)
for port in [x.split()[1] for x in lines if x.split()[:1] == ["port"]][-1:]:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", int(port)))
        except OSError:
            print(f"Failed listening on port {port} (TCP), aborting.", flush=True)
            sys.exit(1)
# A file the cache refuses: said now with the PID line (runtest then fails the start at
# once, as with a redis-server that exits, instead of waiting minutes for the line)
sys.path.insert(0, @REPO@)
from servers.cache import conf as syslab_conf
try:
    syslab_conf.flag_defaults(syslab_conf.read(conf + ".syslab"), conf + ".syslab")
except (syslab_conf.ConfError, OSError) as e:
    print(f"refused: {e}; PID: {os.getpid()}", flush=True)
    sys.exit(1)
os.dup2(1, 2)
os.environ["PYTHONPATH"] = @REPO@
os.execv(sys.executable, [sys.executable, "-m", "servers.cache", conf + ".syslab"])
"""


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_baseport(rng: random.Random) -> int:
    """A base port whose test-server range (base-32 .. base+64) is free right now, low
    enough for runtest's own servers: it starts them on base .. base+PORTCOUNT and wants
    each port + 10000 (a cluster bus port) free too, so no port past 65535 - 10000."""
    for _ in range(200):
        base = rng.randrange(22000, 65535 - 10000 - PORTCOUNT)
        if all(_port_free(p) for p in range(base - 32, base + 64, 8)):
            return base
    raise RuntimeError("no free port range for runtest")


def run_unit(
    root: Path, unit: str, port: int | None, server: str, verbose: bool, skip: tuple[str, ...] = ()
) -> UnitResult:
    """One unit against one server; a runtest that could not start (its own listening port
    taken meanwhile by someone else) is retried with other ports."""
    for _ in range(3):
        res = _run_unit_once(root, unit, port, server, verbose, skip)
        if res.passed or res.failed or "test_server_main" not in res.exception:
            break
    return res


def _run_unit_once(
    root: Path, unit: str, port: int | None, server: str, verbose: bool, skip: tuple[str, ...]
) -> UnitResult:
    """``port`` None: runtest starts its servers itself (``src/redis-server``, LOCAL_UNITS)."""
    timeout = TEST_TIMEOUT_S if port is not None else LOCAL_TEST_TIMEOUT_S
    argv = ["./runtest", "--single", unit, "--clients", "1", "--timeout", str(timeout),
            "--baseport", str(free_baseport(random.Random())), "--portcount", str(PORTCOUNT)]  # fmt: skip
    if port is not None:
        argv += ["--host", "127.0.0.1", "--port", str(port)]
    for tag in SKIP_TAGS if port is not None else LOCAL_SKIP_TAGS:
        argv += ["--tags", f"-{tag}"]
    for name in skip + tuple(LOCAL_SKIP_TESTS.get(unit, ()) if port is None else ()):
        argv += ["--skiptest", name]
    res = UnitResult(unit, server)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)  # fmt: skip
    watchdog = threading.Timer(UNIT_TIMEOUT_S, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    collected = []
    assert proc.stdout is not None
    for raw in proc.stdout:  # streamed: --verbose shows each test as it finishes
        collected.append(raw)
        clean = ANSI.sub("", raw).strip()
        if verbose and LINE.match(clean):
            print(f"  [{server}] {clean}", flush=True)
    proc.wait()
    if not watchdog.is_alive():
        res.exception = "timed out"
    watchdog.cancel()
    out = "".join(collected)
    res.seconds = time.monotonic() - t0
    lines = ANSI.sub("", out).splitlines()
    for i, line in enumerate(lines):
        m = LINE.match(ANSI.sub("", line).strip())
        if not m:
            continue
        kind, name = m.groups()
        if kind == "ok":
            res.passed.append(name)
        elif kind == "err":
            res.failed.append(name)
            if verbose:
                print(f"    [{server}] FAIL {name}: {' '.join(lines[i + 1 : i + 2])[:300]}")
        elif kind == "exception":
            res.exception = name or "exception"
            detail = " | ".join(x.strip() for x in lines[i + 1 : i + 4])
            res.exception = f"{name} {detail}"[:400]
    if not res.passed and not res.failed and not res.exception and "All tests passed" not in out:
        res.exception = (out.strip().splitlines() or ["no output"])[-1][:300]
    return res


def run(
    units: list[str], which: list[str], verbose: bool, skip: tuple[str, ...] = ()
) -> list[UnitResult]:
    src = find_source()
    if src is None:
        print("Redis's source with tests/ not found: set REDIS_SRC or run apt-get source redis",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    if shutil.which("tclsh") is None:
        print("tclsh not found (apt-get install tcl)", file=sys.stderr)
        sys.exit(2)
    roots = {server: private_copy(src, server) for server in which}
    results: list[UnitResult] = []
    try:
        for unit in units:
            for server in which:
                root = roots[server]
                if unit in LOCAL_UNITS:
                    r = run_unit(root, unit, None, server, verbose, skip)
                elif server == OURS:
                    with python_module("servers.cache", "--log-level", "warning", port=0) as child:
                        assert child.port is not None
                        r = run_unit(root, unit, child.port, server, verbose, skip)
                else:
                    with RedisServer() as redis:
                        r = run_unit(root, unit, redis.port, server, verbose, skip)
                results.append(r)
                print(_line(r), flush=True)
    finally:
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)
    return results


def _line(r: UnitResult) -> str:
    tail = f"  EXCEPTION: {r.exception}" if r.exception else ""
    return (f"{r.unit:28} {r.server:13} passed {len(r.passed):4}  failed {len(r.failed):3}"
            f"  ({r.seconds:.0f}s){tail}")  # fmt: skip


def tally(results: list[UnitResult]) -> str:
    units = list(dict.fromkeys(r.unit for r in results))
    by = {(r.unit, r.server): r for r in results}
    rows = [f"{'unit':28} {'ours ok/fail':>14} {'redis ok/fail':>14}  note"]
    for u in units:
        cells, note = [], ""
        for s in (OURS, REDIS):
            r = by.get((u, s))
            if r is None:
                cells.append(f"{'-':>14}")
                continue
            cells.append(f"{len(r.passed):>8}/{len(r.failed):<5}")
            if r.exception and s == OURS:
                note = f"ours stopped: {r.exception[:80]}"
        rows.append(f"{u:28} {cells[0]} {cells[1]}  {note}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.redis_suite", description=__doc__.split("\n")[0]
    )
    p.add_argument("--units", default=",".join(UNITS + LOCAL_UNITS),
                   help="comma-separated unit names")  # fmt: skip
    p.add_argument("--only", choices=["ours", "redis"], help="run against one server only")
    p.add_argument("--verbose", action="store_true", help="print each failing test's message")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--skip", action="append", default=[],
                   help="a test name (or /regexp) to skip, passed to runtest --skiptest")  # fmt: skip
    args = p.parse_args(argv)
    units = [u.strip() for u in args.units.split(",") if u.strip()]
    which = {None: [OURS, REDIS], "ours": [OURS], "redis": [REDIS]}[args.only]
    results = run(units, which, args.verbose, tuple(args.skip))
    print()
    print(tally(results))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
