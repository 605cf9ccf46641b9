"""``python -m clients.gfs --master HOST:PORT COMMAND ...``: GFS from the shell.

    ls [PATH]                 list a directory (or one file)
    put LOCAL PATH            create PATH with LOCAL's bytes (- = stdin)
    get PATH LOCAL            PATH's bytes into LOCAL (- = stdout)
    rm PATH                   delete (lazily: the master reclaims it later)
    append PATH LOCAL         record-append LOCAL's bytes (- = stdin) as one record;
                              with --lines, each line is its own record
    records PATH              print each record of PATH once (padding and duplicates skipped)
    stat PATH                 size, then each chunk: handle, version, primary, replicas
    mkdir PATH
    snapshot SRC DST          copy a file or directory at once (chunks copied on their next write)

A mistake (a missing file, a bad path, a master that does not answer) is one
line on stderr and exit status 1; a usage error exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from netlib.rpc import RpcError
from servers.cli import OneLineParser

from .client import GfsClient, GfsError


def retry_seconds(text: str) -> float:
    """An argparse type: seconds to keep retrying, 0..1 day (not -1, nan or inf)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= v <= 24 * 3600:  # also false for nan
        raise argparse.ArgumentTypeError(f"{text} is out of range (0..86400 seconds)")
    return v


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m clients.gfs", description="the GFS client (N18)")
    p.add_argument("--master", default="127.0.0.1:8110", help="the master's HOST:PORT (127.0.0.1:8110)")
    p.add_argument("--timeout", type=retry_seconds, default=75.0,
                   help="seconds to keep retrying (75: past a restarted master's 60 s wait for old leases)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("ls").add_argument("path", nargs="?", default="/")
    for name in ("rm", "stat", "mkdir", "records"):
        sub.add_parser(name).add_argument("path")
    put = sub.add_parser("put")
    put.add_argument("local")
    put.add_argument("path")
    get = sub.add_parser("get")
    get.add_argument("path")
    get.add_argument("local")
    snap = sub.add_parser("snapshot")
    snap.add_argument("src")
    snap.add_argument("dst")
    app = sub.add_parser("append")
    app.add_argument("path")
    app.add_argument("local")
    app.add_argument("--lines", action="store_true", help="one record per line")
    return p


def _read_local(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    with open(name, "rb") as f:
        return f.read()


async def run(args: argparse.Namespace) -> None:
    host, sep, port = args.master.rpartition(":")
    if not sep or not port.isdigit():
        raise GfsError(f"--master {args.master!r} is not HOST:PORT")
    async with GfsClient(args.master, retry_for=args.timeout) as c:
        if args.cmd == "ls":
            for e in await c.ls(args.path):
                print(f"{e['name']}/" if e["dir"] else f"{e['name']}\t{e['chunks']} chunk(s)")
        elif args.cmd == "mkdir":
            await c.mkdir(args.path)
        elif args.cmd == "snapshot":
            print(f"{args.dst}: snapshot of {await c.snapshot(args.src, args.dst)} file(s)")
        elif args.cmd == "rm":
            await c.delete(args.path)
        elif args.cmd == "put":
            data = _read_local(args.local)
            await c.put(args.path, data)
            print(f"{args.path}: {len(data)} bytes")
        elif args.cmd == "get":
            data = await c.get(args.path)
            if args.local == "-":
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            else:
                with open(args.local, "wb") as f:
                    f.write(data)
        elif args.cmd == "append":
            data = _read_local(args.local)
            items = data.splitlines() if args.lines else [data]
            for item in items:
                print(f"{args.path}: record of {len(item)} bytes at offset {await c.append_record(args.path, item)}")
        elif args.cmd == "records":
            for r in await c.read_records(args.path):
                sys.stdout.buffer.write(r + b"\n")
        elif args.cmd == "stat":
            print_stat(await c.stat(args.path))


def print_stat(st: dict[str, Any]) -> None:
    print(f"{st['path']}: {st['size']} bytes, {len(st['chunks'])} chunk(s) of at most {st['chunk_size']}")
    for ch in st["chunks"]:
        print(f"  chunk {ch['index']}: handle {ch['handle']} version {ch['version']} "
              f"primary {ch['primary'] or '-'} replicas {','.join(sorted(ch['replicas'])) or '-'}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        asyncio.run(run(args))
    except (GfsError, RpcError, OSError) as e:
        print(f"gfs: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
