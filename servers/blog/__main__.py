import logging
from concurrent.futures import ThreadPoolExecutor

from clients.mysql import MySQLError
from clients.pool import PoolError
from harness.procs import LaunchError
from harness.services import MariaDB
from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .app import serve
from .shards import ID_SCHEMES, ShardSet

log = logging.getLogger("servers.blog")
MAX_SHARDS = 16  # each private shard is a mariadbd (~150 MB): more would not fit a laptop


def main() -> None:
    p = server_parser("blog", "a blogging app sharded by user id (D9)")
    p.add_argument("--ids", choices=ID_SCHEMES, default="snowflake",
                   help="blog ids: snowflake (unique everywhere) or autoinc (per shard: collides)")  # fmt: skip
    p.add_argument("--shard-url", action="append", default=[],
                   help="mysql://user:pass@host:port/db of a shard (repeat; default: start private ones)")  # fmt: skip
    p.add_argument("--shards", type=int, default=3, help="private shards to start (default 3)")
    p.add_argument(
        "--worker", type=int, default=1, help="Snowflake worker id of this server (0..1023)"
    )
    args = parse(p)
    if not 1 <= args.shards <= MAX_SHARDS:
        p.error(f"--shards must be 1..{MAX_SHARDS}")
    if not 0 <= args.worker <= 1023:
        p.error("--worker must be 0..1023")
    private: list[MariaDB] = []
    addrs = list(args.shard_url)
    try:
        if not addrs:
            private = [MariaDB(args.dir / f"shard{i}") for i in range(args.shards)]
            # In parallel (each takes ~2 s); pool.map re-raises the first failure.
            with ThreadPoolExecutor(len(private)) as pool:
                list(pool.map(lambda m: m.start(), private))
            addrs = [m.address for m in private]
            log.info("private shards on ports %s", ", ".join(str(m.port) for m in private))

        async def go() -> None:
            shards = ShardSet.from_addresses(addrs, args.ids, args.worker)
            server = await serve(shards, ShellConfig(host=args.host, port=args.port))
            await serve_until_signalled(server, shards.close)

        run(go)
    except (MySQLError, PoolError, LaunchError, OSError) as e:
        p.exit(1, f"blog: cannot use the shards: {e}\n")
    finally:
        for m in private:
            m.stop()


if __name__ == "__main__":
    main()
