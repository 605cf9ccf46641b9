"""make demo's supervisor starts registered servers, waits for them, stops them cleanly."""

import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from harness.procs import REPO_ROOT, port_open
from servers.catalog import Server
from servers.supervisor import Supervisor


def _echo_roundtrip(port: int, payload: bytes = b"hello\n") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(100)
            if not chunk:
                break
            got += chunk
        return got


def test_supervisor_starts_and_stops_a_tiny_registered_server():
    with Supervisor([Server("echo", 0, "nc 127.0.0.1 {port}")]) as sup:
        port = sup.children["echo"].port
        assert port and port_open("127.0.0.1", port)
        assert _echo_roundtrip(port) == b"hello\n"
        table = sup.table()
        assert f"127.0.0.1:{port}" in table and f"nc 127.0.0.1 {port}" in table
        child = sup.children["echo"]
    assert not child.alive()
    assert child.proc.returncode == 0  # stopped by SIGTERM, exited cleanly
    assert not port_open("127.0.0.1", port)


def test_supervisor_reports_a_server_that_cannot_start():
    with Supervisor([Server("no_such_server", 0, "-")]) as sup:
        assert "no_such_server" in sup.failed
        assert "FAILED" in sup.table()


def test_demo_process_stops_everything_on_sigterm(tmp_path):
    """The real `make demo` entry point, as a process, signalled like a user's Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "servers.supervisor", "--any-port", "echo"], cwd=REPO_ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "All up" in line or not line:
                break
        out = "".join(lines)
        assert "All up" in out, out
        m = re.search(r"^echo\s+127\.0\.0\.1:(\d+)", out, re.M)
        assert m, out
        port = int(m.group(1))
        assert _echo_roundtrip(port) == b"hello\n"
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "all stopped" in rest
        assert not port_open("127.0.0.1", port)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_child_started_from_a_worker_thread_outlives_that_thread():
    """PR_SET_PDEATHSIG follows the forking thread; Child must not use it off the main thread."""
    import threading

    from harness.procs import python_module

    child = python_module("servers.echo", port=0)
    t = threading.Thread(target=child.start)
    t.start()
    t.join()
    port = child.port
    try:
        # The thread is gone; with the signal tied to it the child would now get SIGTERM.
        with pytest.raises(subprocess.TimeoutExpired):
            child.proc.wait(timeout=1.0)
        assert _echo_roundtrip(port) == b"hello\n"  # still serving after its thread ended
    finally:
        child.stop()
