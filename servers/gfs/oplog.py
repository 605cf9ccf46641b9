"""The master's operation log and checkpoints: how the metadata survives SIGKILL.

A mutation is acknowledged only after its op is in the log and fsynced (the
WAL's ``always`` policy, with group commit: concurrent mutations share an
fsync). Every ``checkpoint_every`` ops the whole ``Meta`` is written as one
checksummed record to ``checkpoint`` (write to a temporary file, fsync,
rename: a crash leaves the old checkpoint or the new one, never half), together
with the log sequence number it covers; then the log segments it covers are
deleted. Recovery = load the checkpoint (covering up to seq S), replay the log
entries after S. The paper's checkpoint is a compact B-tree mapped into
memory; ours is one msgpack map, fine for the lab's namespace sizes.

Files in ``--dir``: ``checkpoint`` (kind ``gfs-checkpoint``: one record of
type 16 whose payload is msgpack ``{"seq": S, "meta": {...}}``) and ``log/``
(WAL segments whose PUT entries carry key ``op`` and a msgpack op as value).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import msgpack

from storage.record import (
    FIRST_ENGINE_TYPE,
    Corruption,
    encode,
    file_header,
    read_file,
    write_atomically,
)
from storage.wal import Wal, replay

from .meta import Meta

log = logging.getLogger("servers.gfs.oplog")

KIND = "gfs-checkpoint"
TYPE_CHECKPOINT = FIRST_ENGINE_TYPE


class OpLog:
    def __init__(self, directory: Path, checkpoint_every: int = 1000) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_every = checkpoint_every
        self.path = self.dir / "checkpoint"
        self.wal: Wal | None = None
        self.since_checkpoint = 0

    def recover(self) -> Meta:
        """The metadata as of the last acknowledged op: checkpoint + replay."""
        meta, seq = Meta(), 0
        if self.path.exists():
            records, torn = read_file(self.path)
            if torn is not None or len(records) != 2 or records[1].rtype != TYPE_CHECKPOINT:
                raise Corruption(os.fspath(self.path), 0, "not a whole checkpoint")
            body = msgpack.unpackb(records[1].payload, raw=False, strict_map_key=False)
            meta, seq = Meta.from_snapshot(body["meta"]), body["seq"]
        (self.dir / "log").mkdir(exist_ok=True)
        replayed = 0
        for e in replay(self.dir / "log", after=seq):
            assert e.value is not None
            meta.apply(msgpack.unpackb(e.value, raw=False))
            replayed += 1
        self.wal = Wal(self.dir / "log", sync="always", first_seq=seq + 1)
        self.since_checkpoint = replayed
        log.info("recovered: checkpoint at seq %d, %d op(s) replayed, %d file(s)", seq, replayed, len(meta.files))
        return meta

    def append(self, op: list[Any]) -> int:
        """Durable when it returns (blocking: call it from a thread)."""
        assert self.wal is not None
        self.since_checkpoint += 1
        return self.wal.put(b"op", msgpack.packb(op, use_bin_type=True))

    def checkpoint(self, meta: Meta) -> None:
        """Write the checkpoint covering every op applied so far, then drop the log it covers.
        The caller makes sure no op is logged-but-unapplied meanwhile (it runs on the loop)."""
        assert self.wal is not None
        first_new = self.wal.rotate()  # every op below it is durable and (by the caller) applied
        payload = msgpack.packb({"seq": first_new - 1, "meta": meta.snapshot()}, use_bin_type=True)
        write_atomically(self.path, [file_header(KIND), encode(TYPE_CHECKPOINT, payload)])
        self.wal.truncate_through(first_new - 1)
        self.since_checkpoint = 0

    def close(self) -> None:
        if self.wal is not None:
            self.wal.close()
