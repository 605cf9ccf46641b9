"""D10: Snowflake (API) and ObjectId: uniqueness under 8 threads x 4 processes, ordering, clocks."""

from __future__ import annotations

import os
import time

import pytest

from clients.ids import (
    ClockMovedBackwards,
    ObjectIdGenerator,
    Snowflake,
    decode_objectid,
    decode_snowflake,
)
from clients.ids.objectid import COUNTER_MOD
from clients.ids.snowflake import MAX_SEQUENCE, compose
from tests.ids_support import PROCESSES, THREADS, collect, flat

pytestmark = pytest.mark.exercise("D10")

T0 = 1_700_000_000_000


class FakeClock:
    """Milliseconds that move only when the test (or a waiting generator) moves them."""

    def __init__(self, ms: int = T0) -> None:
        self.ms = ms
        self.sleeps = 0

    def __call__(self) -> int:
        return self.ms

    def sleep(self, _seconds: float) -> None:
        self.sleeps += 1
        self.ms += 1


def test_snowflake_layout_round_trips():
    sid = compose(T0, 513, 77)
    assert decode_snowflake(sid) == (T0, 513, 77)
    assert sid < 2**63


def test_snowflake_sequence_overflow_waits_for_the_next_millisecond():
    clock = FakeClock()
    gen = Snowflake(worker=3, clock=clock, sleep=clock.sleep)
    ids = [gen.next_id() for _ in range(MAX_SEQUENCE + 1)]
    assert {decode_snowflake(i).unix_ms for i in ids} == {T0}
    assert clock.sleeps == 0 and gen.overflow_waits == 0
    nxt = gen.next_id()  # the 4097th in the same millisecond
    assert gen.overflow_waits == 1 and clock.sleeps == 1
    assert decode_snowflake(nxt) == (T0 + 1, 3, 0)
    assert ids == sorted(ids) and nxt > ids[-1]


def test_snowflake_small_backward_step_is_waited_out():
    clock = FakeClock()
    gen = Snowflake(worker=1, clock=clock, sleep=clock.sleep, max_backwards_ms=10)
    clock.ms = T0 + 100
    before = gen.next_id()
    clock.ms = T0 + 95  # NTP stepped back 5 ms
    after = gen.next_id()
    assert gen.backward_waits == 1 and clock.sleeps == 5
    assert after > before
    assert decode_snowflake(after).unix_ms == T0 + 100


def test_snowflake_big_backward_step_is_refused_then_recovers():
    clock = FakeClock()
    gen = Snowflake(worker=1, clock=clock, sleep=clock.sleep, max_backwards_ms=10)
    before = gen.next_id()
    clock.ms = T0 - 60_000
    with pytest.raises(ClockMovedBackwards):
        gen.next_id()
    assert clock.sleeps == 0  # refused at once, nobody stalled for a minute
    clock.ms = T0 + 1
    assert gen.next_id() > before


def test_snowflake_refuses_a_worker_id_outside_ten_bits():
    with pytest.raises(ValueError):
        Snowflake(worker=1024)


def test_snowflake_unique_under_8_threads_x_4_processes_and_k_sorted():
    seqs = collect("snowflake", {}, per_thread=5000)
    ids = flat(seqs)
    assert len(ids) == PROCESSES * THREADS * 5000 == len(set(ids))
    for seq in seqs:  # each thread's ids strictly increase
        assert all(a < b for a, b in zip(seq, seq[1:], strict=False))
    # k-sorted: sorting by id sorts by millisecond; inside a millisecond the worker decides
    parts = [decode_snowflake(i) for i in sorted(ids)]
    assert all(a.unix_ms <= b.unix_ms for a, b in zip(parts, parts[1:], strict=False))
    assert {p.worker for p in parts} == set(range(PROCESSES))
    now = time.time() * 1000
    assert all(now - 120_000 < p.unix_ms <= now for p in parts)


def test_objectid_fields_decode():
    t0 = int(time.time())
    gen = ObjectIdGenerator()
    a, b = gen.next_id(), gen.next_id()
    pa, pb = decode_objectid(a), decode_objectid(bytes.fromhex(b))
    assert t0 <= pa.seconds <= int(time.time())
    assert pa.random == pb.random == gen.random and len(pa.random) == 5
    assert pb.counter == (pa.counter + 1) % COUNTER_MOD
    assert len(a) == 24


def test_objectid_orders_by_second_only():
    now = [1_700_000_000.2]
    gen = ObjectIdGenerator(clock=lambda: now[0])
    first = gen.next_id()
    now[0] += 1
    later = gen.next_id()
    assert later > first  # hex compares like the bytes: the seconds lead
    assert decode_objectid(later).seconds == decode_objectid(first).seconds + 1


def test_objectid_rejects_a_wrong_length():
    with pytest.raises(ValueError):
        decode_objectid(b"\x00" * 11)


def test_objectid_forked_child_draws_its_own_random_part():
    gen = ObjectIdGenerator()
    parent = decode_objectid(gen.next_id())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id, written back as hex
        try:
            os.write(w, gen.next_id().encode())
        finally:
            os._exit(0)
    os.close(w)
    child_hex = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert decode_objectid(child_hex).random != parent.random


def test_objectid_unique_under_8_threads_x_4_processes():
    seqs = collect("objectid", {}, per_thread=5000)
    ids = flat(seqs)
    assert len(ids) == len(set(ids)) == PROCESSES * THREADS * 5000
    randoms = {decode_objectid(s[0]).random for s in seqs}
    assert len(randoms) == PROCESSES  # one random part per process
