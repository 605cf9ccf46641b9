"""``python -m servers.lsm [--sync always|never|MS] [--write-buffer BYTES] [--ratio N]``."""

from __future__ import annotations

import argparse
import logging
import sys

from netlib.shell import run, serve_until_signalled
from servers.cli import parse, server_parser
from servers.respkit import shell_config
from storage.lsm import LSM, Corruption, StorageError

from .server import serve

log = logging.getLogger("servers.lsm")
REPAIR = "python -m storage.check --repair"


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
    try:
        db = LSM.open(args.dir, sync=policy, interval_ms=ms, write_buffer=args.write_buffer,
                      ratio=args.ratio)  # fmt: skip
    except Corruption as e:
        log.error("refusing to start: corruption in %s at offset %d (%s); to move the damaged "
                  "parts aside run: %s %s", e.file, e.offset, e.reason, REPAIR, args.dir)  # fmt: skip
        sys.exit(1)
    except (StorageError, OSError) as e:
        log.error("cannot open %s: %s", args.dir, e)
        sys.exit(1)

    async def go() -> None:
        server = await serve(shell_config(args.host, args.port), db)

        async def close_db() -> None:
            db.close()

        await serve_until_signalled(server, close_db)

    try:
        run(go)
    except OSError as e:  # the port is taken, the address is not ours
        log.error("cannot listen on %s:%d: %s", args.host, args.port, e)
        db.close()
        sys.exit(1)


if __name__ == "__main__":
    main()
