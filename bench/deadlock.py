"""Hit a deadlock on purpose, read InnoDB's report, retry it away, then design it away.

``make bench-deadlock`` (``python -m bench.deadlock [--threads T] [--transfers N] [--accounts A]``)

Money moves between a few accounts: a transfer is one transaction of two
UPDATEs, the payer's row first. Two transfers in opposite directions between
the same pair lock the rows in opposite orders: each holds one row and waits
for the other's, a cycle InnoDB's deadlock detector breaks at once by rolling
back one of them (error 1213, SQLSTATE 40001). The run:

1. **Provoke** one deadlock deterministically with two connections (A locks
   row 1, B locks row 2, A asks for row 2 and waits -- seen in
   ``information_schema.INNODB_TRX`` as ``LOCK WAIT`` -- then B asks for row 1),
   and print the ``LATEST DETECTED DEADLOCK`` section of
   ``SHOW ENGINE INNODB STATUS``: both transactions, the lock each held and
   the one each waited for, and which one InnoDB rolled back.
2. **Three versions of the same workload** (T threads, random transfers over A
   accounts), each from the same starting balances:
   * ``no retry``: a deadlock victim's transfer is simply lost (counted);
   * ``retry``: ``clients.mysql.run_transaction`` reruns the whole transaction
     after 1213/1205 with jittered backoff: every transfer lands;
   * ``lock ordering``: each transfer locks its two rows in id order (the
     fix that removes the cycle): no deadlock at all, nothing to retry;
   * ``statement retry (wrong)``: what not to do: rerun only the statement
     that failed. InnoDB already rolled back the victim's whole transaction,
     so a retried credit lands without its debit, and money appears from
     nowhere: the total is no longer conserved.
   For each: transfers done and lost, deadlocks, retries, time, and whether
   the total of all balances is still what it was (it must always be:
   a rolled-back transfer moves nothing).

``Innodb_deadlocks`` (a MariaDB status counter) is read before and after each
version, so the deadlock count is the server's own, not ours.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from clients.mysql import Connection, DeadlockError, RetryPolicy, RetryStats, run_transaction
from harness.services import MariaDB, from_env

from .common import Row, header, interleaved, median_bars, merge_rounds, save, table

START_BALANCE = 1_000
VERSIONS = ("no retry", "retry", "lock ordering", "statement retry (wrong)")
WAIT_FOR_LOCK_S = 60.0  # how long to wait for the first UPDATE to be seen waiting (a loaded box is slow)


def reset_accounts(conn: Connection, accounts: int) -> None:
    conn.query("DROP TABLE IF EXISTS accounts")
    conn.query("CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB")
    conn.insert_many("INSERT INTO accounts (id, balance) VALUES",
                     [(i, START_BALANCE) for i in range(1, accounts + 1)])  # fmt: skip


def total(conn: Connection) -> int:
    return int(conn.query("SELECT SUM(balance) FROM accounts").scalar())


def status(conn: Connection, name: str) -> int:
    row = conn.query("SHOW GLOBAL STATUS LIKE %s", (name,)).first()
    return int(row[1]) if row else 0


def debit_then_credit(conn: Connection, payer: int, payee: int, amount: int) -> None:
    """The naive order: payer's row, then payee's. Opposite transfers lock in opposite orders."""
    conn.query("UPDATE accounts SET balance = balance - %s WHERE id = %s", (amount, payer))
    conn.query("UPDATE accounts SET balance = balance + %s WHERE id = %s", (amount, payee))


def in_id_order(conn: Connection, payer: int, payee: int, amount: int) -> None:
    """The fix: lock both rows in id order first, so no two transfers can form a cycle."""
    conn.query("SELECT id FROM accounts WHERE id IN (%s, %s) ORDER BY id FOR UPDATE", (payer, payee))
    debit_then_credit(conn, payer, payee, amount)


def retry_statement_only(conn: Connection, payer: int, payee: int, amount: int) -> int:
    """The bug the retry helper exists to prevent: retry the failed statement, not the transaction.

    Returns how many statements were retried. Runs its own BEGIN/COMMIT.
    """
    retried = 0
    conn.begin()
    for sql, args in (
        ("UPDATE accounts SET balance = balance - %s WHERE id = %s", (amount, payer)),
        ("UPDATE accounts SET balance = balance + %s WHERE id = %s", (amount, payee)),
    ):
        while True:
            try:
                conn.query(sql, args)
                break
            except DeadlockError:  # the transaction is gone; this reruns one statement alone
                retried += 1
    if conn.in_transaction:
        conn.commit()
    return retried


# -- 1. one deadlock, on purpose ------------------------------------------------------------


# InnoDB answers INNODB_TRX from a cache it refreshes only when the previous read is
# more than 100 ms old (TRX_I_S_CACHE_MIN_REFRESH_TIME); every read counts as one, so a
# tight loop reads the same snapshot forever. Polls are spaced wider than that.
INNODB_TRX_REFRESH_S = 0.15


def wait_for_lock_wait(observer: Connection, deadline: float) -> None:
    """Until some transaction is waiting for a row lock (polled until a deadline)."""
    while time.monotonic() < deadline:
        n = observer.query("SELECT COUNT(*) FROM information_schema.INNODB_TRX"
                           " WHERE trx_state = 'LOCK WAIT'").scalar()  # fmt: skip
        if n:
            return
        time.sleep(INNODB_TRX_REFRESH_S)
    raise TimeoutError("the first transaction never waited for the lock")


@dataclass
class Provoked:
    victim: str  # "A" or "B"
    error: DeadlockError
    report: str  # the LATEST DETECTED DEADLOCK section


def provoke(addr: Any) -> Provoked:
    """Two transactions lock rows 1 and 2 in opposite orders; InnoDB kills one."""
    a, b, observer = (Connection.from_address(addr) for _ in range(3))
    try:
        reset_accounts(observer, 2)
        a.begin()
        debit_then_credit_first_half(a, 1)
        b.begin()
        debit_then_credit_first_half(b, 2)
        errors: dict[str, DeadlockError] = {}

        def a_second_half() -> None:
            try:
                a.query("UPDATE accounts SET balance = balance + 1 WHERE id = 2")  # waits for B
            except DeadlockError as e:
                errors["A"] = e

        t = threading.Thread(target=a_second_half)
        t.start()
        wait_for_lock_wait(observer, time.monotonic() + WAIT_FOR_LOCK_S)
        try:
            b.query("UPDATE accounts SET balance = balance + 1 WHERE id = 1")  # closes the cycle
        except DeadlockError as e:
            errors["B"] = e
        t.join()
        for c in (a, b):
            if c.in_transaction:
                c.rollback()
        victim = next(iter(errors))
        return Provoked(victim, errors[victim], deadlock_report(observer))
    finally:
        for c in (a, b, observer):
            c.close()


def debit_then_credit_first_half(conn: Connection, row: int) -> None:
    conn.query("UPDATE accounts SET balance = balance - 1 WHERE id = %s", (row,))


def deadlock_report(conn: Connection) -> str:
    """The LATEST DETECTED DEADLOCK section of SHOW ENGINE INNODB STATUS ('' if none yet)."""
    row = conn.query("SHOW ENGINE INNODB STATUS").first()
    text = str(row[2]) if row else ""
    start = text.find("LATEST DETECTED DEADLOCK")
    if start < 0:
        return ""
    end = text.find("\nTRANSACTIONS\n", start)
    return text[start : end if end > 0 else None].rstrip("-\n")


# -- 2. the workload, three ways ------------------------------------------------------------


@dataclass
class Outcome:
    version: str
    done: int = 0
    lost: int = 0
    stats: RetryStats = field(default_factory=RetryStats)
    seconds: float = 0.0
    deadlocks: int = 0  # from the server's Innodb_deadlocks
    conserved: bool = False
    drift: int = 0  # total of balances after - before


def transfers_for(thread: int, n: int, accounts: int, seed: int) -> list[tuple[int, int, int]]:
    rnd = random.Random(seed * 1000 + thread)
    out = []
    for _ in range(n):
        payer, payee = rnd.sample(range(1, accounts + 1), 2)
        out.append((payer, payee, rnd.randint(1, 10)))
    return out


def run_version(addr: Any, version: str, threads: int, n: int, accounts: int, seed: int) -> Outcome:
    out = Outcome(version)
    body = in_id_order if version == "lock ordering" else debit_then_credit
    lock = threading.Lock()
    with Connection.from_address(addr) as admin:
        reset_accounts(admin, accounts)
        before, dl0 = total(admin), status(admin, "Innodb_deadlocks")
        start = threading.Barrier(threads + 1)

        def worker(i: int) -> None:
            stats = RetryStats()
            done = lost = 0
            with Connection.from_address(addr) as conn:
                start.wait()
                for payer, payee, amount in transfers_for(i, n, accounts, seed):
                    def tx(c: Connection, p: int = payer, q: int = payee, a: int = amount) -> None:
                        body(c, p, q, a)

                    try:
                        if version == "statement retry (wrong)":
                            stats.retries += retry_statement_only(conn, payer, payee, amount)
                        elif version == "no retry":
                            with conn.transaction():
                                tx(conn)
                        else:
                            run_transaction(conn, tx, RetryPolicy(attempts=50), stats)
                        done += 1
                    except DeadlockError:
                        stats.deadlocks += 1
                        lost += 1
            with lock:
                out.done += done
                out.lost += lost
                for k in ("retries", "deadlocks", "gave_up", "transactions"):
                    setattr(out.stats, k, getattr(out.stats, k) + getattr(stats, k))

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in ts:
            t.join()
        out.seconds = time.perf_counter() - t0
        out.deadlocks = status(admin, "Innodb_deadlocks") - dl0
        out.drift = total(admin) - before
        out.conserved = out.drift == 0
    return out


def rows_of(outcomes: Iterable[Outcome]) -> list[Row]:
    return [
        Row("transfers", o.version, (o.done / o.seconds) if o.seconds else 0.0, "tx/s", {
            "done": o.done, "lost": o.lost, "deadlocks": o.deadlocks, "retries": o.stats.retries,
            "seconds": round(o.seconds, 3), "conserved": o.conserved, "drift": o.drift,
        })
        for o in outcomes
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="make bench-deadlock", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--threads", type=int, default=8, help="concurrent transferring threads (8)")
    p.add_argument("--transfers", type=int, default=300, help="transfers per thread (300)")
    p.add_argument("--accounts", type=int, default=4, help="accounts: fewer = more contention (4)")
    p.add_argument("--seed", type=int, default=1, help="random transfers' seed (1)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the four versions, in rotating order (3)")
    args = p.parse_args(argv)
    if args.threads < 2 or args.transfers < 1 or args.accounts < 2:
        p.error("need --threads >= 2, --transfers >= 1, --accounts >= 2")
    print(header(f"D6 deadlocks: {args.threads} threads x {args.transfers} transfers over "
                 f"{args.accounts} accounts"))  # fmt: skip
    env = from_env("SYSLAB_MYSQL_URL", 3306)
    server = None if env else MariaDB().start()
    try:
        addr = env or server.address  # type: ignore[union-attr]
        shown = provoke(addr)
        print(f"\n1. One deadlock on purpose: transaction {shown.victim} was the victim:"
              f"\n   {shown.error}\n\n{shown.report}\n")  # fmt: skip
        got = interleaved({v: lambda v=v: run_version(addr, v, args.threads, args.transfers, args.accounts,
                                                      args.seed) for v in VERSIONS}, args.rounds)  # fmt: skip
    finally:
        if server is not None:
            server.stop()
    # Throughput is the median round's with min and max; the counts are that round's, and
    # "conserved" holds only if it held in every round.
    rows = merge_rounds([rows_of(outcomes) for outcomes in zip(*got.values(), strict=True)])
    for row in rows:
        row.extra["conserved"] = all(o.conserved for o in got[row.impl])
    print("2. The same transfers three ways (ratio: throughput against 'retry'):")
    print(table(rows, reference="retry"))
    print("\n'no retry' loses every deadlock victim's transfer; 'retry' reruns each whole"
          "\ntransaction; 'lock ordering' takes both rows in id order, so no cycle can form."
          "\nThe total of all balances is conserved by the first three: a victim's transfer is"
          "\nrolled back whole. Retrying only the failed statement re-applies half a transfer"
          "\nafter InnoDB rolled back the whole: the total drifts (conserved = no).")  # fmt: skip
    path = save("deadlock", rows, threads=args.threads, transfers=args.transfers, rounds=args.rounds,
                accounts=args.accounts, victim=shown.victim, report=shown.report)  # fmt: skip
    png = median_bars(rows, path.with_suffix(".png"), f"D6: {args.threads} threads x {args.transfers} transfers "
                      f"over {args.accounts} accounts, median of {args.rounds} round(s), whiskers min..max "
                      "(reference: retry)", "transfers / s", log=False, size=(9, 4.5))  # fmt: skip
    print(f"\nsaved {path} and {png}")


if __name__ == "__main__":
    main()
