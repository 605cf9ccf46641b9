"""The master's metadata, sans-IO: the namespace, file -> chunk handles, chunk
versions, and the operations that change them.

Everything here is what the operation log replays: ``apply(op)`` is the only
way state changes, both when a mutation is first made (after its log record is
durable) and at recovery. An op is a small list, msgpack-friendly::

    ["mkdir", path]                  ["create", path]
    ["add_chunk", path, handle]      ["version", handle, version]
    ["delete", path, hidden, ts]     ["purge", hidden]
    ["snapshot", src, dst]           ["cow", path, index, new_handle, version]

A snapshot (the paper's section 3.4) copies no data: the new files name the
same chunk handles, and a chunk named by more than one file is copied on its
next write (``cow``: the writer's file gets a fresh handle, made by each
chunkserver copying its replica locally). ``refs`` counts the names of each
handle, so purging a file frees only the chunks no other file names.

What is *not* here, as the paper says: which chunkservers hold a chunk. The
master asks the chunkservers (their heartbeats) instead of persisting it, so
the two can never disagree after a crash.

Paths are absolute, ``/``-separated, no empty or ``.``/``..`` parts.
A deleted file is renamed to a hidden name carrying its deletion time
(``/dir/.deleted.<ts>.name``) and reclaimed by garbage collection later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HIDDEN = ".deleted."
MAX_PATH = 1024


class PathError(ValueError):
    pass


def check_path(path: Any) -> str:
    """A normalised absolute path (one trailing ``/`` is dropped); ``PathError`` otherwise.
    The message quotes at most 80 characters of a bad path: an error line stays a line."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise PathError(f"{_quote(path)} is not an absolute path")
    if len(path) > MAX_PATH:
        raise PathError(f"{_quote(path)} is longer than {MAX_PATH} characters")
    if path == "/":
        return path
    body = path[1:-1] if path.endswith("/") else path[1:]
    parts = body.split("/")
    if any(p in ("", ".", "..") or "\0" in p for p in parts):
        raise PathError(f"{_quote(path)}: empty, '.' or '..' component")
    return "/" + "/".join(parts)


