"""``python -m servers.cdn [origin|edge|cluster] ...``: one origin, one edge, or the whole toy CDN.

    python -m servers.cdn origin --port 8100 --name origin
    python -m servers.cdn edge --port 8102 --origin http://127.0.0.1:8100 --origin http://127.0.0.1:8101
    python -m servers.cdn            # cluster: origin 8100, secondary 8101, edges 8102-8104

The cluster runs each piece as its own process (``harness.procs``), logs
``listening on`` with the first edge's address once all five answer, and stops
them all on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from pathlib import Path

from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.catalog import REPO_ROOT
from servers.cli import parse, server_parser

DEFAULT_PORTS = {"origin": 8100, "cluster": 8100, "edge": 8102}
_SIZE = re.compile(r"(\d+)\s*(b|kb|k|mb|m|gb|g)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


def parse_size(text: str) -> int:
    """``64mb`` -> 67108864; argparse turns the ValueError into a one-line usage error."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise ValueError(text)
    return int(m[1]) * _UNITS[(m[2] or "").lower()]


def parser() -> argparse.ArgumentParser:
    p = server_parser("cdn", "a toy CDN: origin, edge caches (RFC 9111), or the cluster (N8, N9, N12)")
    p.set_defaults(port=None)
    p.add_argument("role", nargs="?", default="cluster", choices=["origin", "edge", "cluster"])
    p.add_argument("--name", help="this process's name (X-Origin / Via); default: the role")
    p.add_argument("--origin", action="append", default=[], metavar="URL",
                   help="edge: origin URL; give it twice for a failover origin")  # fmt: skip
    p.add_argument("--max-bytes", type=parse_size, default="64mb", help="edge: memory tier (64mb)")
    p.add_argument("--max-object", type=parse_size, default="8mb",
                   help="edge: larger responses stream through uncached (8mb)")  # fmt: skip
    p.add_argument("--disk-bytes", type=parse_size, default="0",
                   help="edge: disk tier under --dir (0 = none)")  # fmt: skip
    p.add_argument("--origin-timeout", type=float, default=5.0, help="edge: seconds to the origin's head")
    p.add_argument("--origin-cooldown", type=float, default=2.0, help="edge: seconds a failed origin is skipped")
    p.add_argument("--events-per-second", type=int, default=200, help="origin: synthetic search events")
    p.add_argument("--window", type=int, default=60, help="origin: Popular Searches window, seconds")
    return p


def main() -> int:
    p = parser()
    args = parse(p)
    if args.port is None:
        args.port = DEFAULT_PORTS[args.role]
    if not 0 <= args.port <= 65535:
        p.error("--port is 0..65535")
    if args.role == "edge":
        return run_edge(p, args)
    if args.role == "origin":
        return run_origin(p, args)
    return run_cluster(p, args)


def run_origin(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .origin import Origin, OriginConfig, serve

    if not 1 <= args.window <= 3600 or not 0 <= args.events_per_second <= 100_000:
        p.error("--window is 1..3600, --events-per-second 0..100000")
    config = OriginConfig(name=args.name or "origin", window=args.window,
                          events_per_second=args.events_per_second, web_dir=str(REPO_ROOT / "web"))  # fmt: skip
    origin = Origin(config)

    async def go() -> None:
        server = await serve(origin, ShellConfig(host=args.host, port=args.port))
        await serve_until_signalled(server)

    return _run(go)


def run_edge(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from netlib.http import serve as serve_http

    from .edge import Edge, EdgeConfig, build_app

    if not args.origin:
        p.error("an edge needs --origin URL (twice for a failover origin)")
    for url in args.origin:
        if not url.startswith("http://"):
            p.error(f"--origin {url!r}: only http:// origins")
    disk_dir = Path(args.dir) / "disk" if args.disk_bytes else None
    if disk_dir is not None:
        try:
            disk_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            p.error(f"--dir {args.dir}: {e.strerror}")
    config = EdgeConfig(
        origins=tuple(args.origin), name=args.name or "edge", max_bytes=args.max_bytes,
        max_object=args.max_object, disk_dir=disk_dir, disk_bytes=args.disk_bytes,
        origin_timeout=args.origin_timeout, origin_cooldown=args.origin_cooldown,
    )  # fmt: skip
    edge = Edge(config)

    async def go() -> None:
        server = await serve_http(build_app(edge), ShellConfig(host=args.host, port=args.port))
        await serve_until_signalled(server, edge.close)

    return _run(go)


def _run(go: object) -> int:
    try:
        run(go)  # type: ignore[arg-type]
    except OSError as e:  # port in use, address not available
        print(f"cdn: cannot listen: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


def run_cluster(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Five processes: origin, secondary origin, three edges (ports P..P+4, or all 0)."""
    import logging

    from harness.procs import LaunchError, python_module

    log = logging.getLogger("servers.cdn")
    port = lambda i: args.port + i if args.port else 0  # noqa: E731
    d = Path(args.dir)
    common = ["--log-level", args.log_level]
    children = []
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        for i, name in enumerate(("origin", "secondary")):
            children.append(python_module("servers.cdn", "origin", "--name", name, "--dir", str(d / name),
                                          *common, port=port(i), host=args.host).start())  # fmt: skip
        origins = [a for c in children for a in ("--origin", f"http://{args.host}:{c.port}")]
        for i in range(3):
            name = f"edge-{i + 1}"
            children.append(python_module(
                "servers.cdn", "edge", "--name", name, "--dir", str(d / name), "--disk-bytes", "256mb",
                *origins, *common, port=port(2 + i), host=args.host).start())  # fmt: skip
    except LaunchError as e:
        for c in children:
            c.stop()
        print(f"cdn: cluster failed to start: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    names = ["origin", "secondary", "edge-1", "edge-2", "edge-3"]
    for name, c in zip(names, children, strict=True):
        log.info("%-9s http://%s:%d", name, args.host, c.port)
    log.info("listening on %s:%d", args.host, children[2].port)
    stop.wait()
    for c in reversed(children):
        c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
