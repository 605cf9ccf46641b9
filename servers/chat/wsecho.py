"""A plain WebSocket echo (text and binary; fragmented messages come back whole)
at ``/ws/echo``, for conformance tools (the Autobahn testsuite through ``kosoku``)
and browsers. The chat app mounts it with ``mount(app)``; alone it runs as
``python -m servers.chat.wsecho --port P`` (also answering at ``/``, where
conformance tools connect by default).

Limits: the Autobahn cases send messages up to 16 MiB, so the echo takes up to
``MAX_MESSAGE`` (a chat message route keeps netlib.websocket's 1 MiB default).
"""

from __future__ import annotations

import sys

from netlib.http import App, serve
from netlib.shell import ShellConfig, run, serve_until_signalled
from netlib.websocket import Options, WebSocket, websocket
from servers.cli import parse, server_parser

MAX_MESSAGE = 20 * 1024 * 1024  # the suite's largest (16 MiB) plus room
OPTIONS = Options(max_frame=MAX_MESSAGE, max_message=MAX_MESSAGE, max_queue=16)


async def echo(ws: WebSocket) -> None:
    """Every message back as it came (its type kept), until the peer closes."""
    async for msg in ws:
        await ws.send(msg)


def mount(app: App, path: str = "/ws/echo", options: Options = OPTIONS) -> None:
    """Serve the echo at ``path`` on ``app``."""
    app.get(path)(websocket(echo, options=options))


def build_app(access_log: bool = True) -> App:
    app = App(access_log=access_log)
    mount(app, "/ws/echo")
    mount(app, "/")
    return app


def main(argv: list[str] | None = None) -> int:
    p = server_parser("chat.wsecho", "a plain WebSocket echo at /ws/echo (and /) for "
                      "conformance tests", default_port=0, keeps_data=False)  # fmt: skip
    p.add_argument("--no-access-log", action="store_true")
    args = parse(p, argv)

    async def go() -> None:
        server = await serve(build_app(not args.no_access_log),
                             ShellConfig(host=args.host, port=args.port))  # fmt: skip
        await serve_until_signalled(server)

    try:
        run(go)
    except OSError as e:
        print(f"wsecho: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
