"""A private primary + replica: two MariaDB instances with GTID replication.

Strategy. Two ``harness.services.MariaDB`` instances are started, both writing
a ROW-format binary log with GTIDs. The replica is ``--read-only`` and is pointed at the
primary with ``CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos``: it asks for
"everything after the last GTID I applied", so no binlog file name or offset is
ever copied by hand. ``start()`` returns once the replica's IO and SQL threads
both say ``Yes`` and it has applied everything the primary had (polled, then
``MASTER_GTID_WAIT``: a server-side wait, no sleeps).

Lag is made visible on purpose, two ways:

* ``pause_apply()`` / ``resume_apply()``: ``STOP/START SLAVE SQL_THREAD``. The
  IO thread keeps fetching the primary's events into the relay log but nothing
  is applied, so the replica serves stale reads for as long as we like;
* ``set_delay(n)``: ``MASTER_DELAY=n``, the replica applies each event ``n``
  seconds after the primary wrote it (``Seconds_Behind_Master`` shows it).

``status()`` reports both threads, ``Seconds_Behind_Master``, the GTID
positions on both sides and how many transactions the replica is behind.

The replica runs in GTID domain 2 (the primary in domain 0): the one local
write a replica does (``MariaDB.start`` creates the ``test`` database) then
lands in its own domain and never collides with the primary's sequence numbers.

Both servers are driven with ``clients/mysql`` over their unix sockets, as
root. A production setup would add
semi-synchronous replication, TLS between the two, and a failover manager.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clients.mysql import MySQLError

from .procs import LaunchError
from .services import MariaDB

log = logging.getLogger(__name__)

# The account the replica's IO thread logs in with (REPLICATION SLAVE only).
REPL_USER = "repl"
REPL_PASSWORD = "repl"
# Seconds start() waits for the replica's threads to run and catch up: two
# fresh instances on a loaded 2-core machine have been seen to need ~10 s.
START_TIMEOUT = 60.0
# Written once the pair has been wired up; a directory without it is rebuilt.
MARKER = "replication-configured"
PRIMARY_DOMAIN = 0
REPLICA_DOMAIN = 2

_COMMON_ARGS = [
    "--log-bin=mysql-bin",  # fixed names: the default derives them from the hostname
    "--binlog-format=ROW",
    "--log-slave-updates",
    "--relay-log=relay-bin",
]
PRIMARY_ARGS = [*_COMMON_ARGS, f"--gtid-domain-id={PRIMARY_DOMAIN}"]
REPLICA_ARGS = [
    *_COMMON_ARGS,
    f"--gtid-domain-id={REPLICA_DOMAIN}",
    "--read-only",  # clients cannot write to it by mistake (root still could)
    "--skip-slave-start",  # the primary's port may differ after a restart: start() rewires
]


def query(server: MariaDB, sql: str) -> list[dict[str, str | None]]:
    """Rows of one statement as dicts of text (as SHOW SLAVE STATUS prints them), via clients/mysql."""
    try:
        with server.connect() as c:
            rows = c.query(sql).dicts()
    except MySQLError as e:
        raise LaunchError(f"SQL failed: {sql!r}: {e}") from e
    return [{k: None if v is None else str(v) for k, v in row.items()} for row in rows]


def parse_gtid_pos(pos: str | None) -> dict[int, int]:
    """``"0-1-7,2-2-1"`` -> ``{0: 7, 2: 1}``: the last sequence number per domain."""
    out: dict[int, int] = {}
    for part in (pos or "").replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        domain, _server, seq = (int(x) for x in part.split("-"))
        out[domain] = max(seq, out.get(domain, 0))
    return out


def transactions_behind(primary_pos: str | None, replica_pos: str | None) -> int:
    """How many of the primary's transactions the replica has not applied yet."""
    p, r = parse_gtid_pos(primary_pos), parse_gtid_pos(replica_pos)
    return sum(max(0, seq - r.get(domain, 0)) for domain, seq in p.items())


@dataclass
class ReplicaStatus:
    """What ``SHOW SLAVE STATUS`` and the GTID variables say, in one place."""

    io_running: bool
    sql_running: bool
    seconds_behind: int | None  # NULL (None) while the SQL thread is stopped
    sql_delay: int  # MASTER_DELAY in force
    primary_gtid: str  # the primary's gtid_binlog_pos
    replica_gtid: str  # the replica's gtid_slave_pos: what it has applied
    received_gtid: str  # Gtid_IO_Pos: what its IO thread has fetched
    behind: int  # transactions written on the primary, not yet applied here
    last_error: str = ""
    raw: dict[str, str | None] = field(default_factory=dict, repr=False)

    @property
    def running(self) -> bool:
        return self.io_running and self.sql_running

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "raw"}


