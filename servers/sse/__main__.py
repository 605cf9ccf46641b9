"""``python -m servers.sse [--port 8095] [--redis URL]``: server-sent events (N2, N3, N4)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from netlib.http import serve
from netlib.shell import ShellConfig, run, serve_until_signalled
from netlib.sse import comment
from servers.catalog import REPO_ROOT
from servers.cli import parse, server_parser

from .app import DEFAULT_RETRY_MS, build_app
from .hub import DEFAULT_BUFFER, DEFAULT_QUEUE, Hub

WEB_DIST = REPO_ROOT / "web" / "sse" / "dist"  # built by `make setup` (npm run build)
HEARTBEAT = 15.0  # seconds between comment heartbeats (proxies often cut after 30-60 s idle)


def main(argv: list[str] | None = None) -> int:
    p = server_parser("sse", "server-sent events: /events, POST /publish, replay by Last-Event-ID "
                      "(N2); --redis fans out through a real redis-server (N3); the React page at / (N4)")  # fmt: skip
    p.add_argument("--redis", metavar="URL", help="redis://HOST:PORT[/DB]: number and fan out through Redis")
    p.add_argument("--channel", default="syslab:sse", help="Redis channel (and key prefix)")
    p.add_argument("--buffer", type=int, default=DEFAULT_BUFFER, help="events kept for replay")
    p.add_argument("--queue", type=int, default=DEFAULT_QUEUE, help="events a client may lag before it is dropped")
    p.add_argument("--heartbeat", type=float, default=HEARTBEAT, help="seconds between heartbeat comments")
    p.add_argument("--retry", type=int, default=DEFAULT_RETRY_MS, help="reconnection delay told to clients (ms)")
    p.add_argument("--max-connections", type=int, default=20_000)
    p.add_argument("--web", default=str(WEB_DIST), help="built web page to serve at / (default web/sse/dist)")
    p.add_argument("--no-access-log", action="store_true")
    args = parse(p, argv)
    if args.buffer < 1 or args.queue < 1 or args.heartbeat <= 0:
        print("sse: --buffer, --queue and --heartbeat must be positive", file=sys.stderr)
        return 2
    hub = Hub(args.buffer, args.queue)
    state = None
    if not args.redis:  # parse() made --dir and checked it is writable
        state = args.dir / "ring.json"
        hub.load(state)  # ids go on from the last graceful stop

    async def go() -> None:
        broker = None
        publish = None
        if args.redis:
            from .broker import RedisBroker

            broker = RedisBroker(args.redis, args.channel, hub, args.buffer)
            await broker.start()
            publish = broker.publish
        app = build_app(hub, publish, args.retry, Path(args.web), access_log=not args.no_access_log)
        server = await serve(app, ShellConfig(host=args.host, port=args.port,
                                              max_connections=args.max_connections))  # fmt: skip
        if broker is not None:
            server.background(broker.listen(), "redis-listener")

        async def beat() -> None:
            while True:
                await asyncio.sleep(args.heartbeat)
                hub.heartbeat()

        async def on_stopping() -> None:
            await server.stopping_event.wait()
            hub.close_all(comment("server stopping: reconnect with Last-Event-ID"))

        server.background(beat(), "heartbeat")
        server.background(on_stopping(), "close-streams")

        async def stop() -> None:
            if broker is not None:
                await broker.close()
            if state is not None:
                hub.save(state)

        await serve_until_signalled(server, stop)

    try:
        run(go)
    except (OSError, ValueError) as e:
        print(f"sse: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
