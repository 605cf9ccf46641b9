import logging

from harness.replication import ReplicatedPair
from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .app import Databases, serve

log = logging.getLogger("servers.profile")


def main() -> None:
    p = server_parser("profile", "users API on a primary + replica (D4): consistent reads by flag")
    p.add_argument("--primary-url", help="mysql://user:pass@host:port/db of the primary")
    p.add_argument("--replica-url", help="mysql://user:pass@host:port/db of its replica")
    p.add_argument("--pool-size", type=int, default=8, help="connections per server (default 8)")
    args = parse(p)
    if bool(args.primary_url) != bool(args.replica_url):
        p.error("give both --primary-url and --replica-url, or neither (then they are started)")
    pair = None
    primary, replica = args.primary_url, args.replica_url
    if not primary:
        # Started here, in the main thread, before the event loop: the servers are
        # children of this process and stop with it.
        pair = ReplicatedPair(args.dir / "mysql").start()
        primary, replica = pair.primary.address, pair.replica.address
        log.info("private primary 127.0.0.1:%d, replica 127.0.0.1:%d", pair.primary.port,
                 pair.replica.port)  # fmt: skip

    async def go() -> None:
        db = Databases.from_urls(primary, replica, args.pool_size)
        server = await serve(db, ShellConfig(host=args.host, port=args.port))
        await serve_until_signalled(server, db.close)

    try:
        run(go)
    finally:
        if pair is not None:
            pair.stop()


if __name__ == "__main__":
    main()
