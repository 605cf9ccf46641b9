"""``python -m servers.cache [redis.conf] [--flags]``: parse the file and flags, serve until
SHUTDOWN or SIGINT/SIGTERM (which save first, as Redis: ``shutdown.py``). A config file
(``conf``) gives the flags their defaults, so a flag on the command line overrides the
file, as with redis-server."""

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from netlib.shell import run, serve_until_signalled
from servers.cli import byte_size, int_in, parse, server_parser

from . import conf, shutdown
from .acl import AclError
from .commands import acl as acl_commands
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
    p.add_argument(
        "--aclfile",
        default="",
        help="ACL users file loaded at start (ACL LOAD/SAVE); relative: in --dir, as redis-server",
    )
    p.add_argument("--maxclients", type=int_in(1, 1_000_000), default=10_000,
                   help="connections served at once; past it -ERR max number of clients reached")  # fmt: skip
    p.add_argument(
        "--log-file", default=None, help="log here ('' : standard output; default stderr)"
    )
    p.add_argument(
        "config", nargs="?", type=Path, help="a redis.conf file (see servers/cache/conf.py)"
    )
    directives, ignored = _read_config(p, sys.argv[1:])
    args = parse(p)
    for name in ignored:
        logging.getLogger("servers.cache").warning(
            "%s: %s ignored (no effect here)", args.config, name
        )
    settings = CacheSettings(
        databases=args.databases,
        hz=args.hz,
        maxmemory=args.maxmemory,
        maxmemory_policy=args.maxmemory_policy,
        maxmemory_samples=args.maxmemory_samples,
        requirepass=args.requirepass,
        aclfile="",  # loaded once the config file's settings (acl-pubsub-default) are in
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
        conf.apply_settings(state, directives, str(args.config))
        if args.aclfile:  # after the file's settings, as redis-server loads it
            state.aclfile = str(args.dir / args.aclfile) if args.dir else args.aclfile
            acl_commands.load_aclfile(state, state.aclfile)
            if args.requirepass:  # the password still applies to the file's default user
                acl_commands.set_requirepass(state, args.requirepass)
    except conf.ConfError as e:
        _config_error(p, e)
    except AclError as e:
        p.error(f"cannot load the ACL file {args.aclfile}: {e}")
    except CorruptFile as e:
        p.error(f"cannot load the saved data in {args.dir}: {e}")
    except OSError as e:
        p.error(f"cannot start: {e}")

    async def go() -> None:
        config = shell_config(args.host, args.port, args.timeout, args.maxclients)
        server, _ = await serve(config, state)
        # redis-server's words, which scripts (Redis's own test suite) wait for: the
        # "Ready to accept" and, once listening only, the " PID: <pid>" of its logo
        log = logging.getLogger("servers.cache")
        log.info("Ready to accept connections, PID: %d", os.getpid())

        async def close_files() -> None:
            if state.persistence is not None:
                state.persistence.close()  # the AOF flushed and fsynced

        def signalled(signum: int) -> bool:  # SIGTERM saves as SHUTDOWN (shutdown.py)
            return shutdown.on_signal(state, signum)

        await serve_until_signalled(server, close_files, on_signal=signalled)

    run(go)


def _read_config(
    p: argparse.ArgumentParser, argv: list[str]
) -> tuple[list[conf.Directive], list[str]]:
    """The config file named on the command line, if any: its directives, and its flag
    directives made the flags' defaults (so the command line still wins)."""
    known, _ = p.parse_known_args(argv)
    if known.config is None:
        return [], []
    try:
        directives = conf.read(known.config)
        texts, ignored = conf.flag_defaults(directives, str(known.config))
    except OSError as e:
        p.exit(1, f"{p.prog}: error: cannot read {known.config}: {e.strerror or e}\n")
    except conf.ConfError as e:
        _config_error(p, e)
    defaults: dict[str, Any] = dict(texts)
    for action in p._actions:  # a file's value goes through the flag's own checks
        if action.dest not in defaults:
            continue
        line = next(
            d for d in reversed(directives) if conf.FLAGS.get(d.name, ("",))[0] == action.dest
        )
        where = line.where(str(known.config))
        if action.choices is not None and defaults[action.dest] not in action.choices:
            _config_error(p, conf.ConfError(f"{where}: must be one of {', '.join(action.choices)}"))
        if callable(action.type):
            try:
                defaults[action.dest] = action.type(defaults[action.dest])
            except (argparse.ArgumentTypeError, ValueError) as e:
                _config_error(p, conf.ConfError(f"{where}: {e}"))
    p.set_defaults(**defaults)
    return directives, ignored


def _config_error(p: argparse.ArgumentParser, e: Exception) -> NoReturn:
    p.exit(1, f"{p.prog}: error: bad config file: {e}\n")


if __name__ == "__main__":
    main()
