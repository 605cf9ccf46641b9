"""Persistence: an append-only file (multi-part, as Redis 7) and snapshots, with checksums.

Files (in ``dir``):

* ``appendonlydir/`` (``appenddirname``) holds the AOF as Redis 7 lays it out:
  a *base* file (``appendonly.aof.N.base.aof``, the whole dataset as
  commands), *incremental* files (``appendonly.aof.M.incr.aof``, every write
  since), and ``appendonly.aof.manifest`` naming them, one ``file NAME seq N
  type b|i`` line each. The manifest is replaced atomically (temp file,
  fsync, rename, fsync of the directory), so at every instant it names a
  complete, loadable set.
* ``dump.sdb`` (``dbfilename``): a snapshot of ours (SAVE, BGSAVE), loaded at
  start when there is no AOF.

Every file is RESP commands (``redis-check-aof`` reads them), with two
commands of ours: ``SYSLAB.CRC <crc32>`` after every flushed batch, the CRC-32
of the bytes since the previous one, so a flipped bit or a torn write is
found, not replayed (an incremental file opens with one before any byte, holding the
random seed its CRCs start from: the mark of a file of ours, so a file of whole commands
without any, Redis's own AOF, is refused, not cut as a torn tail; and a secret, so a
client's value shaped like our records cannot pass for an intact batch after a torn
one); and, closing a base or snapshot file, ``SYSLAB.END
<count>``: a file without it was never finished. ``SYSLAB.VALUE key
<pickle>`` carries a value no command recreates (a stream with its consumer
groups). When loading, a bad CRC or an unparsable tail in the *last*
incremental file is cut off (the file truncated there, with a log line saying
how many bytes), as ``redis-check-aof --fix`` and ``aof-load-truncated`` do,
unless an intact batch follows it (damage in the middle: cutting would delete
acknowledged writes); anywhere else it is an error and the server refuses to
start, its files untouched.

What is logged. Each write command that succeeded, as sent, with ``SELECT``
when the database changes. Commands whose effect is not a function of their
arguments are logged as their effects: the resulting state of each key they
name (``DEL`` then the commands that rebuild it): SPOP, the blocking pops
(also when a push serves them later), XREADGROUP, XCLAIM; XADD's ``*`` is
replaced by the ID it generated. A relative TTL (EXPIRE, SET EX, SETEX,
GETEX) is followed by ``PEXPIREAT`` with the absolute time, so replaying it
later does not extend it. Scripts are not logged themselves: the writes they
make through the session are. Subcommands that write (XGROUP CREATE, FUNCTION
LOAD...) are logged by their own flags; FUNCTION libraries open every base and
snapshot file as ``FUNCTION LOAD`` commands, so they survive a restart as in Redis.
A key that expires (found past its TTL by a lookup, or by the cron) is logged
as ``DEL`` where it happened, as Redis propagates an expiry, and nothing
expires while a file is replayed (``Keyspace.loading``, Redis's loading): the
log replays as it ran, whenever it is loaded. A pipelined run of plain calls
(servers/cache/runs.py) is logged in one go: the same bytes as call by call
(``Aof.feed_wire``).

``appendfsync``: the batch's log bytes are written (``write(2)``) before its
replies go out, whatever the policy, so a killed *process* loses nothing (one
write per event loop turn for all the sessions served in it, as Redis writes its
AOF buffer before sleeping; a failed write refuses writes with -MISCONF until a
retry works, see ``saving.Persistence.write_aof``);
``always`` also fsyncs before replying (a power loss loses no acknowledged
write), ``everysec`` fsyncs from a thread once a second, ``no`` leaves it to
the kernel.

Rewriting (BGREWRITEAOF) and BGSAVE fork, as Redis does: the child writes the
dataset as it was at the fork (copy-on-write pages) while the parent goes on
serving. A rewrite first opens a new incremental file and records it in the
manifest next to the old files (writes go there from now on); once the child
finished its base file (temp name, fsync, rename), a new manifest names the
new base and the new incremental file only, and the old files are deleted.
A crash at any point leaves either the old set plus the new incremental
file, or the new set.
"""