def _quote(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def ancestors(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/", "/a", "/a/b"]``."""
    out = ["/"]
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        out.append("/" + "/".join(parts[:i]))
    return out if path != "/" else []


@dataclass
class Meta:
    dirs: set[str] = field(default_factory=lambda: {"/"})
    files: dict[str, list[int]] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)  # handle -> version
    trash: dict[str, float] = field(default_factory=dict)  # hidden path -> deleted at
    next_handle: int = 1
    refs: dict[int, int] = field(default_factory=dict)  # handle -> files naming it (derived)

    def __post_init__(self) -> None:
        self.refs = {}
        for handles in self.files.values():
            for h in handles:
                self.refs[h] = self.refs.get(h, 0) + 1

    def _unref(self, h: int) -> None:
        self.refs[h] = self.refs.get(h, 1) - 1
        if self.refs[h] <= 0:
            del self.refs[h]
            self.versions.pop(h, None)

    def snapshot_pairs(self, src: str, dst: str) -> list[tuple[str, str]]:
        """(source file, new file) of a snapshot of a file or of a directory tree."""
        if src in self.files:
            return [(src, dst)]
        prefix = src.rstrip("/") + "/"
        return sorted((f, dst.rstrip("/") + "/" + f[len(prefix):]) for f in self.files
                      if f.startswith(prefix) and HIDDEN not in f)  # fmt: skip

    # -- applying ops ------------------------------------------------------------
    def apply(self, op: list[Any]) -> None:
        kind = op[0]
        if kind == "mkdir":
            self.dirs.add(op[1])
        elif kind == "create":
            self.files[op[1]] = []
        elif kind == "add_chunk":
            self.files[op[1]].append(op[2])
            self.versions[op[2]] = 1
            self.refs[op[2]] = 1
            self.next_handle = max(self.next_handle, op[2] + 1)
        elif kind == "version":
            self.versions[op[1]] = op[2]
        elif kind == "delete":
            self.files[op[2]] = self.files.pop(op[1])
            self.trash[op[2]] = op[3]
        elif kind == "purge":
            for h in self.files.pop(op[1], []):
                self._unref(h)
            self.trash.pop(op[1], None)
        elif kind == "snapshot":
            pairs = self.snapshot_pairs(op[1], op[2])
            if op[1] in self.dirs:
                pairs = [(op[1] + "/", op[2] + "/"), *pairs]  # the copy of the directory itself
            for src, dst in pairs:
                d = parent(dst)
                while d not in self.dirs:
                    self.dirs.add(d)
                    d = parent(d)
                if src.endswith("/"):
                    continue
                self.files[dst] = list(self.files[src])
                for h in self.files[dst]:
                    self.refs[h] = self.refs.get(h, 0) + 1
        elif kind == "cow":
            path, index, new, version = op[1:]
            self._unref(self.files[path][index])
            self.files[path][index] = new
            self.versions[new], self.refs[new] = version, 1
            self.next_handle = max(self.next_handle, new + 1)
        else:
            raise ValueError(f"unknown op {kind!r}")

    # -- questions ---------------------------------------------------------------
    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs

    def listing(self, path: str) -> list[dict[str, Any]]:
        prefix = path.rstrip("/") + "/"
        out = []
        for d in self.dirs:
            if d != path and d.startswith(prefix) and "/" not in d[len(prefix):]:
                out.append({"name": d[len(prefix):], "dir": True, "chunks": 0})
        for f, handles in self.files.items():
            name = f[len(prefix):]
            if f.startswith(prefix) and "/" not in name and not name.startswith(HIDDEN):
                out.append({"name": name, "dir": False, "chunks": len(handles)})
        return sorted(out, key=lambda e: e["name"])

    def hidden_name(self, path: str, ts: float) -> str:
        return f"{parent(path).rstrip('/')}/{HIDDEN}{ts:.6f}.{path.rsplit('/', 1)[1]}"

    # -- checkpoints -------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:  # the checkpoint's (not a GFS snapshot)
        return {"dirs": sorted(self.dirs), "files": self.files, "versions": self.versions,
                "trash": self.trash, "next_handle": self.next_handle}  # fmt: skip

    @classmethod
    def from_snapshot(cls, s: dict[str, Any]) -> Meta:
        return cls(set(s["dirs"]), {k: list(v) for k, v in s["files"].items()},
                   {int(k): v for k, v in s["versions"].items()}, dict(s["trash"]), s["next_handle"])  # fmt: skip


class PathLocks:
    """Per-path read/write locks, taken as the paper says: a mutation of ``/a/b/c``
    read-locks ``/``, ``/a``, ``/a/b`` and write-locks ``/a/b/c``. Creating
    ``/home/u/f`` while ``/home/u`` is being snapshotted or deleted thus waits,
    and two creations in one directory run at once. An operation takes all its locks
    or none (never holding some while waiting for others), so two operations
    never deadlock; an entry is dropped once nobody holds it, so the table stays
    as small as the work.

    Sans-IO: ``try_acquire``/``release`` on plain counters; the master's asyncio
    side waits on a condition between attempts (``servers.gfs.master``).
    """

    def __init__(self) -> None:
        self.readers: dict[str, int] = {}
        self.writers: set[str] = set()

    @staticmethod
    def plan(path: str, write: bool) -> list[tuple[str, bool]]:
        want = [(a, False) for a in ancestors(path)] + [(path, write)]
        return sorted(want, key=lambda pw: (pw[0].count("/") if pw[0] != "/" else 0, pw[0]))

    def try_acquire(self, plan: list[tuple[str, bool]]) -> bool:
        for p, write in plan:
            if p in self.writers or (write and self.readers.get(p, 0)):
                return False
        for p, write in plan:
            if write:
                self.writers.add(p)
            else:
                self.readers[p] = self.readers.get(p, 0) + 1
        return True

    def release(self, plan: list[tuple[str, bool]]) -> None:
        for p, write in plan:
            if write:
                self.writers.discard(p)
            else:
                self.readers[p] -= 1
                if not self.readers[p]:
                    del self.readers[p]
