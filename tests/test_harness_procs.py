"""harness.procs: a child is ready when it says where it listens, never when "something" answers."""

from __future__ import annotations

import socket
import sys

import pytest

from harness.procs import LISTENING, Child, LaunchError, python_module


def _echo(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"ping\n")
        return s.recv(100)


def test_port_zero_is_read_from_the_listening_line():
    with python_module("servers.echo", port=0) as child:
        assert child.port and child.port > 0
        assert f"listening on 127.0.0.1:{child.port}" in child.output()
        assert _echo(child.port) == b"ping\n"


def test_the_line_is_logged_even_at_warning_level():
    child = python_module("servers.echo", "--log-level", "warning", port=0)
    with child:
        assert child.port and _echo(child.port) == b"ping\n"
        child.stop()  # its shutdown lines are INFO too: they must stay filtered
        info = [line for line in child.output().splitlines() if " INFO " in line]
    assert len(info) == 1 and "listening on" in info[0]


def test_a_port_taken_by_someone_else_is_not_mistaken_for_ours():
    """Before, the launcher polled connect() and took any answer as its child's."""
    squatter = socket.create_server(("127.0.0.1", 0))
    try:
        port = squatter.getsockname()[1]
        child = python_module("servers.echo", port=port, start_timeout=20)
        with pytest.raises(LaunchError, match="exited"):
            child.start()
        child.stop()
    finally:
        squatter.close()


def test_a_child_that_never_says_it_listens_times_out_with_its_output():
    argv = [sys.executable, "-c", "import sys, time; print('starting', flush=True); time.sleep(60)"]
    child = Child(argv, name="mute", start_timeout=0.5, ready_line=LISTENING)
    with pytest.raises(LaunchError, match="did not log that it listens") as e:
        child.start()
    assert "starting" in str(e.value)
    assert not child.alive()