from __future__ import annotations

import copyreg
import logging
import os
import pickle
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netlib.resp import ProtocolError, RequestParser, encode_command
from storage.record import fsync_dir, write_atomically

from .keyspace import Database, Keyspace, estimate

log = logging.getLogger("servers.cache.persist")

POLICIES = ("always", "everysec", "no")
MANIFEST = "appendonly.aof.manifest"
CRC = b"SYSLAB.CRC"
END = b"SYSLAB.END"
VALUE = b"SYSLAB.VALUE"
CHUNK = 1000  # elements per rebuilding command (RPUSH/SADD/HSET/ZADD)
CRC_EVERY = 64 * 1024  # bytes between CRC records when writing a whole dataset
# An incremental file opens with a CRC record of its own, before any byte: the mark of a
# file of ours, holding the file's *seed*, 32 random bits every CRC of the file starts
# from. The mark: without it a file of whole commands and no CRC record at all could be
# Redis's own AOF (loadable, and cut whole as a torn tail: every write in it deleted) or
# one of ours torn inside its first batch (to be cut); with it, the first is refused.
# The seed: a client's value may hold bytes shaped like our records around bytes whose
# CRC-32 it computed; torn by a crash inside that value, the file then showed an
# "intact batch" after the damage and the server refused to start (a client's data
# deciding whether the server restarts). Without the seed no one can forge a batch.
# (A seed of 0, the opening written before seeds, is plain CRC-32.)
OPENING_SIZE = len(encode_command(CRC, b"%08x" % 0))


def opening(seed: int) -> bytes:
    return encode_command(CRC, b"%08x" % seed)


RDB_MAGIC = b"REDIS"  # how an RDB file starts (Redis's base file with aof-use-rdb-preamble)

# --- values as commands ----------------------------------------------------------------------


def _skiplist_reduce(sl: Any) -> tuple[Any, tuple[Any, ...]]:
    items = []
    x = sl.header.forward[0]
    while x is not None:
        items.append((x.score, x.member))
        x = x.forward[0]
    return _skiplist_build, (type(sl), items)


def _skiplist_build(cls: Any, items: list[tuple[float, bytes]]) -> Any:
    sl = cls()
    for score, member in items:
        sl.insert(score, member)
    return sl


def _register_reducers() -> None:
    """A skip list pickled node by node would recurse once per node: pickle its items."""
    try:
        from .skiplist import SkipList
    except ImportError:  # pragma: no cover - a tree without sorted sets
        return
    copyreg.pickle(SkipList, _skiplist_reduce)


_register_reducers()


def _num(x: float) -> bytes:
    return repr(float(x)).encode()


def _chunks(items: list[Any], n: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def rebuild(key: bytes, value: Any) -> list[list[bytes]]:
    """The commands that recreate ``key`` holding ``value`` (its TTL apart)."""
    t = type(value)
    if t is bytes:
        return [[b"SET", key, value]]
    if t is deque:
        return [[b"RPUSH", key, *c] for c in _chunks(list(value))]
    if t is dict:
        pairs = [x for kv in value.items() for x in kv]
        return [[b"HSET", key, *c] for c in _chunks(pairs, 2 * CHUNK)]
    if t is set:
        return [[b"SADD", key, *c] for c in _chunks(list(value))]
    scores = getattr(value, "scores", None)
    if isinstance(scores, dict) and t.__name__ == "SortedSet":
        pairs = [x for m, s in scores.items() for x in (_num(s), m)]
        return [[b"ZADD", key, *c] for c in _chunks(pairs, 2 * CHUNK)]
    return [[VALUE, key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)]]


