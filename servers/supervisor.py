"""``make demo``: start every server in the catalog, watch them, restart the ones that crash.

Each server is a child process (``python -m servers.NAME --port P``) started
through ``harness.procs``. All are spawned at once (the ones that start
private MariaDB instances take seconds; they start side by side), and a child
counts as up only when it has logged its *own* ``listening on HOST:PORT``
line: something else answering on its port (another program holding it)
never makes it look up. A child that fails to start is reported at once with
the last lines of its log (a port in use names the program holding it).
Every child's output goes to ``.run/NAME/server.log``; the table says where.

Then the supervisor watches: a child that exits is reported at once (exit
code or signal, and its log's last lines) and restarted after a backoff that
doubles (1 s, 2 s, 4 s, ...); after ``MAX_RESTARTS`` crashes within
``CRASH_WINDOW`` seconds it is left down, and the supervisor says so. Ctrl-C
or SIGTERM stops them all (SIGTERM, then SIGKILL after a grace period).
``--any-port`` starts every server on port 0 (tests use it). The exit status
is 1 when nothing could start, else 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from harness.procs import REPO_ROOT, Child, LaunchError, python_module

from .catalog import SERVERS, Server

log = logging.getLogger("servers.supervisor")
MAX_RESTARTS = 5  # crashes within CRASH_WINDOW before a child is left down
CRASH_WINDOW = 60.0  # seconds
FIRST_BACKOFF = 1.0  # seconds before the first restart; doubles per crash in the window
TAIL = 8  # log lines shown with a failure
NEEDS = re.compile(r"\{(\w+)\}")  # in a server's args: the port of another server


def needs(s: Server) -> list[str]:
    """The servers whose ports ``s``'s flags name (they start first)."""
    return NEEDS.findall(" ".join(s.args))


def _tail(child: Child, lines: int = TAIL) -> str:
    return "\n".join("    | " + line for line in child.output().splitlines()[-lines:])


@dataclasses.dataclass
class Watched:
    """One server under supervision: its child, its crashes, when it may restart."""

    server: Server
    child: Child
    crashes: list[float] = dataclasses.field(default_factory=list)
    restart_at: float | None = None  # monotonic time of the pending restart
    down: str = ""  # why it is left down ("" while it is up or restarting)


