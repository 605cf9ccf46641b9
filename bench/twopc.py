"""Two-phase commit under fire: random kills, and what atomicity costs.

``make bench-twopc`` (``python -m bench.twopc [--runs N] [--orders N] [--threads T]``)

Three private MariaDB instances (store, delivery, orders) and the coordinator of
``servers.orders``. Two questions:

1. **Does every order reach one outcome everywhere, whatever is killed?** Each
   run places one order and kills something at a random moment: the coordinator
   process (SIGKILL after PREPARE, after the COMMIT decision, or after the first
   participant committed), or one participant's mariadbd (after PREPARE or after
   the decision), or nothing. Then the participant is restarted, a fresh
   coordinator runs recovery, and ``flow.check`` compares the three databases.
   The table counts, per scenario, orders committed everywhere, aborted
   everywhere, and *inconsistent* (in some databases only: must be 0).
2. **What does 2PC cost?** ``--orders`` orders from ``--threads`` threads through
   the coordinator, against the same three writes as three independent local
   transactions (no atomicity: a crash between them leaves a reserved meal with
   no order). Interleaved rounds, min / median / max, ratio of medians.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from clients.mysql import Connection
from harness.procs import REPO_ROOT
from harness.services import MariaDB
from servers.orders.decisions import DecisionLog
from servers.orders.flow import PARTICIPANTS, check, order_work, seed
from servers.orders.twopc import STEPS, Coordinator

from .common import Row, header, interleaved, measured, median_bars, save, table

STOCK, AGENTS = 1_000_000, 1_000_000  # never the reason an order fails here
SCENARIOS = ["no kill"] + [f"coordinator {s}" for s in STEPS] + [
    f"{p} mariadbd {s}" for p in PARTICIPANTS for s in ("after-prepare", "after-decision")
]


def kill_coordinator(dbs: dict[str, MariaDB], log_dir: Path, txid: str, step: str) -> None:
    argv = [sys.executable, "-m", "servers.orders.crashchild", "--log", str(log_dir),
            "--txid", txid, "--pause-at", step]  # fmt: skip
    for n, m in dbs.items():
        argv += [f"--{n}", f"mysql:{m.address.url}"]
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("AT "):
        proc.kill()
        raise RuntimeError(f"crash child did not reach {step}: {line!r}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def kill_participant(dbs: dict[str, MariaDB], log_dir: Path, txid: str, who: str, step: str) -> None:
    victim = dbs[who]

    def hook(at: str, _txid: str) -> None:
        if at == step and victim.child and victim.child.proc:
            victim.child.proc.send_signal(signal.SIGKILL)
            victim.child.proc.wait()

    c = Coordinator(DecisionLog(log_dir), {n: m.address for n, m in dbs.items()}, pool_size=1,
                    pause_at=hook)  # fmt: skip
    try:
        c.run(txid, order_work(1, 1))
    finally:
        c.close()
    victim.start()  # same data directory: InnoDB brings back the PREPARED branch


def one_run(dbs: dict[str, MariaDB], log_dir: Path, scenario: str, txid: str) -> dict[str, Any]:
    if scenario == "no kill":
        c = Coordinator(DecisionLog(log_dir), {n: m.address for n, m in dbs.items()}, pool_size=1)
        c.run(txid, order_work(1, 1))
        c.close()
    elif scenario.startswith("coordinator "):
        kill_coordinator(dbs, log_dir, txid, scenario.split()[1])
    else:
        who, _, step = scenario.split()
        kill_participant(dbs, log_dir, txid, who, step)
    t0 = time.perf_counter()
    c = Coordinator(DecisionLog(log_dir), {n: m.address for n, m in dbs.items()}, pool_size=1)
    try:
        counts = c.recover()
    finally:
        c.close()
    return {"recovery_s": time.perf_counter() - t0, **counts}


def outcome_rows(dbs: dict[str, MariaDB], runs: int, seed_: int, work: Path) -> list[Row]:
    rnd = random.Random(seed_)
    tally: dict[str, dict[str, Any]] = {s: {"runs": 0, "committed": 0, "aborted": 0,
                                             "inconsistent": 0, "settled": 0, "recovery_s": []}
                                         for s in SCENARIOS}  # fmt: skip
    for i in range(runs):
        scenario = SCENARIOS[i] if i < len(SCENARIOS) else rnd.choice(SCENARIOS)  # each at least once
        txid = f"order-run{i}"
        r = one_run(dbs, work / "log", scenario, txid)
        with conns(dbs) as cs:
            state = check(cs, STOCK)
        t = tally[scenario]
        t["runs"] += 1
        t["settled"] += r["committed"] + r["rolled_back"]
        t["recovery_s"].append(r["recovery_s"])
        mine = [p for p in state["problems"] if txid in p]
        if mine or r["unreachable"]:
            t["inconsistent"] += 1
        elif txid in state["committed"]:
            t["committed"] += 1
        else:
            t["aborted"] += 1
    return [
        Row("outcomes", s, float(t["inconsistent"]), "inconsistent", {
            "runs": t["runs"], "committed": t["committed"], "aborted": t["aborted"],
            "branches_settled": t["settled"],
            "recovery_ms": round(statistics.median(t["recovery_s"]) * 1000, 1) if t["recovery_s"] else 0.0,
        })
        for s, t in tally.items() if t["runs"]
    ]  # fmt: skip


class conns:  # noqa: N801 - used as a context manager like a function
    """Fresh connections to the three databases."""

    def __init__(self, dbs: dict[str, MariaDB]):
        self.cs = {n: Connection.from_address(m.address) for n, m in dbs.items()}

    def __enter__(self) -> dict[str, Connection]:
        return self.cs

    def __exit__(self, *exc: object) -> None:
        for c in self.cs.values():
            c.close()


def local_writes(cs: dict[str, Connection], txid: str) -> None:
    """The same three writes as three independent transactions: fast, not atomic."""
    results: dict[str, Any] = {}
    for name, fn in order_work(1, 1).items():
        with cs[name].transaction():
            results[name] = fn(cs[name], txid, results)


def throughput(dbs: dict[str, MariaDB], how: str, orders: int, threads: int, work: Path,
               round_: int) -> float:  # fmt: skip
    counter = iter(range(orders))
    lock = threading.Lock()
    coord = None
    if how == "2PC":
        coord = Coordinator(DecisionLog(work / f"tput-{round_}"),
                            {n: m.address for n, m in dbs.items()}, pool_size=threads)  # fmt: skip

    def worker() -> None:
        with conns(dbs) as cs:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                txid = f"order-{how[:1]}{round_}-{i}"
                if coord is not None:
                    coord.run(txid, order_work(1, 1))
                else:
                    local_writes(cs, txid)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    if coord is not None:
        coord.close()
    return orders / elapsed


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="make bench-twopc", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--runs", type=int, default=40, help="orders placed under random kills (40)")
    p.add_argument("--orders", type=int, default=400, help="orders per throughput round (400)")
    p.add_argument("--threads", type=int, default=8, help="threads placing orders (8)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds (3)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    logging.getLogger("servers.orders").setLevel(logging.ERROR)  # the kills make it complain
    if min(args.runs, args.orders, args.threads, args.rounds) < 1:
        p.error("--runs, --orders, --threads and --rounds must be >= 1")
    print(header(f"D8 2PC: {args.runs} orders under random kills; {args.orders} orders x"
                 f" {args.rounds} rounds for throughput"))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="syslab-2pc-") as tmp:
        work = Path(tmp)
        dbs = {n: MariaDB(work / n).start() for n in PARTICIPANTS}
        try:
            with conns(dbs) as cs:
                seed(cs, STOCK, AGENTS)
            rows = outcome_rows(dbs, args.runs, args.seed, work)
            rounds = iter(range(2 * args.rounds))  # a fresh number for every throughput run
            samples = interleaved({how: (lambda how=how: throughput(dbs, how, args.orders, args.threads, work,
                                                                    next(rounds)))
                                   for how in ("2PC", "3 local transactions")}, args.rounds)  # fmt: skip
        finally:
            for m in dbs.values():
                m.stop()
    print("\nOutcomes after recovery, counted per scenario (inconsistent must be 0 everywhere):")
    print(f"{'scenario':<34} {'runs':>5} {'committed':>10} {'aborted':>8} {'inconsistent':>13} "
          f"{'branches settled':>17} {'recovery ms':>12}")  # fmt: skip
    for r in rows:
        e = r.extra
        print(f"{r.impl:<34} {e['runs']:>5} {e['committed']:>10} {e['aborted']:>8} {r.value:>13.0f} "
              f"{e['branches_settled']:>17} {e['recovery_ms']:>12.1f}")  # fmt: skip
    speed = [measured(f"orders x{args.threads} threads", how, s, "orders/s") for how, s in samples.items()]
    print(f"\nWhat atomicity costs ({args.rounds} interleaved rounds; ratio: 2PC against three local "
          "transactions, higher is better):")  # fmt: skip
    print(table(speed, reference="3 local transactions"))
    path = save("twopc", speed, runs=args.runs, orders=args.orders, threads=args.threads,
                outcomes=[asdict(r) for r in rows])  # fmt: skip
    png = median_bars(speed, path.with_suffix(".png"), f"D8: {args.orders} orders from {args.threads} threads, "
                      f"2PC vs 3 local transactions (reference), median of {args.rounds} round(s), "
                      "whiskers min..max", "orders / s", log=False, size=(8, 4.5))  # fmt: skip
    print(f"\nsaved {path} and {png}")


if __name__ == "__main__":
    main()