def key_commands(db: Database, key: bytes) -> list[list[bytes]]:
    """``key``'s current state as commands: DEL, the rebuild, its absolute TTL."""
    out: list[list[bytes]] = [[b"DEL", key]]
    value = db.peek(key)
    if value is None:
        return out
    out += rebuild(key, value)
    exp = db.expires.get(key)
    if exp is not None:
        out.append([b"PEXPIREAT", key, b"%d" % exp])
    return out


def dataset_commands(ks: Keyspace) -> Iterator[list[bytes]]:
    """The whole keyspace as commands (SELECT per non-empty database)."""
    for db in ks.dbs:
        if not len(db):
            continue
        yield [b"SELECT", b"%d" % db.index]
        now = ks.clock()
        for key, value in list(db.data.items()):
            exp = db.expires.get(key)
            if exp is not None and exp <= now:
                continue
            yield from rebuild(key, value)
            if exp is not None:
                yield [b"PEXPIREAT", key, b"%d" % exp]


class ChecksumWriter:
    """Bytes to a file with a ``SYSLAB.CRC`` record closing each flushed chunk."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.crc = 0
        self.pending = 0
        self.written = 0

    def write(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.f.write(data)
        self.pending += len(data)
        if self.pending >= CRC_EVERY:
            self.seal()

    def seal(self) -> None:
        if self.pending:
            rec = encode_command(CRC, b"%08x" % self.crc)
            self.f.write(rec)
            self.written += self.pending + len(rec)
            self.crc = self.pending = 0


def write_dataset(path: Path, ks: Keyspace, wanted: Callable[[], bool] = lambda: True,
                  libraries: Iterable[bytes] = ()) -> int:  # fmt: skip
    """A base or snapshot file: ``FUNCTION LOAD`` of each library, the dataset, CRC records,
    ``SYSLAB.END``; temp + fsync + rename, so ``path`` is either the old file or the whole
    new one. Returns its size.

    ``wanted()`` is asked before the rename: a forked child whose parent died
    (SIGKILL) drops its file rather than renaming it under a restarted server."""
    tmp = path.with_name(f"temp-{os.getpid()}-{path.name}")
    try:
        _write_dataset_to(tmp, ks, libraries)
        if not wanted():
            raise RuntimeError("not wanted any more")
        os.replace(tmp, path)
    except BaseException:  # a full disk: the partial file must not keep its space (Redis unlinks)
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path.stat().st_size


def _write_dataset_to(tmp: Path, ks: Keyspace, libraries: Iterable[bytes]) -> None:
    count = 0
    with open(tmp, "wb", buffering=1 << 20) as f:
        w = ChecksumWriter(f)
        for code in libraries:
            w.write(encode_command(b"FUNCTION", b"LOAD", code))
            count += 1
        for cmd in dataset_commands(ks):
            w.write(encode_command(*cmd))
            count += 1
        w.write(encode_command(END, b"%d" % count))
        w.seal()
        f.flush()
        os.fsync(f.fileno())


# --- reading -------------------------------------------------------------------------------


class CorruptFile(Exception):
    """A file that cannot be loaded (and may not be cut): the server refuses to start."""


@dataclass
class ReadResult:
    commands: list[list[bytes]]  # the checked commands, CRC and END records removed
    good_bytes: int  # bytes up to the last good CRC record
    size: int
    ended: bool  # a SYSLAB.END record was seen
    foreign: bool = False  # whole commands and not one CRC record: not a file of ours
    seed: int = 0  # an incr file's opening record (``opening``): where its CRCs start


def read_commands(path: Path) -> ReadResult:
    """The commands of a file up to its last intact CRC record (whatever follows is bad)."""
    data = path.read_bytes()
    parser = RequestParser()
    parser.feed(data)
    out: list[list[bytes]] = []
    pending: list[list[bytes]] = []
    good = 0
    pos = 0
    crc = seed = 0
    ended = False
    try:
        cmds = parser.commands()
    except ProtocolError:
        cmds = _until_error(data)
    foreign = bool(cmds) and not any(c[0] == CRC for c in cmds)
    for cmd in cmds:
        size = len(encode_command(*cmd))
        if cmd[0] == CRC and len(cmd) == 2:
            if pos == 0 and data.startswith(opening(_hex(cmd[1]))):
                crc = seed = _hex(cmd[1])  # the opening record: the file's seed
            elif cmd[1] != b"%08x" % crc:
                break
            pos += size
            good = pos
            out += pending
            pending = []
            crc = seed
            continue
        crc = zlib.crc32(data[pos : pos + size], crc)
        if data[pos : pos + size] != encode_command(*cmd):
            break  # an inline or oddly spelled command: not something we wrote
        pos += size
        if cmd[0] == END:
            ended = True
        else:
            pending.append(cmd)
    return ReadResult(out, good, len(data), ended, foreign, seed)


def read_seed(path: Path) -> int:
    """An incr file's seed (its opening record's), 0 for a file without one."""
    with open(path, "rb") as f:
        head = f.read(OPENING_SIZE)
    m = CRC_RECORD.fullmatch(head)
    return int(m.group(1), 16) if m else 0


def _hex(word: bytes) -> int:
    """A CRC record's 8 hex digits (-1 if they are not: no seed is -1)."""
    try:
        return int(word, 16) if len(word) == 8 else -1
    except ValueError:
        return -1


