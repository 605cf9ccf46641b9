"""``python -m servers.bitcask [--sync always|never|MS] [--max-file-size BYTES]``."""

from __future__ import annotations

import argparse

from servers.cli import open_engine, parse, server_parser
from servers.respkit.server import run_engine
from storage.bitcask import DEFAULT_MAX_FILE_SIZE, Bitcask, SyncPolicy

from .server import serve


def sync_policy(text: str) -> SyncPolicy:
    if text in ("always", "never"):
        return text  # type: ignore[return-value]
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError("use always, never or a positive number of ms")


def main() -> None:
    p = server_parser("bitcask", "Bitcask over RESP (try: redis-cli -p 6381)")
    p.add_argument(
        "--sync", type=sync_policy, default=1000,
        help="fsync policy: always (before each reply), never, or every N ms (default 1000, "
        "like Redis's appendfsync everysec)",
    )  # fmt: skip
    p.add_argument("--max-file-size", type=int, default=DEFAULT_MAX_FILE_SIZE)
    args = parse(p)

    db = open_engine(
        lambda: Bitcask.open(args.dir, max_file_size=args.max_file_size, sync=args.sync), args.dir
    )

    run_engine(serve, db, args.host, args.port)


if __name__ == "__main__":
    main()
