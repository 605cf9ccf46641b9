"""Short polling vs long polling on servers/ec2: requests, bytes, and the delay to notice.

``make bench-polling`` (``python -m bench.polling [--instances 200] [--intervals 0.1,0.25,0.5,1,2]
[--hold 5000] [--rounds 2]``)

Each strategy creates ``--instances`` instances with boot delays drawn (same seed
for every strategy) between ``--min-delay`` and ``--max-delay`` seconds, and runs
one client per instance on its own keep-alive connection until it sees the
instance leave ``pending``. Short polling GETs the instance every INTERVAL
seconds; long polling GETs ``?wait=20&state=pending`` and repeats only after a
304. Per strategy: requests and bytes (both directions, on the wire) per
instance, and the notice delay (client's clock when it saw the change minus the
server's ``changed_at``; same machine, same clock) p50 / p99. Rounds interleave
the strategies; the tables show medians, and the ratio is against long polling.

Then the server holds ``--hold`` long polls on one instance at once (its RSS and
fds are read while they wait); the instance is terminated, and the time from that
change to the last answer is reported.
Results: ``bench/results/polling.json`` and ``polling.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import time
from collections.abc import Sequence
from typing import Any

from harness.procs import python_module

from .common import Row, header, measured, percentile, results_dir, rotated, save, table
from .http_streams import fds, raise_fd_limit, rss_kib

LONG_WAIT = 20  # seconds per long poll (the server caps at 30)
BATCH = 250  # connections opened at once


class Wire:
    """One keep-alive HTTP/1.1 connection that counts its bytes (a client for the bench)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent = self.received = self.requests = 0

    @classmethod
    async def open(cls, port: int) -> Wire:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def call(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        req = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        self.writer.write(req)
        self.sent += len(req)
        self.requests += 1
        head = await self.reader.readuntil(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        data = await self.reader.readexactly(int(m.group(1))) if m else b""
        self.received += len(head) + len(data)
        return int(head[9:12]), data

    def close(self) -> None:
        self.writer.close()


async def watch(port: int, delay: float, interval: float | None) -> dict[str, float]:
    """Create one instance and wait for it to leave pending (short: every ``interval``)."""
    w = await Wire.open(port)
    try:
        _, body = await w.call("POST", "/instances", json.dumps({"delay": delay}).encode())
        iid = json.loads(body)["id"]
        w.sent = w.received = w.requests = 0  # the create is the same for every strategy
        while True:
            if interval is None:
                status, body = await w.call("GET", f"/instances/{iid}?wait={LONG_WAIT}&state=pending")
                if status == 304:
                    continue
            else:
                status, body = await w.call("GET", f"/instances/{iid}")
            doc = json.loads(body)
            if doc["state"] != "pending":
                return {"notice": time.time() - doc["changed_at"], "requests": w.requests,
                        "bytes": w.sent + w.received}  # fmt: skip
            await asyncio.sleep(interval or 0)
    finally:
        w.close()


async def strategy(port: int, delays: list[float], interval: float | None) -> dict[str, float]:
    out: list[dict[str, float]] = await asyncio.gather(*(watch(port, d, interval) for d in delays))
    notice = [r["notice"] for r in out]
    return {"notice_p50_ms": percentile(notice, 50) * 1e3, "notice_p99_ms": percentile(notice, 99) * 1e3,
            "requests_per_instance": statistics.fmean(r["requests"] for r in out),
            "bytes_per_instance": statistics.fmean(r["bytes"] for r in out)}  # fmt: skip


async def hold(port: int, pid: int, n: int) -> dict[str, float]:
    """``n`` long polls on one instance at once: RSS and fds while held; then the instance
    is terminated (a state change) and the time until the last poll is answered."""
    base_rss, base_fds = rss_kib(pid), fds(pid)
    c = await Wire.open(port)
    _, body = await c.call("POST", "/instances", json.dumps({"delay": 3600}).encode())
    iid = json.loads(body)["id"]
    wires: list[Wire] = []
    while len(wires) < n:
        wires += await asyncio.gather(*(Wire.open(port) for _ in range(min(BATCH, n - len(wires)))))
    polls = [asyncio.ensure_future(w.call("GET", f"/instances/{iid}?wait=30&state=pending")) for w in wires]
    deadline = time.monotonic() + 60
    while True:
        _, body = await c.call("GET", "/stats")
        if json.loads(body)["waiting"] >= n:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {json.loads(body)['waiting']} of {n} long polls are waiting")
        await asyncio.sleep(0.05)  # polling the server's own count (this is the bench's client)
    rss, held = rss_kib(pid), fds(pid)
    _, body = await c.call("DELETE", f"/instances/{iid}")
    changed = json.loads(body)["changed_at"]
    answers = await asyncio.gather(*polls)
    done = time.time()
    for w in [*wires, c]:
        w.close()
    if any(status != 200 for status, _ in answers):
        raise RuntimeError("a held long poll did not see the change")
    return {"held": n, "kib_per_poll": (rss - base_rss) / n, "fds_held": held - base_fds,
            "all_answered_ms": (done - changed) * 1e3}  # fmt: skip


def run(args: argparse.Namespace) -> tuple[list[Row], dict[str, Any]]:
    raise_fd_limit(max(args.hold, args.instances) + 300)
    rng = random.Random(7)
    delays = [rng.uniform(args.min_delay, args.max_delay) for _ in range(args.instances)]
    plans: dict[str, float | None] = {f"short every {i:g}s": i for i in args.intervals}
    plans["long poll"] = None
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in plans}
    with python_module("servers.ec2", "--no-access-log", "--log-level", "warning",
                       "--max-connections", "1000000", port=0) as srv:  # fmt: skip
        assert srv.port is not None
        for rnd in range(args.rounds):
            for name, interval in rotated(plans.items(), rnd):  # who goes first rotates
                r = asyncio.run(strategy(srv.port, delays, interval))
                runs[name].append(r)
                print(f"  [{rnd + 1}/{args.rounds}] {name:<18} {r['requests_per_instance']:7.1f} req/instance "
                      f"{r['bytes_per_instance']:9.0f} B/instance  notice p50 {r['notice_p50_ms']:.0f} ms "
                      f"p99 {r['notice_p99_ms']:.0f} ms", flush=True)  # fmt: skip
        held = asyncio.run(hold(srv.port, srv.pid, args.hold)) if args.hold else {}
    rows = []
    for name, rs in runs.items():
        for key, unit in (("notice_p50_ms", "ms"), ("notice_p99_ms", "ms"),
                          ("requests_per_instance", "req"), ("bytes_per_instance", "B")):  # fmt: skip
            v = [r[key] for r in rs]
            rows.append(measured(key.replace("_", " "), name, v, unit))
    return rows, {"runs": runs, "hold": held}


def plot(runs: dict[str, list[dict[str, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, rs in runs.items():
        xs, ys = [r["requests_per_instance"] for r in rs], [r["notice_p50_ms"] for r in rs]
        x, y = statistics.median(xs), statistics.median(ys)
        ax.errorbar([x], [y], xerr=[[x - min(xs)], [max(xs) - x]], yerr=[[y - min(ys)], [max(ys) - y]],
                    fmt="*" if name == "long poll" else "o", markersize=9, capsize=3)  # fmt: skip
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4))
    ax.set_xscale("log")
    ax.set_xlabel("requests per instance (log)")
    ax.set_ylabel("delay to notice the change, p50 (ms)")
    ax.set_title("Short polling vs long polling (servers/ec2)\nmedian of the rounds, whiskers min..max")
    ax.grid(True, alpha=0.3)
    out = results_dir()
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / "polling.png", dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.polling", description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=200)
    p.add_argument("--intervals", type=lambda s: [float(x) for x in s.split(",")], default=[0.1, 0.25, 0.5, 1, 2])
    p.add_argument("--min-delay", type=float, default=1.0)
    p.add_argument("--max-delay", type=float, default=4.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--hold", type=int, default=5000, help="long polls held at once (0: skip)")
    args = p.parse_args(argv)
    print(header(f"polling: {args.instances} instances, delays {args.min_delay:g}-{args.max_delay:g}s, "
                 f"{args.rounds} rounds"))  # fmt: skip
    rows, extra = run(args)
    print(table(rows, reference="long poll", higher_is_better=False))
    if extra["hold"]:
        h = extra["hold"]
        print(f"held {h['held']} long polls at once: {h['kib_per_poll']:.1f} KiB RSS and "
              f"{h['fds_held']:.0f} fds for them; all answered {h['all_answered_ms']:.0f} ms after the change")
    plot(extra["runs"])
    print(f"saved {save('polling', rows, instances=args.instances, **extra)}")


if __name__ == "__main__":
    main()
