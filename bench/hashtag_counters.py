"""The five ways bench/hashtags counts posts per hashtag into MariaDB (exercise M2).

Every counter is fed the same deterministic post stream and writes into
``hashtag_counts(tag PRIMARY KEY, cnt)`` with ``INSERT ... ON DUPLICATE KEY
UPDATE cnt = cnt + VALUES(cnt)``. In-memory approaches run ``WRITERS`` ingest
threads sharing one map and a flusher thread; ``blocked`` is the total time
ingest threads spent waiting for the map's lock (the stop-the-world).

1. naive: one upsert per hashtag of every post, no map at all.
2. batching: a shared map; the flusher holds the lock while it writes to the DB.
3. deep copy: the flusher copies the map under the lock, clears it, writes outside.
4. two maps: the flusher swaps the live map for an empty one (O(1)) under the lock.
5. Kafka: posts re-ingested into a topic keyed (partitioned) by hashtag; each
   consumer owns its hashtags, counts without locks, and writes counts *and* its
   offsets in one DB transaction, so a crash replays exactly what was not written.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from clients.mysql import Connection

WRITERS = 4  # ingest threads of the in-memory approaches
FLUSH_EVERY_MS = 10  # the flusher's period (batching approaches)
FLUSH_EVERY_POSTS = 1000  # ... or this many posts since the last flush, whichever first
UPSERT = "INSERT INTO hashtag_counts (tag, cnt) VALUES {} ON DUPLICATE KEY UPDATE cnt = cnt + VALUES(cnt)"



def posts(n: int, tags: int = 5000, seed: int = 7, s: float = 1.1) -> Iterator[list[str]]:
    """``n`` posts, each with 1-3 distinct hashtags drawn from a Zipf(s) over ``tags``."""
    rng = random.Random(seed)
    weights = [1 / (k**s) for k in range(1, tags + 1)]
    names = [f"#t{k}" for k in range(tags)]
    cum = list(_accumulate(weights))
    for _ in range(n):
        picked = set(rng.choices(names, cum_weights=cum, k=rng.randint(1, 3)))
        yield sorted(picked)


def _accumulate(ws: list[float]) -> Iterator[float]:
    total = 0.0
    for w in ws:
        total += w
        yield total


def truth(n: int) -> Counter[str]:
    c: Counter[str] = Counter()
    for p in posts(n):
        c.update(p)
    return c


def setup_schema(conn: Connection) -> None:
    conn.query("DROP TABLE IF EXISTS hashtag_counts")
    conn.query("DROP TABLE IF EXISTS hashtag_offsets")
    conn.query("CREATE TABLE hashtag_counts (tag VARCHAR(64) PRIMARY KEY, cnt BIGINT NOT NULL)")
    conn.query("CREATE TABLE hashtag_offsets (part INT PRIMARY KEY, next_offset BIGINT NOT NULL)")


def db_counts(conn: Connection) -> Counter[str]:
    return Counter({t: int(c) for t, c in conn.query("SELECT tag, cnt FROM hashtag_counts").rows})


def write_counts(conn: Connection, counts: dict[str, int]) -> int:
    """One multi-row upsert; returns rows sent."""
    if not counts:
        return 0
    items = list(counts.items())
    sql = UPSERT.format(",".join(["(%s,%s)"] * len(items)))
    conn.query(sql, [x for kv in items for x in kv])
    return len(items)


@dataclass
class Stats:
    approach: str
    posts: int = 0
    seconds: float = 0.0
    db_statements: int = 0
    db_rows: int = 0
    blocked_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# -- 1. naive ----------------------------------------------------------------------------------


def die() -> None:
    """The crash of the kill experiment: a real SIGKILL, no cleanup, no final flush."""
    os.kill(os.getpid(), signal.SIGKILL)


def run_naive(conn: Connection, n: int, kill_at: int | None = None) -> Stats:
    st = Stats("1 naive count++")
    t0 = time.perf_counter()
    for i, p in enumerate(posts(n), 1):
        for tag in p:
            conn.query("INSERT INTO hashtag_counts (tag, cnt) VALUES (%s, 1) "
                       "ON DUPLICATE KEY UPDATE cnt = cnt + 1", (tag,))  # fmt: skip
            st.db_statements += 1
            st.db_rows += 1
        if i == kill_at:
            die()
    st.posts, st.seconds = n, time.perf_counter() - t0
    return st


# -- 2-4. a shared map and a flusher ------------------------------------------------------------


class SharedMap:
    """The map ingest threads update; ``flush`` is where the approaches differ."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.lock = threading.Lock()
        self.live: Counter[str] = Counter()
        self.pending = 0
        self.blocked = 0.0
        self._blocked_lock = threading.Lock()

    def add(self, tags: list[str]) -> None:
        if not self.lock.acquire(blocking=False):
            t = time.perf_counter()
            self.lock.acquire()
            with self._blocked_lock:
                self.blocked += time.perf_counter() - t
        try:
            self.live.update(tags)
            self.pending += 1
        finally:
            self.lock.release()

    def flush(self, conn: Connection, st: Stats) -> None:
        if self.how == "batching":  # the DB round trip happens while everyone waits
            with self.lock:
                st.db_rows += write_counts(conn, self.live)
                self.live.clear()
                self.pending = 0
        else:
            with self.lock:
                if self.how == "deepcopy":
                    snapshot = Counter(self.live)  # a copy of str->int: as deep as it needs
                    self.live.clear()
                else:  # "swap": two maps, the live one replaced by a fresh one
                    snapshot, self.live = self.live, Counter()
                self.pending = 0
            st.db_rows += write_counts(conn, snapshot)
        st.db_statements += 1


