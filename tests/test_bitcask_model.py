"""Bitcask against a dict model (Hypothesis state machine): put, delete, reopen, merge, crash.

A crash abandons the object (no close, no hint, no sync) and then drops
unsynced bytes the way a power cut may: the active file is truncated at a
random point between what was last fsynced and what was written. The model
tracks the durable state (as of the last sync) plus the operations written
since, each with the file offset where its record ends, so after the crash it
knows exactly which prefix of them survived.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from storage.bitcask import Bitcask

pytestmark = pytest.mark.exercise("S5")

KEYS = st.sampled_from([b"a", b"b", b"c", b"dd", b"eee", b"\x00k", b"long-key" * 4])
VALUES = st.binary(max_size=60)
FILE_SIZE = 300  # tiny files: rotation, hints and merge get exercised constantly


class BitcaskMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="bitcask-model-")
        self.model: dict[bytes, bytes] = {}
        self.durable: dict[bytes, bytes] = {}
        # (key, value or None for a delete, end offset of its record in the active file)
        self.pending: list[tuple[bytes, bytes | None, int]] = []
        self.db: Bitcask | None = None
        self.sync = "never"

    @initialize(sync=st.sampled_from(["always", "never"]))
    def open_db(self, sync: str) -> None:
        self.sync = sync
        self._open()

    def _open(self) -> None:
        self.db = Bitcask.open(self.dir, max_file_size=FILE_SIZE, sync=self.sync)  # type: ignore[arg-type]
        self._all_durable()

    def _all_durable(self) -> None:
        self.durable = dict(self.model)
        self.pending = []

    def _written(
        self, key: bytes, value: bytes | None, before: dict[bytes, bytes], path: str
    ) -> None:
        db = self.db
        assert db is not None
        if db.synced_size == db.active_size:
            self._all_durable()
        elif db.active_path != path:  # rotated: the old file was fsynced first
            self.durable = before
            self.pending = [(key, value, db.active_size)]
        else:
            self.pending.append((key, value, db.active_size))

    @rule(key=KEYS, value=VALUES)
    def put(self, key: bytes, value: bytes) -> None:
        assert self.db is not None
        before, path = dict(self.model), self.db.active_path
        self.db.put(key, value)
        self.model[key] = value
        self._written(key, value, before, path)

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        assert self.db is not None
        before, path = dict(self.model), self.db.active_path
        existed = self.db.delete(key)
        assert existed == (key in self.model)
        if existed:
            del self.model[key]
            self._written(key, None, before, path)

    @rule()
    def reopen(self) -> None:
        assert self.db is not None
        self.db.close()
        self._open()

    @rule()
    def merge(self) -> None:
        assert self.db is not None
        self.db.merge()
        self._all_durable()  # merge seals (fsyncs) the active file first

    @rule()
    def sync_now(self) -> None:
        assert self.db is not None
        self.db.sync()
        self._all_durable()

    @rule(where=st.floats(0, 1))
    def crash(self, where: float) -> None:
        db = self.db
        assert db is not None
        synced, written, path = db.synced_size, db.active_size, db.active_path
        db.abandon()
        cut = synced + int(where * (written - synced))
        os.truncate(path, cut)  # the unsynced bytes past `cut` never reached the disk
        survived = dict(self.durable)
        for key, value, end in self.pending:
            if end > cut:
                break
            if value is None:
                survived.pop(key, None)
            else:
                survived[key] = value
        self.model = survived
        self._open()

    @invariant()
    def agrees_with_model(self) -> None:
        db = self.db
        if db is None:
            return
        assert sorted(db.keys()) == sorted(self.model)
        for key, value in self.model.items():
            assert db.get(key) == value

    def teardown(self) -> None:
        if self.db is not None:
            self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)


BitcaskMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_bitcask_against_dict_model = BitcaskMachine.TestCase
