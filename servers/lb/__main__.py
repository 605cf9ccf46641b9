"""``python -m servers.lb``: flags (or a TOML file) into an LBConfig, then serve until a signal.

With neither ``--backend`` nor ``--config`` it starts three demo backends
(``servers.lb.backend``, child processes on free ports) and balances over them:
that is ``make serve-lb``. ``kill -HUP`` re-reads ``--config``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path

from harness.procs import LaunchError, python_module
from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .config import ALGORITHMS, BackendSpec, ConfigError, LBConfig, load_toml, parse_backend
from .server import LoadBalancer

log = logging.getLogger("servers.lb")
ADMIN_PORT = 8197
DEMO_BACKENDS = 3


def parser() -> argparse.ArgumentParser:
    p = server_parser("lb", "HTTP/TCP load balancer (try: curl -s http://127.0.0.1:8097/)")
    p.add_argument("--admin-port", type=int, default=None,
                   help=f"port of GET /_lb/status (default {ADMIN_PORT}, or any free one "
                        "with --port 0)")  # fmt: skip
    p.add_argument("--backend", action="append", default=[], metavar="HOST:PORT[,weight=N]",
                   help="a backend (repeat the flag); none and no --config: 3 demo backends")  # fmt: skip
    p.add_argument("--algorithm", choices=ALGORITHMS, default="roundrobin")
    p.add_argument("--mode", choices=("http", "tcp"), default="http")
    p.add_argument("--hash-key", default="client", help="consistent: client | path | header:NAME")
    p.add_argument("--config", type=Path, help="a TOML file (overrides the flags; SIGHUP re-reads it)")
    p.add_argument("--connect-timeout", type=float, default=LBConfig.connect_timeout)
    p.add_argument("--read-timeout", type=float, default=LBConfig.read_timeout)
    p.add_argument("--health-interval", type=float, default=LBConfig.health_interval,
                   help="seconds between active checks (0: none)")  # fmt: skip
    p.add_argument("--health-path", default="/", help="http mode: the path the check GETs")
    p.add_argument("--access-log", action="store_true")
    return p


def from_flags(args: argparse.Namespace) -> LBConfig:
    cfg = LBConfig(
        backends=tuple(parse_backend(b) for b in args.backend), mode=args.mode,
        algorithm=args.algorithm, hash_key=args.hash_key, connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout, health_interval=args.health_interval,
        health_path=args.health_path, access_log=args.access_log,
    )  # fmt: skip
    return load_toml(args.config, cfg) if args.config else cfg.check()


def main() -> None:
    args = parse(parser())
    try:
        cfg = from_flags(args)
    except ConfigError as e:
        sys.exit(f"lb: {e}")
    with contextlib.ExitStack() as stack:
        if not cfg.backends:
            if args.config:
                sys.exit(f"lb: {args.config} lists no [[backend]]")
            cfg = replace(cfg, backends=_start_demo(stack, args.health_path))
        run(lambda: _serve(args, cfg))


def _start_demo(stack: contextlib.ExitStack, health_path: str) -> tuple[BackendSpec, ...]:
    specs = []
    for i in range(1, DEMO_BACKENDS + 1):
        try:
            child = stack.enter_context(
                python_module("servers.lb.backend", "--name", f"demo{i}", port=0)
            )
        except LaunchError as e:
            sys.exit(f"lb: demo backend {i} did not start: {e}")
        assert child.port is not None
        specs.append(BackendSpec("127.0.0.1", child.port))
        log.info("demo backend demo%d on 127.0.0.1:%d (pid %d)", i, child.port, child.pid)
    return tuple(specs)


async def _serve(args: argparse.Namespace, cfg: LBConfig) -> None:
    lb = LoadBalancer(cfg)
    listen = ShellConfig(host=args.host, port=args.port)
    admin_port = args.admin_port
    if admin_port is None:
        admin_port = 0 if args.port == 0 else ADMIN_PORT
    admin = ShellConfig(host=args.host, port=admin_port)
    try:
        server = await lb.start(listen, admin)
    except OSError as e:
        await lb.stop()
        raise SystemExit(f"lb: cannot listen: {e.strerror or e}") from None
    assert lb.admin is not None
    log.info("admin on %s:%d (GET /_lb/status)", lb.admin.host, lb.admin.port)
    loop = asyncio.get_running_loop()
    if args.config:
        loop.add_signal_handler(signal.SIGHUP, _reload, lb, args)
    await serve_until_signalled(server, on_stop=lb.stop)


def _reload(lb: LoadBalancer, args: argparse.Namespace) -> None:
    log.info("SIGHUP: reloading %s", args.config)
    try:
        lb.reload(from_flags(args))
    except ConfigError as e:
        log.error("reload refused, keeping the running configuration: %s", e)


if __name__ == "__main__":
    main()
