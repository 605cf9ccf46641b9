"""``python -m servers.bptree [--sync always|never|MS] [--cache-pages N]``."""

from __future__ import annotations

from servers.bitcask.__main__ import sync_policy
from servers.cli import open_engine, parse, server_parser
from servers.respkit.server import run_engine
from storage.bptree import BPlusTree
from storage.bptree.pager import DEFAULT_CACHE_PAGES

from .server import serve


def main() -> None:
    p = server_parser("bptree", "a B+ tree over RESP (try: redis-cli -p 6383)")
    p.add_argument(
        "--sync", type=sync_policy, default=1000,
        help="WAL fsync policy: always (before each reply), never, or every N ms (default 1000)",
    )  # fmt: skip
    p.add_argument("--cache-pages", type=int, default=DEFAULT_CACHE_PAGES,
                   help=f"page cache size in 4 KiB pages (default {DEFAULT_CACHE_PAGES})")  # fmt: skip
    args = parse(p)
    db = open_engine(
        lambda: BPlusTree.open(args.dir, sync=args.sync, cache_pages=args.cache_pages), args.dir
    )

    run_engine(serve, db, args.host, args.port)


if __name__ == "__main__":
    main()
