"""D10 "Amazon's way": the range service persists its mark before answering.

The service is a real process (``python -m servers.ids``); the crash test
SIGKILLs it while clients take ranges, restarts it on the same directory, and
checks that no id was handed out twice across the kills.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clients.ids import RangeClient
from clients.ids.ranges import RangeServiceError
from harness.procs import free_port, python_module
from servers.ids.allocator import HighWaterMark, RangeAllocator
from storage.record import Corruption
from tests.ids_support import PROCESSES, THREADS, collect, flat

pytestmark = pytest.mark.exercise("D10")


class FailingMark(HighWaterMark):
    def store(self, value: int) -> None:
        raise OSError("disk full")


def test_a_range_is_not_handed_out_when_its_mark_cannot_be_stored(tmp_path):
    alloc = RangeAllocator(FailingMark(tmp_path))
    with pytest.raises(OSError):
        alloc.allocate(10)
    assert alloc.hwm == 0


def test_the_mark_survives_a_restart_and_ranges_continue(tmp_path):
    a = RangeAllocator(HighWaterMark(tmp_path))
    assert a.allocate(10) == (1, 10)
    assert a.allocate(5) == (11, 15)
    assert RangeAllocator(HighWaterMark(tmp_path)).allocate(1) == (16, 16)


def test_a_corrupt_mark_is_refused_not_guessed(tmp_path):
    RangeAllocator(HighWaterMark(tmp_path)).allocate(100)
    raw = bytearray((tmp_path / "hwm").read_bytes())
    raw[7] ^= 0x01
    (tmp_path / "hwm").write_bytes(bytes(raw))
    with pytest.raises(Corruption):
        HighWaterMark(tmp_path).load()
    (tmp_path / "hwm").write_bytes(bytes(raw[:5]))  # torn
    with pytest.raises(Corruption):
        HighWaterMark(tmp_path).load()


def test_sizes_outside_the_limit_are_refused(launch, tmp_path):
    child = launch("servers.ids", "--dir", str(tmp_path))
    for size in ("0", "-3", "abc", "1000001", "%C2%B2", "99999999999999999999999"):
        req = urllib.request.Request(f"http://127.0.0.1:{child.port}/ranges?size={size}",
                                     data=b"", method="POST")  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 400
    assert RangeClient("127.0.0.1", child.port, 3).next_id() == 1  # still serving


def test_service_refuses_to_start_on_a_corrupt_mark(tmp_path):
    (tmp_path / "hwm").write_bytes(b"garbage")
    r = subprocess.run([sys.executable, "-m", "servers.ids", "--port", "0", "--dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 2
    assert "cannot read the high-water mark" in r.stderr and "Traceback" not in r.stderr


def test_ranges_unique_under_8_threads_x_4_processes(launch, tmp_path):
    child = launch("servers.ids", "--dir", str(tmp_path))
    seqs = collect("ranges", {"port": child.port, "size": 25}, per_thread=200)
    ids = flat(seqs)
    assert len(ids) == len(set(ids)) == PROCESSES * THREADS * 200
    for seq in seqs:
        assert seq == sorted(seq)


def _hammer(port: int, got: list[int], stop: threading.Event) -> None:
    client = RangeClient("127.0.0.1", port, size=1)  # one request per id: the most exposed
    while not stop.is_set():
        try:
            got.append(client.next_id())
        except RangeServiceError:
            pass  # the service is down; the test restarts it


def test_sigkill_never_makes_the_service_reissue_an_id(tmp_path: Path):
    port = free_port()
    stop = threading.Event()
    got: list[list[int]] = [[] for _ in range(4)]
    child = python_module("servers.ids", "--dir", str(tmp_path), port=port).start()
    workers = [threading.Thread(target=_hammer, args=(port, got[i], stop)) for i in range(4)]
    for w in workers:
        w.start()
    try:
        for _ in range(3):
            target = sum(map(len, got)) + 200
            _wait(lambda t=target: sum(map(len, got)) >= t)  # noqa: B023 (bound by default)
            child.kill()  # SIGKILL in the middle of the traffic
            child = python_module("servers.ids", "--dir", str(tmp_path), port=port).start()
        target = sum(map(len, got)) + 200
        _wait(lambda: sum(map(len, got)) >= target)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
        child.stop()
    ids = flat(got)
    assert len(ids) > 800
    assert len(ids) == len(set(ids)), "an id was handed out twice across a SIGKILL"
    assert max(ids) <= HighWaterMark(tmp_path).load()


def _wait(cond, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "clients made no progress"
        time.sleep(0.01)


@pytest.mark.parametrize("body", [b"oops", b'{"first": 5}', b'{"first": 9, "last": 3}', b"[]"])
def test_a_client_refuses_an_answer_that_is_not_a_range(body):
    class Liar(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        with pytest.raises(RangeServiceError):
            RangeClient("127.0.0.1", srv.server_address[1], 10).next_id()
    finally:
        srv.shutdown()
        srv.server_close()
