"""One writer per directory: an exclusive ``flock`` on ``DIR/LOCK``.

flock belongs to the open file description, so the kernel drops it when the
holder dies (even by SIGKILL): no stale lock files to clean up by hand. The
holder's pid is written into the file only to make the second opener's error
say who holds it. (flock is advisory and does not work across NFS; Bitcask's
own lock file has the same limits.)
"""

from __future__ import annotations

import fcntl
import os

from storage.record import StorageError

LOCK_NAME = "LOCK"


class Locked(StorageError):
    """Another engine (in this or another process) has the directory open."""


class DirLock:
    def __init__(self, directory: str, what: str = "Bitcask") -> None:
        self.path = os.path.join(directory, LOCK_NAME)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise Locked(
                f"{directory} is already open for writing by another {what} (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None
