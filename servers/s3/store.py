"""The object store on disk: buckets, objects and multipart uploads under ``--dir``.

Layout::

    DIR/index.db     SQLite: buckets, objects (key -> blob, size, etag, ...), uploads, parts
    DIR/blobs/HEX    object and part bodies, under generated names (uuid4 hex)
    DIR/tmp/HEX      bodies being received

Keys are names in an index, never paths: ``../../etc/passwd`` is a row in
``objects`` whose body lives in ``blobs/<uuid>``, so no key can reach outside
``DIR``. SQLite (stdlib, WAL) gives ListObjectsV2 its sorted range scans over
UTF-8 keys (BINARY collation orders UTF-8 by code point, as S3 lists) and
makes each index change atomic and checksummed by its own journal; files per
key would need our own sorted index and crash recovery.

A write streams to ``tmp/``, computing MD5 (the ETag), SHA-256 and CRC32 as it
goes; only when the body is whole and every given checksum matches is it
fsynced, renamed into ``blobs/`` and entered in the index (one transaction).
An interrupted or refused upload leaves only a temp file, removed at once (and
at start-up, with blobs no index row names).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import sqlite3
import time
import uuid
import zlib
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path

from .errors import S3Error

log = logging.getLogger(__name__)

MAX_KEY_BYTES = 1024  # S3's limit on a key's UTF-8 length
MIN_PART = 5 * 1024 * 1024  # S3: every part but the last is at least 5 MiB
MAX_PARTS = 10_000  # S3's part-number range is 1..10000
MAX_OBJECT = 5 * 1024**3  # S3's single-PUT limit, 5 GiB
RETIRE_DELAY = 10.0  # seconds a replaced blob stays on disk: covers lookup-to-open of a GET
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3 bucket naming rules (simplified)

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, mtime REAL NOT NULL, ctype TEXT NOT NULL, PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, ctype TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parts (
    upload TEXT NOT NULL, num INTEGER NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, PRIMARY KEY (upload, num));
"""


@dataclass(frozen=True)
class Obj:
    key: str
    blob: str
    size: int
    etag: str  # with its quotes, as sent in the ETag header
    mtime: float
    ctype: str


@dataclass(frozen=True)
class Checks:
    """What the body must hash to, when the client said so."""

    sha256: str | None = None  # hex
    crc32: str | None = None  # base64 of the big-endian CRC32 (x-amz-checksum-crc32)
    sha256_b64: str | None = None  # base64 of the SHA-256 (x-amz-checksum-sha256)
    md5: str | None = None  # base64 (Content-MD5)
    length: int | None = None


@dataclass(frozen=True)
class Written:
    blob: str
    size: int
    md5: bytes


def check_key(key: str) -> str:
    try:
        n = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise S3Error("InvalidArgument", "keys are UTF-8") from None
    if n == 0:
        raise S3Error("InvalidArgument", "empty key")
    if n > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", "Your key is too long (max 1024 bytes)")
    return key


def check_bucket(name: str) -> str:
    if not _BUCKET.fullmatch(name) or ".." in name:
        raise S3Error("InvalidBucketName", "The specified bucket is not valid.", name)
    return name