def _until_error(data: bytes) -> list[list[bytes]]:
    """The complete commands before a protocol error, fed one command at a time."""
    parser = RequestParser()
    out: list[list[bytes]] = []
    step = 4096
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
        try:
            out += parser.commands()
        except ProtocolError:
            break
    return out


# A CRC record as ``Aof.flush`` and ``ChecksumWriter`` write it.
CRC_RECORD = re.compile(rb"\*2\r\n\$10\r\nSYSLAB\.CRC\r\n\$8\r\n([0-9a-f]{8})\r\n")


def intact_batch_after(data: bytes, start: int, seed: int = 0) -> bool:
    """Whether a whole batch that checks out (the bytes between two CRC records, matching
    the second) lies past ``start``, the damaged batch: then the damage is in the middle of
    the file, not a torn tail, and cutting there would delete acknowledged writes. (A
    damaged CRC record followed by a single batch still reads as a tail.)"""
    records = list(CRC_RECORD.finditer(data, start))
    return any(
        b"%08x" % zlib.crc32(data[a.end() : b.start()], seed) == b.group(1)
        for a, b in zip(records, records[1:], strict=False)
    )


# --- the AOF ---------------------------------------------------------------------------------


@dataclass
class AofFile:
    name: str
    seq: int
    kind: str  # "b" base, "i" incremental


MANIFEST_MAX_LINE = 1024  # Redis's MANIFEST_MAX_LINE: a longer line is not a manifest


def parse_manifest(text: str) -> list[AofFile]:
    """The manifest's files, base first, checked as Redis's aofLoadManifestFromFile does: a
    manifest naming nothing, two bases, an unknown type or incremental files out of order
    is refused (loading it would replay the wrong data, and the unlisted files would then
    be deleted as leftovers of a crashed rewrite)."""
    base: AofFile | None = None
    incrs: list[AofFile] = []
    others: list[AofFile] = []
    names: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            continue
        if len(line) > MANIFEST_MAX_LINE:
            raise CorruptFile(f"{MANIFEST} line {n}: too long")
        words = line.split()
        if len(words) < 6 or len(words) % 2:
            raise CorruptFile(f"{MANIFEST} line {n}: not 'file NAME seq N type b|i'")
        fields = dict(zip(words[::2], words[1::2], strict=False))
        try:
            f = AofFile(fields["file"], int(fields["seq"]), fields["type"])
        except (KeyError, ValueError):
            raise CorruptFile(f"{MANIFEST} line {n}: not 'file NAME seq N type b|i'") from None
        if "/" in f.name or "\0" in f.name or f.name in (".", ".."):
            raise CorruptFile(f"{MANIFEST} line {n}: a file name, not a path, is expected")
        if f.seq <= 0:
            raise CorruptFile(f"{MANIFEST} line {n}: bad sequence number {f.seq}")
        if f.name in names:  # (it would be loaded twice)
            raise CorruptFile(f"{MANIFEST} line {n}: {f.name} is listed twice")
        names.add(f.name)
        if f.kind == "b":
            if base is not None:
                raise CorruptFile(f"{MANIFEST} line {n}: a second base file")
            base = f
        elif f.kind == "i":
            if incrs and f.seq <= incrs[-1].seq:
                raise CorruptFile(f"{MANIFEST} line {n}: sequence numbers must increase")
            incrs.append(f)
        elif f.kind == "h":
            others.append(f)
        else:
            raise CorruptFile(f"{MANIFEST} line {n}: unknown file type {f.kind!r}")
    if base is None and not incrs:
        raise CorruptFile(f"{MANIFEST} names no file")
    return ([base] if base else []) + incrs + others


