"""``python -m servers.chat [--port 8098] [--redis URL] [--kafka HOST:PORT]``: the chat (N15-N17)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from netlib.http import serve
from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import open_engine, parse, server_parser

from .app import build
from .store import History


def sync_policy(text: str) -> str | int:
    if text in ("always", "never"):
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError("always, never, or a number of milliseconds")


def main(argv: list[str] | None = None) -> int:
    p = server_parser("chat", "a Slack-like chat on Socket.IO: channels, history, presence, typing "
                      "(N15); --redis joins the star of chat processes (N17); --kafka produces "
                      "every disconnect as an event (N16); the page at /")  # fmt: skip
    p.add_argument("--redis", metavar="URL", help="redis://HOST:PORT[/DB]: share messages and presence")
    p.add_argument("--presence-ttl", type=float, default=10.0, metavar="SECONDS",
                   help="with --redis: a crashed process's users go offline this long (plus a "
                        "heartbeat of a third of it) after its last heartbeat")  # fmt: skip
    p.add_argument("--kafka", metavar="HOST:PORT", help="Kafka-protocol broker for disconnect events")
    p.add_argument("--topic", default="chat.disconnects", help="topic of the disconnect events")
    p.add_argument("--ping-interval", type=float, default=25.0, help="seconds between server pings")
    p.add_argument("--ping-timeout", type=float, default=20.0, help="seconds a pong may take")
    p.add_argument("--recovery", type=float, default=120.0,
                   help="seconds a dropped connection's state is kept for recovery (0: off)")  # fmt: skip
    p.add_argument("--sync", default="always", type=sync_policy,
                   help="history fsync: always (a message is on disk before its ack), never, "
                        "or every N ms")  # fmt: skip
    p.add_argument("--max-connections", type=int, default=20_000)
    p.add_argument("--no-access-log", action="store_true")
    args = parse(p, argv)
    if not 0.1 <= args.presence_ttl <= 3600:
        print("chat: --presence-ttl must be 0.1..3600 seconds", file=sys.stderr)
        return 2
    if args.ping_interval <= 0 or args.ping_timeout <= 0 or args.recovery < 0:
        print("chat: --ping-interval and --ping-timeout must be positive, --recovery >= 0", file=sys.stderr)
        return 2
    if args.redis:
        from .star import parse_url

        try:
            parse_url(args.redis)
        except ValueError as e:
            print(f"chat: --redis: {e}", file=sys.stderr)
            return 2
    if args.kafka and (":" not in args.kafka or not args.kafka.rpartition(":")[2].isdigit()):
        print(f"chat: --kafka: expected HOST:PORT, got {args.kafka!r}", file=sys.stderr)
        return 2
    history = open_engine(lambda: History.open(args.dir / "history", args.sync), args.dir / "history")

    async def go() -> None:
        disconnects = None
        if args.kafka:
            from .disconnects import DisconnectLog

            disconnects = DisconnectLog(args.kafka, args.topic)
        app, chat = build(history, recovery=args.recovery or None, ping_interval=args.ping_interval,
                          ping_timeout=args.ping_timeout, disconnects=disconnects,
                          access_log=not args.no_access_log)  # fmt: skip
        star = None
        if args.redis:
            from .star import RedisBus

            star = RedisBus(args.redis, chat, presence_ttl=args.presence_ttl)
            await star.start()
            chat.bus = star
        server = await serve(app, ShellConfig(host=args.host, port=args.port,
                                              max_connections=args.max_connections))  # fmt: skip
        if star is not None:
            server.background(star.listen(), "redis-listener")
            server.background(star.heartbeat(), "presence-heartbeat")

        async def on_stopping() -> None:
            await server.stopping_event.wait()
            chat.sio.shutdown()  # every session told, each end recorded as "server shutdown"

        server.background(on_stopping(), "close-sessions")

        async def stop() -> None:
            if star is not None:
                await star.close()
            if disconnects is not None:
                await asyncio.to_thread(disconnects.close)
            history.close()

        await serve_until_signalled(server, stop)

    try:
        run(go)
    except (OSError, ValueError) as e:
        print(f"chat: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
