import logging
import sys
from contextlib import ExitStack

from clients.address import address_from_url
from clients.mysql import Connection
from harness.services import MariaDB
from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .app import Service, serve
from .decisions import DecisionLog
from .flow import PARTICIPANTS, create_schema, seed
from .twopc import Coordinator

log = logging.getLogger("servers.orders")


def main() -> int:
    p = server_parser("orders", "food ordering, all-or-nothing across three MariaDBs by 2PC (D8)")
    for name in PARTICIPANTS:
        p.add_argument(f"--{name}-url", metavar="URL",
                       help=f"mysql://user:pass@host:port/db of the {name} database")  # fmt: skip
    p.add_argument("--stock", type=int, default=50, help="portions per menu item when seeding (50)")
    p.add_argument("--agents", type=int, default=5, help="delivery agents when seeding (5)")
    p.add_argument("--reset", action="store_true", help="empty the databases and seed them again")
    args = parse(p)
    given = [getattr(args, f"{n}_url") for n in PARTICIPANTS]
    if any(given) and not all(given):
        p.error("give all three --store-url, --delivery-url, --orders-url, or none")
    if args.stock < 0 or args.agents < 0:
        p.error("--stock and --agents cannot be negative")
    with ExitStack() as stack:
        if all(given):
            addrs = {n: address_from_url(u, 3306) for n, u in zip(PARTICIPANTS, given, strict=True)}
        else:
            # Private instances under --dir, children of this process: they stop with it.
            addrs = {n: stack.enter_context(MariaDB(args.dir / f"mysql-{n}")).address
                     for n in PARTICIPANTS}  # fmt: skip
        conns = {n: stack.enter_context(Connection.from_address(a)) for n, a in addrs.items()}
        create_schema(conns)
        if args.reset or not conns["store"].query("SELECT COUNT(*) FROM items").scalar():
            seed(conns, args.stock, args.agents)
        coordinator = Coordinator(DecisionLog(args.dir / "decisions"), addrs)
        log.info("recovery at start: %s", coordinator.recover())
        svc = Service(coordinator)

        async def go() -> None:
            import asyncio

            server = await serve(svc, ShellConfig(host=args.host, port=args.port))
            resolver = asyncio.create_task(svc.recover_forever())

            async def stop() -> None:
                resolver.cancel()

            await serve_until_signalled(server, stop)

        try:
            run(go)
        finally:
            svc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
