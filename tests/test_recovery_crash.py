"""S4, the crash test: SIGKILL the real store process at random points, many rounds.

The store runs as ``python -m storage.kv.crashchild`` and acknowledges each write
over a pipe only after it is durable. Each round the parent pipes a batch of
puts/deletes, reads a random number of acks, then SIGKILLs the child (sometimes
after a short random spin, so the kill lands mid-fsync or mid-snapshot). The next
round's child recovers and reports its whole map, which must equal the model after
every acknowledged write plus some prefix of the unacknowledged in-flight ones --
acknowledged writes are never lost, and nothing that was never sent appears.
Snapshots run every few writes, so kills also land during checkpoints.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.exercise("S4")
REPO = Path(__file__).resolve().parent.parent
SEED = 20251128
ROUNDS = 30
TIME_BUDGET = 45.0  # seconds: the rounds stop early rather than blow the suite's budget
KEYS = [f"key{i}" for i in range(12)]  # few keys, so overwrites and deletes collide


def _spawn(d: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "storage.kv.crashchild", str(d), "--snapshot-every", "7"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
    )  # fmt: skip


def _recovered_state(child: subprocess.Popen[str]) -> dict[str, str]:
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("STATE "), f"child said {line!r} (exit {child.poll()})"
    assert child.stdout.readline() == "READY\n"
    return json.loads(line[len("STATE ") :])


def _apply(model: dict[str, str], ops: list[tuple[str, ...]]) -> dict[str, str]:
    out = dict(model)
    for op in ops:
        if op[0] == "P":
            out[op[2]] = op[3]
        else:
            out.pop(op[2], None)
    return out


def _ops(rng: random.Random, first_id: int, n: int) -> list[tuple[str, ...]]:
    ops: list[tuple[str, ...]] = []
    for i in range(first_id, first_id + n):
        key = rng.choice(KEYS)
        ops.append(("D", str(i), key) if rng.random() < 0.2 else ("P", str(i), key, f"v{i}"))
    return ops


def _run_round(child, ops, rng) -> tuple[int, int]:
    """Send ops, read a random number of acks, SIGKILL; return (acked count, snapshots)."""
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write("".join(" ".join(op) + "\n" for op in ops))
    child.stdin.flush()
    kill_after = rng.randrange(len(ops) + 1)
    acked = snaps = 0
    while acked < kill_after:
        line = child.stdout.readline()
        assert line, f"child died early (exit {child.poll()})"
        if line.startswith("S "):
            snaps += 1
        else:
            assert line == f"A {ops[acked][1]}\n", line
            acked += 1
    spin_until = time.perf_counter() + rng.random() * 0.004  # a random kill point, not a wait
    while time.perf_counter() < spin_until:
        pass
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for line in child.stdout:  # acks already in the pipe were sent after durability: they count
        if line.startswith("S "):
            snaps += 1
        else:
            assert line == f"A {ops[acked][1]}\n", line
            acked += 1
    return acked, snaps


def test_sigkill_at_random_points_loses_no_acknowledged_write(tmp_path):
    rng = random.Random(SEED)
    model: dict[str, str] = {}
    inflight: list[tuple[str, ...]] = []
    next_id, rounds, snapshots, partial, killed_mid_batch = 1, 0, 0, 0, 0
    deadline = time.monotonic() + TIME_BUDGET
    while rounds < ROUNDS and time.monotonic() < deadline:
        child = _spawn(tmp_path)
        try:
            state = _recovered_state(child)
            candidates = [_apply(model, inflight[:p]) for p in range(len(inflight) + 1)]
            assert state in candidates, f"round {rounds}: recovered {state}, model {model}"
            partial += state != candidates[0]
            model = state
            ops = _ops(rng, next_id, rng.randint(5, 60))
            next_id += len(ops)
            acked, snaps = _run_round(child, ops, rng)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        model = _apply(model, ops[:acked])
        inflight = ops[acked:]
        killed_mid_batch += bool(inflight)
        snapshots += snaps
        rounds += 1
    child = _spawn(tmp_path)  # a last recovery, then a clean shutdown
    state = _recovered_state(child)
    assert state in [_apply(model, inflight[:p]) for p in range(len(inflight) + 1)]
    child.communicate("", timeout=30)
    assert child.returncode == 0
    assert rounds >= 20, f"only {rounds} rounds fit in {TIME_BUDGET}s"
    assert snapshots >= 5 and (tmp_path / "snapshot").exists()
    assert killed_mid_batch >= rounds // 2  # most kills left unacknowledged writes in flight
    print(
        f"rounds={rounds} snapshots={snapshots} mid-batch kills={killed_mid_batch} "
        f"in-flight writes that survived={partial}"
    )
