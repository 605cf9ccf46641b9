from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .server import serve


def main() -> None:
    args = parse(server_parser("echo", "TCP echo server (try: nc 127.0.0.1 7007)", keeps_data=False))

    async def go() -> None:
        server = await serve(ShellConfig(host=args.host, port=args.port))
        await serve_until_signalled(server)

    run(go)


if __name__ == "__main__":
    main()