def read_manifest(path: Path) -> list[AofFile]:
    try:
        text = path.read_bytes().decode()
    except UnicodeDecodeError as e:
        raise CorruptFile(f"{MANIFEST}: not text ({e})") from None
    return parse_manifest(text)


def manifest_text(files: Iterable[AofFile]) -> str:
    return "".join(f"file {f.name} seq {f.seq} type {f.kind}\n" for f in files)


class Aof:
    """The open AOF: the incremental file being appended to, its buffer and fsync policy."""

    def __init__(self, directory: Path, policy: str = "everysec") -> None:
        self.dir = directory
        self.policy = policy
        self.files: list[AofFile] = []
        self.fd = -1
        self.buf = bytearray()
        self.seed = 0  # the open incr file's (``opening``)
        self.db = -1  # the database the log last SELECTed
        self.lock = threading.Lock()  # the fsync thread vs. closing or switching the fd
        self.buf_lock = threading.Lock()  # a script's worker thread feeds too
        # While a script runs its writes gather here and join ``buf`` when it ends: a
        # script past busy-reply-threshold lets the loop flush (others' batches, the
        # cron), and a crash then must not leave half a script in the file (Redis
        # propagates a script's effects as one MULTI/EXEC).
        self.holding: bytearray | None = None
        self.dirty = False  # written since the last fsync
        self.last_fsync = time.time()
        self.fsyncs = 0
        self.fsync_error: OSError | None = None  # the fsync thread's last failure (else None)
        self.size = 0
        self.base_size = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- files --------------------------------------------------------------------------------
    @property
    def manifest(self) -> Path:
        return self.dir / MANIFEST

    def next_seq(self, kind: str) -> int:
        return max((f.seq for f in self.files if f.kind == kind), default=0) + 1

    def write_manifest(self, files: list[AofFile]) -> None:
        write_atomically(self.manifest, [manifest_text(files).encode()])
        self.files = list(files)

    def new_file(self, kind: str, after: int = 0, avoid: Iterable[AofFile] = ()) -> AofFile:
        """The next file of ``kind`` ("b" or "i"), numbered past ``after`` and the manifest's,
        and named after no file the manifest (or ``avoid``, an older one) lists: Redis does
        not tie a name to its ``seq``, so a manifest may list ``appendonly.aof.2.incr.aof`` as
        seq 1, and creating seq 2 by that name truncated it (its writes lost, the new ones
        then replayed twice)."""
        seq = max(self.next_seq(kind), after + 1)
        taken = {f.name for f in [*self.files, *avoid]}
        word = "base" if kind == "b" else "incr"
        while f"appendonly.aof.{seq}.{word}.aof" in taken:
            seq += 1
        return AofFile(f"appendonly.aof.{seq}.{word}.aof", seq, kind)

    def open_incr(self, after: int = 0, avoid: Iterable[AofFile] = ()) -> AofFile:
        """A new incremental file (``new_file``); from now on writes go to it (the manifest
        is updated). New means empty: a file of that name can only be a leftover no
        manifest lists any more (CONFIG SET appendonly no, then yes), whose writes must not
        be replayed over the new base."""
        self.flush()
        f = self.new_file("i", after, avoid)
        seed = int.from_bytes(os.urandom(4), "big")
        fd = os.open(self.dir / f.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            os.write(fd, opening(seed))  # (a short write is a torn tail: cut at load)
            self.write_manifest(self.files + [f])
        except OSError:  # writes stay with the old file, which the manifest still lists
            os.close(fd)
            raise
        with self.lock:
            old, self.fd = self.fd, fd
            if old >= 0:
                os.fsync(old)
                os.close(old)
        self.seed = seed
        self.db = -1
        self.size = OPENING_SIZE
        return f

    def open_existing(self, f: AofFile, seed: int = 0) -> None:
        """Append to ``f`` (as loaded: ``seed`` is its opening record's; a file that was
        cut to nothing gets an opening record again)."""
        fd = os.open(self.dir / f.name, os.O_WRONLY | os.O_APPEND)
        if os.fstat(fd).st_size == 0:
            seed = int.from_bytes(os.urandom(4), "big")
            os.write(fd, opening(seed))
        with self.lock:
            self.fd = fd
        self.seed = seed
        self.size = os.fstat(fd).st_size

    # -- writing ---------------------------------------------------------------------------------
    def feed(self, db: int, args: list[bytes]) -> None:
        """Log one command run in database ``db`` (a SELECT first if the log is elsewhere)."""
        self.feed_wire(db, encode_command(*args))

    def feed_wire(self, db: int, wire: bytes) -> None:
        """Log commands already encoded as ``encode_command`` writes them (a run of calls,
        a grid as it arrived), all run in database ``db``: the bytes ``feed`` would add."""
        with self.buf_lock:
            buf = self.buf if self.holding is None else self.holding
            if db != self.db:
                buf += encode_command(b"SELECT", b"%d" % db)
                self.db = db
            buf += wire

    def hold(self) -> None:
        """A script starts: keep its writes apart until ``release``."""
        with self.buf_lock:
            self.holding = bytearray()

    def release(self) -> None:
        """The script ended: its writes join the buffer together (one batch, one CRC)."""
        with self.buf_lock:
            if self.holding is not None:
                self.buf += self.holding
                self.holding = None

    def flush(self) -> None:
        """Write the buffer and its CRC record (``fsync_now`` makes it durable)."""
        if not self.buf or self.fd < 0:
            return
        with self.buf_lock:
            data = bytes(self.buf)
            self.buf.clear()
        record = data + encode_command(CRC, b"%08x" % zlib.crc32(data, self.seed))
        view = memoryview(record)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError:  # disk full, EFBIG: cut the torn record, keep the batch to retry
            os.ftruncate(self.fd, self.size)
            with self.buf_lock:
                self.buf[:0] = data
            raise
        self.size += len(record)
        self.dirty = True

    def fsync_now(self) -> None:
        with self.lock:
            if self.fd >= 0 and self.dirty:
                self.dirty = False
                os.fsync(self.fd)
                self.fsyncs += 1
                self.last_fsync = time.time()

    def start_fsync_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._fsync_loop, name="aof-fsync", daemon=True)
            self._thread.start()

    def _fsync_loop(self) -> None:
        """``everysec``: fsync what was written, once a second (off the event loop)."""
        while not self._stop.wait(1.0):
            if self.policy == "everysec" and self.dirty:
                try:
                    self.fsync_now()
                    self.fsync_error = None
                except OSError as e:  # the loop thread's cron refuses writes (MISCONF)
                    log.error("can't fsync the AOF: %s", e)
                    self.fsync_error = e
                    self.dirty = True  # retried next second

    def close(self) -> None:
        self.flush()
        self._stop.set()
        with self.lock:
            if self.fd >= 0:
                os.fsync(self.fd)
                os.close(self.fd)
                self.fd = -1


