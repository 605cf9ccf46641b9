"""``make load-NAME``: a bounded, headless locust run against one server.

Starts ``python -m servers.NAME`` on a free port, runs ``bench/locust/NAME.py``
with a fixed number of users for a fixed time (both bounded, loopback only),
prints locust's summary and stops the server.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from harness.procs import python_module

from .common import REPO_ROOT


def main() -> None:
    p = argparse.ArgumentParser(prog="make load-NAME", description=__doc__)
    p.add_argument("name", help="server name (servers/NAME, bench/locust/NAME.py)")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--seconds", type=int, default=15, help="run time, at most 300")
    args = p.parse_args()
    locustfile = REPO_ROOT / "bench" / "locust" / f"{args.name}.py"
    if not locustfile.exists():
        sys.exit(f"no locustfile for {args.name}: expected {locustfile}")
    seconds = min(args.seconds, 300)
    with python_module(f"servers.{args.name}", port=0) as child:
        port = child.port
        cmd = [
            sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
            "-u", str(args.users), "-r", str(args.users), "-t", f"{seconds}s",
            "--host", f"http://127.0.0.1:{port}", "--only-summary", "--stop-timeout", "5",
        ]  # fmt: skip
        sys.exit(subprocess.run(cmd, cwd=REPO_ROOT).returncode)


if __name__ == "__main__":
    main()
