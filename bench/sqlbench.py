"""What the MySQL experiments (D11, D12) share: a private server, status deltas, flags.

* ``database(extra_args)``: ``SYSLAB_MYSQL_URL``'s server, else a private
  MariaDB started for the run (stopped at the end);
* ``Counters``: ``SHOW SESSION/GLOBAL STATUS`` (and ``INNODB_METRICS``)
  before and after a piece of work: the *why* behind a timing (pages split,
  rows deleted, rows read);
* ``common_flags`` / ``output_dir``: ``--quick``, ``--rounds`` and ``--out DIR``
  (results folder; smoke tests point it at a temporary directory);
* ``spread``: min / median / max of a list of samples; ``pyplot`` and
  ``save_figure`` for the PNGs. ``bench/fair`` (D13) uses the flags too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clients.mysql import Connection, MySQLError
from harness.procs import LaunchError
from harness.services import MariaDB, from_env

from . import common


@contextmanager
def database(extra_args: Sequence[str] = ()) -> Iterator[Any]:
    """An address to a MariaDB with a ``test`` database."""
    env = from_env("SYSLAB_MYSQL_URL", 3306)
    if env is not None:
        yield env
        return
    with MariaDB(extra_args=list(extra_args)) as m:
        yield m.address


def common_flags(p: argparse.ArgumentParser, rounds: int) -> None:
    p.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test's run)")
    p.add_argument("--rounds", type=positive, default=rounds, help=f"rounds (default {rounds})")
    p.add_argument("--out", type=Path, help="results folder (default bench/results/)")


@contextmanager
def output_dir(path: Path | None) -> Iterator[Path]:
    """``common.save`` writes into ``path`` (``--out``) inside the block, then as before;
    without ``--out``, into ``common.results_dir()`` ($SYSLAB_BENCH_OUT or bench/results/).

    Restored afterwards: a run inside a test process must not redirect every
    later bench's results.
    """
    before, env = common.RESULTS, os.environ.get(common.OUT_ENV)
    if path is not None:
        common.RESULTS = path
        os.environ[common.OUT_ENV] = str(path)
    try:
        out = common.results_dir()
        out.mkdir(parents=True, exist_ok=True)
        yield out
    finally:
        common.RESULTS = before
        if env is None:
            os.environ.pop(common.OUT_ENV, None)
        else:
            os.environ[common.OUT_ENV] = env


def run_bench(
    prog: str, run: Callable[[argparse.Namespace], Any], args: argparse.Namespace
) -> None:
    """``run(args)`` with results under ``--out``; a database or launch failure is one line."""
    try:
        with output_dir(args.out):
            run(args)
    except (MySQLError, LaunchError, OSError) as e:
        sys.exit(f"{prog}: {e}")


def positive(text: str) -> int:
    """argparse type: an integer >= 1 (a clear one-line error otherwise)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, png: Path) -> None:
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    pyplot().close(fig)


def spread(samples: Sequence[float]) -> dict[str, float]:
    return {"min": min(samples), "median": statistics.median(samples), "max": max(samples)}


class Counters:
    """Named server counters read as a dict; ``delta(before)`` subtracts."""

    def __init__(
        self, conn: Connection, scope: str, names: Sequence[str], metrics: Sequence[str] = ()
    ):
        self.conn, self.scope = conn, scope
        self.names, self.metrics = list(names), list(metrics)
        # Reading SESSION_STATUS itself bumps some Handler_* counters (it scans a
        # temporary table): measure that once and take it off every delta.
        self.overhead: dict[str, int] = {}
        first = self.read()
        self.overhead = {k: v - first[k] for k, v in self.read().items()}

    def read(self) -> dict[str, int]:
        marks = ", ".join(f"'{n}'" for n in self.names)
        rows = self.conn.query(
            f"SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.{self.scope}_STATUS "
            f"WHERE VARIABLE_NAME IN ({marks.upper()})"
        ).rows
        out = {name.lower(): int(value) for name, value in rows}
        if self.metrics:
            mk = ", ".join(f"'{m}'" for m in self.metrics)
            for name, count in self.conn.query(
                f"SELECT NAME, COUNT FROM information_schema.INNODB_METRICS WHERE NAME IN ({mk})"
            ).rows:
                out[name] = int(count)
        return out

    def delta(self, before: dict[str, int]) -> dict[str, int]:
        now = self.read()
        return {k: now[k] - before.get(k, 0) - self.overhead.get(k, 0) for k in now}


def table_bytes(conn: Connection, table: str) -> dict[str, int]:
    """The clustered index (data) and secondary indexes' sizes, after fresh statistics."""
    conn.query(f"ANALYZE TABLE {table}")
    data, index = conn.query(
        "SELECT DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
        (table,),
    ).rows[0]
    return {"data_bytes": int(data), "index_bytes": int(index)}