# --- loading ------------------------------------------------------------------------------------


def replay(commands: Iterable[list[bytes]], run: Callable[[list[bytes]], bytes | None],
           put_value: Callable[[bytes, Any], None]) -> int:  # fmt: skip
    """Run each command through the cache's own handlers; returns how many ran."""
    n = 0
    for cmd in commands:
        if cmd[0] == VALUE and len(cmd) == 3:
            put_value(cmd[1], pickle.loads(cmd[2]))  # noqa: S301 - our own checksummed file
        else:
            reply = run(cmd)
            if reply is not None and reply[:1] == b"-":
                raise CorruptFile(f"replaying {cmd[0].decode(errors='replace')}: {reply!r}")
        n += 1
    return n


def load_dataset_file(path: Path) -> list[list[bytes]]:
    """A base or snapshot file: all of it checks out, or CorruptFile."""
    with open(path, "rb") as f:
        if f.read(len(RDB_MAGIC)) == RDB_MAGIC:
            raise CorruptFile(f"{path.name}: an RDB file (Redis's format), not one of ours")
    r = read_commands(path)
    if r.foreign:
        raise CorruptFile(_foreign(path.name, r.size))
    if r.good_bytes != r.size or not r.ended:
        raise CorruptFile(
            f"{path.name}: damaged at byte {r.good_bytes} of {r.size}"
            + ("" if r.ended else " (no end record: never finished)")
        )
    return r.commands


