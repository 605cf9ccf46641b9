"""OG cards under a Zipf load: the origin alone, through our edge, and through nginx's proxy_cache.

``make bench-cdn`` (``python -m bench.cdn [--repos 1000] [--requests 400] [--users 16]
[--zipf 1.1] [--rounds 3]``)

A locust-style load: ``--users`` virtual users, each a keep-alive HTTP client
in a loop, share one pre-drawn sequence of ``--requests`` card URLs
(``/og/{owner}/{repo}.png``) whose popularity follows Zipf(s) over
``--repos`` repositories, as real traffic does (a few repositories get most
of the views). The same sequence is sent to three targets, in interleaved
rounds (origin, ours, nginx, origin, ...):

* **origin**: no cache: every request draws a card (about 60 ms of Pillow);
* **syslab edge**: ``servers.cdn edge`` in front of the same origin;
* **nginx proxy_cache**: the reference shared cache (``proxy_cache_lock`` on, the
  equivalent of our coalescing; upstream keep-alive), same origin.

Each round uses fresh URLs (``?round=N``) so both caches start cold and the
round measures the cold-start miss cost plus the hits that follow; then, for the
two caches, a warm pass replays the same URLs five times (all hits: the cache's
own speed, the origin idle). Per target:
requests/s (min / median / max over rounds), p50 / p99 latency, the hit ratio
the client saw (``X-Cache``), and how many cards the origin drew (its own
count). Last, **hot**: wrk (C, keep-alive, ``-t2 -c64``) on one cached card per
cache, ``--wrk-seconds`` per round: the caches' own speed, without the Python
client's ceiling. Ratio of medians: ours vs nginx. Results: ``bench/results/cdn.json``
and ``cdn.png``.

What this does not show: a real CDN's win is mostly distance (an edge near the
user); here everything is on one machine, so the edge only saves the origin's
work. The client is Python (netlib's HTTPClient): its few thousand requests
per second cap what any target can show.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from harness.procs import Child, free_port, python_module
from netlib.http import HTTPClient

from .common import Row, header, measured, percentile, results_dir, rotated, save, table
from .http import private_nginx, wrk

TARGETS = ("origin", "syslab edge", "nginx proxy_cache")
WARM_REPEAT = 5  # the warm pass replays the round's URLs this many times: long enough to time
HIT_WORDS = {"HIT", "STALE", "REVALIDATED", "UPDATING"}  # ours and nginx's $upstream_cache_status

NGINX_CACHE = """
    proxy_cache_path {tmp}/cache levels=1:2 keys_zone=cdn:16m max_size=512m inactive=60m use_temp_path=off;
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache cdn;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 30s;
            proxy_cache_revalidate on;
            proxy_cache_use_stale error timeout updating;
            proxy_read_timeout 60s;
            add_header X-Cache $upstream_cache_status always;
        }}
    }}
