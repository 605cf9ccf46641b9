"""``python -m servers.ec2 [--port 8096] [--delay 5]``: the mock EC2 of exercise N5."""

from __future__ import annotations

import sys

from netlib.http import serve
from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .app import build_app
from .fleet import Fleet


def main(argv: list[str] | None = None) -> int:
    p = server_parser("ec2", "a mock EC2: instances go pending -> running after a delay; "
                      "short polling and long polling (?wait=S&state=KNOWN) (N5)")  # fmt: skip
    p.add_argument("--delay", type=float, default=5.0, help="default boot time in seconds (default 5)")
    p.add_argument("--max-connections", type=int, default=20_000)
    p.add_argument("--no-access-log", action="store_true")
    args = parse(p, argv)
    if not 0 <= args.delay <= 3600:
        print("ec2: --delay must be 0..3600 seconds", file=sys.stderr)
        return 2
    fleet = Fleet()
    app = build_app(fleet, args.delay, access_log=not args.no_access_log)

    async def go() -> None:
        cfg = ShellConfig(host=args.host, port=args.port, max_connections=args.max_connections)
        server = await serve(app, cfg)

        async def stop() -> None:
            fleet.close()

        await serve_until_signalled(server, stop)

    try:
        run(go)
    except OSError as e:
        print(f"ec2: cannot listen: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