def load_aof(directory: Path) -> tuple[list[AofFile], list[list[list[bytes]]]]:
    """The manifest's files' commands, in order; the last incremental file's bad tail cut."""
    files = read_manifest(directory / MANIFEST)
    incrs = [f for f in files if f.kind == "i"]
    parts: list[list[list[bytes]]] = []
    for f in files:
        path = directory / f.name
        if f.kind == "h":
            continue
        if not path.exists():  # (never a crash: a file is created before a manifest names
            # it, and the manifest's rename is made durable by an fsync of their directory)
            raise CorruptFile(f"{f.name} is in the manifest but missing")
        if f.kind == "b":
            parts.append(load_dataset_file(path))
            continue
        r = read_commands(path)
        if r.foreign:
            raise CorruptFile(
                _foreign(f.name, r.size, ", or one torn in its first batch")
                + " (to drop it and start, truncate it to 0 bytes)"
            )
        if r.good_bytes != r.size:
            if f is not incrs[-1]:
                raise CorruptFile(f"{f.name}: damaged at byte {r.good_bytes} of {r.size}")
            if intact_batch_after(path.read_bytes(), r.good_bytes, r.seed):
                raise CorruptFile(
                    f"{f.name}: damaged at byte {r.good_bytes} of {r.size} with intact writes "
                    f"after it (not a torn tail, nothing was cut); to drop them and start, "
                    f"truncate the file to {r.good_bytes} bytes"
                )
            log.warning(
                "AOF %s: a torn or corrupt tail of %d bytes (from byte %d of %d) was cut off; "
                "the writes before it are loaded", f.name, r.size - r.good_bytes,
                r.good_bytes, r.size,
            )  # fmt: skip
            os.truncate(path, r.good_bytes)
        parts.append(r.commands)
    return files, parts


def holds_writes(path: Path) -> bool:
    """Whether an AOF file holds a command (an END record apart): more than the opening
    record of an incr file, or a base of a dataset that was not empty."""
    if path.stat().st_size <= OPENING_SIZE:
        return False
    return bool(read_commands(path).commands) or path.name.endswith(".incr.aof")


def _foreign(name: str, size: int, torn: str = "") -> str:
    return (
        f"{name}: {size} bytes of commands without a {CRC.decode()} record: not a file of "
        f"this server (Redis's own AOF?){torn}; nothing was cut"
    )


def put_value_into(db_of: Callable[[], Database]) -> Callable[[bytes, Any], None]:
    def put(key: bytes, value: Any) -> None:
        db = db_of()
        db.put(key, value, estimate(key, value))

    return put
