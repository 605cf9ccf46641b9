"""Server-sent events fan-out: 10,000 clients on one servers/sse process, against aiohttp.

``make bench-sse`` (``python -m bench.sse [--clients 10000] [--events 20] [--rounds 2]``)

Each server is a child process: ours (``python -m servers.sse``) and the
reference, a minimal aiohttp SSE fan-out (one queue per client, ``POST /publish``
numbers the event and puts it in every queue; no replay, no slow-client limit).
The bench opens N event streams from one process (asyncio protocols that only
look for the ``id: K`` line, so the client side stays cheap), reads the child's
RSS, then publishes E events one at a time: the delay from just before the
POST is written to each client seeing the event gives the fan-out latency
(p50, p99, and the last client) over N x E samples. Rounds interleave the two
servers, who goes first rotating (min / median / max over rounds). Lower is better
everywhere; the ratio is aiohttp's median / ours (>1: ours ahead). ``sse.json`` holds
the numbers, ``sse.png`` draws the medians with min..max whiskers.

The client side runs in one Python process on the same machine, so its own
wake-ups are inside the figures for both servers alike.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from harness.procs import Child, free_port, python_module

from .common import Row, header, interleaved, measured, median_bars, percentile, save, table
from .http_streams import raise_fd_limit, rss_kib

BATCH = 500  # streams opened at once: below the listen backlog
REQUEST = b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"


# -- the reference server (a child: python -m bench.sse --serve-aiohttp PORT) ------------------
def serve_aiohttp(port: int) -> None:
    import uvloop
    from aiohttp import web

    raise_fd_limit(0)
    queues: set[asyncio.Queue[bytes]] = set()
    last = 0

    async def events(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(b"retry: 2000\n\n")
        q: asyncio.Queue[bytes] = asyncio.Queue()
        queues.add(q)
        try:
            while True:
                await resp.write(await q.get())
        finally:
            queues.discard(q)

    async def publish(request: web.Request) -> web.Response:
        nonlocal last
        doc = await request.json()
        last += 1
        wire = f"event: {doc.get('event', 'message')}\nid: {last}\ndata: {doc['data']}\n\n".encode()
        for q in queues:
            q.put_nowait(wire)
        return web.json_response({"id": last}, status=201)

    app = web.Application()
    app.router.add_get("/events", events)
    app.router.add_post("/publish", publish)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=4096)


# -- the clients -----------------------------------------------------------------------------
class Listener(asyncio.Protocol):
    """One event stream; records when the awaited ``id:`` line arrives."""

    def __init__(self, fan: Fanout) -> None:
        self.fan = fan
        self.ready = asyncio.get_running_loop().create_future()
        self.tail = b""

    def connection_made(self, transport: Any) -> None:
        transport.write(REQUEST)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        seen = self.tail + data
        self.tail = seen[-32:]
        if not self.ready.done() and b"retry:" in seen:
            self.ready.set_result(None)
        if self.fan.marker and self.fan.marker in seen:
            self.fan.seen(time.perf_counter())
            self.tail = b""  # this event is counted once

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("stream closed before it started"))


class Fanout:
    def __init__(self, n: int) -> None:
        self.n = n
        self.marker = b""
        self.times: list[float] = []
        self.all_seen = asyncio.Event()

    def expect(self, event_id: int) -> None:
        self.marker, self.times = b"id: %d\n" % event_id, []
        self.all_seen.clear()

    def seen(self, t: float) -> None:
        self.times.append(t)
        if len(self.times) == self.n:
            self.all_seen.set()


async def open_streams(port: int, n: int, fan: Fanout) -> list[Listener]:
    loop = asyncio.get_running_loop()
    out: list[Listener] = []

    async def one() -> Listener:
        _, proto = await loop.create_connection(lambda: Listener(fan), "127.0.0.1", port)
        await asyncio.wait_for(proto.ready, 60)
        return proto

    while len(out) < n:
        out += await asyncio.gather(*(one() for _ in range(min(BATCH, n - len(out)))))
    return out


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, i: int) -> int:
    body = b'{"event":"bench","data":"%d"}' % i
    writer.write(b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    answer = await reader.readexactly(length)
    return int(re.search(rb'"id": *(\d+)', answer).group(1))  # type: ignore[union-attr]


async def measure(child: Child, port: int, n: int, events: int) -> dict[str, float]:
    base = rss_kib(child.pid)
    fan = Fanout(n)
    t0 = time.perf_counter()
    streams = await open_streams(port, n, fan)
    opened = time.perf_counter() - t0
    rss = rss_kib(child.pid)
    lat: list[float] = []
    last: list[float] = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(1, events + 1):
            fan.expect(i)  # ids start at 1 in a fresh server
            sent = time.perf_counter()
            got = await post(reader, writer, i)
            if got != i:
                raise RuntimeError(f"the server numbered event {i} as {got}")
            await asyncio.wait_for(fan.all_seen.wait(), 60)
            lat += [t - sent for t in fan.times]
            last.append(max(fan.times) - sent)
    finally:
        writer.close()
        for s in streams:
            s.transport.close()
    return {"p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3,
            "last_ms": statistics.median(last) * 1e3, "kib_per_client": (rss - base) / n,
            "rss_mib": rss / 1024, "opened_per_s": n / opened}  # fmt: skip


def start(impl: str, tmp: str) -> Child:
    if impl == "syslab":
        return python_module("servers.sse", "--dir", tmp, "--no-access-log", "--log-level", "warning",
                             "--max-connections", "1000000", "--queue", "1000", port=0).start()  # fmt: skip
    port = free_port()
    child = python_module("bench.sse", "--serve-aiohttp", str(port))
    child.port = port
    return child.start()


def run(n: int, events: int, rounds: int) -> tuple[list[Row], dict[str, list[dict[str, float]]]]:
    import tempfile

    raise_fd_limit(n + 300)
    done = {"syslab": 0, "aiohttp": 0}

    def one(impl: str) -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix="bench-sse-") as tmp:
            child = start(impl, tmp)
            try:
                assert child.port is not None
                r = asyncio.run(measure(child, child.port, n, events))
            finally:
                child.stop()
        done[impl] += 1
        print(f"  [{done[impl]}/{rounds}] {impl:<8} {n} clients: p50 {r['p50_ms']:.1f} ms, p99 "
              f"{r['p99_ms']:.1f} ms, {r['kib_per_client']:.1f} KiB/client", flush=True)  # fmt: skip
        return r

    results = interleaved({impl: (lambda impl=impl: one(impl)) for impl in done}, rounds)
    rows = []
    for key, unit, label in (("p50_ms", "ms", "fan-out p50"), ("p99_ms", "ms", "fan-out p99"),
                             ("last_ms", "ms", "fan-out to the last"),
                             ("kib_per_client", "KiB", "RSS per client")):  # fmt: skip
        for impl, runs in results.items():
            rows.append(measured(f"{label} ({n})", impl, [r[key] for r in runs], unit))
    return rows, results


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve-aiohttp"]:
        serve_aiohttp(int(argv[1]))
        return
    p = argparse.ArgumentParser(prog="python -m bench.sse", description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    print(header(f"sse: {args.clients} clients, {args.events} events, {args.rounds} rounds"))
    rows, results = run(args.clients, args.events, args.rounds)
    print(table(rows, reference="aiohttp", higher_is_better=False))
    path = save("sse", rows, clients=args.clients, events=args.events, runs=results)
    png = median_bars(rows, path.with_suffix(".png"), f"SSE fan-out to {args.clients:,} clients: "
                      f"ours (syslab) vs aiohttp, median of {args.rounds} round(s), whiskers min..max",
                      {"ms": "ms from publish", "KiB": "KiB of server RSS per client"})  # fmt: skip
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
