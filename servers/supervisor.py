"""``make demo``: start every server in the catalog and keep them running.

Each server is a child process (``python -m servers.NAME --port P``) started
through ``harness.procs``; the supervisor waits until each logs the port it
listens on (``--any-port``: every server on port 0, the ports it got are
printed; tests use that, so nothing depends on a fixed port), prints
where everything is and a command to try it, and on Ctrl-C or SIGTERM stops
them all (SIGTERM, then SIGKILL after a grace period). A server that fails to
start is reported with the tail of its log and the others keep running.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from collections.abc import Iterable
from typing import TextIO

from harness.procs import Child, LaunchError, python_module

from .catalog import SERVERS, Server

log = logging.getLogger("servers.supervisor")


class Supervisor:
    def __init__(self, servers: Iterable[Server], host: str = "127.0.0.1") -> None:
        self.servers = list(servers)
        self.host = host
        self.children: dict[str, Child] = {}
        self.failed: dict[str, str] = {}

    def start_all(self) -> None:
        for s in self.servers:
            child = python_module(s.module, *s.args, port=s.port, host=self.host)
            try:
                child.start()
            except LaunchError as e:
                self.failed[s.name] = str(e)
                log.error("%s failed to start: %s", s.name, e)
                continue
            self.children[s.name] = child

    def stop_all(self) -> None:
        for name, child in reversed(list(self.children.items())):
            code = child.stop()
            log.info("%s stopped (exit %s)", name, code)
        self.children.clear()

    def table(self) -> str:
        if not self.servers:
            return "No servers are registered in the catalog yet (servers/catalog.py: SERVERS)."
        rows = [f"{'server':<12} {'address':<22} try it"]
        for s in self.servers:
            if s.name in self.children:
                port = self.children[s.name].port
                addr = f"{self.host}:{port}"
                rows.append(f"{s.name:<12} {addr:<22} {s.try_it.format(port=port)}")
            else:
                rows.append(f"{s.name:<12} {'FAILED':<22} {self.failed.get(s.name, '')[:60]}")
        return "\n".join(rows)

    def __enter__(self) -> Supervisor:
        self.start_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def run_demo(servers: Iterable[Server], out: TextIO = sys.stdout) -> int:
    """Start, print the table, wait for SIGINT/SIGTERM, stop. Returns the exit code."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Supervisor(servers) as sup:
        print(sup.table(), file=out, flush=True)
        if not sup.children:
            return 0 if not sup.servers else 1
        print("\nAll up. Ctrl-C stops everything.", file=out, flush=True)
        stop.wait()
        print("stopping...", file=out, flush=True)
    print("all stopped", file=out, flush=True)
    return 0


def main() -> None:
    p = argparse.ArgumentParser(prog="make demo", description=__doc__)
    p.add_argument("names", nargs="*", help="only these servers (default: all)")
    p.add_argument("--any-port", action="store_true", help="start every server on port 0")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(message)s")
    unknown = [n for n in args.names if n not in SERVERS]
    if unknown:
        p.error(f"no such server: {', '.join(unknown)} (known: {', '.join(SERVERS)})")
    chosen = [SERVERS[n] for n in args.names] if args.names else list(SERVERS.values())
    if args.any_port:
        chosen = [dataclasses.replace(s, port=0) for s in chosen]
    sys.exit(run_demo(chosen))


if __name__ == "__main__":
    main()
