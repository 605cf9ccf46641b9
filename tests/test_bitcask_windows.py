"""Bitcask's crash windows, found by counting instead of by guessing.

A merge (and a rotation, and a recovery) is a sequence of file-system steps:
fsyncs, renames, unlinks. ``_CrashAt(n)`` lets the first ``n`` of them happen
and makes step ``n + 1`` raise, which is what a process killed right there
leaves on disk; the directory is then abandoned and reopened. Every ``n`` is
tried, so a window nobody thought of is covered too (leveldb's fault-injection
env does the same with its sync points).

The data set is the one that catches a wrong order: keys whose puts sit in an
older merge output and whose tombstones sit in a newer file (deleting the
tombstone's file but not the put's would resurrect them), plus overwrites.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from storage.bitcask import Bitcask, load
from storage.bitcask import format as fmt

pytestmark = pytest.mark.exercise("S5")

SMALL = 400  # bytes per data file: a few records each, so a merge has many steps
STEPS = ("fsync", "fdatasync", "replace", "unlink")  # the os calls that change what survives


class _Crash(BaseException):
    """Raised at the injected step (a BaseException: nothing may catch it as an error)."""


class _CrashAt:
    """Count file-system steps; raise _Crash when step ``limit + 1`` is attempted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, limit: int | None) -> None:
        self.limit = limit
        self.count = 0
        self.log: list[str] = []
        for name in STEPS:
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))

    def _wrap(self, name, real):
        def step(*args, **kw):
            if self.limit is not None and self.count >= self.limit:
                raise _Crash(f"crash before step {self.count + 1} ({name})")
            self.count += 1
            self.log.append(f"{name}{args!r}")
            return real(*args, **kw)

        return step


