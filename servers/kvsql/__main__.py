"""``python -m servers.kvsql [--mysql URL ...] [--routing hash|range] [--boundaries g,p]``."""

from __future__ import annotations

import sys
from contextlib import ExitStack

from clients.address import address_from_url
from harness.services import private_mariadbs
from netlib.shell import run, serve_until_signalled
from servers.cli import parse, server_parser
from servers.respkit import shell_config

from .engine import KVSql, Routing
from .server import serve

DEFAULT_SHARDS = 3


def main() -> int:
    p = server_parser("kvsql", "a key-value store on MySQL over RESP (D7; try: redis-cli -p 6384)")
    p.add_argument("--mysql", action="append", metavar="URL",
                   help="mysql://user:pass@host:port/db of a shard (repeat; default: 3 private MariaDB)")  # fmt: skip
    p.add_argument("--routing", choices=("hash", "range"), default="hash",
                   help="hash: a consistent-hash ring; range: --boundaries split the key space (hash)")  # fmt: skip
    p.add_argument("--boundaries", default="",
                   help="range routing: comma-separated keys, one fewer than shards (default: g,p for 3)")  # fmt: skip
    p.add_argument("--clean-every", type=float, default=1.0, metavar="SECONDS",
                   help="how often the cleaner deletes expired and soft-deleted rows (1.0; 0 = never)")  # fmt: skip
    p.add_argument("--pool-size", type=int, default=8, help="connections per shard (8)")
    args = parse(p)
    if args.clean_every < 0 or not 1 <= args.pool_size <= 256:
        p.error("--clean-every is >= 0 and --pool-size 1..256")
    count = len(args.mysql) if args.mysql else DEFAULT_SHARDS
    names = tuple(f"shard{i}" for i in range(count))
    try:
        boundaries = [b.encode() for b in args.boundaries.split(",") if b] or (
            [b"g", b"p"] if count == 3 else [])  # fmt: skip
        routing = Routing(args.routing, names, tuple(boundaries) if args.routing == "range" else ())
    except ValueError as e:
        p.error(str(e))
    with ExitStack() as stack:
        if args.mysql:
            addrs = [address_from_url(u, 3306) for u in args.mysql]
        else:
            addrs = private_mariadbs(stack, args.dir, count, "kvsql")

        async def go() -> None:
            try:
                db = KVSql(dict(zip(names, addrs, strict=True)), routing, pool_size=args.pool_size)
            except Exception as e:  # noqa: BLE001 - a shard that cannot be reached: one line, exit 1
                raise SystemExit(f"kvsql: cannot open the shards: {e}") from None
            if args.clean_every:
                db.start_cleaner(args.clean_every)
            server = await serve(shell_config(args.host, args.port), db)

            async def close_db() -> None:
                db.close()

            await serve_until_signalled(server, close_db)

        run(go)
    return 0


if __name__ == "__main__":
    sys.exit(main())
