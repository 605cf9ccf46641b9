"""One order in a child process that stops at a chosen 2PC step, for the parent to SIGKILL.

``python -m servers.orders.crashchild --log DIR --store URL --delivery URL --orders URL
--txid T --item I --qty Q [--pause-at STEP]``

At ``STEP`` (one of ``twopc.STEPS``) the child prints ``AT STEP TXID``, flushes, and
blocks reading stdin: the parent kills it there with SIGKILL, a real crash at an
exact point of the protocol. Without ``--pause-at`` it runs the order to the end
and prints ``DONE committed|aborted``.
"""

from __future__ import annotations

import argparse
import sys

from clients.address import address_from_url

from .decisions import DecisionLog
from .flow import PARTICIPANTS, order_work
from .twopc import STEPS, Coordinator


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m servers.orders.crashchild")
    p.add_argument("--log", required=True)
    for name in PARTICIPANTS:
        p.add_argument(f"--{name}", required=True, metavar="URL")
    p.add_argument("--txid", required=True)
    p.add_argument("--item", type=int, default=1)
    p.add_argument("--qty", type=int, default=1)
    p.add_argument("--pause-at", choices=STEPS)
    args = p.parse_args(argv)

    def pause(step: str, txid: str) -> None:
        if step == args.pause_at:
            print(f"AT {step} {txid}", flush=True)
            sys.stdin.read()  # the parent SIGKILLs us here

    addrs = {name: address_from_url(getattr(args, name), 3306) for name in PARTICIPANTS}
    coord = Coordinator(DecisionLog(args.log), addrs, pool_size=1, pause_at=pause)
    out = coord.run(args.txid, order_work(args.item, args.qty))
    print(f"DONE {'committed' if out.committed else 'aborted'}", flush=True)
    coord.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
