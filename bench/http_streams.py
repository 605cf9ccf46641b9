"""``python -m bench.http --streams N``: N concurrent idle streamed responses held by
one server process, syslab's and aiohttp's, and what each stream costs.

Each server is a child process (``--serve syslab|aiohttp``) whose one route
sends ``ready`` and then holds the response open in silence (syslab: a
``StreamingResponse`` with a TCP keepalive policy; aiohttp: a ``StreamResponse``).
The bench opens N keep-alive connections, sends one GET on each, waits for every
``ready``, then reads the child's RSS and open fds from ``/proc``. It closes
them all and waits until the child's fd count is back to its baseline (the
streams really ended). Per round and server: KiB of RSS per stream (lower is
better) and streams opened per second (higher is better). Rounds interleave the two
servers, who goes first rotating; the tables show the median with min / max beside
it and the ratio of medians to aiohttp's (>1: syslab ahead); the PNG draws the
medians with min..max whiskers.

Both processes raise RLIMIT_NOFILE to its hard limit: N streams need N fds on
each side (10,000 by default, so the hard limit must be above about 10,100).
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from harness.procs import Child, free_port, python_module

from .common import Row, interleaved, measured, median_bars, table

READY = b"ready\n"
REQUEST = b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n"
BATCH = 500  # connections opened at once: below the listen backlog


def raise_fd_limit(need: int) -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; an error if ``need`` cannot fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < need:
        raise SystemExit(f"need {need} file descriptors, the hard limit is {target}: "
                         f"raise it (ulimit -Hn) or ask for fewer --streams")  # fmt: skip
    return target


# -- the servers (children) ----------------------------------------------------------------
def serve_syslab(port: int) -> None:
    from netlib.http import App, StreamingResponse, TCPKeepAlive, serve
    from netlib.shell import ShellConfig, run, serve_until_signalled

    raise_fd_limit(0)
    hold = asyncio.Event()

    async def feed() -> Any:
        yield READY
        await hold.wait()

    app = App(access_log=False)
    app.add("GET", "/idle", lambda req: StreamingResponse(feed(), keepalive=TCPKeepAlive()))

    async def main() -> None:
        cfg = ShellConfig(port=port, max_connections=1_000_000, backlog=4096)
        await serve_until_signalled(await serve(app, cfg))

    run(main)


def serve_aiohttp(port: int) -> None:
    import uvloop
    from aiohttp import web

    raise_fd_limit(0)

    async def idle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(READY)
        await asyncio.Event().wait()  # held until the client leaves (cancelled then)
        return resp

    app = web.Application()
    app.router.add_get("/idle", idle)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=4096)


SERVERS = {"syslab": serve_syslab, "aiohttp": serve_aiohttp}


# -- measuring -----------------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def _open_one(port: int) -> asyncio.StreamWriter:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(REQUEST)
    await asyncio.wait_for(r.readuntil(READY), 60)
    return w


async def hold_streams(child: Child, port: int, n: int) -> dict[str, float]:
    """Open ``n`` streams on the child, measure it, close them, wait for its fds."""
    pid = child.pid
    base_rss, base_fds = rss_kib(pid), fds(pid)
    writers: list[asyncio.StreamWriter] = []
    t0 = time.perf_counter()
    try:
        while len(writers) < n:
            k = min(BATCH, n - len(writers))
            writers += await asyncio.gather(*(_open_one(port) for _ in range(k)))
        opened = time.perf_counter() - t0
        rss, held = rss_kib(pid), fds(pid)
    finally:
        for w in writers:
            w.close()
    async with asyncio.timeout(120):  # every stream must end once its client left
        while fds(pid) > base_fds:
            await asyncio.sleep(0.05)  # polling the child's fd table
    return {"kib_per_stream": (rss - base_rss) / n, "rss_mib": rss / 1024,
            "streams_per_s": n / opened, "fds_held": held - base_fds}  # fmt: skip


def measure(n: int, rounds: int, only: tuple[str, ...]) -> list[Row]:
    raise_fd_limit(n + 200)
    done = dict.fromkeys(only, 0)

    def one(impl: str) -> dict[str, float]:
        port = free_port()
        child = python_module("bench.http_streams", "--serve", impl, "--port", str(port))
        child.port = port  # the flags are ours, not servers.cli's: set the port after
        with child:
            r = asyncio.run(hold_streams(child, port, n))
        done[impl] += 1
        print(f"  [{done[impl]}/{rounds}] {impl:<8} {n} streams: "
              f"{r['kib_per_stream']:.1f} KiB RSS each, {r['streams_per_s']:,.0f} opened/s, "
              f"{r['fds_held']:.0f} fds", flush=True)  # fmt: skip
        return r

    results = interleaved({impl: (lambda impl=impl: one(impl)) for impl in only}, rounds)
    per = [measured(f"{n} idle streams", impl, [r["kib_per_stream"] for r in runs], "KiB/strm",
                    rss_mib=statistics.median(r["rss_mib"] for r in runs))
           for impl, runs in results.items()]  # fmt: skip
    rate = [measured(f"open {n} streams", impl, [r["streams_per_s"] for r in runs], "streams/s")
            for impl, runs in results.items()]  # fmt: skip
    return per + rate


def report(rows: list[Row]) -> str:
    """RSS per stream (lower is better) and opening rate (higher is better), ratio vs aiohttp."""
    return "\n\n".join([
        table([r for r in rows if r.unit == "KiB/strm"], reference="aiohttp", higher_is_better=False),
        table([r for r in rows if r.unit == "streams/s"], reference="aiohttp"),
    ])  # fmt: skip


def plot(rows: list[Row], path: Path, rounds: int) -> Path:
    n = rows[0].workload.split()[0]
    return median_bars(rows, path, f"HTTP: {n} idle streams held by one process, syslab (ours) vs "
                       f"aiohttp, median of {rounds} round(s), whiskers min..max",
                       {"KiB/strm": "KiB of RSS per stream", "streams/s": "streams opened / s"},
                       log=False)  # fmt: skip


def child_main(argv: list[str]) -> bool:
    """``--serve IMPL --port N``: run one server (the bench's child); False if not asked."""
    if "--serve" not in argv:
        return False
    impl = argv[argv.index("--serve") + 1]
    port = int(argv[argv.index("--port") + 1])
    SERVERS[impl](port)
    return True


if __name__ == "__main__":
    if not child_main(sys.argv[1:]):
        raise SystemExit("run it as: python -m bench.http --streams N")
