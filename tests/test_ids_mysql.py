"""D10 on MariaDB: the LAST_INSERT_ID counter, Snowflake as a stored procedure,
Flickr's odd/even ticket servers on two private instances (with fail-over)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from clients.ids import MySQLCounter, SqlSnowflake, TicketServers, decode_snowflake
from clients.ids.flickr import MisconfiguredTicketServer, server_args
from clients.mysql import Connection, DatabaseError
from harness.services import MariaDB
from tests.ids_support import PROCESSES, THREADS, collect, flat

pytestmark = pytest.mark.exercise("D10")


@pytest.fixture
def conn(mariadb) -> Iterator[Connection]:
    with Connection.from_address(mariadb) as c:
        yield c


def test_counter_hands_out_consecutive_ids_and_blocks(conn):
    MySQLCounter.install(conn, "t_consecutive")
    c = MySQLCounter(conn, "t_consecutive")
    assert [c.next_id() for _ in range(3)] == [1, 2, 3]
    assert c.next_block(10) == range(4, 14)
    with pytest.raises(LookupError):
        MySQLCounter(conn, "never_installed").next_id()


def test_counter_unique_and_gapless_under_8_threads_x_4_processes(mariadb, conn):
    MySQLCounter.install(conn, "t_stress")
    seqs = collect("counter", {"addr": mariadb, "name": "t_stress"}, per_thread=60)
    ids = flat(seqs)
    total = PROCESSES * THREADS * 60
    assert sorted(ids) == list(range(1, total + 1))  # unique, and no id lost
    for seq in seqs:
        assert seq == sorted(seq)


def test_stored_procedure_snowflake_unique_and_ordered_per_worker(mariadb, conn):
    SqlSnowflake.install(conn)
    seqs = collect("sql_snowflake", {"addr": mariadb}, per_thread=40)
    ids = flat(seqs)
    assert len(ids) == len(set(ids)) == PROCESSES * THREADS * 40
    now = time.time() * 1000
    for seq in seqs:
        assert seq == sorted(seq)
        assert all(now - 120_000 < decode_snowflake(i).unix_ms <= now + 1000 for i in seq)
    assert {decode_snowflake(i).worker for i in ids} == set(range(PROCESSES))


def test_stored_procedure_snowflake_overflow_moves_to_the_next_millisecond(conn):
    SqlSnowflake.install(conn)
    gen = SqlSnowflake(conn, worker=900)
    # Pretend this worker already used the whole sequence a little in the future:
    # the clock is "behind" (within the limit) and the sequence is full.
    ahead = int(time.time() * 1000) + 5
    conn.query("UPDATE snowflake_state SET last_ms = %s, seq = 4095 WHERE worker = 900", (ahead,))
    parts = decode_snowflake(gen.next_id())
    assert parts.unix_ms > ahead and parts.sequence == 0 and parts.worker == 900


def test_stored_procedure_snowflake_refuses_a_clock_far_behind(conn):
    SqlSnowflake.install(conn)
    gen = SqlSnowflake(conn, worker=901)
    far = int(time.time() * 1000) + 3_600_000  # state written by a clock an hour ahead
    conn.query("UPDATE snowflake_state SET last_ms = %s, seq = 0 WHERE worker = 901", (far,))
    with pytest.raises(DatabaseError, match="clock moved backwards"):
        gen.next_id()
    assert not conn.in_transaction  # the procedure rolled its transaction back
    conn.query("UPDATE snowflake_state SET last_ms = 0 WHERE worker = 901")
    assert decode_snowflake(gen.next_id()).worker == 901


@pytest.fixture(scope="module")
def ticket_servers() -> Iterator[list[MariaDB]]:
    servers = [MariaDB(extra_args=server_args(i)) for i in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda m: m.start(), servers))
        TicketServers.install([s.address for s in servers])
        yield servers
    finally:
        for s in servers:
            s.stop()


def test_flickr_ticket_servers_hand_out_odd_and_even(ticket_servers):
    addrs = [s.address for s in ticket_servers]
    seqs = collect("flickr", {"addrs": addrs}, per_thread=40)
    ids = flat(seqs)
    assert len(ids) == len(set(ids)) == PROCESSES * THREADS * 40
    odd = [i for i in ids if i % 2]
    even = [i for i in ids if not i % 2]
    # Round-robin with both servers up: exactly half each. Concurrent REPLACEs
    # deadlock inside InnoDB now and then; that is retried on the same server, not
    # counted as a server failure (a fail-over per deadlock skewed the split).
    assert len(odd) == len(even)
    with Connection.from_address(addrs[0]) as c:  # the table never grows: REPLACE
        assert c.query("SELECT COUNT(*) FROM tickets64").scalar() == 1


def test_flickr_two_servers_with_default_offsets_are_refused(ticket_servers):
    addrs = [ticket_servers[0].address, ticket_servers[0].address]
    with pytest.raises(MisconfiguredTicketServer):
        TicketServers.install(addrs)


def test_flickr_fails_over_when_one_server_dies(ticket_servers):
    t = TicketServers([s.address for s in ticket_servers])
    before = [t.next_id() for _ in range(4)]
    ticket_servers[1].kill()  # SIGKILL the even server
    try:
        after = [t.next_id() for _ in range(6)]
        assert t.failovers >= 1
        assert all(i % 2 == 1 for i in after)  # only the odd server answers now
        assert len(set(before + after)) == 10
    finally:
        t.close()
        ticket_servers[1].child = None
        ticket_servers[1].start()  # same data directory: the module's other tests go on