class Supervisor:
    def __init__(
        self, servers: Iterable[Server], host: str = "127.0.0.1", run_dir: Path | None = None,
        out: TextIO = sys.stdout, backoff: float = FIRST_BACKOFF,
    ) -> None:  # fmt: skip
        self.servers = list(servers)
        self.host = host
        self.run_dir = run_dir or REPO_ROOT / ".run"
        self.out = out
        self.backoff = backoff
        self.watched: dict[str, Watched] = {}  # the ones that started at least once
        self.failed: dict[str, str] = {}  # the ones that never started: why

    @property
    def children(self) -> dict[str, Child]:
        """The children currently running."""
        return {n: w.child for n, w in self.watched.items() if w.child.alive()}

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def log_path(self, name: str) -> Path:
        return self.run_dir / name / "server.log"

    def _child(self, s: Server) -> Child:
        ports = {n: w.child.port for n, w in self.watched.items()}
        args = [NEEDS.sub(lambda m: str(ports[m.group(1)]), a) for a in s.args]
        return python_module(s.module, *args, port=s.port, host=self.host, log_path=self.log_path(s.name))

    def start_all(self) -> None:
        """Spawn children in waves: each wave at once, then wait for each one's own
        ``listening on`` line; a server whose flags name another's port (``{auth}``)
        starts in a wave after that one is up, or not at all if it failed."""
        todo = list(self.servers)
        while todo:
            wave = [s for s in todo if all(n in self.watched for n in needs(s))]
            blocked = [s for s in todo if s not in wave and any(n in self.failed for n in needs(s))]
            for s in blocked:
                self.failed[s.name] = "not started: needs " + ", ".join(n for n in needs(s) if n in self.failed)
            if not wave:  # what is left needs servers that are not in the list
                for s in todo:
                    self.failed.setdefault(s.name, "not started: needs " + ", ".join(needs(s)))
                return
            self._start_wave(wave)
            todo = [s for s in todo if s not in wave and s not in blocked]

    def _start_wave(self, wave: list[Server]) -> None:
        spawned: list[tuple[Server, Child]] = []
        for s in wave:
            child = self._child(s)
            try:
                spawned.append((s, child.spawn()))
            except OSError as e:
                self.failed[s.name] = str(e)
        for s, child in spawned:
            try:
                child.wait_ready()
            except LaunchError:
                child.stop()
                why = (child.output().strip().splitlines() or ["no output"])[-1]
                self.failed[s.name] = why
                self.say(f"{s.name} failed to start (log: {child.log_path}):\n{_tail(child)}")
                child.close()
                continue
            self.watched[s.name] = Watched(s, child)

    def check(self, now: float | None = None) -> None:
        """One round of watching: report exits, schedule and run restarts."""
        now = time.monotonic() if now is None else now
        for name, w in self.watched.items():
            if w.down:
                continue
            if w.restart_at is None and not w.child.alive():
                code = w.child.proc.returncode if w.child.proc is not None else None
                how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
                w.crashes = [t for t in w.crashes if now - t < CRASH_WINDOW] + [now]
                if len(w.crashes) > MAX_RESTARTS:
                    w.down = f"{len(w.crashes)} crashes in {CRASH_WINDOW:.0f}s"
                    self.say(f"{name} crashed ({how}); left down after {w.down} (log: {w.child.log_path})")
                    continue
                delay = self.backoff * 2 ** (len(w.crashes) - 1)
                w.restart_at = now + delay
                self.say(f"{name} crashed ({how}); restarting in {delay:g}s (log: {w.child.log_path}):\n"
                         f"{_tail(w.child)}")  # fmt: skip
            elif w.restart_at is not None and now >= w.restart_at:
                w.restart_at = None
                w.child.close()
                w.child = self._child(w.server)
                try:
                    w.child.start()
                except LaunchError:
                    self.say(f"{name} did not come back:\n{_tail(w.child)}")
                    w.child.stop()
                    continue  # seen as exited on the next round: another crash, a longer backoff
                self.say(f"{name} restarted on {self.host}:{w.child.port}")

    def stop_all(self) -> None:
        for name, w in reversed(list(self.watched.items())):
            code = w.child.stop()
            log.info("%s stopped (exit %s)", name, code)
            w.child.close()
        self.watched.clear()

    def table(self) -> str:
        if not self.servers:
            return "No servers are registered in the catalog yet (servers/catalog.py: SERVERS)."
        rows = [f"{'server':<12} {'address':<22} try it"]
        for s in self.servers:
            if s.name in self.children:
                port = self.children[s.name].port
                rows.append(f"{s.name:<12} {f'{self.host}:{port}':<22} {s.try_it.format(port=port)}")
            else:
                rows.append(f"{s.name:<12} {'FAILED':<22} {self.failed.get(s.name, 'not running')[:100]}")
        up, total = len(self.children), len(self.servers)
        rows += ["", f"{up} of {total} up. Logs: {self.run_dir}/NAME/server.log"]
        return "\n".join(rows)

    def __enter__(self) -> Supervisor:
        self.start_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def run_demo(servers: Iterable[Server], out: TextIO = sys.stdout, backoff: float = FIRST_BACKOFF) -> int:
    """Start, print the table, watch until SIGINT/SIGTERM, stop. Returns the exit code."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _supervise(servers, out, backoff, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _supervise(servers: Iterable[Server], out: TextIO, backoff: float, stop: threading.Event) -> int:
    from .report import build, results_dir

    try:
        lab = build(results_dir())  # the lab index, served by the http server at /lab/
    except OSError as e:
        lab = None
        print(f"(the lab index could not be written: {e})", file=out)
    with Supervisor(servers, out=out, backoff=backoff) as sup:
        print(sup.table(), file=out, flush=True)
        if lab is not None:
            http = sup.children.get("http")
            where = f"http://127.0.0.1:{http.port}/lab/" if http is not None else f"file://{lab}"
            print(f"The lab index (make report): {where}", file=out, flush=True)
        if not sup.watched:
            print("Nothing could start.", file=out, flush=True)
            return 1
        down = len(sup.servers) - len(sup.watched)
        print("\n" + ("All up." if not down else f"{down} failed to start (above).")
              + " Watching; Ctrl-C stops everything.", file=out, flush=True)  # fmt: skip
        while not stop.wait(0.2):
            sup.check()
        print("stopping...", file=out, flush=True)
    print("all stopped", file=out, flush=True)
    return 0


def main() -> None:
    p = argparse.ArgumentParser(prog="make demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("names", nargs="*", help="only these servers (default: all)")
    p.add_argument("--any-port", action="store_true", help="start every server on port 0")
    p.add_argument("--backoff", type=float, default=FIRST_BACKOFF, help="seconds before a first restart (1)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(message)s")
    unknown = [n for n in args.names if n not in SERVERS]
    if unknown:
        p.error(f"no such server: {', '.join(unknown)} (known: {', '.join(SERVERS)})")
    names = list(args.names or SERVERS)
    for name in list(names):  # `make demo notes` starts auth too, first
        names[:0] = [n for n in needs(SERVERS[name]) if n not in names]
    chosen = [SERVERS[n] for n in names]
    if args.any_port:
        chosen = [dataclasses.replace(s, port=0) for s in chosen]
    sys.exit(run_demo(chosen, backoff=max(args.backoff, 0.0)))


if __name__ == "__main__":
    main()
