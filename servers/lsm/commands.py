"""The LSM store's commands on the respkit registry.

``s.db`` is the open ``storage.lsm.LSM``. Point reads and writes run on the
event loop (a memtable insert plus a WAL append; the fsync under ``--sync
always``). KEYS, DBSIZE and INFO walk the whole store through merged
iterators and COMPACT rewrites every table, so they run in a worker thread
(``answer_in_thread``): other connections keep being served meanwhile.

SCAN (its cursor is the next key itself, so every key present for the whole
iteration comes back exactly once) and the point commands are the engine
family's, from ``servers.respkit.kv``.
"""

from __future__ import annotations

from typing import Any

from netlib import resp
from servers.respkit import BASE, Registry
from servers.respkit.glob import compile_glob
from servers.respkit.kv import KV, info_text

REGISTRY = Registry(include=BASE)
# GET SET DEL EXISTS (a memtable or table lookup) and SCAN (one page of the merged scan)
# run on the loop, as for every engine on files.
REGISTRY.include(KV, names=["get", "set", "del", "exists", "scan"])
command = REGISTRY.command
NO = (0, 0, 0)


@command("KEYS", 2, "readonly", NO, "generic", syntax="pattern")
def keys(s: Any, args: list[bytes]) -> None:
    """Keys matching a glob pattern, in key order"""
    matches = compile_glob(args[1])
    s.answer_in_thread(lambda: [k for k, _ in s.db.scan() if matches(k)],
                       lambda ks: resp.bulks(ks, s.proto))  # fmt: skip


@command("DBSIZE", 1, "readonly", NO, "server")
def dbsize(s: Any, args: list[bytes]) -> None:
    """The number of live keys (a merged scan)"""
    s.answer_in_thread(lambda: len(s.db), resp.integer)


@command("INFO", -1, "", NO, "server", syntax="[section [section ...]]")
def info(s: Any, args: list[bytes]) -> None:
    """Server and LSM statistics: tables per level, write and space amplification"""
    state = s.state

    def text(stats: dict[str, Any]) -> bytes:
        lsm = {k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in stats.items()}
        sections = {"server": state.info_server(), "lsm": lsm,
                    "keyspace": {"db0": f"keys={stats['keys']},expires=0"}}  # fmt: skip
        wanted = [a.decode(errors="replace").lower() for a in args[1:]]
        return resp.verbatim(info_text(sections, wanted), s.proto)

    s.answer_in_thread(s.db.stats, text)


@command("COMPACT", 1, "write", NO, "server")
def compact(s: Any, args: list[bytes]) -> None:
    """Flush the memtable and merge every table into one sorted run"""

    def reply(r: dict[str, Any]) -> bytes:
        return resp.simple(
            "OK compacted {tables_before} tables ({bytes_before} bytes) into "
            "{tables_after} ({bytes_after} bytes)".format(**r)
        )

    s.answer_in_thread(s.db.compact, reply)
