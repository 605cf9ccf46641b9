"""``python -m servers.http``: flags into a ShellConfig, then ``app.serve`` until a signal."""

from pathlib import Path

from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from ..report import results_dir
from .app import PUBLIC, serve


def main() -> None:
    p = server_parser("http", "demo HTTP server (try: curl -s http://127.0.0.1:8080/hello)", keeps_data=False)
    p.add_argument("--static", type=Path, default=PUBLIC, help="directory served at /static/")
    p.add_argument("--lab", type=Path, default=results_dir(),
                   help="directory served at /lab/: the lab index of make report (default bench/results/)")  # fmt: skip
    p.add_argument("--no-access-log", action="store_true", help="skip the access log (benchmarks)")
    p.add_argument("--idle-timeout", type=float, default=60.0, help="keep-alive idle seconds")
    args = parse(p)

    async def go() -> None:
        cfg = ShellConfig(host=args.host, port=args.port, idle_timeout=args.idle_timeout)
        server = await serve(cfg, args.static, access_log=not args.no_access_log, lab_dir=args.lab)
        await serve_until_signalled(server)

    run(go)


if __name__ == "__main__":
    main()
