"""Routes of the demo server and ``serve``.

``GET /echo`` with ``Connection: Upgrade`` and ``Upgrade: echo`` switches the
connection to the echo protocol (101, then every byte comes back): the shell's
hand-over, pokeable with ``nc``.
"""

from __future__ import annotations

from pathlib import Path

from netlib.http import App, HTTPError, Request, Response, Upgrade
from netlib.http import serve as serve_app
from netlib.shell import Server, ShellConfig
from servers.echo.server import echo as echo_protocol

PUBLIC = Path(__file__).resolve().parent / "public"
_HELLO = Response(b"Hello, world!\n")


def build(static_dir: Path = PUBLIC, access_log: bool = True, lab_dir: Path | None = None) -> App:
    app = App(access_log=access_log)

    @app.get("/hello")
    def hello(req: Request) -> Response:
        return _HELLO  # immutable and shared: the benchmark route does no work

    @app.post("/echo")
    def echo(req: Request) -> object:
        data = req.json()
        if not isinstance(data, dict | list):
            raise HTTPError(422, "send a JSON object or array")
        return data

    @app.get("/echo")
    def switch_to_echo(req: Request) -> Upgrade:
        return Upgrade("echo", echo_protocol)

    @app.get("/")
    def index(req: Request) -> Response:
        return Response(b"", 302, {"location": "/static/"})

    app.static("/static", str(static_dir))
    if lab_dir is not None and lab_dir.is_dir():
        app.static("/lab", str(lab_dir))  # the lab index (make report) and its results
    return app


async def serve(
    config: ShellConfig, static_dir: Path = PUBLIC, access_log: bool = True, lab_dir: Path | None = None
) -> Server:
    """Start the demo server; returns once listening."""
    return await serve_app(build(static_dir, access_log, lab_dir), config)
