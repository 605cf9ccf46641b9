"""S2, the partial write problem: SIGKILL a writer midway and look at what is left.

``python -m bench.torn_write [--size MB] [--kills N] [--rounds R] [--seed S]``

The same content -- rows of CSV text, ``size`` MB of them -- is written by a
child process in three ways, and the child is SIGKILLed at random points
(``--kills`` times per way, seeded) after it says it has started writing:

* ``naive``: overwrite the file in place with plain ``write()`` calls. What is
  left is a short file whose last row is cut; a naive reader (``csv``) returns the
  rows it finds, the cut one included, and reports no error.
* ``records``: the rows in checksummed records (``storage.record``). The reader
  finds the torn tail at its offset and returns only whole records, all intact.
* ``atomic``: write ``NAME.tmp``, fsync it, ``rename`` it over ``NAME``, fsync the
  directory. The final name holds the old file or the new one, never a mix,
  checked by hashing against both versions.

Each way also runs to completion ``--rounds`` times first (after one untimed
write each), the three ways interleaved: the median time sets the range of kill
points, and MB/s min / median / max is the cost of each fix against the naive
write (the reference; ratio of medians, higher is better), printed as the first
table and drawn in ``torn_write.png``.

What a SIGKILL cannot show: the page cache survives a process kill, so every
byte ``write()`` returned is kept. Power loss can also drop or reorder unsynced
pages (a file of the right size with a hole of zeros in it); the records' CRC
catches that too, the naive reader does not. The atomic version's fsyncs are
what make it hold across power loss as well.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from storage.record import Reader, encode, file_header, fsync_dir

from .common import REPO_ROOT, Row, header, interleaved, measured, median_bars, save, table

MODES = ("naive", "records", "atomic")
ROW_BYTES = 100  # one CSV row: "%012d," + padding + "\n"
CHUNK_ROWS = 655  # rows per record: ~64 KiB
CHUNK = 64 * 1024  # bytes per write(): a typical buffered-I/O flush size, cutting rows
DEFAULT_SIZE_MB = 100
DEFAULT_KILLS = 4
DEFAULT_ROUNDS = 5  # timed uninterrupted writes per way, interleaved
RECORD_TYPE = 16  # the one engine record type this experiment writes


def rows(size: int, version: bytes) -> list[bytes]:
    """The content: ``size`` bytes of fixed-width rows; ``version`` marks old vs new."""
    pad = (version * ROW_BYTES)[: ROW_BYTES - 14]
    return [b"%012d,%s\n" % (i, pad) for i in range(size // ROW_BYTES)]


def chunks(content: list[bytes]) -> list[bytes]:
    return [b"".join(content[i : i + CHUNK_ROWS]) for i in range(0, len(content), CHUNK_ROWS)]


# -- the child: one way of writing, killed by the parent ----------------------


def stream(mode: str, size: int) -> bytes:
    """The bytes a way of writing puts in its file: the rows, or the rows in records."""
    content = rows(size, b"new")
    if mode != "records":
        return b"".join(content)
    encoded = (encode(RECORD_TYPE, c) for c in chunks(content))
    return file_header("torn-write") + b"".join(encoded)


def child(mode: str, path: Path, size: int, lockstep: bool) -> None:
    """Write one way, in 64 KiB ``write()`` calls, printing "P" after every step.

    Every way issues the same writes (the records way only has different bytes),
    so they are torn at the same kind of places. With ``lockstep`` the child waits
    for a line on stdin after each step: the parent then kills it at a chosen step
    plus a random spin, instead of chasing a writer that is far ahead of it.
    """
    data = stream(mode, size)
    t0 = time.perf_counter()
    target = path.with_name(path.name + ".tmp") if mode == "atomic" else path
    with open(target, "wb", buffering=0) as f:
        for i in range(0, len(data), CHUNK):
            f.write(data[i : i + CHUNK])
            _step(lockstep)
        if mode == "atomic":
            os.fsync(f.fileno())
            _step(lockstep)
    if mode == "atomic":
        os.replace(target, path)
        _step(lockstep)
        fsync_dir(path.parent)
    print(f"D {time.perf_counter() - t0:.6f}", flush=True)


def _step(lockstep: bool) -> None:
    sys.stdout.write("P\n")
    sys.stdout.flush()
    if lockstep:
        sys.stdin.readline()


def steps(mode: str, size: int) -> int:
    """How many progress lines a complete run of ``mode`` prints."""
    n = -(-len(stream(mode, size)) // CHUNK)
    return n + 2 if mode == "atomic" else n


# -- the parent: calibrate, kill, inspect --------------------------------------


@dataclass
class Kill:
    mode: str
    round: int
    killed_at_step: int  # the child's progress line after which the kill was sent
    steps: int  # progress lines of a complete run
    on_disk: int  # bytes at the final name
    expected: int  # bytes of the complete new file
    intact: int  # bytes of the new content a reader gets back intact
    rows_returned: int  # what the reader handed back
    bad_rows_returned: int  # rows handed back that are not what was written
    verdict: str


def run_child(
    mode: str, path: Path, size: int, kill_step: int | None, spin: float = 0.0
) -> float | None:
    """Run one writer; SIGKILL it after its ``kill_step``-th step plus ``spin`` seconds.

    ``kill_step=None`` lets it finish and returns how long the writing took.
    """
    lock = "0" if kill_step is None else "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.torn_write", "--child", mode, str(path), str(size), lock],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        seen = 0
        for line in proc.stdout:
            if line.startswith("D "):
                proc.wait()
                return float(line.split()[1])
            seen += 1
            if kill_step is None:
                continue
            assert proc.stdin is not None
            proc.stdin.write("\n")  # let it take the next step ...
            proc.stdin.flush()
            if seen >= kill_step:  # ... and kill it somewhere in there
                until = time.perf_counter() + spin
                while time.perf_counter() < until:  # spin: a precise, random kill point
                    pass
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return None
        raise RuntimeError(f"{mode} child exited {proc.wait()} without finishing")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def prepare(mode: str, path: Path, old: bytes) -> None:
    """Start every round from the same place: no file, or (atomic) the old version."""
    for p in (path, path.with_name(path.name + ".tmp")):
        p.unlink(missing_ok=True)
    if mode == "atomic":
        path.write_bytes(old)


def common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # binary search for the first difference
    while lo < hi:
        mid = (lo + hi) // 2
        if a[lo : mid + 1] == b[lo : mid + 1]:
            lo = mid + 1
        else:
            hi = mid
    return lo


def naive_read(data: bytes, expected_rows: list[bytes]) -> tuple[int, int]:
    """What a naive CSV reader returns: (rows, rows that are not what was written)."""
    got = list(csv.reader(io.StringIO(data.decode(errors="replace"))))
    bad = sum(
        1 for i, r in enumerate(got)
        if i >= len(expected_rows) or (",".join(r) + "\n").encode() != expected_rows[i]
    )  # fmt: skip
    return len(got), bad


def inspect(
    mode: str, path: Path, new: bytes, old: bytes, new_rows: list[bytes]
) -> tuple[int, int, int, str]:
    """(bytes of new content intact, rows the reader returned, bad rows among them, verdict)."""
    data = path.read_bytes() if path.exists() else b""
    if mode == "naive":
        n, bad = naive_read(data, new_rows)
        short = "short" if len(data) < len(new) else "complete"
        verdict = f"{short}; reader returned {n} rows, {bad} garbled, no error"
        return common_prefix(data, new), n, bad, verdict
    if mode == "records":
        reader = Reader(data, str(path))
        body = b"".join(r.payload for r in list(reader)[1:])
        got = body.splitlines(keepends=True)
        bad = sum(1 for i, r in enumerate(got) if r != new_rows[i])
        torn = f"torn tail at offset {reader.torn_at}" if reader.torn_at is not None else "whole"
        return len(body), len(got), bad, f"{torn}; {len(got)} whole rows returned, {bad} garbled"
    digest = hashlib.sha256(data).digest()
    which = {hashlib.sha256(old).digest(): "old", hashlib.sha256(new).digest(): "new"}
    state = which.get(digest, "MIX")
    n, bad = naive_read(data, new_rows if state == "new" else old.splitlines(keepends=True))
    tmp = path.with_name(path.name + ".tmp")
    left = f", {tmp.stat().st_size} B .tmp left" if tmp.exists() else ""
    return len(new) if state == "new" else 0, n, bad, f"{state} file (sha256){left}"


def _timed(mode: str, path: Path, size: int, old: bytes) -> float:
    prepare(mode, path, old)
    return run_child(mode, path, size, None) or 1e-9


def experiment(size: int, kills: int, seed: int, workdir: Path,
               rounds: int = DEFAULT_ROUNDS) -> tuple[list[Row], list[Kill]]:  # fmt: skip
    rng = random.Random(seed)
    new_rows = rows(size, b"new")
    new, old = b"".join(new_rows), b"".join(rows(size, b"old"))
    results: list[Kill] = []
    paths = {mode: workdir / f"{mode}.dat" for mode in MODES}
    for mode in MODES:  # one untimed write each: the first write of a run grows the page cache
        _timed(mode, paths[mode], size, old)
    times = interleaved({m: (lambda m=m: _timed(m, paths[m], size, old)) for m in MODES}, rounds)
    speed = [measured("write the file", mode, [size / t / 1e6 for t in times[mode]], "MB/s",
                      seconds=statistics.median(times[mode]), fsync=mode == "atomic")
             for mode in MODES]  # fmt: skip
    for mode in MODES:
        path = paths[mode]
        full = statistics.median(times[mode])
        n = steps(mode, size)
        for k in range(kills):
            prepare(mode, path, old)
            lo, hi = 1 + k * (n - 1) // kills, max(1, (k + 1) * (n - 1) // kills)
            step = rng.randint(lo, max(lo, hi))  # stratified: early, middle and late kills
            if mode == "atomic" and k == kills - 1:
                step = n  # after the rename: the new file, whole
            spin = rng.uniform(0, 2 * full / n)  # up to two steps' time past the step
            run_child(mode, path, size, step, spin)
            on_disk = path.stat().st_size if path.exists() else 0
            intact, got, bad, verdict = inspect(mode, path, new, old, new_rows)
            results.append(Kill(mode, k, step, n, on_disk, len(new), intact, got, bad, verdict))
    return speed, results


def kill_table(kills: list[Kill]) -> str:
    out = [f"{'mode':<8} {'#':>2} {'killed at':>11} {'on disk':>12} {'expected':>12} "
           f"{'new ok %':>8} {'rows':>9} {'bad rows':>8}  verdict"]  # fmt: skip
    for k in kills:
        pct = 100 * k.intact / k.expected if k.expected else 0
        at = f"{k.killed_at_step}/{k.steps}"
        out.append(f"{k.mode:<8} {k.round:>2} {at:>11} {k.on_disk:>12,} "
                   f"{k.expected:>12,} {pct:>8.1f} {k.rows_returned:>9,} "
                   f"{k.bad_rows_returned:>8}  {k.verdict}")  # fmt: skip
    return "\n".join(out)


def summary(kills: list[Kill]) -> dict[str, dict[str, int]]:
    """Per mode: kills after which the reader handed back something never written, of all."""
    out = {}
    for mode in MODES:
        mine = [k for k in kills if k.mode == mode]
        bad = sum(1 for k in mine if k.bad_rows_returned or "MIX" in k.verdict)
        out[mode] = {"kills_with_bad_data": bad, "kills": len(mine)}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="S2: SIGKILL a writer midway; show the two fixes.")
    ap.add_argument("--size", type=float, default=DEFAULT_SIZE_MB, help="MB to write")
    ap.add_argument("--kills", type=int, default=DEFAULT_KILLS, help="kills per way of writing")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                    help="timed uninterrupted writes per way (interleaved)")  # fmt: skip
    ap.add_argument("--dir", help="where to write (default: a temporary directory)")
    ap.add_argument(
        "--child", nargs=4, metavar=("MODE", "PATH", "BYTES", "LOCK"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.kills < 0:
        ap.error("--rounds must be >= 1 and --kills >= 0")
    if args.child:
        mode, path, size, lock = args.child
        child(mode, Path(path), int(size), lock == "1")
        return
    size = int(args.size * 1e6)
    print(
        header(f"S2 torn write: {args.size:g} MB, {args.kills} SIGKILLs per way, seed {args.seed}")
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        speed, kills = experiment(size, args.kills, args.seed, Path(tmp), args.rounds)
    print(f"\nwhat each way costs: {args.rounds} uninterrupted writes each, interleaved "
          "(reference: naive in-place write)")  # fmt: skip
    print(table(speed, reference="naive"))
    print("\nwhat is left after each SIGKILL, and what the reader makes of it")
    print(kill_table(kills))
    bad = summary(kills)
    print("\nkills after which the reader returned data that was never written:")
    for mode, b in bad.items():
        print(f"  {mode:<8} {b['kills_with_bad_data']} of {b['kills']}")
    path = save("torn_write", speed, size=size, rounds=args.rounds, bad_data=bad,
                kills=[asdict(k) for k in kills])  # fmt: skip
    png = median_bars(speed, path.with_suffix(".png"), f"S2: writing {args.size:g} MB three ways "
                      f"(median of {args.rounds} interleaved rounds, whiskers min..max; "
                      "reference: naive)", "MB/s written", log=False, size=(8, 4.5))  # fmt: skip
    print(f"\nsaved {path} and {png}")


if __name__ == "__main__":
    main()
