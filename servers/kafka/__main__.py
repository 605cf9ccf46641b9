"""``python -m servers.kafka``: a single-node Kafka-protocol broker."""

from __future__ import annotations

import sys
from dataclasses import replace

from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .broker import BrokerConfig
from .log import LogConfig
from .server import serve


def main() -> None:
    p = server_parser("kafka", "Kafka-protocol broker (try: kcat -b 127.0.0.1:9093 -L)")
    p.add_argument("--partitions", type=int, default=1, help="partitions of auto-created topics")
    p.add_argument("--no-auto-create", action="store_true", help="refuse unknown topics")
    p.add_argument("--segment-bytes", type=int, default=LogConfig.segment_bytes)
    p.add_argument("--retention-bytes", type=int, default=-1, help="per partition; -1: none")
    p.add_argument("--retention-ms", type=int, default=LogConfig.retention_ms)
    p.add_argument("--rebalance-delay", type=float, default=0.3,
                   help="seconds a new group waits for more members before its first generation")
    args = parse(p)
    if args.partitions < 1 or args.segment_bytes < 1024:
        print("kafka: --partitions must be >= 1 and --segment-bytes >= 1024", file=sys.stderr)
        sys.exit(2)
    cfg = BrokerConfig(
        data_dir=args.dir,
        log=replace(LogConfig(), segment_bytes=args.segment_bytes,
                    retention_bytes=args.retention_bytes, retention_ms=args.retention_ms),
        auto_create_topics=not args.no_auto_create,
        default_partitions=args.partitions,
        initial_rebalance_delay=args.rebalance_delay,
    )  # fmt: skip

    async def go() -> None:
        server, broker = await serve(ShellConfig(host=args.host, port=args.port), cfg)
        await serve_until_signalled(server, on_stop=_closer(broker))

    try:
        run(go)
    except OSError as e:  # port taken, data directory unwritable: one line, not a traceback
        print(f"kafka: {e}", file=sys.stderr)
        sys.exit(1)


def _closer(broker):  # type: ignore[no-untyped-def]
    async def close() -> None:
        broker.close()

    return close


if __name__ == "__main__":
    main()
