"""The upload directory: names, temporary files, the rename into place, listing.

Strategy. Every upload is written to a temporary file under ``.partial/`` beside
the final files (same filesystem, so the rename is atomic) while its SHA-256 is
computed on the way in. Only when all the bytes arrived, and the digest the
client announced (if any) matches, is the file ``fsync``-ed and ``rename``-d to
its name: a reader sees the old file or the whole new one, never a half. An HTTP
upload's temporary file has a random name and is removed on any failure; a raw
TCP upload's is named after the target (``.partial/NAME.tcp``) and is kept when
the client vanishes, so that it can resume where the bytes stopped.

Names are one path segment of printable characters: no ``/``, no NUL, not
``.``/``..``, not starting with ``.`` (that is where ``.partial`` lives). So no
name can leave the directory, whatever the client encodes.

What a production store would add: an fsync of the directory after the rename
(done here too), quotas per user, and content-addressed dedup.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PARTIAL = ".partial"
# 255 bytes is NAME_MAX on Linux filesystems: a longer name could not be created anyway.
MAX_NAME = 255
# Bytes read at a time when a partial upload is re-hashed before it resumes.
REHASH_BLOCK = 1 << 20


class NameError_(ValueError):
    """A file name that could escape the directory or is not allowed."""


class DigestMismatch(ValueError):
    """The bytes received do not have the digest the client announced."""


class StorageFull(OSError):
    """The disk (or the file size limit) refused our bytes."""


def check_name(name: str) -> str:
    """``name`` if it is one safe path segment; ``NameError_`` otherwise."""
    if not name or name in (".", ".."):
        raise NameError_("empty name, '.' and '..' are not file names")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME:
        raise NameError_(f"name longer than {MAX_NAME} bytes")
    if "/" in name or "\\" in name or "\0" in name:
        raise NameError_("a name is one path segment: no '/', '\\' or NUL")
    if name.startswith("."):
        raise NameError_("names starting with '.' are reserved")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise NameError_("control characters are not allowed in names")
    return name


@dataclass(frozen=True)
class Stored:
    name: str
    size: int
    sha256: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


def _disk_error(e: OSError) -> OSError:
    if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return StorageFull(e.errno, f"no space for the upload: {e.strerror}")
    return e


class Upload:
    """One file being received: bytes go to a temporary file and into the hash."""

    def __init__(self, store: Store, name: str, tmp: Path, expected_size: int | None,
                 offset: int = 0, sha: hashlib._Hash | None = None) -> None:  # fmt: skip
        self.store, self.name, self.tmp = store, name, tmp
        self.expected_size = expected_size
        self.size = offset
        self.sha = sha or hashlib.sha256()
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        self.fd: int | None = os.open(tmp, flags, 0o644)
        if offset:
            os.ftruncate(self.fd, offset)
        os.lseek(self.fd, offset, os.SEEK_SET)

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``; ``StorageFull`` when the disk refuses it."""
        assert self.fd is not None
        self.sha.update(data)
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError as e:
            raise _disk_error(e) from None
        self.size += len(data)

    def finish(self, digest: bytes | None = None) -> Stored:
        """All bytes are in: check the digest, fsync, rename into place. On a
        mismatch the temporary file is removed and ``DigestMismatch`` raised."""
        got = self.sha.digest()
        if digest is not None and digest != got:
            self.discard()
            raise DigestMismatch(f"sha-256 of the body is {got.hex()}, not {digest.hex()}")
        assert self.fd is not None
        try:
            if self.store.fsync:
                os.fsync(self.fd)
        except OSError as e:
            self.discard()
            raise _disk_error(e) from None
        os.close(self.fd)
        self.fd = None
        os.rename(self.tmp, self.store.root / self.name)
        if self.store.fsync:
            self.store.sync_dir()
        return Stored(self.name, self.size, got.hex())

    def discard(self) -> None:
        """Drop the temporary file (a failed HTTP upload)."""
        self.close()
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass

    def close(self) -> None:
        """Close, keeping the temporary file (a TCP upload that may resume)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Store:
    """The upload directory."""

    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.partial = self.root / PARTIAL
        self.partial.mkdir(parents=True, exist_ok=True)
        probe = self.partial / f".probe-{secrets.token_hex(4)}"
        probe.write_bytes(b"")  # an unwritable directory fails now, not at the first upload
        probe.unlink()
        self.resuming: set[str] = set()  # names with a TCP upload in progress

    def path(self, name: str) -> Path:
        return self.root / check_name(name)

    def begin(self, name: str, expected_size: int | None = None) -> Upload:
        """A new upload with a temporary file of its own (HTTP)."""
        check_name(name)
        tmp = self.partial / f"{secrets.token_hex(8)}.http"
        return Upload(self, name, tmp, expected_size)

    # -- resumable (TCP) uploads ----------------------------------------------
    def resumable(self, name: str) -> Path:
        return self.partial / f"{check_name(name)}.tcp"

    def held(self, name: str) -> int:
        """Bytes of an unfinished TCP upload of ``name`` the server holds (0: none)."""
        try:
            return self.resumable(name).stat().st_size
        except FileNotFoundError:
            return 0

    def begin_resumable(self, name: str, size: int, offset: int = 0) -> Upload:
        """A TCP upload of ``name``: fresh (``offset`` 0) or continuing from ``offset``
        (at most what is held; the hash is recomputed over the bytes kept)."""
        tmp = self.resumable(name)
        held = self.held(name)
        if offset > held:
            raise ValueError(f"the server holds {held} bytes of {name}, cannot resume at {offset}")
        sha = hashlib.sha256()
        if offset:
            with open(tmp, "rb") as f:
                left = offset
                while left:
                    block = f.read(min(REHASH_BLOCK, left))
                    if not block:
                        raise ValueError(f"partial upload of {name} shrank")
                    sha.update(block)
                    left -= len(block)
        return Upload(self, name, tmp, size, offset, sha)

    # -- reading ----------------------------------------------------------------
    def listing(self) -> list[dict[str, object]]:
        out = []
        with os.scandir(self.root) as it:
            for e in it:
                if e.name.startswith(".") or not e.is_file(follow_symlinks=False):
                    continue
                st = e.stat(follow_symlinks=False)
                out.append({"name": e.name, "size": st.st_size, "mtime": int(st.st_mtime)})
        return sorted(out, key=lambda d: str(d["name"]))

    def delete(self, name: str) -> bool:
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            return False
        self.sync_dir()
        return True

    def partial_names(self) -> list[str]:
        return sorted(p.name for p in self.partial.iterdir())

    def sync_dir(self) -> None:
        """Make a rename or unlink durable (the directory entry itself)."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
