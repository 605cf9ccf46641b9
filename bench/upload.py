"""Uploads over loopback: servers/files by HTTP PUT and by its raw TCP mode, against nc into a file.

``make bench-upload`` (``python -m bench.upload [--size-mb 1024] [--rounds 3]``)

One sender for all three, so only the receiver differs: a Python socket that
writes the request head (HTTP: ``PUT /files/NAME`` with Content-Length; raw: the
``PUT NAME SIZE`` line) and then the file by ``socket.sendfile`` (zero copy), and
waits for the answer (201 / ``OK sha256``). The floor is ``nc -l`` writing the
stream to a file, timed until nc exits. Rounds are interleaved, who goes first
rotating (http, tcp, nc; tcp, nc, http; ...). The server runs with ``--no-fsync`` because nc does not fsync either;
both of ours still hash every byte (SHA-256) and rename the file into place.
Reported: MB/s min / median / max, ratio of medians to nc (goal >= 0.7x), and
the server's peak RSS (VmHWM, reset before each upload by ``/proc/PID/clear_refs``).
Results: ``bench/results/upload.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness.procs import free_port, python_module, require_binary

from .common import Row, header, measured, median_bars, rotated, save, table

BLOCK = 1 << 20
LISTENING = re.compile(r"listening on [0-9.]+:(\d+)")


def make_source(path: Path, size: int) -> None:
    """``size`` bytes of random-looking data (a random MiB repeated: no compressible zeros)."""
    block = os.urandom(BLOCK)
    with open(path, "wb") as f:
        left = size
        while left:
            f.write(block[: min(BLOCK, left)])
            left -= min(BLOCK, left)


def send(port: int, head: bytes, src: Path, answer: bool) -> float:
    """Seconds to send ``head`` + the file and (if ``answer``) read the first answer line."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s, open(src, "rb") as f:
        s.sendall(head)
        s.sendfile(f)
        if answer:
            line = s.makefile("rb").readline()
            if not (line.startswith(b"HTTP/1.1 201") or line.startswith(b"OK ")):
                raise RuntimeError(f"upload refused: {line!r}")
    return time.perf_counter() - t0


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # "5": reset the peak RSS (Linux >= 4.0)


def listening(port: int) -> bool:
    """Whether something listens on ``port`` (``/proc/net/tcp``, state 0A): a readiness
    check that does not use up ``nc -l``'s one connection."""
    rows = [ln.split() for ln in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return any(r[1].endswith(f":{port:04X}") and r[3] == "0A" for r in rows)


def nc_round(src: Path, dst: Path) -> float:
    """Seconds for ``nc -l`` to receive the file into ``dst`` (until it exits)."""
    nc = require_binary("nc", "netcat-openbsd")
    port = free_port()
    with open(dst, "wb") as out:
        rx = subprocess.Popen([nc, "-l", "127.0.0.1", str(port)], stdin=subprocess.DEVNULL, stdout=out)
        deadline = time.monotonic() + 10
        while not listening(port):
            if time.monotonic() > deadline or rx.poll() is not None:
                rx.kill()
                raise RuntimeError("nc -l did not listen")
            time.sleep(0.005)
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as s, open(src, "rb") as f:
            s.sendfile(f)
        rx.wait(600)
        return time.perf_counter() - t0


def run(size: int, rounds: int, workdir: Path) -> tuple[list[Row], dict[str, list[float]]]:
    src = workdir / "source"
    make_source(src, size)
    store = workdir / "store"
    mbs: dict[str, list[float]] = {"http PUT": [], "raw tcp": [], "nc -> file": []}
    rss: dict[str, list[float]] = {"http PUT": [], "raw tcp": []}
    srv = python_module("servers.files", "--tcp-port", "0", "--dir", str(store), "--no-fsync",
                        "--no-access-log", "--log-level", "warning", port=0)  # fmt: skip
    with srv:
        deadline = time.monotonic() + 10
        while len(LISTENING.findall(srv.output())) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("servers.files did not listen on both ports")
            time.sleep(0.01)
        http_port, tcp_port = (int(p) for p in LISTENING.findall(srv.output())[:2])

        def http_put(r: int) -> None:
            reset_peak(srv.pid)
            head = b"PUT /files/h%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (r, size)
            mbs["http PUT"].append(size / 1e6 / send(http_port, head, src, True))
            rss["http PUT"].append(peak_rss_mb(srv.pid))

        def raw_tcp(r: int) -> None:
            reset_peak(srv.pid)
            mbs["raw tcp"].append(size / 1e6 / send(tcp_port, b"PUT t%d %d\n" % (r, size), src, True))
            rss["raw tcp"].append(peak_rss_mb(srv.pid))

        def nc(r: int) -> None:
            mbs["nc -> file"].append(size / 1e6 / nc_round(src, workdir / "nc.out"))

        for r in range(rounds):
            for way in rotated((http_put, raw_tcp, nc), r):  # who goes first rotates
                way(r)
            for p in (store / f"h{r}", store / f"t{r}", workdir / "nc.out"):
                if p.stat().st_size != size:
                    raise RuntimeError(f"{p} has {p.stat().st_size} bytes, not {size}")
                p.unlink()
    rows = []
    for impl, v in mbs.items():
        extra = {"peak_rss_mb": max(rss[impl])} if impl in rss else {}
        rows.append(measured(f"upload {size // 2**20} MiB", impl, v, "MB/s", **extra))
    return rows, mbs


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.upload", description=__doc__.splitlines()[0])
    p.add_argument("--size-mb", type=int, default=1024, help="MiB per upload (default 1024)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--dir", type=Path, help="where the files go (default: a temporary directory)")
    args = p.parse_args(argv)
    size = args.size_mb * 2**20
    print(header(f"upload: {args.size_mb} MiB over loopback, {args.rounds} interleaved rounds"))
    with tempfile.TemporaryDirectory(prefix="bench-upload-", dir=args.dir) as tmp:
        rows, samples = run(size, args.rounds, Path(tmp))
    print(table(rows, reference="nc -> file"))
    path = save("upload", rows, size=size, rounds=args.rounds, samples=samples, fsync=False)
    png = median_bars(rows, path.with_suffix(".png"), f"{args.size_mb} MiB over loopback: servers/files "
                      f"(http PUT, raw tcp) vs nc -> file (reference), median of {args.rounds} round(s), "
                      "whiskers min..max", "MB/s", log=False, size=(8, 4.5))  # fmt: skip
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
