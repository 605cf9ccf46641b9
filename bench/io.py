"""S6, sequential vs random IO: MB/s and IOPS by block size, access pattern and mode.

``python -m bench.io [--size MB] [--cell-seconds S] [--blocks 4K,16K,...] [--rounds R] [--dir PATH]``

One file of ``--size`` MB (default 256) is read and written in blocks of 4 KiB
to 1 MiB, sequentially and in a random order (a permutation of the blocks, so no
block is touched twice in a cell), in three modes:

* ``buffered``: plain ``pread``/``pwrite`` through the page cache;
* ``direct``: ``O_DIRECT``, with page-aligned buffers from an anonymous ``mmap``
  (falls back and says so when the file system answers EINVAL);
* ``fsync``: buffered writes with an ``fsync`` after each one (writes only).

The page cache must not flatter the reads: ``direct`` bypasses it, and before
every buffered read cell the file is fsynced and dropped from the cache with
``posix_fadvise(POSIX_FADV_DONTNEED)`` (the output says which was used). The
kernel's readahead still helps sequential buffered reads -- that is the device
plus the OS doing their job, and part of what "sequential" buys. Buffered
*writes* land in the page cache; their MB/s is memory speed, which is the lesson
the ``fsync`` rows teach.

Each cell stops after ``--cell-seconds`` or one pass over the file, whichever
comes first. The table's ratio compares random with sequential at the same block
size and mode (the device's seq/random gap); ``dd`` with ``iflag=direct`` /
``oflag=direct`` at 1 MiB is the reference for the sequential direct rows.
Every cell runs ``--rounds`` times (3), sequential and random taking turns in
each round; a row is the median with min and max (the plot draws the medians
with min..max whiskers).
Results: ``bench/results/io.json`` and ``io.png``.
"""

from __future__ import annotations

import argparse
import errno
import mmap
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .common import Row, header, merge_rounds, save, table, yerr

KIB = 1024
DEFAULT_BLOCKS = "4K,16K,64K,256K,1M"
DEFAULT_SIZE_MB = 256  # well past the device's cache, small enough to create in ~1 s
DEFAULT_CELL_SECONDS = 1.0  # 5 blocks x 10 cells x 1 s keeps the run near a minute
PATTERNS = ("sequential", "random")
FILL_BLOCK = 1024 * KIB
MODE_COLORS = {"buffered": "tab:blue", "direct": "tab:red", "fsync": "tab:green"}


@dataclass(frozen=True)
class Cell:
    op: str  # "read" | "write"
    block: int
    mode: str  # "buffered" | "direct" | "fsync"
    pattern: str  # "sequential" | "random"

    @property
    def workload(self) -> str:
        return f"{self.op} {_size(self.block)} {self.mode}"


def _size(n: int) -> str:
    return f"{n // (1024 * KIB)}M" if n >= 1024 * KIB else f"{n // KIB}K"


def parse_blocks(spec: str) -> list[int]:
    out = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d+)([KM])", part.strip().upper())
        if not m:
            raise argparse.ArgumentTypeError(f"block size {part!r}: use e.g. 4K or 1M")
        out.append(int(m.group(1)) * (KIB if m.group(2) == "K" else 1024 * KIB))
    return out


def create_file(path: Path, size: int) -> None:
    """Fill ``path`` with ``size`` bytes of incompressible data and fsync it."""
    chunk = os.urandom(FILL_BLOCK)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for off in range(0, size, FILL_BLOCK):
            os.pwrite(fd, chunk[: min(FILL_BLOCK, size - off)], off)
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_cache(path: Path) -> None:
    """Make the next buffered read come from the device: fsync, then DONTNEED."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def direct_supported(path: Path, block: int) -> str | None:
    """None if O_DIRECT reads and writes work here, else why not."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    except OSError as e:
        return f"open(O_DIRECT): {os.strerror(e.errno or 0)}"
    buf = mmap.mmap(-1, block)
    try:
        os.preadv(fd, [buf], 0)
        os.pwritev(fd, [buf], 0)
        return None
    except OSError as e:
        if e.errno == errno.EINVAL:
            return "O_DIRECT I/O: EINVAL (the file system does not allow it)"
        raise
    finally:
        buf.close()
        os.close(fd)


