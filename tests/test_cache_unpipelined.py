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


class _Clock:
    """``monotonic`` for the session: every reading is ``step`` seconds after the last."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _stat(h: Harness, name: str) -> dict[str, float]:
    """A command's INFO commandstats row (usec rounded: the clock is a float)."""
    info = h.cmd("INFO", "commandstats").decode()
    line = next(x for x in info.split("\r\n") if x.startswith(f"cmdstat_{name}:"))
    row = {k: float(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split(","))}
    return {**row, "usec": round(row["usec"], -1)}


def test_unpipelined_calls_are_counted_and_timed_in_their_commandstats_row(monkeypatch):
    """Each call adds itself to its row (``state.call_rows``): calls, and usec from the two
    clock readings of the call; after CONFIG RESETSTAT the new rows are the ones counted."""
    clock = _Clock(0.000010)  # each call takes 10 us
    monkeypatch.setattr("servers.respkit.session.monotonic", clock)
    h = Harness()
    for _ in range(3):
        assert h.cmd("SET", "k", "1") == b"+OK\r\n"
    assert h.cmd("INCR", "k") == b":2\r\n"
    assert h.cmd("GET", "k") == b"$1\r\n2\r\n"
    assert h.cmd("GET", "nokey") == b"$-1\r\n"
    stats = h.cmd("INFO", "stats")
    assert b"total_commands_processed:6\r\n" in stats
    assert b"keyspace_hits:1\r\nkeyspace_misses:1\r\n" in stats
    assert _stat(h, "set") == {"calls": 3, "usec": 30, "usec_per_call": 10.0,
                               "rejected_calls": 0, "failed_calls": 0}  # fmt: skip
    assert _stat(h, "get")["calls"] == 2 and _stat(h, "get")["usec"] == 20
    assert _stat(h, "incr")["calls"] == 1 and _stat(h, "incr")["usec"] == 10
    assert h.cmd("CONFIG", "RESETSTAT") == b"+OK\r\n"
    assert h.cmd("SET", "k", "1") == b"+OK\r\n"
    assert h.cmd("INCR", "k", "x").startswith(b"-ERR wrong number")  # refused: not a call
    assert h.cmd("LPUSH", "k", "x").startswith(b"-WRONGTYPE")  # a failed call
    assert b"total_commands_processed:3\r\n" in h.cmd("INFO", "stats")  # (RESETSTAT too)
    assert _stat(h, "set")["calls"] == 1 and _stat(h, "set")["usec"] == 10
    assert _stat(h, "lpush")["failed_calls"] == 1 and _stat(h, "incr")["rejected_calls"] == 1


def test_an_unpipelined_call_is_the_clients_last_interaction_and_its_cmd(monkeypatch):
    clock = _Clock(0.0)
    monkeypatch.setattr("servers.respkit.session.monotonic", clock)
    monkeypatch.setattr("servers.respkit.session.time.monotonic", clock)
    h = Harness()
    other = h.connect()
    clock.now += 100  # the client has been idle for 100 s...
    assert h.cmd("GET", "k") == b"$-1\r\n"  # ...until this
    listed = h.cmd("CLIENT", "LIST", client=other).decode()
    line = next(x for x in listed.split("\n") if x.startswith(f"id={h.client.id} "))
    assert " idle=0 " in line and " age=100 " in line and " cmd=get " in line


def test_reads_alternating_between_grids_lone_calls_and_mixed_pipelines_answer_in_order():
    """The session tries first the way the client's last read went (a grid, or one call):
    a client switching between them, read after read, is answered and counted exactly,
    whichever way each read then takes."""
    from netlib import resp

    h = Harness()
    grid = b"".join(resp.encode_command("INCR", "n") for _ in range(16))
    lone = resp.encode_command("INCR", "n")
    mixed = resp.encode_command("INCR", "n") + resp.encode_command("GET", "n") * 2
    sets = b"".join(resp.encode_command("SET", f"k{i:02d}", "v") for i in range(16))
    n, expected_calls = 0, 0
    for read in [grid, lone, grid, grid, mixed, lone, lone, sets, lone, mixed, grid, lone]:
        got = h.raw(read)
        if read is sets:
            assert got == b"+OK\r\n" * 16
            continue
        incrs = 16 if read is grid else 1
        want = b"".join(b":%d\r\n" % (n + i) for i in range(1, incrs + 1))
        n += incrs
        expected_calls += incrs
        if read is mixed:
            want += b"$%d\r\n%d\r\n" % (len(str(n)), n) * 2
        assert got == want, read
    assert h.state.observer.commands["incr"].calls == expected_calls
    assert h.cmd("GET", "n") == b"$%d\r\n%d\r\n" % (len(str(n)), n)
