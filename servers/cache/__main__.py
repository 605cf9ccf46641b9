"""``python -m servers.cache``: parse flags, serve until SIGINT/SIGTERM."""

from pathlib import Path

from netlib.shell import run, serve_until_signalled
from servers.cli import byte_size, int_in, parse, server_parser

from .acl import AclError
from .eviction import POLICIES
from .persist import POLICIES as POLICIES_FSYNC
from .saving import CorruptFile
from .server import CacheSettings, State, serve, shell_config


def main() -> None:
    p = server_parser(
        "cache", "Redis-compatible in-memory cache (try: redis-cli -p 6380)", keeps_data=False
    )
    p.add_argument(
        "--maxmemory", type=byte_size, default=0, help="memory limit, e.g. 100mb (0 = none)"
    )
    p.add_argument("--maxmemory-policy", default="noeviction", choices=POLICIES)
    p.add_argument("--maxmemory-samples", type=int_in(1, 64), default=5)
    p.add_argument("--hz", type=int_in(1, 500), default=10, help="cron frequency (active expiry)")
    p.add_argument("--databases", type=int_in(1, 10_000), default=16)
    p.add_argument(
        "--timeout", type=float, default=0, help="close clients idle this long (0 = never)"
    )
    p.add_argument(
        "--dir", type=Path, default=None,
        help="where the AOF and snapshots live (none: memory only, SAVE refused)",
    )  # fmt: skip
    p.add_argument("--appendonly", choices=("yes", "no"), default="no", help="log every write")
    p.add_argument("--appendfsync", choices=POLICIES_FSYNC, default="everysec")
    p.add_argument("--appenddirname", default="appendonlydir")
    p.add_argument("--dbfilename", default="dump.sdb", help="the snapshot SAVE/BGSAVE write")
    p.add_argument("--requirepass", default="", help="the default user's password (AUTH)")
    p.add_argument("--aclfile", default="", help="ACL users file loaded at start (ACL LOAD/SAVE)")
    args = parse(p)
    settings = CacheSettings(
        databases=args.databases,
        hz=args.hz,
        maxmemory=args.maxmemory,
        maxmemory_policy=args.maxmemory_policy,
        maxmemory_samples=args.maxmemory_samples,
        requirepass=args.requirepass,
        aclfile=args.aclfile,
        dir=str(args.dir) if args.dir else "",
        appendonly=args.appendonly == "yes",
        appendfsync=args.appendfsync,
        appenddirname=args.appenddirname,
        dbfilename=args.dbfilename,
    )
    if settings.appendonly and not settings.dir:
        p.error("--appendonly yes needs --dir")

    try:
        state = State(settings)
    except AclError as e:
        p.error(f"cannot load the ACL file {args.aclfile}: {e}")
    except CorruptFile as e:
        p.error(f"cannot load the saved data in {args.dir}: {e}")
    except OSError as e:
        p.error(f"cannot start: {e}")

    async def go() -> None:
        config = shell_config(args.host, args.port, args.timeout)
        server, _ = await serve(config, state)

        async def close_files() -> None:
            if state.persistence is not None:
                state.persistence.close()  # the AOF flushed and fsynced

        await serve_until_signalled(server, close_files)

    run(go)


if __name__ == "__main__":
    main()
