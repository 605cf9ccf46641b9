"""Faults: a full disk (a small tmpfs mounted for the test; the suite runs as root here).

For every engine: writes fail with an error once the disk is full, every
write acknowledged before stays readable in the running store, and a refused
write never appears later, after space is freed and the store reopened.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

import pytest

from storage import engines
from storage.record import StorageError

pytestmark = pytest.mark.exercise("S8")
SIZE = "768k"  # room for a few hundred small writes, then ENOSPC


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {r.stderr.strip()}"
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill_disk(mnt: Path, leave: int) -> Path:
    """A filler file that leaves about ``leave`` bytes free."""
    st = os.statvfs(mnt)
    filler = mnt / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


@pytest.mark.parametrize("name", engines.available())
def test_a_full_disk_stops_writes_keeps_reads_and_never_shows_a_refused_write(name, tmpfs):
    d = tmpfs / "db"
    db = engines.open(name, d)
    filler = _fill_disk(tmpfs, 160 * 1024)
    acked: dict[bytes, bytes] = {}
    refused = None
    for i in range(100_000):
        key, value = b"key%06d" % i, b"v%d-" % i * 30
        try:
            db.put(key, value)
        except (OSError, StorageError) as e:
            if isinstance(e, OSError):
                assert e.errno == errno.ENOSPC
            refused = key
            break
        acked[key] = value
    assert refused is not None and len(acked) > 50
    for k, v in acked.items():  # the store stays readable
        assert db.get(k) == v
    assert db.get(refused) is None
    with pytest.raises((OSError, StorageError)):
        for j in range(50):  # writes stay stopped (or fail while the disk is full)
            db.put(b"later%d" % j, b"x" * 1000)
    with contextlib.suppress(OSError, StorageError):
        db.close()
    if hasattr(db, "abandon"):
        with contextlib.suppress(OSError, StorageError):
            db.abandon()
    filler.unlink()  # the operator frees space and restarts
    db = engines.open(name, d)
    try:
        got = dict(db.scan())
        assert refused not in got
        assert {k: got.get(k) for k in acked} == acked
        assert not any(k.startswith(b"later") for k in got) or name == "bitcask"
        db.put(b"after", b"space freed")
        assert db.get(b"after") == b"space freed"
    finally:
        db.close()