"""


def nginx_cache(origin_port: int) -> AbstractContextManager[Child]:
    """A private nginx with proxy_cache in front of the origin (the reference edge)."""
    return private_nginx(free_port(), NGINX_CACHE, origin=origin_port)


def zipf_sequence(repos: int, requests: int, s: float, seed: int = 42) -> list[int]:
    rng = random.Random(seed)
    weights = [1 / (k + 1) ** s for k in range(repos)]
    return rng.choices(range(repos), weights, k=requests)


def card_path(k: int, round_: int) -> str:
    return f"/og/user{k % 97}/repo{k}.png?round={round_}"


async def run_load(base: str, paths: Sequence[str], users: int) -> tuple[float, list[float], int, int]:
    """(seconds, latencies, hits, errors) for ``paths`` shared by ``users`` looping clients."""
    queue = iter(paths)
    latencies: list[float] = []
    hits = errors = 0

    async def user() -> None:
        nonlocal hits, errors
        async with HTTPClient(timeout=120) as c:
            for path in queue:  # one shared iterator: users take the next URL in turn
                t0 = time.perf_counter()
                try:
                    r = await c.get(base + path)
                except (OSError, TimeoutError):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                if r.status != 200:
                    errors += 1
                hits += (r.headers.get("x-cache") or "").upper() in HIT_WORDS

    t0 = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(users)))
    return time.perf_counter() - t0, latencies, hits, errors


async def renders(origin: str) -> int:
    async with HTTPClient() as c:
        return int((await c.get(f"{origin}/_origin/stats")).json()["renders"])


Results = dict[tuple[str, str], list[dict[str, float]]]  # (phase, target) -> one dict per round


async def measure(targets: dict[str, str], origin: str, seq: list[int], users: int, rounds: int) -> Results:
    """Per round and target: a cold pass (new URLs), then for the caches a warm replay of it."""
    out: Results = {}
    for r in range(rounds):
        for name, base in rotated(targets.items(), r):  # interleaved: every target each round, rotating
            paths = [card_path(k, r * len(targets) + list(targets).index(name)) for k in seq]
            for phase in ("cold", "warm") if name != "origin" else ("cold",):
                before = await renders(origin)
                if phase == "warm":  # every URL is cached now: replay them WARM_REPEAT times
                    paths = paths * WARM_REPEAT
                secs, lat, hits, errors = await run_load(base, paths, users)
                got = {
                    "rps": len(paths) / secs, "p50_ms": percentile(lat, 50) * 1000,
                    "p99_ms": percentile(lat, 99) * 1000, "hit_ratio": hits / len(paths),
                    "renders": await renders(origin) - before, "errors": errors,
                }  # fmt: skip
                out.setdefault((phase, name), []).append(got)
                print(f"  round {r + 1} {phase} {name:<18} {got['rps']:8.1f} req/s  "
                      f"p50 {got['p50_ms']:7.1f} ms  hits {hits}/{len(paths)}", flush=True)  # fmt: skip
    return out


def hot(targets: dict[str, str], origin: str, rounds: int, seconds: int) -> Results:
    """wrk on one cached card per cache (interleaved rounds): the cache's own speed, no Python client."""
    out: Results = {}
    for r in range(rounds):
        for name, base in rotated(targets.items(), r):
            if name == "origin":
                continue
            url = f"{base}/og/hot/card.png?round={r}"
            asyncio.run(run_load(url, [""], 1))  # the one miss, before wrk starts
            before = asyncio.run(renders(origin))
            got = wrk(url, threads=2, connections=64, seconds=seconds)
            got.update(hit_ratio=1.0, renders=asyncio.run(renders(origin)) - before)
            out.setdefault(("hot", name), []).append(got)
            print(f"  round {r + 1} hot  {name:<18} {got['rps']:8.1f} req/s  p50 {got['p50_ms']:7.2f} ms "
                  f"(wrk -t2 -c64 -d{seconds}s)", flush=True)  # fmt: skip
    return out


