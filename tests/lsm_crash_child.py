"""A child process for the LSM crash tests: writes and says what was acknowledged.

``python tests/lsm_crash_child.py DIR SEED OPS [FSIZE]``. Before each operation
it prints ``I op key [value]`` (intent), after the store returns ``A``; before
a manual flush ``F``, before a full compaction ``C`` (so the parent can kill it
in the middle of either). With FSIZE it caps its own file size
(RLIMIT_FSIZE: a write past it fails with EFBIG, as a full disk fails with
ENOSPC), and when a write is refused it prints ``E key`` and then ``R`` +
every acknowledged key it can still read, and exits 0.
"""

from __future__ import annotations

import random
import resource
import signal
import sys

from storage import lsm

SMALL = dict(write_buffer=3_000, base_bytes=12_000, table_bytes=5_000, l0_trigger=2, sync="always")


def main() -> None:
    directory, seed, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if len(sys.argv) > 4:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        limit = int(sys.argv[4])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    rnd = random.Random(seed)
    db = lsm.open(directory, **SMALL)
    out = sys.stdout
    acked: dict[bytes, bytes] = {}
    for i in range(ops):
        key = b"k%04d" % rnd.randrange(400)
        if rnd.random() < 0.25:
            out.write(f"I del {key.decode()}\n")
            out.flush()
            try:
                db.delete(key)
            except (OSError, lsm.StorageError):
                return refused(db, key, acked)
            acked.pop(key, None)
        else:
            value = b"s%d-i%d-" % (seed, i) + b"v" * rnd.randrange(60)
            out.write(f"I put {key.decode()} {value.decode()}\n")
            out.flush()
            try:
                db.put(key, value)
            except (OSError, lsm.StorageError):
                return refused(db, key, acked)
            acked[key] = value
        out.write("A\n")
        out.flush()
        if i % 150 == 149:
            out.write("F\n")
            out.flush()
            background(db.flush)
        if i % 400 == 399:
            out.write("C\n")
            out.flush()
            background(db.compact)
    db.close()
    out.write("DONE\n")


def background(work: object) -> None:
    """A flush or compaction; if the disk is full it fails, and the next write is refused."""
    try:
        work()  # type: ignore[operator]
    except (OSError, lsm.StorageError):
        pass


def refused(db: lsm.LSM, key: bytes, acked: dict[bytes, bytes]) -> None:
    print(f"E {key.decode()}", flush=True)
    readable = sum(db.get(k) == v for k, v in acked.items())
    print(f"R {readable} {len(acked)}", flush=True)


if __name__ == "__main__":
    main()
