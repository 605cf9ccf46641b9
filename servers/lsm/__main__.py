"""``python -m servers.lsm [--sync always|never|MS] [--write-buffer BYTES] [--ratio N]``.

A damaged store is refused at start with one line naming the file, the offset
and ``python -m storage.check --repair DIR`` (``servers.cli.open_engine``).
"""

from __future__ import annotations

import argparse

from servers.cli import open_engine, parse, server_parser
from servers.respkit.server import run_engine
from storage.lsm import LSM

from .server import serve


def sync_policy(text: str) -> tuple[str, float]:
    if text in ("always", "never"):
        return text, 10.0
    if text.isdigit() and int(text) > 0:
        return "interval", float(text)
    raise argparse.ArgumentTypeError("use always, never or a positive number of ms")


def main() -> None:
    p = server_parser("lsm", "An LSM-tree key-value store over RESP (try: redis-cli -p 6382)")
    p.add_argument(
        "--sync", type=sync_policy, default=("always", 10.0),
        help="WAL fsync policy: always (before each reply, the default), never, or every N ms",
    )  # fmt: skip
    p.add_argument("--write-buffer", type=int, default=4 * 1024 * 1024, help="memtable bytes")
    p.add_argument("--ratio", type=int, default=10, help="size ratio between levels")
    args = parse(p)
    policy, ms = args.sync
    db = open_engine(
        lambda: LSM.open(args.dir, sync=policy, interval_ms=ms, write_buffer=args.write_buffer,
                         ratio=args.ratio),  # fmt: skip
        args.dir,
    )
    run_engine(serve, db, args.host, args.port)


if __name__ == "__main__":
    main()