def rows_of(results: Results, workload: str) -> list[Row]:
    rows = []
    for (phase, name), rounds in results.items():
        rps = [x["rps"] for x in rounds]

        def med(k: str, rounds: list[dict[str, float]] = rounds) -> float:
            return statistics.median(x[k] for x in rounds)

        rows.append(measured(f"{phase}: {workload}", name, rps, "req/s",
            p50_ms=med("p50_ms"), p99_ms=med("p99_ms"), hit_ratio=med("hit_ratio"),
            renders=med("renders"), errors=sum(x["errors"] for x in rounds),
        ))  # fmt: skip
    phases = ("cold", "warm", "hot")
    return sorted(rows, key=lambda r: (phases.index(r.workload.split(":")[0]), TARGETS.index(r.impl)))


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colour = {"origin": "tab:gray", "syslab edge": "tab:blue", "nginx proxy_cache": "tab:green"}
    cold = [r for r in rows if r.workload.startswith("cold")]
    warm = [r for r in rows if r.workload.startswith("warm")]
    hot_rows = [r for r in rows if r.workload.startswith("hot")]
    fig, axes = plt.subplots(1, 5 if hot_rows else 4, figsize=(21 if hot_rows else 17, 4))
    panels = [(cold, "value", "cold: requests/s (median, min-max)"), (cold, "p50_ms", "cold: p50 latency, ms (log)"),
              (cold, "renders", "cold: cards drawn at the origin"), (warm, "value", "warm: requests/s (all hits)")]  # fmt: skip
    if hot_rows:
        panels.append((hot_rows, "value", "hot: one cached card, wrk req/s"))
    for ax, (subset, key, title) in zip(axes, panels, strict=True):
        values = [r.value if key == "value" else r.extra[key] for r in subset]
        err = None
        if key == "value":
            err = [[r.value - r.extra["min"] for r in subset], [r.extra["max"] - r.value for r in subset]]
        ax.bar([r.impl for r in subset], values, yerr=err, capsize=4, color=[colour[r.impl] for r in subset])
        ax.set_title(title, fontsize=10)
        if key == "p50_ms":
            ax.set_yscale("log")  # the origin's seconds next to the caches' milliseconds
        ax.tick_params(axis="x", labelsize=8)
    for x, r in enumerate(cold):
        axes[2].annotate(f"hit {r.extra['hit_ratio']:.0%}", (x, r.extra["renders"]), ha="center", va="bottom")
    fig.suptitle(rows[0].workload.split(": ", 1)[1])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.cdn", description=__doc__.split("\n\n")[0])
    p.add_argument("--repos", type=int, default=1000)
    p.add_argument("--requests", type=int, default=400, help="requests per target and round")
    p.add_argument("--users", type=int, default=16, help="concurrent virtual users")
    p.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent s of repository popularity")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--wrk-seconds", type=int, default=3,
                   help="seconds of wrk on one cached card per cache and round (0: skip)")  # fmt: skip
    args = p.parse_args(argv)
    if min(args.repos, args.requests, args.users, args.rounds) < 1 or args.zipf < 0 or args.wrk_seconds < 0:
        p.error("--repos, --requests, --users and --rounds are positive; --zipf and --wrk-seconds >= 0")
    print(header(f"bench/cdn: OG cards, Zipf({args.zipf}) over {args.repos} repositories, "
                 f"{args.requests} requests x {args.users} users x {args.rounds} rounds"))  # fmt: skip
    seq = zipf_sequence(args.repos, args.requests, args.zipf)
    with ExitStack() as stack:
        o = stack.enter_context(python_module("servers.cdn", "origin", "--events-per-second", "0",
                                              "--log-level", "warning", port=0))  # fmt: skip
        origin = f"http://127.0.0.1:{o.port}"
        e = stack.enter_context(python_module("servers.cdn", "edge", "--origin", origin, "--max-bytes", "512mb",
                                              "--origin-timeout", "60", "--log-level", "warning", port=0))  # fmt: skip
        assert o.port is not None
        n = stack.enter_context(nginx_cache(o.port))
        targets = {"origin": origin, "syslab edge": f"http://127.0.0.1:{e.port}",
                   "nginx proxy_cache": f"http://127.0.0.1:{n.port}"}  # fmt: skip
        results = asyncio.run(measure(targets, origin, seq, args.users, args.rounds))
        if args.wrk_seconds:
            results.update(hot(targets, origin, args.rounds, args.wrk_seconds))
    workload = f"og zipf{args.zipf} {args.repos}r"
    rows = rows_of(results, workload)
    print(table(rows, "nginx proxy_cache"))
    distinct = len(set(seq))
    print(f"\n{distinct} distinct cards in {args.requests} requests: the best a cold cache can do "
          f"is {1 - distinct / args.requests:.0%} hits and {distinct} renders per round.")  # fmt: skip
    path = save("cdn", rows, args=vars(args), distinct=distinct)
    png = results_dir() / "cdn.png"
    plot(rows, png)
    print(f"results: {path}  plot: {png}")


if __name__ == "__main__":
    main()