def offsets(cell: Cell, size: int, rng: random.Random) -> list[int]:
    blocks = list(range(size // cell.block))
    if cell.pattern == "random":
        rng.shuffle(blocks)
    return [b * cell.block for b in blocks]


def run_cell(path: Path, cell: Cell, size: int, seconds: float, rng: random.Random) -> Row:
    """Do the cell's I/O until ``seconds`` pass or every block was touched once."""
    if cell.op == "read" and cell.mode == "buffered":
        drop_cache(path)
    flags = os.O_RDWR | (os.O_DIRECT if cell.mode == "direct" else 0)
    fd = os.open(path, flags)
    buf = mmap.mmap(-1, cell.block)  # page-aligned, as O_DIRECT requires
    buf.write(os.urandom(cell.block))
    io = os.preadv if cell.op == "read" else os.pwritev
    sync = cell.mode == "fsync"
    ops = 0
    try:
        offs = offsets(cell, size, rng)
        t0 = time.perf_counter()
        deadline = t0 + seconds
        for off in offs:
            io(fd, [buf], off)
            if sync:
                os.fsync(fd)
            ops += 1
            if ops % 8 == 0 and time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - t0
    finally:
        buf.close()
        os.close(fd)
    mbps = ops * cell.block / elapsed / 1e6
    return Row(cell.workload, cell.pattern, mbps, "MB/s",
               {"iops": ops / elapsed, "ops": ops, "seconds": elapsed})  # fmt: skip


def cells(blocks: list[int], direct: bool) -> list[Cell]:
    modes = ["buffered", "direct", "fsync"] if direct else ["buffered", "fsync"]
    out = []
    for op in ("write", "read"):
        for mode in modes:
            if op == "read" and mode == "fsync":
                continue
            for block in blocks:
                for pattern in PATTERNS:
                    out.append(Cell(op, block, mode, pattern))
    return out


def dd_reference(path: Path, size: int, direct: bool) -> list[Row]:
    """The same sequential 1 MiB pattern through dd (GNU coreutils), when installed."""
    dd = shutil.which("dd")
    if dd is None or size < 1024 * KIB:
        return []
    count = str(size // (1024 * KIB))
    mode = "direct" if direct else "fsync"
    runs = {
        "read": [f"if={path}", "of=/dev/null", "iflag=direct" if direct else "iflag=fullblock"],
        "write": [
            "if=/dev/zero", f"of={path}", "conv=notrunc",
            "oflag=direct" if direct else "conv=fsync,notrunc",
        ],
    }  # fmt: skip
    rows = []
    for op, args in runs.items():
        if op == "read" and not direct:
            drop_cache(path)
        out = subprocess.run([dd, "bs=1M", f"count={count}", *args], capture_output=True,
                             text=True, timeout=120)  # fmt: skip
        m = re.search(r"^(\d+) bytes.*copied, ([\d.]+) s", out.stderr, re.M)
        if out.returncode or not m:
            continue
        nbytes, secs = int(m.group(1)), float(m.group(2))
        rows.append(Row(f"{op} 1M {mode}", "dd sequential", nbytes / secs / 1e6, "MB/s",
                        {"iops": nbytes / secs / (1024 * KIB), "ops": int(count),
                         "seconds": secs}))  # fmt: skip
    return rows


def plot(rows: list[Row], blocks: list[int], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, op in zip(axes, ("read", "write"), strict=True):
        series: dict[str, dict[int, Row]] = {}
        for r in rows:
            if r.workload.startswith(op + " ") and r.impl in PATTERNS:
                _, bs, mode = r.workload.split()
                series.setdefault(f"{mode} {r.impl}", {})[parse_blocks(bs)[0]] = r
        for label, pts in sorted(series.items()):
            xs = [b for b in blocks if b in pts]
            mode, pattern = label.split()
            ax.errorbar([b // KIB for b in xs], [pts[b].value for b in xs], yerr=yerr([pts[b] for b in xs]),
                        marker="o", label=label, color=MODE_COLORS[mode], capsize=2,
                        linestyle="-" if pattern == "sequential" else "--")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xticks([b // KIB for b in blocks], [_size(b) for b in blocks])
        ax.set_yscale("log")
        ax.set_xlabel("block size (KiB)")
        ax.set_title(f"{op}s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("MB/s (higher is better)")
    fig.suptitle("S6: sequential vs random I/O (median, whiskers min..max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="S6: sequential vs random I/O by block size.")
    ap.add_argument("--size", type=float, default=DEFAULT_SIZE_MB, help="file size in MB")
    ap.add_argument("--cell-seconds", type=float, default=DEFAULT_CELL_SECONDS)
    ap.add_argument("--blocks", type=parse_blocks, default=parse_blocks(DEFAULT_BLOCKS))
    ap.add_argument("--dir", help="where to put the test file (default: a temp dir under .run)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every cell (median kept)")
    args = ap.parse_args(argv)
    blocks: list[int] = args.blocks
    size = int(args.size * 1e6) // max(blocks) * max(blocks)
    base = Path(args.dir) if args.dir else Path(".run")
    base.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    print(header(f"S6 I/O: {size / 1e6:g} MB file, {args.cell_seconds:g} s per cell"))
    with tempfile.TemporaryDirectory(dir=base, prefix="io-") as tmp:
        path = Path(tmp) / "io.dat"
        create_file(path, size)
        no_direct = direct_supported(path, min(blocks))
        print(f"   file: {path} ({size:,} bytes)")
        print("   page cache: O_DIRECT for direct rows; buffered reads start after fsync + "
              "posix_fadvise(DONTNEED)")  # fmt: skip
        if no_direct:
            print(f"   O_DIRECT unavailable, direct rows skipped: {no_direct}")
        runs: list[Row] = []
        for _ in range(args.rounds):  # each round: every cell, then dd
            runs += [run_cell(path, c, size, args.cell_seconds, rng) for c in cells(blocks, no_direct is None)]
            runs += dd_reference(path, size, no_direct is None)
        rows = merge_rounds([runs])
    print("\nratio: random vs sequential at the same block size and mode; "
          "dd = the same sequential pattern through coreutils dd")  # fmt: skip
    print(table(rows, reference="sequential"))
    png = plot(rows, blocks, Path(save("io", rows, size=size, direct=no_direct is None,
                                       direct_note=no_direct,
                                       cache="O_DIRECT; posix_fadvise(DONTNEED) before buffered reads",
                                       )).with_suffix(".png"))  # fmt: skip
    print(f"\nsaved bench/results/io.json{' and io.png' if png else ''}")


if __name__ == "__main__":
    main()
