"""The one-command path (``Session.run_one``; each ``Harness.cmd`` is one read of one command)
reads the policy from ``state.policy_now``, which must follow every change another client
makes: a monitor, maxmemory, a slow-log threshold."""

from __future__ import annotations

from cache_support import Harness


def test_a_monitor_attached_by_another_client_sees_the_next_unpipelined_command():
    h = Harness()
    assert h.cmd("SET", "k", "v") == b"+OK\r\n"  # (the policy is read and kept: no monitor)
    mon = h.connect()
    assert h.cmd("MONITOR", client=mon) == b"+OK\r\n"
    assert h.cmd("GET", "k") == b"$1\r\nv\r\n"
    assert b'"GET" "k"' in mon[1].take()
    mon[0].connection_lost(None)  # the monitor leaves: commands are counted in bulk again
    assert h.cmd("GET", "k") == b"$1\r\nv\r\n"
    assert mon[1].take() == b""
    assert h.state.observer.commands["get"].calls == 2


def test_maxmemory_set_by_another_client_refuses_the_next_unpipelined_write():
    h = Harness()
    assert h.cmd("SET", "k", "v") == b"+OK\r\n"
    other = h.connect()
    assert h.cmd("CONFIG", "SET", "maxmemory", "1", client=other) == b"+OK\r\n"
    assert h.cmd("SET", "k2", "v").startswith(b"-OOM ")
    assert h.cmd("GET", "k") == b"$1\r\nv\r\n"  # reads still run
    assert h.cmd("CONFIG", "SET", "maxmemory", "0", client=other) == b"+OK\r\n"
    assert h.cmd("SET", "k2", "v") == b"+OK\r\n"


def test_a_slowlog_threshold_set_by_another_client_logs_the_next_unpipelined_command():
    h = Harness()
    assert h.cmd("GET", "k") == b"$-1\r\n"
    other = h.connect()
    h.cmd("CONFIG", "SET", "slowlog-log-slower-than", "0", client=other)
    h.cmd("GET", "k")
    assert [e[3] for e in h.state.observer.slowlog][0] == [b"GET", b"k"]


def test_a_reset_alone_in_its_read_that_logs_out_leaves_the_client_answered():
    """RESET is not a one-command-path command: it goes to the loop, which ends a batch a
    RESET logged out of; the next read must be answered (NOAUTH), not queued forever."""
    h = Harness(requirepass="pw")
    assert h.cmd("AUTH", "pw") == b"+OK\r\n"
    assert h.cmd("SET", "k", "v") == b"+OK\r\n"
    assert h.cmd("RESET") == b"+RESET\r\n"
    assert h.cmd("GET", "k").startswith(b"-NOAUTH ")
    assert h.cmd("AUTH", "pw") == b"+OK\r\n"
    assert h.cmd("GET", "k") == b"$1\r\nv\r\n"
