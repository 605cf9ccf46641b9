"""A real process writing to Bitcask is killed with SIGKILL; nothing acknowledged is lost.

The child opens the directory with ``sync="always"``, runs a merge loop in a
second thread (so kills land mid-merge too: before, during and after the
MERGE-RETIRE commit), and performs a deterministic sequence of puts and
deletes, printing each operation's number only after it returned. The parent
kills it at a random acknowledgement, drains what the child had already
printed (those were acknowledged too), reopens the directory itself and checks
the state is exactly "all acknowledged operations" or "those plus the one in
flight". The lock must also have died with the child. Several rounds, one
directory: each round starts from what the previous one left.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import pytest

from harness.procs import REPO_ROOT
from storage.bitcask import Bitcask

pytestmark = pytest.mark.exercise("S5")

ROUNDS = 6
OPS_PER_ROUND = 3000  # upper bound: each round is killed long before

CHILD = r"""
import sys, threading
from storage.bitcask import Bitcask

directory, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = Bitcask.open(directory, max_file_size=2048, sync="always")

def merge_forever():
    while True:
        db.merge()

threading.Thread(target=merge_forever, daemon=True).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
for i in range(n):
    key = b"k%d" % (i % 37)
    if i % 5 == 4:
        db.delete(key)
    else:
        db.put(key, b"%d-%d-" % (seed, i) + b"x" * (i % 50))
    sys.stdout.write(f"{i}\n")
    sys.stdout.flush()
"""


def _apply(model: dict[bytes, bytes], seed: int, i: int) -> None:
    key = b"k%d" % (i % 37)
    if i % 5 == 4:
        model.pop(key, None)
    else:
        model[key] = b"%d-%d-" % (seed, i) + b"x" * (i % 50)


def _run_and_kill(directory: str, seed: int, kill_after: int) -> int:
    """Run the child, SIGKILL it after ``kill_after`` acks; return how many ops it acknowledged."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, directory, str(seed), str(OPS_PER_ROUND)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == b"ready\n", proc.stderr.read() if proc.stderr else ""
        for _ in range(kill_after):
            if not proc.stdout.readline():
                break
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()  # acknowledged before the kill, not yet read by us
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    acked = kill_after + rest.count(b"\n")
    return min(acked, OPS_PER_ROUND)


def test_sigkill_loses_nothing_acknowledged_even_during_merge(tmp_path):
    rng = random.Random(5)
    model: dict[bytes, bytes] = {}
    for seed in range(ROUNDS):
        acked = _run_and_kill(str(tmp_path), seed, rng.randrange(20, 400))
        assert acked >= 20
        with_acked = dict(model)
        for i in range(acked):
            _apply(with_acked, seed, i)
        with_in_flight = dict(with_acked)
        _apply(with_in_flight, seed, acked)
        with Bitcask.open(tmp_path, max_file_size=2048) as db:  # the lock died with the child
            state = {k: db.get(k) for k in db.keys()}
        assert state in (with_acked, with_in_flight), f"round {seed}: {acked} acked"
        model = state  # type: ignore[assignment]
