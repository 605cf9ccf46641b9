"""One contract for every key-value engine on files, and a registry of them by name.

The contract (what ``tests/test_engine_contract.py`` checks for each engine,
and what ``bench/kv`` and ``python -m storage.check --repair`` rely on)::

    db = engines.open("bptree", path)      # creates the directory if needed
    db.put(key, value); db.get(key) -> bytes | None; db.delete(key) -> bool
    db.scan(start=None, end=None) -> iterator of (key, value), start <= key < end, in order
    len(db); db.close()                    # reopen finds everything put and not deleted

Opening a directory with a corrupt record or page raises
``storage.record.Corruption`` naming the file and offset; ``repair(path)``
(``storage.quarantine.RepairReport``) moves the damage aside. Engines are
registered as ``module:attribute`` strings and imported on first use, so an
engine whose room is not there (the LSM while it is built on its own branch)
is simply not ``available()``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.quarantine import Moved, RepairReport


@dataclass(frozen=True)
class Engine:
    name: str
    opener: str  # "module:callable", called as opener(path, **options)
    repairer: str  # "module:function", called as repairer(path) -> RepairReport
    markers: tuple[str, ...]  # file or directory names (or suffixes) that identify its directory
    module: str  # imported to tell whether the engine is there at all

    def open(self, path: str | os.PathLike[str], **options: Any) -> Any:
        return _resolve(self.opener)(os.fspath(path), **options)

    def repair(self, path: str | os.PathLike[str]) -> RepairReport:
        return as_report(self.name, _resolve(self.repairer)(os.fspath(path)))

    def owns(self, names: list[str]) -> bool:
        return any(n == m or (m.startswith(".") and n.endswith(m)) for n in names for m in self.markers)


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine("bitcask", "storage.bitcask:Bitcask.open", "storage.bitcask.repair:repair",
               (".data",), "storage.bitcask"),
        Engine("bptree", "storage.bptree:BPlusTree.open", "storage.bptree.check:repair",
               ("tree.db",), "storage.bptree"),
        Engine("lsm", "storage.lsm:open", "storage.lsm.repair:repair",
               ("MANIFEST", ".sst"), "storage.lsm"),
    )
}  # fmt: skip


def _resolve(target: str) -> Callable[..., Any]:
    module, attr = target.split(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def as_report(engine: str, result: Any) -> RepairReport:
    """An engine's repair result as a ``RepairReport`` (the LSM's repair answers a dict)."""
    if isinstance(result, RepairReport):
        return result
    path = result["path"]
    return RepairReport(
        path, engine,
        moved=[Moved(os.path.join(path, d["file"]), d["offset"], d["length"], "block")
               for d in result.get("damaged", [])],
        lost_keys=list(result.get("lost_keys", [])),
        unknown=[f"keys in {r}" for r in result.get("lost_ranges", [])],
        quarantine_file=result.get("quarantine"),
    )  # fmt: skip


def available() -> list[str]:
    """Names of the engines whose code is importable here."""
    out = []
    for e in ENGINES.values():
        try:
            importlib.import_module(e.module)
        except ImportError:
            continue
        out.append(e.name)
    return out


def get(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})") from None


def open(name: str, path: str | os.PathLike[str], **options: Any) -> Any:  # noqa: A001
    """Open engine ``name`` on ``path``. A ``module:callable`` instead of a name opens an
    engine that lives outside storage/ and keeps to the same contract (``servers.kvsql``,
    whose rows are in MariaDB: ``servers.kvsql.engine:open_dir``)."""
    if ":" in name:
        return _resolve(name)(os.fspath(path), **options)
    return get(name).open(path, **options)


def detect(path: str | os.PathLike[str]) -> Engine | None:
    """Which engine's files a directory holds (None if none)."""
    names = os.listdir(path)
    for e in ENGINES.values():
        if e.owns(names):
            return e
    return None