class Store:
    def __init__(self, root: Path, min_part: int = MIN_PART) -> None:
        self.root = root
        self.min_part = min_part
        self.blobs = root / "blobs"
        self.tmp = root / "tmp"
        for d in (root, self.blobs, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(root / "index.db", isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # an acknowledged PUT survives power loss
        self.db.executescript(SCHEMA)
        self._sweep()

    def close(self) -> None:
        self.db.close()

    def _sweep(self) -> None:
        """Remove temp files and blobs no row names (a crash between rename and insert)."""
        for f in self.tmp.iterdir():
            f.unlink(missing_ok=True)
        named = {
            r[0] for r in self.db.execute("SELECT blob FROM objects UNION SELECT blob FROM parts")
        }
        for f in self.blobs.iterdir():
            if f.name not in named:
                f.unlink(missing_ok=True)

    def blob_path(self, blob: str) -> str:
        return str(self.blobs / blob)

    # -- buckets -------------------------------------------------------------------
    def create_bucket(self, name: str) -> None:
        check_bucket(name)
        try:
            self.db.execute("INSERT INTO buckets VALUES (?, ?)", (name, time.time()))
        except sqlite3.IntegrityError:
            raise S3Error("BucketAlreadyOwnedByYou", "You already own this bucket.", name) from None

    def delete_bucket(self, name: str) -> None:
        self.need_bucket(name)
        if self.db.execute("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (name,)).fetchone():
            raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", name)
        for (uid,) in self.db.execute("SELECT id FROM uploads WHERE bucket=?", (name,)).fetchall():
            self.abort(uid)  # S3 would refuse; here the bucket's unfinished uploads go with it
        self.db.execute("DELETE FROM buckets WHERE name=?", (name,))

    def buckets(self) -> list[tuple[str, float]]:
        return list(self.db.execute("SELECT name, created FROM buckets ORDER BY name"))

    def need_bucket(self, name: str) -> None:
        if not self.db.execute("SELECT 1 FROM buckets WHERE name=?", (name,)).fetchone():
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", name)

    # -- bodies --------------------------------------------------------------------
    async def receive(
        self, chunks: AsyncIterable[bytes], checks: Checks, limit: int = MAX_OBJECT
    ) -> Written:
        """Stream a body to a temp file, verify it, fsync, move it to blobs/. Nothing is left on failure."""
        name = uuid.uuid4().hex
        tmp = self.tmp / name
        md5, sha, crc, size = hashlib.md5(), hashlib.sha256(), 0, 0
        try:
            with open(tmp, "wb") as f:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise S3Error(
                            "EntityTooLarge",
                            "Your proposed upload exceeds the maximum allowed size",
                        )
                    md5.update(chunk)
                    sha.update(chunk)
                    crc = zlib.crc32(chunk, crc)
                    f.write(chunk)
                f.flush()
                _verify(checks, size, md5.digest(), sha.hexdigest(), crc)
                await asyncio.to_thread(os.fsync, f.fileno())
            os.rename(tmp, self.blobs / name)
            await asyncio.to_thread(self._sync_dir)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Written(name, size, md5.digest())

    def _sync_dir(self) -> None:
        """Make the rename itself durable: fsync the directory that holds the new name."""
        fd = os.open(self.blobs, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def drop_blob(self, blob: str) -> None:
        (self.blobs / blob).unlink(missing_ok=True)

    def retire(self, blob: str) -> None:
        """Unlink a replaced or deleted blob a little later.

        A GET looks its blob up, returns, and only then does the server open the
        file: an overwrite in between must not pull it away. Once open, POSIX
        keeps it readable after the unlink. A crash before the timer fires leaves
        an unnamed blob, which start-up sweeps.
        """
        try:
            asyncio.get_running_loop().call_later(RETIRE_DELAY, self.drop_blob, blob)
        except RuntimeError:  # no loop (tools, tests): nobody can be reading
            self.drop_blob(blob)

    # -- objects -------------------------------------------------------------------
    def put(self, bucket: str, key: str, w: Written, etag: str, ctype: str) -> None:
        old = self.db.execute(
            "SELECT blob FROM objects WHERE bucket=? AND key=?", (bucket, key)
        ).fetchone()
        self.db.execute(
            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)",
            (bucket, key, w.blob, w.size, etag, time.time(), ctype),
        )
        if old and old[0] != w.blob:
            self.retire(old[0])

    def get(self, bucket: str, key: str) -> Obj:
        row = self.db.execute(
            "SELECT key, blob, size, etag, mtime, ctype FROM objects WHERE bucket=? AND key=?",
            (bucket, key),
        ).fetchone()
        if row is None:
            self.need_bucket(bucket)
            raise S3Error("NoSuchKey", "The specified key does not exist.", key)
        return Obj(*row)

    def delete(self, bucket: str, key: str) -> None:
        self.need_bucket(bucket)
        row = self.db.execute(
            "SELECT blob FROM objects WHERE bucket=? AND key=?", (bucket, key)
        ).fetchone()
        if row:
            self.db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
            self.retire(row[0])

    def scan(self, bucket: str, start: str, inclusive: bool, prefix: str, limit: int) -> list[Obj]:
        """Up to ``limit`` objects with ``prefix`` from ``start`` on, in key order."""
        op = ">=" if inclusive else ">"
        low = max(start, prefix)
        if low != start:
            op = ">="
        rows = self.db.execute(
            f"SELECT key, blob, size, etag, mtime, ctype FROM objects WHERE bucket=? AND key {op} ? "
            "AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?",
            (bucket, low, len(prefix), prefix, limit),
        )
        return [Obj(*r) for r in rows]

    # -- multipart -----------------------------------------------------------------
    def create_upload(self, bucket: str, key: str, ctype: str) -> str:
        self.need_bucket(bucket)
        uid = uuid.uuid4().hex
        self.db.execute("INSERT INTO uploads VALUES (?, ?, ?, ?)", (uid, bucket, key, ctype))
        return uid

    def upload(self, bucket: str, key: str, uid: str) -> str:
        row = self.db.execute(
            "SELECT ctype FROM uploads WHERE id=? AND bucket=? AND key=?", (uid, bucket, key)
        )
        found = row.fetchone()
        if found is None:
            raise S3Error("NoSuchUpload", "The specified upload does not exist.", uid)
        return str(found[0])

    def put_part(self, uid: str, num: int, w: Written) -> str:
        etag = f'"{w.md5.hex()}"'
        old = self.db.execute(
            "SELECT blob FROM parts WHERE upload=? AND num=?", (uid, num)
        ).fetchone()
        self.db.execute(
            "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?)", (uid, num, w.blob, w.size, etag)
        )
        if old:
            self.drop_blob(old[0])
        return etag

    def abort(self, uid: str) -> None:
        blobs = [r[0] for r in self.db.execute("SELECT blob FROM parts WHERE upload=?", (uid,))]
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM parts WHERE upload=?", (uid,))
        self.db.execute("DELETE FROM uploads WHERE id=?", (uid,))
        self.db.execute("COMMIT")
        for b in blobs:
            self.drop_blob(b)

    async def complete(self, bucket: str, key: str, uid: str, asked: list[tuple[int, str]]) -> str:
        """Join the listed parts into the object; S3's ETag: MD5 of the parts' MD5s, ``-N``."""
        ctype = self.upload(bucket, key, uid)
        have = {n: (b, s, e) for n, b, s, e in
                self.db.execute("SELECT num, blob, size, etag FROM parts WHERE upload=?", (uid,))}  # fmt: skip
        chosen = _check_parts(asked, have, self.min_part)
        digests = b"".join(bytes.fromhex(have[n][2].strip('"')) for n, _ in asked)
        etag = f'"{hashlib.md5(digests).hexdigest()}-{len(asked)}"'
        w = await asyncio.to_thread(self._join, [b for b, _ in chosen])
        self.put(bucket, key, w, etag, ctype)
        self.abort(uid)
        return etag

    def _join(self, blobs: list[str]) -> Written:
        name = uuid.uuid4().hex
        tmp = self.tmp / name
        size = 0
        try:
            with open(tmp, "wb") as out:
                for b in blobs:
                    with open(self.blobs / b, "rb") as src:
                        n = os.fstat(src.fileno()).st_size
                        off = 0
                        while off < n:
                            off += os.copy_file_range(
                                src.fileno(), out.fileno(), n - off, off, None
                            )  # type: ignore[attr-defined]
                        size += n
                os.fsync(out.fileno())
            os.rename(tmp, self.blobs / name)
            self._sync_dir()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Written(name, size, b"")


def _check_parts(
    asked: list[tuple[int, str]], have: dict[int, tuple[str, int, str]], min_part: int
) -> list[tuple[str, int]]:
    if not asked:
        raise S3Error("MalformedXML", "CompleteMultipartUpload lists no parts")
    nums = [n for n, _ in asked]
    if nums != sorted(set(nums)):
        raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order.")
    out = []
    for i, (n, etag) in enumerate(asked):
        part = have.get(n)
        if part is None or part[2].strip('"') != etag.strip('"'):
            raise S3Error("InvalidPart", f"Part {n} was not uploaded or its ETag does not match.")
        if part[1] < min_part and i != len(asked) - 1:
            raise S3Error(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            )
        out.append((part[0], part[1]))
    return out


def _verify(c: Checks, size: int, md5: bytes, sha_hex: str, crc: int) -> None:
    if c.length is not None and size != c.length:
        raise S3Error(
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length",
        )
    if c.sha256 is not None and c.sha256 != sha_hex:
        raise S3Error(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    if c.crc32 is not None and c.crc32 != base64.b64encode(crc.to_bytes(4, "big")).decode():
        raise S3Error("BadDigest", "The CRC32 you specified did not match the calculated checksum.")
    if (
        c.sha256_b64 is not None
        and c.sha256_b64 != base64.b64encode(bytes.fromhex(sha_hex)).decode()
    ):
        raise S3Error(
            "BadDigest", "The SHA256 you specified did not match the calculated checksum."
        )
    if c.md5 is not None and c.md5 != base64.b64encode(md5).decode():
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