def run_shared(how: str, conn: Connection, n: int, kill_at: int | None = None) -> Stats:
    """``kill_at``: one ingest thread (so the accepted posts are exactly the first
    ``kill_at``), and SIGKILL right after accepting that many."""
    names = {"batching": "2 naive batching", "deepcopy": "3 batching + deep copy",
             "swap": "4 two maps swapped"}  # fmt: skip
    st = Stats(names[how])
    m = SharedMap(how)
    stream = list(posts(n))
    done = threading.Event()
    writers_n = 1 if kill_at else WRITERS

    def ingest(w: int) -> None:
        for i in range(w, n, writers_n):
            m.add(stream[i])
            if i + 1 == kill_at:
                die()

    def flusher() -> None:
        last = time.monotonic()
        while not done.is_set():
            time.sleep(0.001)  # the flusher's own pacing, not test synchronisation
            if m.pending >= FLUSH_EVERY_POSTS or time.monotonic() - last >= FLUSH_EVERY_MS / 1000:
                m.flush(conn, st)
                last = time.monotonic()
        m.flush(conn, st)

    t0 = time.perf_counter()
    writers = [threading.Thread(target=ingest, args=(w,)) for w in range(writers_n)]
    f = threading.Thread(target=flusher)
    f.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    f.join()
    st.posts, st.seconds, st.blocked_s = n, time.perf_counter() - t0, m.blocked
    return st


# -- 5. Kafka: re-partitioned by hashtag -------------------------------------------------------------


def reingest(kafka: str, topic: str, n: int) -> int:
    """Posts -> one record per hashtag, keyed by it: murmur2 sends a tag to one partition."""
    from clients.kafka import Producer

    count = 0
    with Producer(kafka, acks="all", linger_ms=5, batch_size=64 * 1024) as p:
        for post in posts(n):
            for tag in post:
                p.send(topic, tag.encode(), key=tag.encode())
                count += 1
    return count


def run_kafka(addr: Any, kafka: str, topic: str, records: int | None, consumers: int = 2,
              kill_after: int | None = None, offsets_in_db: bool = True) -> Stats:  # fmt: skip
    """Count ``records`` hashtag records with ``consumers`` group members (threads).

    offsets_in_db: counts and the next offsets are written in one transaction and a
    member seeks to the DB's offsets when assigned (exactly once into the DB). Else the
    offsets are committed to Kafka after the DB write (at least once).
    records=None: read to the end of every partition (the recovery after a kill).
    """
    from clients.kafka import Consumer

    st = Stats("5 Kafka by hashtag" + ("" if offsets_in_db else " (Kafka offsets)"))
    seen = [0]
    lock = threading.Lock()
    t0 = time.perf_counter()

    def member(k: int) -> None:
        db = Connection.from_address(addr)  # one DB connection per member
        c = Consumer(kafka, group_id="hashtag-counters", fetch_max_wait_ms=100,
                     session_timeout_ms=6000)  # fmt: skip
        counts: Counter[str] = Counter()
        nexts: dict[tuple[str, int], int] = {}

        def assigned(tps: list[tuple[str, int]]) -> None:
            if offsets_in_db:
                stored = dict(db.query("SELECT part, next_offset FROM hashtag_offsets").rows)
                for tp in tps:
                    if tp[1] in stored:
                        c.seek(tp, int(stored[tp[1]]))

        def flush() -> None:
            if not counts:
                return
            with db.transaction():
                st.db_rows += write_counts(db, counts)
                if offsets_in_db:
                    for (_, p), off in nexts.items():
                        db.query("INSERT INTO hashtag_offsets VALUES (%s, %s) ON DUPLICATE KEY "
                                 "UPDATE next_offset = VALUES(next_offset)", (p, off))  # fmt: skip
            st.db_statements += 1
            if kill_after is not None and not offsets_in_db and seen[0] >= kill_after:
                die()  # written to the DB, offsets not yet committed: the worst moment
            if not offsets_in_db:
                c.commit({tp: off for tp, off in nexts.items()})
            counts.clear()
            nexts.clear()  # a revoked partition's offset must not be rewritten later

        c.subscribe([topic], on_assign=assigned, on_revoke=lambda _tps: flush())
        pending = 0
        while True:
            with lock:
                if records is not None and seen[0] >= records:
                    break
            if records is None and c.assignment() and all(
                    c.position(tp) >= c.end_offset(tp) for tp in c.assignment()):
                break
            for tp, recs in c.poll(200).items():
                for r in recs:  # flushes may fall inside a poll's records: offsets per record
                    counts[r.value.decode()] += 1  # type: ignore[union-attr]
                    nexts[tp] = r.offset + 1
                    pending += 1
                    with lock:
                        seen[0] += 1
                        if kill_after is not None and seen[0] >= kill_after and offsets_in_db:
                            die()  # mid-batch: counted in memory, nothing of it written
                    if pending >= FLUSH_EVERY_POSTS:
                        flush()
                        pending = 0
        flush()
        c.close()
        db.close()

    threads = [threading.Thread(target=member, args=(k,)) for k in range(consumers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st.posts, st.seconds = seen[0], time.perf_counter() - t0
    return st
