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
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from .catalog import REPO_ROOT, SERVERS

T = TypeVar("T")


def server_parser(
    name: str, description: str, default_port: int | None = None
) -> argparse.ArgumentParser:
    """An argparse parser with --host, --port, --dir and --log-level filled in."""
    if default_port is None:
        default_port = SERVERS[name].port if name in SERVERS else 0
    p = argparse.ArgumentParser(prog=f"python -m servers.{name}", description=description)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=default_port,
        help=f"port (default {default_port}; 0 = any free)",
    )
    p.add_argument(
        "--dir", type=Path, default=REPO_ROOT / ".run" / name,
        help=f"where the server keeps its data (default .run/{name}/)",
    )  # fmt: skip
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse flags and configure logging (to stderr: stdout is the user's)."""
    args = parser.parse_args(argv)
    level = getattr(logging, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if level > logging.INFO:
        # The launchers (harness.procs) read the bound port from this one line,
        # so it is logged whatever the level.
        shell = logging.getLogger("netlib.shell")
        shell.setLevel(logging.INFO)
        shell.addFilter(_listening_or_at_least(level))
    return args


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
