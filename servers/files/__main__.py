"""``python -m servers.files [--port 8094] [--tcp-port 9094] [--dir PATH]``: the upload server (N1)."""

from __future__ import annotations

import sys

from netlib.http import serve
from netlib.shell import ShellConfig, run, serve_until_signalled, start
from servers.cli import parse, server_parser

from .app import DEFAULT_MAX_SIZE, build_app
from .store import Store
from .tcp import TCPSession

TCP_PORT = 9094  # the raw TCP mode's default port (servers.catalog lists the HTTP one)


def main(argv: list[str] | None = None) -> int:
    p = server_parser("files", "uploads of any size over HTTP PUT/POST and raw TCP, "
                      "streamed to disk with SHA-256, renamed into place only when whole (N1)")  # fmt: skip
    p.add_argument("--tcp-port", type=int, default=TCP_PORT,
                   help=f"port of the raw TCP mode (default {TCP_PORT}; 0 = any free, -1 = off)")  # fmt: skip
    p.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE,
                   help=f"largest upload in bytes (default {DEFAULT_MAX_SIZE})")  # fmt: skip
    p.add_argument("--no-fsync", action="store_true",
                   help="rename without fsync first (faster, not crash-safe; benchmarks compare with nc)")  # fmt: skip
    p.add_argument("--no-access-log", action="store_true", help="no line per HTTP request")
    args = parse(p, argv)
    try:
        store = Store(args.dir, fsync=not args.no_fsync)
    except OSError as e:
        print(f"files: cannot use --dir {args.dir}: {e}", file=sys.stderr)
        return 1
    app = build_app(store, args.max_size, access_log=not args.no_access_log)

    async def go() -> None:
        http = await serve(app, ShellConfig(host=args.host, port=args.port))
        tcp = None
        if args.tcp_port >= 0:
            try:
                tcp = await start(config=ShellConfig(host=args.host, port=args.tcp_port),
                                  session_factory=lambda c: TCPSession(c, store, args.max_size))  # fmt: skip
            except BaseException:
                await http.shutdown(grace=0)
                raise

        async def stop_tcp() -> None:
            if tcp is not None:
                await tcp.shutdown()

        await serve_until_signalled(http, stop_tcp)

    run(go)  # a port that cannot be bound (either one) is one line and exit 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
