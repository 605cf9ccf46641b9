"""``make bench-http``: wrk against syslab's HTTP server and three references.

Workloads (all keep-alive, ``wrk -t2 -c64 -d10s`` by default, one run each):

* ``hello``: a 14-byte text response. syslab (``servers.http``, sync route,
  uvloop), uvicorn (httptools + uvloop, a bare ASGI app, no access log),
  aiohttp (uvloop), and nginx answering the same bytes from a static file;
* ``static file``: a small file from syslab's static handler vs nginx.

Every server is a child process on a free port, all started up front; the
runs are interleaved over ``--rounds`` passes (default 2) and the best run of
each server is kept, so a burst of unrelated load on a shared machine hurts one
pass of every server instead of every run of one. wrk runs on the same 2-core
machine: absolute numbers are lower than with a dedicated client, but every
server pays the same tax. nginx runs one worker (``-p`` prefix in a temp dir,
``daemon off``) so it is single-core like the Python servers.
``python -m bench.http --serve uvicorn|aiohttp --port N`` runs a reference
server in the foreground (used as the child).

``--streams N`` is another mode: N concurrent idle streamed responses held by
one process, syslab vs aiohttp, RSS per stream (see ``bench.http_streams``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.procs import Child, free_port, python_module, require_binary

from .common import Row, header, save, table

HELLO = b"Hello, world!\n"


# -- the reference servers (run as children) -----------------------------------------
async def asgi_hello(scope, receive, send):  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})  # fmt: skip
    await send({"type": "http.response.body", "body": HELLO})


def serve_uvicorn(port: int) -> None:
    import uvicorn

    uvicorn.run(asgi_hello, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", lifespan="off")  # fmt: skip


def serve_aiohttp(port: int) -> None:
    import uvloop
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=HELLO, content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/hello", hello)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


NGINX_CONF = """
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
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        location = /hello {{ try_files /hello.txt =404; }}
    }}
}}
"""


@contextmanager
def nginx(port: int) -> Iterator[Child]:
    """A private nginx on ``port``, config, pid and logs in a temp dir."""
    binary = require_binary("nginx", "nginx-light")
    with tempfile.TemporaryDirectory(prefix="syslab-nginx-") as tmp:
        os.chmod(tmp, 0o755)  # workers may run as nobody: they must read www/
        www = Path(tmp) / "www"
        www.mkdir()
        (www / "hello.txt").write_bytes(HELLO)
        (www / "static").mkdir()
        (www / "static" / "hello.txt").write_bytes(HELLO)
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
        with Child([binary, "-p", tmp, "-c", str(conf)], port=port, name="nginx") as child:
            yield child


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
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if not (rps and p50 and p99):
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    return {
        "rps": float(rps[1]),
        "p50_ms": _ms(p50[1]),
        "p99_ms": _ms(p99[1]),
        "errors": (int(bad[1]) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0),
    }


def _row(workload: str, impl: str, runs: list[dict[str, float]]) -> Row:
    best = max(runs, key=lambda r: r["rps"])
    extra: dict[str, Any] = {"p50_ms": best["p50_ms"], "p99_ms": best["p99_ms"],
             "errors": int(sum(r["errors"] for r in runs))}  # fmt: skip
    if len(runs) > 1:
        extra["runs"] = "/".join(f"{r['rps']:.0f}" for r in runs)
    return Row(workload, impl, best["rps"], "req/s", extra)


IMPLS = ("syslab", "uvicorn", "aiohttp", "nginx")


def start_servers(
    stack: contextlib.ExitStack, tmp: Path, only: tuple[str, ...]
) -> list[tuple[str, str, str]]:
    """Start every server asked for; (workload, impl, url) for each measurement."""
    targets = []
    if "syslab" in only:
        port = free_port()
        args = ("--no-access-log", "--log-level", "warning", "--static", str(tmp))
        stack.enter_context(python_module("servers.http", *args, port=port))
        targets += [("hello", "syslab", f"http://127.0.0.1:{port}/hello"),
                    ("static file", "syslab", f"http://127.0.0.1:{port}/static/hello.txt")]  # fmt: skip
    for name in ("uvicorn+httptools", "aiohttp"):
        kind = name.split("+")[0]
        if kind in only:
            port = free_port()
            child = python_module("bench.http", "--serve", kind, "--port", str(port))
            child.port = port  # the flags are ours, not servers.cli's: set the port after
            stack.enter_context(child)
            targets.append(("hello", name, f"http://127.0.0.1:{port}/hello"))
    if "nginx" in only:
        port = free_port()
        stack.enter_context(nginx(port))
        targets += [("hello", "nginx (static)", f"http://127.0.0.1:{port}/hello"),
                    ("static file", "nginx", f"http://127.0.0.1:{port}/static/hello.txt")]  # fmt: skip
    return targets


def run(seconds: int, threads: int, connections: int, only: tuple[str, ...] = IMPLS,
        rounds: int = 1) -> list[Row]:  # fmt: skip
    """All servers up at once; ``rounds`` interleaved passes, best run of each kept.

    Interleaving matters on a shared machine: a burst of someone else's load then
    hurts one pass of every server rather than all runs of one server.
    """
    with (
        tempfile.TemporaryDirectory(prefix="syslab-http-bench-") as t,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(t)
        (tmp / "hello.txt").write_bytes(HELLO)
        targets = start_servers(stack, tmp, only)
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for rnd in range(rounds):
            for workload, impl, url in targets:
                r = wrk(url, threads, connections, seconds)
                results.setdefault((workload, impl), []).append(r)
                print(f"  [{rnd + 1}/{rounds}] {workload:<12} {impl:<20} {r['rps']:>10,.0f} req/s  "
                      f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms", flush=True)  # fmt: skip
    order = {"hello": 0, "static file": 1}
    keys = sorted(results, key=lambda k: order[k[0]])
    return [_row(w, i, results[(w, i)]) for w, i in keys]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="1-second runs (the smoke test)")
    p.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="interleaved passes over all servers; the best run of each is kept",
    )
    p.add_argument("--only", default=",".join(IMPLS), help=f"comma-separated subset of {IMPLS}")
    p.add_argument("--streams", type=int, metavar="N",
                   help="instead: hold N idle streamed responses (10000 is the figure to "
                   "quote), syslab vs aiohttp, and report RSS per stream")  # fmt: skip
    p.add_argument("--serve", choices=["uvicorn", "aiohttp"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        (serve_uvicorn if args.serve == "uvicorn" else serve_aiohttp)(args.port)
        return
    if args.streams:
        streams_main(args)
        return
    seconds = 1 if args.quick else min(args.duration, 60)
    print(
        header(
            f"HTTP keep-alive: wrk -t{args.threads} -c{args.connections} -d{seconds}s"
            f", {args.rounds} round(s)"
        )
    )
    only = tuple(x.strip() for x in args.only.split(","))
    rows = run(seconds, args.threads, args.connections, only, max(1, min(args.rounds, 10)))
    print()
    print(table(rows, reference="syslab"))
    path = save(
        "http-quick" if args.quick else "http",
        rows,
        seconds=seconds,
        rounds=args.rounds,
        threads=args.threads,
        connections=args.connections,
    )
    print(f"\nsaved {path}", file=sys.stderr)


def streams_main(args: argparse.Namespace) -> None:
    from . import http_streams

    n, rounds = max(1, args.streams), max(1, min(args.rounds, 10))
    print(header(f"HTTP idle streams: {n} held at once by one process, {rounds} round(s)"))
    only = tuple(x for x in ("syslab", "aiohttp") if x in args.only.split(","))
    rows = http_streams.measure(n, rounds, only)
    print()
    print(http_streams.report(rows))
    path = save("http-streams-quick" if args.quick else "http-streams", rows, streams=n,
                rounds=rounds)  # fmt: skip
    print(f"\nsaved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
