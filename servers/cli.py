"""The flags every server takes, parsed the same way everywhere.

``python -m servers.NAME --host 127.0.0.1 --port N --dir PATH --log-level info``:
a server's ``__main__`` builds its parser with ``server_parser``, adds its own
flags, and calls ``parse`` which also sets up logging. The default port comes
from the one ports table in ``servers.catalog``; ``--port 0`` binds any free
port, and the ``listening on HOST:PORT`` line (logged at every log level)
says which.
"""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from .catalog import REPO_ROOT, SERVERS

T = TypeVar("T")


def port_number(text: str) -> int:
    """A TCP port, 0-65535 (0: any free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def parse_size(text: str) -> int:
    """Redis's memtoull: 100, 64kb, 100mb, 1gb (k/m/g without b are powers of 1000); ValueError
    otherwise. Flags (``byte_size``) and the cache's CONFIG SET maxmemory read sizes with it."""
    t = text.strip().lower()
    digits = t.rstrip("kmgb")
    unit = t[len(digits):]
    if not digits.isdigit() or unit not in _UNITS:
        raise ValueError(text)
    return int(digits) * _UNITS[unit]


def byte_size(text: str) -> int:
    """An argparse type: a size with Redis's units (``parse_size``)."""
    try:
        return parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 0, 4096, 64kb, 100mb, 1gb)") from None


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= n <= high:
            raise argparse.ArgumentTypeError(f"{n} is out of range ({low}..{high})")
        return n

    return parse


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), with a pointer to --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def server_parser(
    name: str, description: str, default_port: int | None = None, keeps_data: bool = True
) -> argparse.ArgumentParser:
    """An argparse parser with --host, --port, --log-level and (if it keeps data) --dir filled in."""
    if default_port is None:
        default_port = SERVERS[name].port if name in SERVERS else 0
    p = OneLineParser(prog=f"python -m servers.{name}", description=description)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=port_number,
        default=default_port,
        help=f"port (default {default_port}; 0 = any free)",
    )
    if keeps_data:
        p.add_argument(
            "--dir", type=Path, default=REPO_ROOT / ".run" / name,
            help=f"where the server keeps its data (default .run/{name}/)",
        )  # fmt: skip
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse flags and configure logging (to stderr: stdout is the user's)."""
    args = parser.parse_args(argv)
    check_before_start(parser, args)
    level = getattr(logging, args.log_level.upper())
    fmt = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    log_file = getattr(args, "log_file", None)  # a server with --log-file: "" is stdout
    if log_file:
        logging.basicConfig(level=level, format=fmt, filename=log_file)
    else:
        logging.basicConfig(level=level, format=fmt, stream=sys.stdout if log_file == "" else None)
    if level > logging.INFO:
        # The launchers (harness.procs) read the bound port from this one line,
        # so it is logged whatever the level.
        shell = logging.getLogger("netlib.shell")
        shell.setLevel(logging.INFO)
        shell.addFilter(_listening_or_at_least(level))
    return args


def check_before_start(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what would fail later, before anything is created: one line, exit status 1.

    A port in use (with the program holding it, when /proc tells) and a
    ``--dir`` that cannot be written: a server checks both before it creates
    a file, so a failed start leaves nothing behind.
    """
    from netlib.shell import port_holder

    def fail(message: str) -> None:
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(1)

    host, port = getattr(args, "host", None), getattr(args, "port", None)
    if host is not None and port:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            try:
                probe.bind((host, port))
            except OSError as e:
                why = "address already in use" + port_holder(port) if e.errno == errno.EADDRINUSE else (
                    (e.strerror or str(e)).lower())  # fmt: skip
                fail(f"cannot listen on {host}:{port}: {why}")
    directory = getattr(args, "dir", None)
    if isinstance(directory, Path):
        if directory.exists() and not directory.is_dir():
            fail(f"--dir {directory}: not a directory")
        try:  # the port is free: making the data directory is the server's first creation
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as e:
            fail(f"--dir {directory}: {(e.strerror or str(e)).lower()}")


def _listening_or_at_least(level: int) -> logging.Filter:
    class Only(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return record.levelno >= level or str(record.msg).startswith("listening on")

    return Only()


def open_engine(open_fn: Callable[[], T], directory: Path | str) -> T:
    """Open a storage engine for a server, or exit with one line on stderr (never a traceback).

    Corruption at open names the file, the offset and the repair command: a
    server must not start over damage it would then serve around or crash on.
    """
    from storage.record import Corruption, StorageError

    log = logging.getLogger("servers")
    try:
        return open_fn()
    except Corruption as e:
        log.error(
            "refusing to start: %s is corrupt at offset %d (%s); repair with: "
            "python -m storage.check --repair %s", e.file, e.offset, e.reason, directory,
        )  # fmt: skip
    except (StorageError, OSError) as e:
        log.error("cannot open %s: %s", directory, e)
    raise SystemExit(1)
