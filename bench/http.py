"""``make bench-http``: wrk against syslab's HTTP server, nginx and uvicorn.

Workloads (all keep-alive, ``wrk -t2 -c64 -d5s`` per run by default):

* ``hello``: a 14-byte text response. syslab (``servers.http``, sync route,
  uvloop), uvicorn (httptools + uvloop, a bare ASGI app, no access log), and
  nginx answering the same bytes from a file;
* ``static 4KiB`` and ``static 1MiB``: a file from syslab's static handler vs
  the same file from nginx.

nginx is configured the way it is run in production, not handicapped: one
worker (single-core, like the Python servers), ``sendfile on``, ``tcp_nopush``,
``open_file_cache`` (1 s validity, as syslab's cache), ``keepalive_requests``
high enough that wrk's connections are never recycled (the default 1000 would
make nginx pay reconnects syslab does not), no access log.

Every server is a child process, all started up front; each round runs every
(workload, server) pair once, and rounds are interleaved, so a burst of
someone else's load on a shared machine hurts one pass of every server instead
of every run of one. Reported: min / median / max req/s over the rounds and the
ratio of medians, syslab over the reference (higher is better for syslab); and
each server's CPU time per request (user + system, from ``/proc``), with the
ratio reference CPU / syslab CPU: on a shared machine req/s moves with everyone
else's load, CPU per request much less, so that column says what the server
itself costs.
wrk runs on the same machine: absolute numbers are lower than with a dedicated
client, but every server pays the same tax. Results: ``bench/results/http.json``
(numbers) and ``http.png`` (medians with min-max bars).
``python -m bench.http --serve uvicorn --port N`` runs the reference app in the
foreground (used as the child).

What syslab's side does per request: the session's fast path (one regex over a
whole GET/HEAD head, the handler called inline, the response head from cached
pieces, one write), a 4 KiB file from the static cache's bytes in that one
write, a 1 MiB file as a head write and one ``os.sendfile`` without a task when
the socket takes it. Measured 2026-12-01 on a shared 2-core VM, two runs of 6
rounds of 4 s (load average 6-10, then 4; req/s of one server moved 2-3x between
rounds, CPU per request far less), syslab/nginx ratio of medians, req/s (CPU):
hello 0.61x (0.55x) and 0.55x (0.57x); 4 KiB 0.34x (0.43x) and 0.55x (0.53x);
1 MiB 0.87x (1.14x) and 1.07x (1.54x). The server before the fast path, run
interleaved with it and nginx in two other runs of the same shape (4 rounds of
3 s, load 10, then 4): CPU per request 52 -> 34 and 51 -> 30 us (hello),
75 -> 44 and 63 -> 38 us (4 KiB), 330 -> 236 and 246 -> 206 us (1 MiB). What is left on the small responses is mostly the interpreter: the
session alone runs about 500 bytecodes, 40k instructions, per hello request
(counted off the loop: request object, routing, handler, head), where nginx's
whole user time is about 6 us.
Then fewer Python calls per request: one findall of the noted fields instead of
parsing every field, fields parsed only if read, the route per raw target
remembered, a fresh small static file answered from the cache without its
handler. callgrind, instructions per request through ``data_received`` (a fake
transport): hello 46.0k -> 38.4k, 4 KiB file 58.7k -> 37.5k. Two runs of 6 rounds
of 4 s back to back (load 2.6-3.8), before then after, syslab/nginx ratio of
medians, req/s (CPU), syslab's CPU per request: hello 0.62x (0.54x) -> 0.85x
(0.78x), 36.5 -> 24.4 us; 4 KiB 0.49x (0.43x) -> 0.84x (0.78x), 47.5 -> 23.4 us;
1 MiB 0.86x -> 0.99x (a path not changed: noise).
Then (issue #9) one regex ``match`` per head that also finds its end and judges
Host and the framing fields by a lookahead per line (no find, lower or findall),
no regex call past a read's last request (each costs ~2k instructions, failing or
not), the encoded head remembered on a Response returned again (checked against
its status, headers and body), a flag instead of the precondition chain between
fast reads, the Date tail's second checked inline, and no clock read per read in
the shell. callgrind, instructions per request through ``_Conn.data_received`` (a
fake transport, uvloop): hello 37.2k -> 22.2k, 4 KiB file 36.6k -> 25.0k, hello
with a curl-like head (User-Agent, Accept, Connection: keep-alive) 75.1k -> 26.9k;
the whole server process under callgrind, a native client, uvloop included: hello
40.0k -> 25.0k. User CPU per hello request, old and new servers interleaved under
wrk (load 8-11, before the inline Date check): 10.3-12.3 -> 7.5-7.9 us.
Measured 2026-12-01, three runs of 5 rounds of 3 s, load average 9.4-11.3,
9.0-9.9 and 8.9-9.9 (a busy shared machine: req/s a quarter of a quiet one's;
the first two before the inline Date check, the third at it), syslab vs nginx,
min/median/max req/s: hello 10.5k/12.6k/14.8k vs 13.0k/14.5k/16.5k,
7.3k/8.1k/14.2k vs 7.8k/9.4k/15.0k and 8.4k/10.6k/14.8k vs 11.5k/12.5k/15.2k,
ratio of medians 0.87x, 0.87x and 0.84x; CPU per request 20.2 vs 19.4 us (0.96x),
23.5 vs 22.9 (0.97x) and 28.9 vs 22.1 (0.76x: at this load CPU per request moves
too, syslab's 23.8-31.5 us across the third run's rounds); 4 KiB 0.72x, 0.88x and
0.81x (CPU 0.89x, 0.81x, 0.82x); 1 MiB 0.85x, 0.73x and 0.82x (CPU 0.86x, 0.85x,
0.76x; a path not changed: old and new servers interleaved under wrk, 194-220 us
per request both). The same code on a quiet machine (2026-12-01 13:46, load
average 0.2-1.9, 5 rounds of 3 s), syslab vs nginx min/median/max req/s: hello
33,955/70,980/74,419 vs 54,892/62,759/68,468, ratio of medians 1.13x (CPU 13.9
vs 15.7 us per request); 4 KiB 38,933/53,393/60,654 vs 52,784/64,137/65,263,
0.83x (CPU 18.2 vs 15.4); 1 MiB 2,706/3,165/3,295 vs 3,303/3,634/3,713, 0.87x
(CPU 149 vs 180).

``--streams N`` is another mode: N concurrent idle streamed responses held by
one process, syslab vs aiohttp, RSS per stream (see ``bench.http_streams``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from harness.procs import Child, free_port, python_module, require_binary

from . import common
from .common import Row, cpu_seconds, header, rotated, save

HELLO = b"Hello, world!\n"
# The static workloads: name -> file size. 4 KiB is a typical icon or small script;
# 1 MiB an image or bundle, where the copy (or its absence: sendfile) dominates.
FILES = {"static 4KiB": 4 * 1024, "static 1MiB": 1024 * 1024}
WORKLOADS = ("hello", *FILES)
IMPLS = ("syslab", "nginx", "uvicorn")


# -- the reference servers (run as children) -----------------------------------------
async def asgi_hello(scope, receive, send):  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})  # fmt: skip
    await send({"type": "http.response.body", "body": HELLO})


def serve_uvicorn(port: int) -> None:
    import uvicorn

    uvicorn.run(asgi_hello, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", lifespan="off")  # fmt: skip


# What every private nginx of the benches shares: one process in the foreground, its
# pid, logs and temp files in a temporary folder, no access log. ``{http}`` is the rest
# of the http block (servers, caches), formatted by the caller.
NGINX_MAIN = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
{http}
}}
"""
NGINX_STATIC = """
    default_type text/plain;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=20s;
    open_file_cache_valid 1s;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        location = /hello {{ try_files /hello.txt =404; }}
        location /static/ {{ alias {www}/; }}
    }}
"""


