"""A food-ordering service whose orders are all-or-nothing across three databases, by 2PC.

Layout (from the user down):

* ``__main__.py``: ``python -m servers.orders`` parses flags, starts (or is given)
  three MariaDB instances, recovers unfinished transactions, serves HTTP.
* ``app.py``: the HTTP API: ``POST /orders``, ``GET /orders/{id}``, ``GET /stock``.
* ``flow.py``: the ordering flow, one piece of work per participant: reserve food
  at the **store**, assign a free delivery **agent**, create the **order** row;
  and the schema of each database.
* ``twopc.py``: the coordinator: XA transactions on every participant, the
  decision written durably before anyone is told to commit, and recovery.
* ``decisions.py``: the coordinator's decision log on ``storage.wal``.
* ``crashchild.py``: one order in a child process that kills itself (SIGKILL)
  at a chosen step, for the crash tests and ``bench.twopc``.

The protocol (Gray 1978; Mohan and Lindsay's "presumed abort", 1983):

1. For each participant: ``XA START``, its work, ``XA END``, ``XA PREPARE``.
   A prepared branch has promised it can commit: its rows stay locked and it
   survives a disconnect and a crash of its server (``XA RECOVER`` lists it).
2. If every participant prepared, append COMMIT to the decision log and fsync:
   that write *is* the commit point. Otherwise roll every branch back; nothing
   is logged, because a transaction with no COMMIT record is presumed aborted.
3. ``XA COMMIT`` (or ``XA ROLLBACK``) every branch, then log DONE so recovery
   need not look at it again.

Recovery (at start, and on demand) asks every participant for its prepared
branches and settles each by the log: COMMIT recorded -> ``XA COMMIT``, else
``XA ROLLBACK``. So a coordinator killed after prepare aborts everywhere, one
killed after the decision commits everywhere, and a participant killed while
prepared is settled once it is back.

What 2PC gives up, said plainly: it blocks. Between PREPARE and the decision a
participant holds its locks and cannot decide alone; if the coordinator's log
is lost, prepared branches wait forever for a human (``XA RECOVER`` shows them).
Production systems replicate the coordinator's log (Spanner's Paxos groups)
or avoid cross-shard atomic writes (sagas with compensation).
"""