class _PowerCut:
    """Track what each fsync made durable; ``cut()`` then drops everything else.

    The fault model of leveldb's FaultInjectionTestEnv, for files: a file keeps
    the length of its last fsync; a file created since the cut's baseline and
    never fsynced is gone (its name was never made durable either). Renames and
    unlinks are taken as durable (every one here is followed by an fsync of the
    directory before the next step depends on it).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
        self.dir = directory
        self.baseline = set(os.listdir(directory))
        self.synced: dict[str, int] = {}
        for name in ("fsync", "fdatasync"):
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name)))
        real_replace = os.replace

        def replace(src, dst):  # the synced bytes travel with the name
            real_replace(src, dst)
            if str(src) in self.synced:
                self.synced[str(dst)] = self.synced.pop(str(src))

        monkeypatch.setattr(os, "replace", replace)

    def _wrap(self, real):
        def sync(fd):
            real(fd)
            path = os.readlink(f"/proc/self/fd/{fd}")
            if os.path.isfile(path):
                self.synced[path] = os.fstat(fd).st_size

        return sync

    def cut(self) -> None:
        for name in os.listdir(self.dir):
            path = str(self.dir / name)
            if path in self.synced:
                if os.path.getsize(path) > self.synced[path]:
                    os.truncate(path, self.synced[path])
            elif name not in self.baseline and name != "LOCK":
                os.unlink(path)


def _setup(directory: Path) -> dict[bytes, bytes]:
    """A directory whose next merge has a tombstone to drop and puts to move; closed."""
    want: dict[bytes, bytes] = {}
    with Bitcask.open(directory, max_file_size=SMALL) as db:
        for i in range(24):
            db.put(b"k%02d" % i, b"v%d" % i)
            want[b"k%02d" % i] = b"v%d" % i
        db.merge()  # the puts now sit in merge outputs...
        for i in range(0, 24, 3):
            db.delete(b"k%02d" % i)  # ...and tombstones for some of them in newer files
            del want[b"k%02d" % i]
        for i in range(1, 24, 4):
            db.put(b"k%02d" % i, b"new%d" % i)
            want[b"k%02d" % i] = b"new%d" % i
    return want


def _state(directory: Path) -> dict[bytes, bytes | None]:
    with Bitcask.open(directory, max_file_size=SMALL) as db:
        return {k: db.get(k) for k in db.keys()}


def _merge_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    d = tmp_path / "count"
    _setup(d)
    db = Bitcask.open(d, max_file_size=SMALL)
    with monkeypatch.context() as m:
        counter = _CrashAt(m, None)
        db.merge()
    db.close()
    assert counter.count > 10, counter.log  # fsyncs, hint renames, unlinks...
    return counter.count


def test_crash_at_every_step_of_a_merge_loses_and_resurrects_nothing(tmp_path, monkeypatch):
    total = _merge_steps(tmp_path, monkeypatch)
    for n in range(total + 1):
        d = tmp_path / f"crash{n}"
        want = _setup(d)
        db = Bitcask.open(d, max_file_size=SMALL)
        with monkeypatch.context() as m:
            crash = _CrashAt(m, n)
            try:
                db.merge()
                assert n == total, f"merge finished although step {n + 1} crashed"
            except _Crash:
                pass
        db.abandon()
        assert _state(d) == want, f"crash before step {n + 1}: {crash.log[-3:]}"
        assert not list(d.glob("*.tmp"))
        # The next merge must clean up whatever the crash left, and lose nothing either.
        with Bitcask.open(d, max_file_size=SMALL) as db:
            db.merge()
        assert _state(d) == want, f"after a second merge, crash at step {n + 1}"


def _crash_merge_after_its_commit(d: Path, monkeypatch: pytest.MonkeyPatch) -> dict[bytes, bytes]:
    """Leave ``d`` as a crash right after the MERGE-RETIRE rename leaves it."""
    want = _setup(d)
    db = Bitcask.open(d, max_file_size=SMALL)
    with monkeypatch.context() as m:
        crash = _CrashAt(m, None)
        real_replace = os.replace

        def replace_then_die(src, dst):
            real_replace(src, dst)
            if str(dst).endswith("MERGE-RETIRE"):
                raise _Crash("after the commit")

        m.setattr(os, "replace", crash._wrap("replace", replace_then_die))
        with pytest.raises(_Crash):
            db.merge()
    db.abandon()
    return want


def test_crash_at_every_step_of_the_open_that_finishes_a_merge(tmp_path, monkeypatch):
    """A second crash while ``open`` deletes the retired files, at each of its steps."""
    n = 0
    while True:
        d = tmp_path / f"open{n}"
        want = _crash_merge_after_its_commit(d, monkeypatch)
        finished = False
        with monkeypatch.context() as m:
            _CrashAt(m, n)
            try:
                Bitcask.open(d, max_file_size=SMALL).abandon()
                finished = True
            except _Crash:
                pass
        assert _state(d) == want, f"open crashed before its step {n + 1}"
        if finished:
            break
        n += 1
    assert n > 5  # unlinks, fsyncs of the directory, the new active file


def test_crash_at_every_step_of_rotating_puts_keeps_every_acknowledged_one(tmp_path, monkeypatch):
    n = 0
    while True:
        d = tmp_path / f"rot{n}"
        db = Bitcask.open(d, max_file_size=SMALL, sync="always")
        acked: dict[bytes, bytes] = {}
        in_flight: dict[bytes, bytes] = {}  # acked plus the put the crash interrupted
        with monkeypatch.context() as m:
            _CrashAt(m, n)
            try:
                for i in range(12):  # ~3 rotations: seal, hint, new file, fsync dir
                    key, value = b"k%02d" % (i % 5), b"v%d" % i + b"x" * 40
                    in_flight = {**acked, key: value}
                    db.put(key, value)
                    acked = in_flight
            except _Crash:
                pass
        db.abandon()
        assert _state(d) in (acked, in_flight), f"crash at step {n + 1}"
        if acked is in_flight:  # the loop ran to the end: every step was tried
            break
        n += 1
    assert n > 10


def test_power_cut_at_every_step_of_a_merge_loses_and_resurrects_nothing(tmp_path, monkeypatch):
    """As above, but the crash is a power cut: whatever was not fsynced is lost too."""
    total = _merge_steps(tmp_path, monkeypatch)
    for n in range(total + 1):
        d = tmp_path / f"cut{n}"
        want = _setup(d)
        db = Bitcask.open(d, max_file_size=SMALL)
        with monkeypatch.context() as m:
            power = _PowerCut(m, d)
            _CrashAt(m, n)  # outermost: a refused step never reaches the tracker
            try:
                db.merge()
            except _Crash:
                pass
        db.abandon()
        power.cut()
        assert _state(d) == want, f"power cut before step {n + 1}"


def _fsynced_before_hint(log: list[str], directory: Path) -> list[str]:
    """Hint renames whose data file was not fsynced since it was last written."""
    problems = []
    for i, entry in enumerate(log):
        if not entry.startswith("replace(") or ".hint" not in entry:
            continue
        hint = entry.split("'")[3]
        data = hint[: -len(".hint")] + ".data"
        if not any(data in e for e in log[:i] if e.startswith(("fsync(", "fdatasync("))):
            problems.append(hint)
    return problems


def _fd_paths(monkeypatch: pytest.MonkeyPatch, counter: _CrashAt) -> None:
    """Log fsyncs by path, not by descriptor number, so the order check can read them."""
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def by_path(fd, _real=real, _name=name):
            path = os.readlink(f"/proc/self/fd/{fd}") if isinstance(fd, int) else fd
            counter.log.append(f"{_name}('{path}')")
            return _real(fd)

        monkeypatch.setattr(os, name, by_path)


def test_every_hint_is_written_after_its_data_file_is_fsynced(tmp_path, monkeypatch):
    """A hint must never describe bytes a power cut could still take away.

    Rotation, close, merge and recovery (a data file scanned after a crash with
    ``sync="never"``: its bytes may be only in the page cache) all write hints.
    """
    counter = _CrashAt(monkeypatch, None)
    _fd_paths(monkeypatch, counter)
    db = Bitcask.open(tmp_path, max_file_size=SMALL, sync="never")
    for i in range(30):
        db.put(b"k%02d" % i, b"v" * 20)  # rotates: sealed files get hints
    db.merge()
    db.put(b"tail", b"unsynced")
    db.abandon()  # a process crash: the active file has no hint and unsynced bytes
    (tmp_path / fmt.hint_name(99)).write_bytes(b"")  # (an orphan, removed on open)
    counter.log.clear()
    Bitcask.open(tmp_path, max_file_size=SMALL).close()  # recovery scans it and hints it
    assert any(".hint" in e for e in counter.log if e.startswith("replace("))
    assert _fsynced_before_hint(counter.log, tmp_path) == []


def test_zero_length_data_file_and_id_gap_are_handled(tmp_path):
    with Bitcask.open(tmp_path) as db:
        db.put(b"a", b"1")
    (tmp_path / fmt.data_name(7)).write_bytes(b"")  # created, then the crash: nothing in it
    with Bitcask.open(tmp_path) as db:  # ids 1 and 7 (a gap), 7 empty
        assert db.keys() == [b"a"] and db.get(b"a") == b"1"
        assert not (tmp_path / fmt.data_name(7)).exists()
        db.put(b"b", b"2")
    assert _state(tmp_path) == {b"a": b"1", b"b": b"2"}


def test_hint_covers_exactly_the_sealed_file(tmp_path):
    """The hint's data_size is the file's length at sealing: nothing unsynced behind it."""
    with Bitcask.open(tmp_path, max_file_size=SMALL) as db:
        for i in range(10):
            db.put(b"k%d" % i, b"x" * 50)
    for data in sorted(tmp_path.glob("*.data")):
        hint = data.with_suffix(".hint")
        assert load.read_hint(str(hint), data.stat().st_size) is not None, hint


def test_interval_sync_never_credits_an_old_files_fsync_to_a_new_active_file(tmp_path, monkeypatch):
    """The background fsync of file A finishes after A was merged away and its
    descriptor number reused by a new active file: A's size must not be counted
    as synced bytes of the new file (a later ``sync()`` would then skip its fsync)."""
    from storage.bitcask import engine

    held, release = threading.Event(), threading.Event()
    real = engine._datasync

    def datasync(fd: int) -> None:
        if threading.current_thread().name.startswith("bitcask-sync") and not held.is_set():
            held.set()  # the sync thread took (fd, size) of file A and is "in the disk"
            release.wait(30)
        real(fd)

    monkeypatch.setattr(engine, "_datasync", datasync)
    db = Bitcask.open(tmp_path, max_file_size=SMALL, sync=1)
    db.put(b"big", b"x" * 300)  # file A: large, unsynced
    assert held.wait(30)
    fd_a = db._active_fd
    for i in range(8):
        db.put(b"k%d" % i, b"y" * 60)  # rotates A away
    db.merge()  # A's descriptor closed...
    for i in range(8):
        db.put(b"k%d" % i, b"z" * 60)  # ...and rotations open new files
        if db._active_fd == fd_a:
            break
    assert db._active_fd == fd_a, "the descriptor number was not reused: the race is not set up"
    release.set()
    db._stop_sync.set()
    assert db._sync_thread is not None
    db._sync_thread.join(30)  # the loop finishes its round (its bookkeeping) and stops
    assert db.synced_size <= db.active_size
    assert db.synced_size == len(engine.FILE_HEADER)  # nothing in the new file was fsynced
    db.close()


def test_close_waits_for_a_running_merge_before_releasing_the_lock(tmp_path, monkeypatch):
    """Until the merge thread stops, it writes files in the directory: no second
    process may be let in (its ids would collide with the merge's outputs)."""
    from storage.bitcask import Closed, Locked, merge

    db = Bitcask.open(tmp_path, max_file_size=SMALL)
    want = {b"k%02d" % i: b"v%d" % i for i in range(40)}
    for k, v in want.items():
        db.put(k, v)
    paused, go = threading.Event(), threading.Event()
    real_copy = merge._copy_live

    def copy_then_pause(db_, file_id, out):
        real_copy(db_, file_id, out)
        if not paused.is_set():
            paused.set()
            go.wait(30)

    monkeypatch.setattr(merge, "_copy_live", copy_then_pause)
    errors: list[BaseException] = []

    def run_merge() -> None:
        try:
            db.merge()
        except BaseException as e:  # noqa: BLE001 - the test looks at it
            errors.append(e)

    merger = threading.Thread(target=run_merge)
    merger.start()
    assert paused.wait(30)
    closer = threading.Thread(target=db.close)
    closer.start()
    tick = threading.Event()
    for _ in range(6000):  # poll the condition, bounded (no fixed sleep)
        if db._closing:  # close() is waiting on the merge (it released the lock to wait)
            break
        tick.wait(0.005)
    assert db._closing and closer.is_alive()
    with pytest.raises(Locked):
        Bitcask.open(tmp_path)  # still held: the merge is still running
    go.set()
    merger.join(30)
    closer.join(30)
    assert not closer.is_alive() and len(errors) == 1 and isinstance(errors[0], Closed)
    assert _state(tmp_path) == want
