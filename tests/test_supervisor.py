"""make demo's supervisor starts registered servers, waits for them, stops them cleanly."""

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from harness.procs import REPO_ROOT, port_open
from servers.catalog import Server
from servers.supervisor import MAX_RESTARTS, Supervisor, run_demo
from tests.support import wait_until


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


def test_supervisor_starts_and_stops_a_tiny_registered_server(tmp_path):
    with Supervisor([Server("echo", 0, "nc 127.0.0.1 {port}")], run_dir=tmp_path) as sup:
        port = sup.children["echo"].port
        assert port and port_open("127.0.0.1", port)
        assert _echo_roundtrip(port) == b"hello\n"
        table = sup.table()
        assert f"127.0.0.1:{port}" in table and f"nc 127.0.0.1 {port}" in table
        child = sup.children["echo"]
    assert not child.alive()
    assert child.proc.returncode == 0  # stopped by SIGTERM, exited cleanly
    assert not port_open("127.0.0.1", port)


def test_supervisor_reports_a_server_that_cannot_start(tmp_path):
    out = io.StringIO()
    with Supervisor([Server("no_such_server", 0, "-")], run_dir=tmp_path, out=out) as sup:
        assert "No module named servers.no_such_server" in sup.failed["no_such_server"]
        assert "FAILED" in sup.table() and "0 of 1 up" in sup.table()
    assert "no_such_server failed to start" in out.getvalue()


def test_a_port_held_by_another_program_is_reported_never_taken_for_up(tmp_path):
    """The defect: with 8080 taken, the demo said "All up" and curl reached the other program."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        out = io.StringIO()
        with Supervisor([Server("echo", port, "-"), Server("cache", 0, "-")], run_dir=tmp_path, out=out) as sup:
            assert set(sup.children) == {"cache"}  # the others start
            assert "echo         FAILED" in sup.table() and "1 of 2 up" in sup.table()
        assert f"address already in use (held by {_my_name()}, pid {os.getpid()})" in sup.failed.get("echo", ""), (sup.failed, out.getvalue())
        assert "echo failed to start" in out.getvalue() and "cannot listen on" in out.getvalue()


def _my_name():
    with open(f"/proc/{os.getpid()}/comm") as f:
        return f.read().strip()


def test_the_demo_exits_1_when_nothing_could_start(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        out = io.StringIO()
        code = run_demo([Server("echo", other.getsockname()[1], "-")], out=out)
    assert code == 1 and "Nothing could start" in out.getvalue() and "All up" not in out.getvalue()


def test_a_killed_child_is_reported_at_once_restarted_and_logs_to_run_dir(tmp_path):
    out = io.StringIO()
    with Supervisor([Server("echo", 0, "-")], run_dir=tmp_path, out=out, backoff=0.05) as sup:
        first = sup.children["echo"]
        first.kill()  # SIGKILL, as `kill -9` from a terminal
        sup.check()
        assert "echo crashed (killed by signal 9); restarting in 0.05s" in out.getvalue()
        wait_until(lambda: sup.check() or "echo" in sup.children, what="echo restarted")
        assert sup.children["echo"] is not first and "echo restarted on 127.0.0.1:" in out.getvalue()
        assert _echo_roundtrip(sup.children["echo"].port) == b"hello\n"
    log = (tmp_path / "echo" / "server.log").read_text()
    assert log.count("listening on") == 2  # both runs appended to the one log


def test_a_child_that_keeps_crashing_is_left_down_and_said_so(tmp_path):
    out = io.StringIO()
    with Supervisor([Server("echo", 0, "-")], run_dir=tmp_path, out=out, backoff=0.001) as sup:
        for _ in range(MAX_RESTARTS + 1):
            wait_until(lambda: sup.check() or "echo" in sup.children, what="echo up")
            sup.children["echo"].kill()
            sup.check()
        assert sup.watched["echo"].down and "left down after 6 crashes in 60s" in out.getvalue()
        for _ in range(3):
            sup.check()
        assert "echo" not in sup.children


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


def test_a_server_that_needs_another_starts_after_it_with_its_real_port(tmp_path):
    """notes verifies tokens with auth: with every server on port 0 it must learn auth's port."""
    import json
    import urllib.request

    servers = [Server("notes", 0, "-", args=("--auth-url", "http://127.0.0.1:{auth}")), Server("auth", 0, "-")]
    with Supervisor(servers, run_dir=tmp_path) as sup:
        assert set(sup.children) == {"auth", "notes"}, sup.failed
        auth, notes = sup.children["auth"].port, sup.children["notes"].port
        req = urllib.request.Request(f"http://127.0.0.1:{auth}/login", method="POST",
                                     data=json.dumps({"username": "ada", "password": "lovelace"}).encode())  # fmt: skip
        token = json.loads(urllib.request.urlopen(req, timeout=10).read())["access_token"]
        req = urllib.request.Request(f"http://127.0.0.1:{notes}/notes", headers={"Authorization": f"Bearer {token}"})
        assert urllib.request.urlopen(req, timeout=10).status == 200


def test_a_server_whose_need_failed_is_not_started(tmp_path):
    servers = [Server("no_such_server", 0, "-"), Server("notes", 0, "-", args=("--x", "{no_such_server}"))]
    with Supervisor(servers, run_dir=tmp_path) as sup:
        assert sup.failed["notes"] == "not started: needs no_such_server" and not sup.children
