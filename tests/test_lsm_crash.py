"""S7: the LSM store killed with SIGKILL during writes, flushes and compactions loses no
acknowledged write and resurrects no deleted key; a full disk stops writes with an error,
never lets a refused write appear, and leaves the store readable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage import lsm

pytestmark = pytest.mark.exercise("S7")
CHILD = Path(__file__).with_name("lsm_crash_child.py")
REPO = Path(__file__).resolve().parent.parent


def spawn(directory: Path, seed: int, ops: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(directory), str(seed), str(ops), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def parse_intent(line: str) -> tuple[str, bytes, bytes | None]:
    parts = line.split()
    return parts[1], parts[2].encode(), (parts[3].encode() if parts[1] == "put" else None)


def run_until_killed(directory: Path, seed: int, trigger: str, after: int, model: dict) -> tuple:
    """Run a child, SIGKILL it at the trigger; returns the in-flight (key, old, new) or None.

    The child may get further than the line that triggered the kill: what it printed
    before dying is read too, so every acknowledgement counts.
    """
    child = spawn(directory, seed, 3000)
    pending, acks, killed = None, 0, False
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("I "):
            op, key, value = parse_intent(line)
            pending = (key, model.get(key), value)
        elif line == "A\n":
            key, _old, value = pending  # type: ignore[misc]
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
            pending, acks = None, acks + 1
        if not killed and (line.strip() == trigger or (trigger == "write" and acks >= after)):
            os.kill(child.pid, signal.SIGKILL)
            killed = True
    child.wait()
    assert killed, f"child ended before {trigger}: {child.stderr.read() if child.stderr else ''}"
    return pending


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_during_writes_flushes_and_compactions(tmp_path, seed):
    rnd = random.Random(seed)
    directory = tmp_path / "db"
    model: dict[bytes, bytes] = {}
    rounds = [("write", rnd.randrange(30, 400)), ("F", 0), ("C", 0), ("write", 7), ("C", 0)]
    for n, (trigger, after) in enumerate(rounds):
        pending = run_until_killed(directory, seed * 100 + n, trigger, after, model)
        with lsm.open(directory, write_buffer=3_000, base_bytes=12_000, table_bytes=5_000) as db:
            got = dict(db.scan())
            if pending is not None:  # in flight at the kill: either outcome is honest
                key, old, new = pending
                assert got.get(key) in (old, new), (trigger, key)
                if got.get(key) is None:
                    model.pop(key, None)
                else:
                    model[key] = got[key]
            assert got == model, f"round {n} ({trigger}): lost or resurrected keys"
            assert all(db.get(k) == v for k, v in model.items())
        names = os.listdir(directory)
        assert not [x for x in names if x.endswith(".tmp")]


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       capture_output=True)  # fmt: skip
    return r.returncode == 0


def test_full_disk_stops_writes_keeps_reads_and_never_shows_a_refused_write(tmp_path):
    mnt = tmp_path / "small"
    tmpfs = _mount_tmpfs(mnt, "160k")  # a real full disk (ENOSPC) when we may mount
    try:
        directory = mnt / "db"
        # Otherwise a real file-size limit (EFBIG from the kernel) in the child.
        extra = () if tmpfs else ("60000",)
        child = spawn(directory, 7, 100_000, *extra)
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        lines = out.splitlines()
        e_line = next(ln for ln in lines if ln.startswith("E "))
        readable, acked = map(int, next(ln for ln in lines if ln.startswith("R ")).split()[1:])
        assert readable == acked > 50  # every acknowledged write still readable in-process
        intents = [ln for ln in lines if ln.startswith("I ")]
        op, key, value = parse_intent(intents[-1])  # the refused one
        assert key.decode() == e_line.split()[1]
        model: dict[bytes, bytes] = {}
        for i_line, a_line in zip(lines, lines[1:], strict=False):
            if i_line.startswith("I ") and a_line == "A":
                o, k, v = parse_intent(i_line)
                if v is None:
                    model.pop(k, None)
                else:
                    model[k] = v
        with lsm.open(directory) as db:  # reopened on the still-full disk: readable
            assert dict(db.scan()) == model
            if value is not None:
                assert db.get(key) != value, "a refused write appeared after reopen"
    finally:
        if tmpfs:
            subprocess.run(["umount", str(mnt)], check=True)
