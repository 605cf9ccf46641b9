"""GFS (N18) on one machine: write and read throughput with 1, 4 and 8 clients (the
paper's Figure 3 shape), record append, and re-replication time as data grows.

``make bench-gfs`` (``python -m bench.gfs [--file-mb 4] [--chunk-size 1mb]
[--clients 1,4,8] [--records 400] [--rereplicate-mb 2,8,32] [--rounds 3]``)

A cell of real processes: one master and four chunkservers (replication 3,
so one can die and the goal is still reachable), 127.0.0.1 only. Per round
and client count, each of N clients (``clients.gfs.GfsClient``, all in this
process's event loop) writes its own file of ``--file-mb`` MB (push to three
replicas, then write through the primary), then reads it back. Record append:
N clients append ``--records`` 1 KiB records each to one shared file. The
reference ("local fs", the ceiling) does the same bytes through the local
filesystem with N threads: one copy, no network, no replication. Rounds are
interleaved (gfs, local, local, gfs...); min / median / max over rounds;
aggregate MB/s (records/s for appends).

Re-replication: a file of X MB is written, one chunkserver holding its first
chunk is SIGKILLed, and the clock runs until every chunk is back at three
live replicas (the master polls it at 0.2 s ticks; declaring the server dead
takes ``--dead-after`` 1 s of the figure). The killed server comes back
empty for the next size.

What this does not show: the paper's cluster had 16 chunkservers on 100 Mbps
links, so the network was the ceiling; here all processes share two cores,
so the figures are CPU-bound Python (msgpack framing, CRC-32C, asyncio), and
8 clients contend with the chunkservers for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from clients.gfs import GfsClient
from harness.gfs import Cell, until
from servers.cli import byte_size

from .common import Row, header, interleaved, measured, median_bars, results_dir, save, table

MB = 1024 * 1024


def _ints(text: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every number must be >= 1")
    return out


class Bench:
    def __init__(self, cell: Cell, local: Path, file_bytes: int, records: int, record_bytes: int) -> None:
        self.cell, self.local = cell, local
        self.file_bytes, self.records, self.record_bytes = file_bytes, records, record_bytes
        self.data = os.urandom(file_bytes)
        self.round = 0

    # -- gfs -----------------------------------------------------------------------------
    async def _gfs(self, n: int) -> tuple[float, float, float]:
        self.round += 1
        clients = [self.cell.client(retry_for=60) for _ in range(n)]
        try:
            paths = [f"/bench/r{self.round}/c{i}" for i in range(n)]
            t = time.perf_counter()
            await asyncio.gather(*(c.put(p, self.data) for c, p in zip(clients, paths, strict=True)))
            write = time.perf_counter() - t
            t = time.perf_counter()
            got = await asyncio.gather(*(c.get(p) for c, p in zip(clients, paths, strict=True)))
            read = time.perf_counter() - t
            assert all(g == self.data for g in got), "a read returned other bytes"
            rec = os.urandom(self.record_bytes)
            t = time.perf_counter()
            await asyncio.gather(*(self._appender(c, f"/bench/r{self.round}/log") for c in clients))
            append = time.perf_counter() - t
            for p in paths:
                await clients[0].delete(p)
            del rec
            return write, read, append
        finally:
            for c in clients:
                await c.close()

    async def _appender(self, c: GfsClient, path: str) -> None:
        for _ in range(self.records):
            await c.append_record(path, os.urandom(self.record_bytes))

    def gfs(self, n: int) -> tuple[float, float, float]:
        return asyncio.run(self._gfs(n))

    # -- the local filesystem ------------------------------------------------------------
    def local_fs(self, n: int) -> tuple[float, float, float]:
        d = Path(tempfile.mkdtemp(dir=self.local))
        try:
            paths = [d / f"c{i}" for i in range(n)]
            write = _threads(n, lambda i: paths[i].write_bytes(self.data))
            read = _threads(n, lambda i: _check(paths[i].read_bytes() == self.data))
            log = os.open(d / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                append = _threads(n, lambda i: [os.write(log, os.urandom(self.record_bytes))
                                                for _ in range(self.records)])  # fmt: skip
            finally:
                os.close(log)
            return write, read, append
        finally:
            shutil.rmtree(d)


def _check(ok: bool) -> None:
    assert ok, "a read returned other bytes"


def _threads(n: int, fn: object) -> float:
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]  # type: ignore[arg-type]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t


async def rereplication(cell: Cell, size: int, victim_hint: int, restart: bool = True) -> tuple[float, int]:
    """Seconds from SIGKILL of a chunkserver to every chunk of a ``size``-byte file back at 3."""
    async with cell.client(retry_for=60) as c:
        path = f"/rerep/{size}-{time.monotonic_ns()}"
        await c.put(path, os.urandom(size))
        st = await c.stat(path)
        holders = st["chunks"][0]["replicas"]
        victim = next(i for i in [victim_hint, *range(cell.n)] if cell.cs_addr(i) in holders)
        dead = cell.cs_addr(victim)
        cell.kill_cs(victim)
        t = time.perf_counter()

        async def at_goal() -> bool:
            s = await c.stat(path)
            return all(len(ch["replicas"]) == 3 and dead not in ch["replicas"] for ch in s["chunks"])

        await until(at_goal, 300, f"{size} bytes back at 3 replicas")
        took = time.perf_counter() - t
        await c.delete(path)
        if restart:  # the next size starts with four live chunkservers again
            shutil.rmtree(cell.cs_dir(victim), ignore_errors=True)
            cell.start_cs(victim)
            await cell.wait_live()
        return took, len(st["chunks"])


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.gfs", description=__doc__.split("\n\n")[0])
    p.add_argument("--file-mb", type=float, default=4.0, help="MB each client writes and reads")
    p.add_argument("--chunk-size", type=byte_size, default="1mb")
    p.add_argument("--clients", type=_ints, default=[1, 4, 8])
    p.add_argument("--records", type=int, default=100, help="records each client appends")
    p.add_argument("--record-bytes", type=int, default=1024)
    p.add_argument("--rereplicate-mb", type=lambda s: [float(x) for x in s.split(",")], default=[2.0, 8.0, 32.0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    file_bytes = int(args.file_mb * MB)
    if file_bytes < 1 or args.rounds < 1 or args.records < 1 or not 1 <= args.record_bytes <= args.chunk_size // 4:
        p.error("--file-mb, --rounds, --records are positive; --record-bytes 1..a quarter chunk")
    if not 1024 <= args.chunk_size <= 64 * MB:
        p.error("--chunk-size is 1kb..64mb")
    print(header(f"bench/gfs: {args.file_mb} MB per client, chunks of {args.chunk_size} bytes, replication 3, "
                 f"clients {args.clients}, {args.rounds} rounds"))  # fmt: skip
    flags = ("--chunk-size", str(args.chunk_size), "--lease", "2", "--dead-after", "1.0", "--tick", "0.2")
    rows: list[Row] = []
    rerep: list[tuple[float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-gfs-") as tmp:
        cell = Cell(Path(tmp) / "cell", 4, flags=flags, log_level="warning").start()
        try:
            asyncio.run(cell.wait_live())
            b = Bench(cell, Path(tmp), file_bytes, args.records, args.record_bytes)
            for n in args.clients:
                res = interleaved({"syslab gfs": lambda n=n: b.gfs(n), "local fs": lambda n=n: b.local_fs(n)},
                                  args.rounds)  # fmt: skip
                for impl, samples in res.items():
                    mb = n * file_bytes / MB
                    rows.append(measured(f"write {n} client(s)", impl, [mb / s[0] for s in samples], "MB/s"))
                    rows.append(measured(f"read {n} client(s)", impl, [mb / s[1] for s in samples], "MB/s"))
                    rows.append(measured(f"append {n} client(s)", impl,
                                         [n * args.records / s[2] for s in samples], "rec/s"))  # fmt: skip
            for i, size_mb in enumerate(args.rereplicate_mb):
                size = max(1, int(size_mb * MB))
                last = i == len(args.rereplicate_mb) - 1
                took, chunks = asyncio.run(rereplication(cell, size, i % 4, restart=not last))
                rerep.append((size_mb, took, chunks))

        finally:
            cell.stop()
    order = ["write", "read", "append"]
    rows.sort(key=lambda r: order.index(r.workload.split()[0]))  # stable: client counts, sizes in order
    print(table(rows, "local fs"))
    print("re-replication (one SIGKILL per size, no reference: not in the table's rows):")
    for size_mb, took, chunks in rerep:
        print(f"  {size_mb:g} MB ({chunks} chunks): {took:.2f} s from SIGKILL to 3 live replicas")
    path = save("gfs", rows, file_mb=args.file_mb, chunk_size=args.chunk_size, clients=args.clients,
                rereplication=[{"mb": mb, "seconds": took, "chunks": chunks} for mb, took, chunks in rerep])
    png = median_bars(rows, results_dir() / "gfs.png", f"GFS (ours) vs the local filesystem (reference), "
                      f"median of {args.rounds} round(s), whiskers min..max",
                      {"MB/s": "aggregate MB/s", "rec/s": "appended records / s"})  # fmt: skip
    print(f"results: {path}  chart: {png}")


if __name__ == "__main__":
    main()
