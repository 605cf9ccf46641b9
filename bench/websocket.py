"""WebSocket echo throughput: servers/chat/wsecho (netlib.websocket) against a
``websockets`` echo server, and clients/websocket against the ``websockets``
client, in the same run: ``make bench-websocket`` (``python -m bench.websocket``).

Workloads (each a fresh connection per round, rounds interleaved, connect time
excluded): ``rtt 64 B``: one message out, wait for its echo, N times (latency
bound: messages/s); ``pipelined 64 B``: N out, then N back (framing cost);
``1 MiB``: large binary messages (unmasking, copying: MB/s). Server rows use the
``websockets`` client for both servers; client rows run against the ``websockets``
server. No compression (it would measure zlib).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.client import connect as wconnect

from bench.autobahn import reference_server
from clients.websocket import connect
from harness.procs import python_module

from .common import Row, header, interleaved, measured, median_bars, results_dir, save, table

SMALL = b"x" * 64
BIG = bytes(range(256)) * 4096  # 1 MiB


class Ours:
    """clients/websocket behind the small interface the workloads use."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> Any:
        self.ws = await connect(self.url, compression=None, max_frame=4 << 20, max_message=4 << 20,
                                ping_interval=None)  # fmt: skip
        return self.ws

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()


def theirs(url: str) -> Any:
    return wconnect(url, compression=None, max_size=None, ping_interval=None)


async def echoes(client: Any, n: int, message: bytes, window: int) -> float:
    """``n`` echoes of ``message``, at most ``window`` unanswered at once; bytes/s."""
    async with client as ws:
        t = time.perf_counter()
        for start in range(0, n, window):
            k = min(window, n - start)
            for _ in range(k):
                await ws.send(message)
            for _ in range(k):
                assert len(await ws.recv()) == len(message)
        return n * len(message) / (time.perf_counter() - t)


async def rtt(client: Any, n: int) -> float:
    return await echoes(client, n, SMALL, 1) / len(SMALL)


async def pipelined(client: Any, n: int) -> float:
    return await echoes(client, n, SMALL, n) / len(SMALL)


async def big(client: Any, n: int) -> float:
    return await echoes(client, n, BIG, 1) / 1e6


WORKLOADS: dict[str, tuple[Callable[[Any, int], Coroutine[Any, Any, float]], str, int]] = {
    "rtt 64 B": (rtt, "msg/s", 1),
    "pipelined 64 B": (pipelined, "msg/s", 1),
    "1 MiB": (big, "MB/s", 0),
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.websocket", description=__doc__.split("\n")[0]
    )
    p.add_argument("--messages", type=int, default=5000, help="small messages per round")
    p.add_argument("--big", type=int, default=20, help="1 MiB messages per round")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    print(header("WebSocket echo: netlib.websocket vs websockets"))
    loop = asyncio.new_event_loop()
    rows: list[Row] = []
    with python_module("servers.chat.wsecho", "--no-access-log", "--log-level", "warning",
                       port=0) as ours, reference_server() as ref:  # fmt: skip
        our_url, ref_url = f"ws://127.0.0.1:{ours.port}/ws/echo", f"ws://127.0.0.1:{ref.port}/"
        for name, (fn, unit, small) in WORKLOADS.items():
            n = args.messages if small else args.big

            def run(make: Callable[[], Any], fn: Any = fn, n: int = n) -> Callable[[], float]:
                return lambda: loop.run_until_complete(fn(make(), n))

            runners = {
                "server syslab": run(lambda: theirs(our_url)),
                "server websockets": run(lambda: theirs(ref_url)),
                "client syslab": run(lambda: Ours(ref_url)),
                "client websockets": run(lambda: theirs(ref_url)),
            }
            got = interleaved(runners, args.rounds)
            for key, samples in got.items():
                side, impl = key.split()
                rows.append(measured(f"{side} {name}", impl, samples, unit))
    loop.close()
    print(table(rows, "websockets"))
    path = save("websocket", rows, messages=args.messages, big=args.big, rounds=args.rounds)
    png = median_bars(rows, results_dir() / "websocket.png", "WebSocket echo: syslab vs websockets (reference); median, whiskers min..max",
                      "per second", log=True)  # fmt: skip
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
