"""``python -m servers.gfs [master|chunkserver|cluster] ...``: one role, or a whole cell.

    python -m servers.gfs master --dir D --port 8110
    python -m servers.gfs chunkserver --dir D --master 127.0.0.1:8110 --port 8111
    python -m servers.gfs            # cluster: master 8110, chunkservers 8111-8113 (make serve-gfs)

The cluster runs each piece as its own process (``harness.procs``) with its
data under ``--dir`` (``master/``, ``cs1/``...), logs ``listening on`` with the
master's address once all four answer, and stops them on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import byte_size, check_before_start, parse, server_parser

MASTER_PORT = 8110
DEFAULT_PORTS = {"master": MASTER_PORT, "cluster": MASTER_PORT, "chunkserver": 8111}


def seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < v <= 30 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"{text} is out of range (0 < seconds <= 30 days)")
    return v


def address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return text


def parser() -> argparse.ArgumentParser:
    p = server_parser("gfs", "GFS (N18): a master, chunkservers, or a cell of both")
    p.add_argument("role", nargs="?", default="cluster", choices=["master", "chunkserver", "cluster"])
    p.add_argument("--master", type=address, help="chunkserver: the master's HOST:PORT")
    p.add_argument("--chunk-size", type=byte_size, default="64mb", help="master: bytes per chunk (64mb)")
    p.add_argument("--replication", type=int, default=3, help="master: replicas per chunk (3)")
    p.add_argument("--lease", type=seconds, default=60.0, help="master: lease seconds (60)")
    p.add_argument("--dead-after", type=seconds, default=15.0,
                   help="master: seconds without a heartbeat before a chunkserver is dead (15)")  # fmt: skip
    p.add_argument("--gc-delay", type=seconds, default=3 * 24 * 3600.0,
                   help="master: seconds a deleted file stays under its hidden name (3 days)")  # fmt: skip
    p.add_argument("--checkpoint-every", type=int, default=1000, help="master: ops between checkpoints")
    p.add_argument("--tick", type=seconds, default=1.0, help="master: housekeeping period (1)")
    p.add_argument("--heartbeat", type=seconds, default=5.0, help="chunkserver: heartbeat period (5)")
    p.add_argument("--chunkservers", type=int, default=3, help="cluster: how many chunkservers (3)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    role = p.parse_known_args(argv)[0].role
    p.set_defaults(port=DEFAULT_PORTS[role])
    args = parse(p, argv)
    if not 1 <= args.replication <= 16:
        p.error("--replication is 1..16")
    if not 1024 <= args.chunk_size <= 1 << 30:
        p.error("--chunk-size is 1kb..1gb")
    if args.checkpoint_every < 1 or not 1 <= args.chunkservers <= 16:
        p.error("--checkpoint-every is >= 1, --chunkservers 1..16")
    if role == "master":
        return run_master(args)
    if role == "chunkserver":
        if args.master is None:
            p.error("a chunkserver needs --master HOST:PORT")
        return run_chunkserver(args)
    return run_cluster(p, args)


def run_master(args: argparse.Namespace) -> int:
    from .master import MasterConfig, serve

    config = MasterConfig(dir=Path(args.dir), replication=args.replication, chunk_size=args.chunk_size,
                          lease=args.lease, dead_after=args.dead_after, gc_delay=args.gc_delay,
                          checkpoint_every=args.checkpoint_every, tick=args.tick)  # fmt: skip

    async def go() -> None:
        server, master = await serve(ShellConfig(host=args.host, port=args.port), config)
        await serve_until_signalled(server, master.close)

    return _run(go)


def run_chunkserver(args: argparse.Namespace) -> int:
    from .chunkserver import ChunkServerConfig, serve

    config = ChunkServerConfig(dir=Path(args.dir), master=args.master, heartbeat=args.heartbeat)

    async def go() -> None:
        server, cs = await serve(ShellConfig(host=args.host, port=args.port), config)
        await serve_until_signalled(server, cs.close)

    return _run(go)


def _run(go: Callable[[], Coroutine[Any, Any, None]]) -> int:
    from storage.record import Corruption, StorageError

    try:
        run(go)
    except Corruption as e:  # a flipped byte in the op log or checkpoint: never start over it
        print(f"gfs: refusing to start: {e.file} is corrupt at offset {e.offset} ({e.reason})", file=sys.stderr)
        return 1
    except (OSError, StorageError) as e:  # the data directory unreadable: one line, not a traceback
        print(f"gfs: {e}", file=sys.stderr)
        return 1
    return 0


def run_cluster(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The master on P and the chunkservers on P+1.. (or all on 0), each a process."""
    import logging

    from harness.procs import LaunchError, python_module

    log = logging.getLogger("servers.gfs")
    n = args.chunkservers
    port = lambda i: args.port + i if args.port else 0  # noqa: E731
    for i in range(1, n + 1):
        check_before_start(p, argparse.Namespace(host=args.host, port=port(i)))
    d = Path(args.dir)
    common = ["--log-level", args.log_level]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    children = []
    try:
        children.append(python_module(
            "servers.gfs", "master", "--dir", str(d / "master"), "--chunk-size", str(args.chunk_size),
            "--replication", str(args.replication), "--lease", str(args.lease),
            "--dead-after", str(args.dead_after), "--gc-delay", str(args.gc_delay), "--tick", str(args.tick),
            "--checkpoint-every", str(args.checkpoint_every), *common,
            port=port(0), host=args.host).start())  # fmt: skip
        master = f"{args.host}:{children[0].port}"
        for i in range(1, n + 1):
            children.append(python_module(
                "servers.gfs", "chunkserver", "--dir", str(d / f"cs{i}"), "--master", master,
                "--heartbeat", str(args.heartbeat), *common, port=port(i), host=args.host).start())  # fmt: skip
    except LaunchError as e:
        for c in children:
            c.stop()
        print(f"gfs: cluster failed to start: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    for i, c in enumerate(children):
        log.info("%-13s %s:%d", "master" if i == 0 else f"chunkserver-{i}", args.host, c.port)
    log.info("listening on %s", master)
    stop.wait()
    for c in reversed(children):
        c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
