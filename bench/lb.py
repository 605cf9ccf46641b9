"""``make bench-lb``: wrk through syslab's load balancer and through HAProxy to two nginx backends.

Three targets in the same run, all in front of (or being) the same two nginx
backends serving a 1 KiB file:

* ``syslab``: ``python -m servers.lb`` (HTTP mode, round robin, keep-alive
  upstream pools, active checks on), one process, one event loop, uvloop;
* ``haproxy``: Debian's HAProxy, ``mode http``, ``balance roundrobin``,
  ``option forwardfor``, keep-alive both sides, **one thread** (``nbthread 1``):
  like syslab's balancer and like the one-worker nginx backends, it gets one
  core (HAProxy's default is a thread per CPU, which on this 2-CPU machine would
  compete with wrk and the backends for the same two cores);
* ``direct``: wrk straight to one nginx backend, the floor no proxy can beat.

Each round runs every target once with ``wrk -t2 -c64`` (throughput: req/s and
p50/p99 under load) and once with ``wrk -t1 -c1`` (latency of one request at a
time: the latency a proxy *adds* is its p50 there minus direct's); rounds are
interleaved so a burst of someone else's load hurts one pass of each.
Reported: min / median / max req/s, the ratio of medians syslab / HAProxy, the
proxy's CPU time per request (``/proc``). Results: ``bench/results/lb.json``
and ``lb.png``.

Where syslab's time goes. Before the byte path (2026-12-01, one run of 3
rounds, load average ~6 from other work on the 2 CPUs): 0.20x HAProxy's median,
~165 us of CPU per request against HAProxy's ~31, most of it CPython running
the sans-IO HTTP core twice per request (as a server and as a client, about
220 Python calls). The byte path (``servers.lb.rawpath``) proxies the common
request without the core: one regex checks a whole head against the core's
grammar and limits (anything unusual is declined to the general path, which
answers exactly as before), a one-pass rewrite, a pooled upstream Protocol,
the response head checked and rewritten in one pass and its Content-Length
body relayed as bytes; checked heads are cached by their bytes (clients and
backends repeat them; only Date changes), and read timeouts are swept every
50 ms instead of a timer per request. About 40 Python calls per request now.
Measured after it (same machine, two runs of 6 interleaved rounds of 5 s, load
average 8-10): medians 8,739 and 8,048 req/s against HAProxy's 10,985 and
10,064, **0.80x** both times (per round 0.54x to 1.16x), ~43-44 us of CPU per
request against HAProxy's ~30-31 (direct nginx: ~18). The four system calls per request are the same for both (a read
and a write on each side, strace). Split from ``/proc`` in separate runs of
the same load: syslab 17-25 us user + 23-30 us system per request, HAProxy
8-13 us user + 17-28 us system; the user time left is CPython's cost per
callback (two ``data_received`` and two writes per request). The
one-request-at-a-time latency a proxy adds was about the same for both in
that run (~200 us), dominated by the loaded machine's scheduling.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.procs import Child, free_port, python_module, require_binary

from .common import Row, cpu_seconds, header, results_dir, rotated, save
from .http import nginx, wrk

FILE = "small.html"
FILE_SIZE = 1024
IMPLS = ("direct", "syslab", "haproxy")

HAPROXY_CONF = """
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    option forwardfor
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
{servers}
"""


@contextmanager
def haproxy(port: int, backends: list[int]) -> Iterator[Child]:
    binary = require_binary("haproxy", "haproxy")
    with tempfile.TemporaryDirectory(prefix="syslab-haproxy-") as tmp:
        conf = Path(tmp) / "haproxy.cfg"
        servers = "\n".join(f"    server n{i} 127.0.0.1:{p}" for i, p in enumerate(backends))
        conf.write_text(HAPROXY_CONF.format(port=port, servers=servers))
        with Child([binary, "-db", "-f", str(conf)], port=port, name="haproxy") as child:
            yield child


def start(stack: contextlib.ExitStack, www: Path) -> dict[str, tuple[str, int]]:
    """Both backends and every target; impl -> (url, pid of the process measured)."""
    ports = [free_port(), free_port()]
    pids = [stack.enter_context(nginx(p, www)).pid for p in ports]
    path = f"/static/{FILE}"
    targets = {"direct": (f"http://127.0.0.1:{ports[0]}{path}", pids[0])}
    args = [a for p in ports for a in ("--backend", f"127.0.0.1:{p}")]
    args += ["--health-path", f"/static/{FILE}"]  # nginx has no index page: 404 is unhealthy
    lb = stack.enter_context(python_module("servers.lb", *args, "--log-level", "warning", port=0))
    targets["syslab"] = (f"http://127.0.0.1:{lb.port}{path}", lb.pid)
    hp = free_port()
    targets["haproxy"] = (f"http://127.0.0.1:{hp}{path}", stack.enter_context(haproxy(hp, ports)).pid)
    return targets


def run(seconds: int, connections: int, rounds: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="syslab-lb-bench-") as t, \
            contextlib.ExitStack() as stack:  # fmt: skip
        www = Path(t)
        www.chmod(0o755)
        (www / FILE).write_bytes((b"<p>syslab lb bench</p>\n" * 50)[:FILE_SIZE])
        targets = start(stack, www)
        load: dict[str, list[dict[str, float]]] = {i: [] for i in IMPLS}
        single: dict[str, list[dict[str, float]]] = {i: [] for i in IMPLS}
        for rnd in range(rounds):
            for impl in rotated(IMPLS, rnd):  # who goes first rotates
                target, pid = targets[impl]
                before = cpu_seconds(pid)
                r = wrk(target, 2, connections, seconds)
                r["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(1, r["requests"])
                load[impl].append(r)
                one = wrk(target, 1, 1, max(1, seconds // 2))
                single[impl].append(one)
                print(f"  [{rnd + 1}/{rounds}] {impl:<8} {r['rps']:>9,.0f} req/s  "
                      f"p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} ms  "
                      f"one at a time p50 {one['p50_ms'] * 1000:.0f} us  "
                      f"cpu {r['cpu_us']:.1f} us/req", flush=True)  # fmt: skip
    return rows_of(load, single)


def rows_of(load: dict[str, list[dict[str, float]]],
            single: dict[str, list[dict[str, float]]]) -> list[Row]:  # fmt: skip
    med = {i: statistics.median(r["rps"] for r in runs) for i, runs in load.items()}
    direct_p50 = statistics.median(r["p50_ms"] for r in single["direct"])
    rows = []
    for impl, runs in load.items():
        rps = [r["rps"] for r in runs]
        p50_one = statistics.median(r["p50_ms"] for r in single[impl])
        extra: dict[str, Any] = {
            "min": min(rps), "median": med[impl], "max": max(rps), "runs": rps,
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "single_p50_us": p50_one * 1000,
            "single_p99_us": statistics.median(r["p99_ms"] for r in single[impl]) * 1000,
            "added_us": (p50_one - direct_p50) * 1000 if impl != "direct" else 0.0,
            "errors": int(sum(r["errors"] for r in runs + single[impl])),
            "cpu_us_per_req": statistics.median(r["cpu_us"] for r in runs),
        }  # fmt: skip
        if impl == "haproxy":
            extra["syslab_ratio"] = med["syslab"] / med["haproxy"]
        rows.append(Row("1KiB via 2 nginx", impl, med[impl], "req/s", extra))
    return rows


def table(rows: list[Row]) -> str:
    out = [f"{'impl':<8} {'min':>8} {'median':>8} {'max':>8} {'p50 ms':>7} {'p99 ms':>7}  "
           f"{'1-conn p50 us':>13} {'added us':>8} {'cpu us/req':>10} {'errors':>6}"]  # fmt: skip
    for r in rows:
        e = r.extra
        out.append(f"{r.impl:<8} {e['min']:>8,.0f} {e['median']:>8,.0f} {e['max']:>8,.0f} "
                   f"{e['p50_ms']:>7.2f} {e['p99_ms']:>7.2f}  {e['single_p50_us']:>13.0f} "
                   f"{e['added_us']:>8.0f} {e['cpu_us_per_req']:>10.1f} {e['errors']:>6}")  # fmt: skip
    ratio = next(r.extra["syslab_ratio"] for r in rows if r.impl == "haproxy")
    out.append(f"\nsyslab / haproxy (median req/s): {ratio:.2f}x   (goal: at least 0.5x)")
    return "\n".join(out)


def plot(rows: list[Row], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
    xs = range(len(rows))
    med = [r.extra["median"] for r in rows]
    err = [[m - r.extra["min"] for m, r in zip(med, rows, strict=True)],
           [r.extra["max"] - m for m, r in zip(med, rows, strict=True)]]  # fmt: skip
    colors = {"direct": "tab:grey", "syslab": "tab:blue", "haproxy": "tab:green"}
    ax1.bar(xs, med, yerr=err, capsize=4, color=[colors[r.impl] for r in rows])
    ax1.set_xticks(list(xs), [r.impl for r in rows])
    ax1.set_ylabel("req/s (median, min-max)")
    ax2.bar(xs, [r.extra["single_p50_us"] for r in rows], color=[colors[r.impl] for r in rows])
    ax2.set_xticks(list(xs), [r.impl for r in rows])
    ax2.set_ylabel("one request at a time: p50 latency (us)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.lb", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="interleaved passes (default 3)")
    p.add_argument("--quick", action="store_true", help="1-second runs, 1 round (the smoke test)")
    args = p.parse_args(argv)
    seconds = 1 if args.quick else max(1, min(args.duration, 60))
    rounds = 1 if args.quick else max(1, min(args.rounds, 10))
    title = (f"load balancer: wrk -t2 -c{args.connections} -d{seconds}s to a 1 KiB file on 2 nginx "
             f"backends, {rounds} interleaved round(s)")  # fmt: skip
    print(header(title))
    rows = run(seconds, args.connections, rounds)
    print()
    print(table(rows))
    name = "lb-quick" if args.quick else "lb"
    path = save(name, rows, seconds=seconds, rounds=rounds, connections=args.connections)
    png = results_dir() / f"{name}.png"
    plot(rows, png, title)
    print(f"\nsaved {path} and {png}", file=sys.stderr)


if __name__ == "__main__":
    main()