@contextmanager
def private_nginx(port: int, http_block: str, **fmt: object) -> Iterator[Child]:
    """A private nginx on ``port`` whose http block is ``http_block`` (formatted with
    ``tmp``, ``port`` and ``fmt``); config, pid, logs and caches in a temp dir."""
    binary = require_binary("nginx", "nginx-light")
    with tempfile.TemporaryDirectory(prefix="syslab-nginx-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        http = http_block.format(tmp=tmp, port=port, **fmt)
        conf.write_text(NGINX_MAIN.format(tmp=tmp, http=http))
        with Child([binary, "-p", tmp, "-c", str(conf)], port=port, name="nginx") as child:
            yield child


def nginx(port: int, www: Path) -> AbstractContextManager[Child]:
    """A private nginx on ``port`` serving ``www``."""
    return private_nginx(port, NGINX_STATIC, www=www)


def make_site(www: Path) -> None:
    """The files both servers serve: hello.txt and one file per static workload."""
    os.chmod(www, 0o755)  # nginx workers may run as nobody: they must read it
    (www / "hello.txt").write_bytes(HELLO)
    for name, size in FILES.items():
        block = bytes(range(256)) * (size // 256 + 1)
        (www / _file_name(name)).write_bytes(block[:size])


def _file_name(workload: str) -> str:
    return workload.split()[1] + ".bin"


# -- wrk -----------------------------------------------------------------------------
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m[1]) * _UNITS[m[2]] if m else float("nan")


def wrk(url: str, threads: int, connections: int, seconds: int) -> dict[str, float]:
    """Run wrk once; req/s, p50/p99 in ms and the error count."""
    binary = require_binary("wrk", "wrk")
    out = subprocess.run(
        [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout  # fmt: skip
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if not (rps and p50 and p99 and done):
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    return {
        "rps": float(rps[1]),
        "requests": int(done[1]),
        "p50_ms": _ms(p50[1]),
        "p99_ms": _ms(p99[1]),
        "errors": (int(bad[1]) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0),
    }


Target = tuple[str, str, str, int]  # workload, impl, url, server pid


def start_servers(stack: contextlib.ExitStack, www: Path, only: tuple[str, ...]) -> list[Target]:
    """Start every server asked for; (workload, impl, url, pid) for each measurement."""
    targets: list[Target] = []
    if "syslab" in only:
        port = free_port()
        args = ("--no-access-log", "--log-level", "warning", "--static", str(www))
        pid = stack.enter_context(python_module("servers.http", *args, port=port)).pid
        targets.append(("hello", "syslab", f"http://127.0.0.1:{port}/hello", pid))
        targets += [(w, "syslab", f"http://127.0.0.1:{port}/static/{_file_name(w)}", pid)
                    for w in FILES]  # fmt: skip
    if "nginx" in only:
        port = free_port()
        pid = stack.enter_context(nginx(port, www)).pid  # master_process off: the one process
        targets.append(("hello", "nginx", f"http://127.0.0.1:{port}/hello", pid))
        targets += [(w, "nginx", f"http://127.0.0.1:{port}/static/{_file_name(w)}", pid)
                    for w in FILES]  # fmt: skip
    if "uvicorn" in only:
        port = free_port()
        child = python_module("bench.http", "--serve", "uvicorn", "--port", str(port))
        child.port = port  # the flags are ours, not servers.cli's: set the port after
        pid = stack.enter_context(child).pid
        targets.append(("hello", "uvicorn", f"http://127.0.0.1:{port}/hello", pid))
    return sorted(targets, key=lambda t: (WORKLOADS.index(t[0]), IMPLS.index(t[1])))


def run(
    seconds: int, threads: int, connections: int, only: tuple[str, ...] = IMPLS, rounds: int = 3
) -> list[Row]:
    """All servers up at once; ``rounds`` interleaved passes; one Row per (workload, impl)."""
    with (
        tempfile.TemporaryDirectory(prefix="syslab-http-bench-") as t,
        contextlib.ExitStack() as stack,
    ):
        www = Path(t)
        make_site(www)
        targets = start_servers(stack, www, only)
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for rnd in range(rounds):
            for workload, impl, url, pid in rotated(targets, rnd):  # who goes first rotates
                before = cpu_seconds(pid)
                r = wrk(url, threads, connections, seconds)
                r["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(1, r["requests"])
                results.setdefault((workload, impl), []).append(r)
                print(f"  [{rnd + 1}/{rounds}] {workload:<12} {impl:<8} {r['rps']:>10,.0f} req/s  "
                      f"p99 {r['p99_ms']:.2f} ms  server cpu {r['cpu_us']:.1f} us/req",
                      flush=True)  # fmt: skip
    return rows_of(results)


def rows_of(results: dict[tuple[str, str], list[dict[str, float]]]) -> list[Row]:
    """min / median / max req/s per (workload, impl), and syslab's ratio of medians to each."""
    rows = []
    medians = {k: statistics.median(r["rps"] for r in runs) for k, runs in results.items()}
    for (workload, impl), runs in results.items():
        rps = [r["rps"] for r in runs]
        extra: dict[str, Any] = {
            "min": min(rps), "median": medians[(workload, impl)], "max": max(rps),
            "runs": rps, "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "errors": int(sum(r["errors"] for r in runs)),
            "cpu_us_per_req": statistics.median(r["cpu_us"] for r in runs),
        }  # fmt: skip
        ours = medians.get((workload, "syslab"))
        if impl != "syslab" and ours:
            extra["syslab_ratio"] = ours / medians[(workload, impl)]
            our_cpu = statistics.median(r["cpu_us"] for r in results[(workload, "syslab")])
            extra["syslab_cpu_ratio"] = extra["cpu_us_per_req"] / our_cpu if our_cpu else 0.0
        rows.append(Row(workload, impl, medians[(workload, impl)], "req/s", extra))
    return rows


def table(rows: list[Row]) -> str:
    """The result table: min/median/max and, on each reference's line, syslab's ratio of medians."""
    out = [f"{'workload':<13} {'impl':<8} {'min':>9} {'median':>9} {'max':>9}  "
           f"{'p99 ms':>7} {'errors':>6} {'cpu us/req':>10}  syslab/this  (by cpu)"]  # fmt: skip
    for r in rows:
        e = r.extra
        ratio = f"{e['syslab_ratio']:.2f}x" if "syslab_ratio" in e else ""
        by_cpu = f"({e['syslab_cpu_ratio']:.2f}x)" if "syslab_cpu_ratio" in e else ""
        out.append(f"{r.workload:<13} {r.impl:<8} {e['min']:>9,.0f} {e['median']:>9,.0f} "
                   f"{e['max']:>9,.0f}  {e['p99_ms']:>7.2f} {e['errors']:>6} "
                   f"{e['cpu_us_per_req']:>10.1f}  {ratio:>11}  {by_cpu}")  # fmt: skip
    return "\n".join(out)


def plot(rows: list[Row], path: Path, title: str) -> None:
    """Median req/s per workload and server, min-max as error bars, ratios written above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = [w for w in WORKLOADS if any(r.workload == w for r in rows)]
    fig, axes = plt.subplots(1, len(workloads), figsize=(4 * len(workloads), 4), squeeze=False)
    colors = {"syslab": "tab:blue", "nginx": "tab:green", "uvicorn": "tab:orange"}
    for ax, w in zip(axes[0], workloads, strict=True):
        mine = [r for r in rows if r.workload == w]
        xs = range(len(mine))
        med = [r.extra["median"] for r in mine]
        err = [[m - r.extra["min"] for m, r in zip(med, mine, strict=True)],
               [r.extra["max"] - m for m, r in zip(med, mine, strict=True)]]  # fmt: skip
        ax.bar(xs, med, yerr=err, capsize=4, color=[colors.get(r.impl, "grey") for r in mine])
        ax.set_xticks(list(xs), [r.impl for r in mine])
        for x, r in zip(xs, mine, strict=True):
            if "syslab_ratio" in r.extra:
                ax.annotate(f"syslab {r.extra['syslab_ratio']:.2f}x", (x, r.extra["max"]),
                            ha="center", va="bottom", fontsize=8)  # fmt: skip
        ax.set_title(w)
        ax.set_ylabel("req/s (median, min-max)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="1-second runs (the smoke test)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved passes over all servers")
    p.add_argument("--only", default=",".join(IMPLS), help=f"comma-separated subset of {IMPLS}")
    p.add_argument("--streams", type=int, metavar="N",
                   help="instead: hold N idle streamed responses (10000 is the figure to "
                   "quote), syslab vs aiohttp, and report RSS per stream")  # fmt: skip
    p.add_argument("--serve", choices=["uvicorn"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve_uvicorn(args.port)
        return
    if args.streams:
        streams_main(args)
        return
    only = tuple(x.strip() for x in args.only.split(","))
    if not set(only) <= set(IMPLS) or args.rounds < 1:
        p.error(f"--only takes a subset of {','.join(IMPLS)}; --rounds at least 1")
    seconds = 1 if args.quick else min(args.duration, 60)
    rounds = min(args.rounds, 10)
    title = (f"HTTP keep-alive: wrk -t{args.threads} -c{args.connections} -d{seconds}s, "
             f"{rounds} interleaved round(s)")  # fmt: skip
    print(header(title))
    rows = run(seconds, args.threads, args.connections, only, rounds)
    print()
    print(table(rows))
    name = "http-quick" if args.quick else "http"
    path = save(name, rows, seconds=seconds, rounds=rounds, threads=args.threads,
                connections=args.connections)  # fmt: skip
    png = common.results_dir() / f"{name}.png"
    plot(rows, png, title)
    print(f"\nsaved {path} and {png}", file=sys.stderr)


def streams_main(args: argparse.Namespace) -> None:
    from . import http_streams

    n, rounds = max(1, args.streams), max(1, min(args.rounds, 10))
    print(header(f"HTTP idle streams: {n} held at once by one process, {rounds} round(s)"))
    rows = http_streams.measure(n, rounds, ("syslab", "aiohttp"))
    print()
    print(http_streams.report(rows))
    path = save("http-streams-quick" if args.quick else "http-streams", rows, streams=n,
                rounds=rounds)  # fmt: skip
    png = http_streams.plot(rows, path.with_suffix(".png"), rounds)
    print(f"\nsaved {path} and {png}", file=sys.stderr)


if __name__ == "__main__":
    main()
