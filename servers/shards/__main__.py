import logging
import sys
from contextlib import ExitStack

from clients.address import address_from_url
from harness.services import private_mariadbs
from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .app import Router, serve
from .directory import MODES

log = logging.getLogger("servers.shards")
DEFAULT_SHARDS = 4


def main() -> int:
    p = server_parser("shards", "users and posts sharded over MariaDB instances, with live moves (D3)")
    p.add_argument("--shard-url", action="append", metavar="URL",
                   help="mysql://user:pass@host:port/db of a shard (repeat; default: 4 private ones)")  # fmt: skip
    p.add_argument("--mode", choices=MODES, default="range", help="range or hash slots (range)")
    p.add_argument("--slots", type=int, default=16, help="slots in the map (16)")
    p.add_argument("--width", type=int, default=1000, help="user ids per range slot (1000)")
    args = parse(p)
    if not 1 <= args.slots <= 4096 or args.width < 1:
        p.error("--slots is 1..4096 and --width at least 1")
    with ExitStack() as stack:
        if args.shard_url:
            addrs = [address_from_url(u, 3306) for u in args.shard_url]
        else:
            addrs = private_mariadbs(stack, args.dir, DEFAULT_SHARDS, "shards")
        shards = {f"shard{i}": a for i, a in enumerate(addrs)}

        async def go() -> None:
            # The directory lives beside shard0 (its own tables in the same database).
            router = await Router(shards, addrs[0]).open(args.mode, args.slots, args.width)
            server = await serve(router, ShellConfig(host=args.host, port=args.port))
            await serve_until_signalled(server, router.close)

        run(go)
    return 0


if __name__ == "__main__":
    sys.exit(main())
