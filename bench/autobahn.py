"""The Autobahn testsuite's cases (through ``kosoku``) against netlib.websocket, both
sides, with the ``websockets`` package run on the same cases in the same run as
the reference: ``make bench-autobahn`` (``python -m bench.autobahn``).

* server side: kosoku's fuzzing client drives servers/chat/wsecho (a real
  process) at ``/ws/echo``; the reference is a ``websockets`` echo server process;
* client side: kosoku's fuzzing server is driven by clients/websocket (and by the
  ``websockets`` client) the Autobahn way: ``/getCaseCount``, then
  ``/runCase?case=N&agent=A`` echoing every message, then ``/updateReports``.

Prints the tally per verdict (OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED,
ERROR) and the non-OK cases of one pass over every case. The performance cases
(9.x: large messages, many fragments) then run ``--rounds - 1`` more times, ours
and websockets taking turns, who goes first rotating: their times (ms, lower is
better) are the rows, median with min / max, ratio of medians (websockets' / ours,
>1: ours faster). Saves ``autobahn.json`` (the rows, and the tally as
``conformance``), ``autobahn.png`` (the medians with min..max whiskers) and
kosoku's HTML reports of the first pass under ``results/autobahn/``.
``--include 1.* --include 7.*`` runs a subset.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from kosoku import FailureError, run_fuzzingclient, run_fuzzingserver
from kosoku._report import write_reports

from clients.websocket import HandshakeError, connect
from harness.procs import LISTENING, Child, python_module
from netlib.websocket import ConnectionClosed
from netlib.websocket.deflate import DeflateParams

from .common import Row, header, measured, median_bars, results_dir, save, table

BIG = 20 * 1024 * 1024  # the suite's largest message is 16 MiB
# The client under test offers compression every way it can use it, in order of
# preference, so each 13.x case finds the offer it accepts (13.2 wants a client
# that offers client_no_context_takeover).
OFFERS = [DeflateParams(), DeflateParams(client_no_context_takeover=True)]
CASE_TIMEOUT = 1800.0

REFERENCE_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    async with serve(echo, "127.0.0.1", 0, max_size=None, ping_interval=None) as s:
        print("listening on 127.0.0.1:%d" % s.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


async def drive_ours(base: str, agent: str = "syslab") -> int:
    """Run every case the fuzzing server at ``base`` (ws://host:port) offers with
    clients/websocket as the client under test; returns the number of cases."""
    ws = await connect(f"{base}/getCaseCount")
    count = int(await ws.recv())
    await ws.close()
    for i in range(1, count + 1):
        try:
            ws = await connect(f"{base}/runCase?case={i}&agent={agent}", max_frame=BIG,
                               max_message=BIG, ping_interval=None, compression=OFFERS)  # fmt: skip
            async for msg in ws:
                await ws.send(msg)
        except (ConnectionClosed, HandshakeError, ConnectionError):
            pass  # the case judges how it ended
    ws = await connect(f"{base}/updateReports?agent={agent}")
    await ws.close()
    return count


async def drive_websockets(base: str, agent: str = "websockets") -> int:
    """The same with the ``websockets`` client (the reference)."""
    import websockets
    from websockets.asyncio.client import connect as wconnect

    async with wconnect(f"{base}/getCaseCount") as ws:
        count = int(await ws.recv())
    for i in range(1, count + 1):
        try:
            async with wconnect(f"{base}/runCase?case={i}&agent={agent}", max_size=None,
                                ping_interval=None) as ws:  # fmt: skip
                async for msg in ws:
                    await ws.send(msg)
        except (websockets.ConnectionClosed, websockets.InvalidHandshake, OSError):
            pass
    async with wconnect(f"{base}/updateReports?agent={agent}"):
        pass
    return count


async def server_side(url: str, include: list[str] | None, exclude: list[str] | None,
                      parallelism: int) -> list[Any]:  # fmt: skip
    try:
        return list(await run_fuzzingclient(url, include, exclude, concurrency=parallelism))
    except FailureError as e:
        return list(e.results)


async def client_side(drive: Callable[[str], Coroutine[Any, Any, int]], include: list[str] | None,
                      exclude: list[str] | None) -> list[Any]:  # fmt: skip
    async with run_fuzzingserver(include, exclude, host="127.0.0.1", port=0) as server:
        task = asyncio.create_task(drive(f"ws://{server.address}:{server.port}"))
        try:
            results = list(await asyncio.wait_for(server.get_result(), CASE_TIMEOUT))
        except FailureError as e:
            results = list(e.results)
        await task
    return results


def verdict(r: Any) -> str:
    """One word per case: the worse of its message and close verdicts."""
    order = ["ERROR", "FAILED", "UNIMPLEMENTED", "NON-STRICT", "INFORMATIONAL", "OK"]
    b, c = r.behavior.value, r.behavior_close.value
    c = {"OK": "OK", "INFORMATIONAL": "INFORMATIONAL"}.get(c, "FAILED")
    return min((b, c), key=lambda v: order.index(v) if v in order else 0)


def tally(results: list[Any]) -> dict[str, int]:
    return dict(Counter(verdict(r) for r in results))


def report(title: str, results: list[Any]) -> list[str]:
    t = tally(results)
    passed = sum(1 for r in results if r.passed)
    lines = [f"{title}: {len(results)} cases, {passed} passed  " +
             "  ".join(f"{k} {v}" for k, v in sorted(t.items()))]  # fmt: skip
    for r in results:
        if verdict(r) != "OK":
            lines.append(
                f"    {r.case_id:<8} {r.behavior.value}/{r.behavior_close.value}: {r.result[:90]}"
            )
    return lines


def reference_server() -> Child:
    return Child([sys.executable, "-c", REFERENCE_SERVER], port=0, name="websockets-echo",
                 ready_line=LISTENING)  # fmt: skip


async def run(args: argparse.Namespace) -> tuple[dict[str, dict[str, int]], list[Row]]:
    """Every case once per side and implementation (the conformance tally), then the 9.x
    performance cases ``--rounds - 1`` more times, ours and the reference taking turns
    (who goes first rotates): their times are the rows, min / median / max over rounds."""
    impls = ["syslab"] if args.no_reference else ["syslab", "websockets"]
    sides = ["server", "client"] if args.side == "both" else [args.side]
    conformance: dict[str, dict[str, int]] = {}
    times: dict[tuple[str, str], dict[str, list[float]]] = {}
    with ExitStack() as stack:
        urls = {}
        if "server" in sides:
            ours = stack.enter_context(python_module("servers.chat.wsecho", "--no-access-log", "--log-level",
                                                     "warning", port=0))  # fmt: skip
            urls["syslab"] = f"ws://127.0.0.1:{ours.port}/ws/echo"
            if not args.no_reference:
                urls["websockets"] = f"ws://127.0.0.1:{stack.enter_context(reference_server()).port}/"

        async def one(side: str, impl: str, include: list[str] | None, exclude: list[str] | None) -> list[Any]:
            if side == "server":
                return await server_side(urls[impl], include, exclude, args.parallelism)
            return await client_side(drive_ours if impl == "syslab" else drive_websockets, include, exclude)

        def timed(side: str, impl: str, results: list[Any]) -> None:
            for r in results:
                if r.case_id.startswith("9."):
                    times.setdefault((side, r.case_id), {}).setdefault(impl, []).append(float(r.duration))

        out = results_dir() / "autobahn"
        for side in sides:
            for impl in impls:
                results = await one(side, impl, args.include, args.exclude)
                name = f"{side} {impl}"
                print("\n".join(report(name, results)))
                conformance[name] = {"cases": len(results), "passed": sum(1 for r in results if r.passed),
                                     **tally(results)}  # fmt: skip
                if results:
                    write_reports(results, str(out / name.replace(" ", "-")))
                timed(side, impl, results)
            perf = sorted({case for s, case in times if s == side})
            for k in range(1, args.rounds if perf else 1):  # round 1 was the full pass above
                for impl in impls[k % len(impls):] + impls[: k % len(impls)]:
                    timed(side, impl, await one(side, impl, perf, None))
    rows = [measured(f"{side} {case}", impl, ms, "ms") for (side, case), by in times.items()
            for impl, ms in by.items()]  # fmt: skip
    return conformance, rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.autobahn", description=__doc__.split("\n")[0])
    p.add_argument("--include", "-i", action="append", help="case id or glob (repeatable)")
    p.add_argument("--exclude", "-x", action="append", help="case id or glob to leave out")
    p.add_argument("--side", choices=["server", "client", "both"], default="both")
    p.add_argument("--parallelism", "-p", type=int, default=1, help="server-side cases at once")
    p.add_argument("--no-reference", action="store_true", help="skip the websockets runs")
    p.add_argument("--rounds", type=int, default=3, help="runs of the 9.x performance cases (default 3)")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    print(header("Autobahn testsuite (kosoku): netlib.websocket vs websockets"))
    conformance, rows = asyncio.run(run(args))
    path = save("autobahn", rows, include=args.include, exclude=args.exclude, rounds=args.rounds,
                conformance=conformance)  # fmt: skip
    if rows:
        print(f"\n9.x performance cases, {args.rounds} round(s), ms from the suite's own timing:")
        print(table(rows, reference="websockets", higher_is_better=False))
        n = len({r.workload for r in rows})
        png = median_bars(rows, path.with_suffix(".png"), f"Autobahn 9.x cases: syslab (ours) vs websockets "
                          f"(reference), median of {args.rounds} round(s), whiskers min..max",
                          "ms per case", size=(max(10.0, 0.5 * n), 5))  # fmt: skip
        print(f"saved {png}")
    print(f"\nsaved {path} and HTML reports under {Path(path).parent / 'autobahn'}")


if __name__ == "__main__":
    main()