def status_from_rows(
    slave: dict[str, str | None], primary_gtid: str, replica_gtid: str
) -> ReplicaStatus:
    """Build a ReplicaStatus from a SHOW SLAVE STATUS row (any client can call this)."""
    sbm = slave.get("Seconds_Behind_Master")
    errors = (slave.get("Last_IO_Error") or "", slave.get("Last_SQL_Error") or "")
    return ReplicaStatus(
        io_running=slave.get("Slave_IO_Running") == "Yes",
        sql_running=slave.get("Slave_SQL_Running") == "Yes",
        seconds_behind=None if sbm in (None, "") else int(sbm),
        sql_delay=int(slave.get("SQL_Delay") or 0),
        primary_gtid=primary_gtid,
        replica_gtid=replica_gtid,
        received_gtid=slave.get("Gtid_IO_Pos") or "",
        behind=transactions_behind(primary_gtid, replica_gtid),
        last_error=" ".join(e for e in errors if e),
        raw=slave,
    )


class ReplicatedPair:
    """A primary and a replica; a context manager. ``directory`` keeps both across runs."""

    def __init__(self, directory: str | Path | None = None, delay: int = 0) -> None:
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="syslab-replication-"))
        self.delay = delay
        self.primary = MariaDB(self.dir / "primary", server_id=1, extra_args=PRIMARY_ARGS)
        self.replica = MariaDB(self.dir / "replica", server_id=2, extra_args=REPLICA_ARGS)

    # -- lifetime --------------------------------------------------------------
    def start(self) -> ReplicatedPair:
        fresh = not (self.dir / MARKER).exists()
        if fresh:  # half-built or foreign state: rebuild both from scratch
            for sub in ("primary", "replica"):
                shutil.rmtree(self.dir / sub, ignore_errors=True)
        try:
            # One after the other, from this thread: a child launched from a worker
            # thread gets its parent-death signal when that thread exits
            # (PR_SET_PDEATHSIG follows the thread, not the process), and two
            # mariadb-install-db runs at once were seen to collide on their
            # temporary tables in /tmp.
            self.primary.start()
            self.replica.start()
            if fresh:
                self._create_replication_user()
            self._point_replica_at_primary()
            self.wait_running()
            self.wait_caught_up()
        except BaseException:
            self.stop()
            raise
        (self.dir / MARKER).write_text("primary: server_id 1; replica: server_id 2\n")
        log.info(
            "replication up: primary 127.0.0.1:%d -> replica 127.0.0.1:%d",
            self.primary.port,
            self.replica.port,
        )
        return self

    def stop(self) -> None:
        # The replica first, so its IO thread does not log a lost primary.
        self.replica.stop()
        self.primary.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ReplicatedPair:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- wiring ------------------------------------------------------------------
    def _create_replication_user(self) -> None:
        self.primary.sql(
            f"CREATE USER IF NOT EXISTS '{REPL_USER}'@'%' IDENTIFIED BY '{REPL_PASSWORD}';"
            f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%'"
        )

    def _point_replica_at_primary(self) -> None:
        self.replica.sql(
            "STOP SLAVE;"
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.primary.port},"
            f" MASTER_USER='{REPL_USER}', MASTER_PASSWORD='{REPL_PASSWORD}',"
            f" MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_DELAY={self.delay};"
            "START SLAVE"
        )

    # -- observing -----------------------------------------------------------------
    def primary_gtid(self) -> str:
        return str(self.primary.scalar("SELECT @@GLOBAL.gtid_binlog_pos") or "")

    def status(self) -> ReplicaStatus:
        rows = query(self.replica, "SHOW SLAVE STATUS")
        replica_gtid = str(self.replica.scalar("SELECT @@GLOBAL.gtid_slave_pos") or "")
        return status_from_rows(rows[0] if rows else {}, self.primary_gtid(), replica_gtid)

    def wait_running(self, timeout: float = START_TIMEOUT) -> ReplicaStatus:
        """Poll SHOW SLAVE STATUS until both replica threads run (readiness, not a settle sleep)."""
        return _poll(self.status, lambda s: s.running, timeout, "replica threads running")

    def wait_caught_up(self, timeout: float = START_TIMEOUT) -> None:
        """Block (server side, MASTER_GTID_WAIT) until the replica applied all of the primary."""
        gtid = self.primary_gtid()
        if not gtid:
            return
        got = self.replica.scalar(f"SELECT MASTER_GTID_WAIT('{gtid}', {timeout})")
        if got != 0:
            raise LaunchError(f"replica did not reach {gtid} in {timeout}s: {self.status()}")

    # -- making lag visible ------------------------------------------------------------
    def pause_apply(self) -> None:
        """Stop applying (the IO thread keeps receiving): reads on the replica go stale."""
        self.replica.sql("STOP SLAVE SQL_THREAD")

    def resume_apply(self) -> None:
        self.replica.sql("START SLAVE SQL_THREAD")

    def set_delay(self, seconds: int) -> None:
        """Apply every event ``seconds`` after the primary wrote it (MASTER_DELAY)."""
        self.delay = seconds
        self.replica.sql(f"STOP SLAVE; CHANGE MASTER TO MASTER_DELAY={int(seconds)}; START SLAVE")


def _poll(
    probe: Callable[[], ReplicaStatus],
    done: Callable[[ReplicaStatus], bool],
    timeout: float,
    what: str,
) -> ReplicaStatus:
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        s = probe()
        if done(s):
            return s
        if time.monotonic() > deadline:
            raise LaunchError(f"timed out waiting for {what}: {s}")
        time.sleep(delay)  # polling a readiness condition with back-off
        delay = min(delay * 2, 0.2)
