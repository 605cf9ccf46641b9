"""The cache's persistence controller: what to log, when to write, the forked children.

``persist.py`` knows the files; this knows the server: it is the
``write_log`` the observer calls after each write command, the ``sync`` the
session calls before a batch's replies go out, the cron's check on forked
children and on the ``save`` points (``poll``: ``save 60 1000`` starts a BGSAVE
once 1,000 writes and more than 60 s have passed since the last save, as
Redis's serverCron), and the loading at start (AOF if there is a manifest,
else the snapshot; AOF files holding writes without a manifest refuse the start).
No child is forked inside EXEC or while a slow script runs: the request is
scheduled and started by the cron, as Redis does. See ``persist``'s docstring
for the formats and the guarantees.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlib.resp import encode_command

from . import persist
from .persist import Aof, AofFile, CorruptFile

if TYPE_CHECKING:
    from .server import State

log = logging.getLogger("servers.cache.persist")

# Logged as the state of the keys they name, not as sent (their effect is not a
# function of their arguments: randomness, time, or a later push serving them).
EFFECTS = frozenset({
    "spop", "blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax",
    "bzmpop", "xreadgroup", "xclaim", "xautoclaim",
})  # fmt: skip
# Not logged: their writes are (scripts run commands through the session).
NOT_LOGGED = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro",
                        "exec", "multi", "script", "function"})  # fmt: skip
# Followed by PEXPIREAT (or DEL) of their key: a relative TTL must not restart at replay.
TTL_COMMANDS = frozenset({"expire", "pexpire", "setex", "psetex", "set", "getex", "restore"})
# Of those, the ones whose calls in a run (``Command.many``) are logged as they are: a
# run's SET has no option (servers/cache/runs.py takes SET key value only), so it leaves
# its key with a value and no TTL, and ``write_log`` adds nothing after it.
TTL_FREE_IN_RUNS = frozenset({"set"})


def logged_as_sent(cmd: Any) -> bool:
    """Whether ``write_log`` logs a run's calls of ``cmd`` as the calls themselves (a write
    command logged as sent) or not at all (a read): then a run of them may be logged in
    one go (``Persistence.log_calls``/``log_wire``). Not the commands logged as their
    effects, XADD (its ``*`` replaced), those followed by a TTL, nor those not logged."""
    name = cmd.name
    if "write" not in cmd.flags:
        return not cmd.subcommands  # (a container's subcommands may write: XGROUP)
    if name in EFFECTS or name in NOT_LOGGED or name == "xadd":
        return False
    return name not in TTL_COMMANDS or name in TTL_FREE_IN_RUNS


# Seconds before a save point tries again after a failed BGSAVE (Redis's
# CONFIG_BGSAVE_RETRY_DELAY).
BGSAVE_RETRY_DELAY = 5


class Persistence:
    def __init__(self, state: State, directory: Path, appendonly: bool, policy: str,
                 dirname: str = "appendonlydir", dbfilename: str = "dump.sdb") -> None:  # fmt: skip
        self.state = state
        self.dir = directory
        self.dirname = dirname
        self.dbfilename = dbfilename
        self.policy = policy
        self.appendonly = appendonly
        self.aof: Aof | None = None
        self.child: tuple[int, str, Any] | None = None  # (pid, "rewrite"|"save", context)
        self.lastsave = int(time.time())
        self.last_bgsave_ok = True
        self.last_bgsave_try = 0.0  # when a BGSAVE last started (a failed one is retried after 5 s)
        self.last_rewrite_ok = True
        self.rewrites = 0
        # BGREWRITEAOF during a BGSAVE, BGSAVE SCHEDULE during a rewrite: started by the
        # cron once the running child is done (Redis's aof_rewrite_scheduled and
        # rdb_bgsave_scheduled).
        self.rewrite_scheduled = False
        self.save_scheduled = False
        # The keyspace's ``dirty`` (Redis's server.dirty) at the last snapshot: INFO's
        # rdb_changes_since_last_save is the difference. Counting it from the keyspace,
        # not per command, lets the AOF-off server leave single calls unobserved (runs).
        self.dirty_at_save = state.keyspace.dirty
        self.waiting: list[Any] = []  # sessions whose replies wait for the loop turn's write
        self.write_error: OSError | None = None  # the last AOF write failed: writes refused
        self.commit_scheduled = False
        # The commands whose runs the session may take while the AOF is on (``RunLog``):
        # those with a run handler whose calls are logged as sent (or not at all).
        self.runs = frozenset(c.name for c in state.registry if c.many and logged_as_sent(c))

    @property
    def aof_dir(self) -> Path:
        return self.dir / self.dirname

    @property
    def snapshot_path(self) -> Path:
        return self.dir / self.dbfilename

    # -- start ---------------------------------------------------------------------------------
    def load(self) -> None:
        """At start: the AOF if it exists (appendonly yes), else the snapshot; then open the AOF."""
        manifest = self.aof_dir / persist.MANIFEST
        if self.appendonly and manifest.exists():
            files, parts = persist.load_aof(self.aof_dir)
            n = sum(self._replay(p) for p in parts)
            log.info("AOF loaded: %d commands from %d files", n, len(files))
            self.aof = Aof(self.aof_dir, self.policy)
            self.aof.files = files
            self._remove_unlisted(files)  # what a crashed rewrite left behind
            incrs = [f for f in files if f.kind == "i"]
            if incrs:
                last = incrs[-1]
                self.aof.open_existing(last, persist.read_seed(self.aof_dir / last.name))
            else:
                self.aof.open_incr()
            self.aof.start_fsync_thread()
        else:
            if self.appendonly:
                self._refuse_orphans()
            if self.snapshot_path.exists():
                cmds = persist.load_dataset_file(self.snapshot_path)
                log.info("snapshot %s loaded: %d commands", self.snapshot_path, self._replay(cmds))
            if self.appendonly:
                self.create_aof()
        self.state.observer.reset()
        self.state.commands_processed = 0
        self.dirty_at_save = self.state.keyspace.dirty  # (what was loaded is saved)
        self._observe_writes()

    def _refuse_orphans(self) -> None:
        """No manifest, but AOF files holding writes: a manifest deleted or lost. Starting
        would write a new base over their names and delete the rest as leftovers (Redis
        7.0 starts empty and overwrites its base): refuse, files untouched.

        Not what a crash inside ``create_aof`` leaves (the new base, an incr file no write
        reached: writes go to an incr file only once a manifest names it): that base is
        the snapshot's dataset, or an empty one, or what CONFIG SET appendonly yes found
        in memory (refused when there is no snapshot: it may be the only copy)."""
        if not self.aof_dir.is_dir():
            return
        snapshot = self.snapshot_path.exists()
        held = sorted(
            p.name
            for p in self.aof_dir.glob("appendonly.aof.*.aof")
            if p.is_file()
            and (p.name.endswith(".incr.aof") or not snapshot)
            and persist.holds_writes(p)
        )
        if held:
            raise CorruptFile(
                f"{self.dirname} holds {', '.join(held)} but no {persist.MANIFEST}: not "
                f"starting over them (restore the manifest, or move the files away)"
            )

    def _replay(self, cmds: list[list[bytes]]) -> int:
        from .client import Client

        c = Client(self.state, _Nowhere())  # type: ignore[arg-type]
        self.state.clients.pop(c.id, None)
        self.state.connections_received -= 1
        ks = self.state.keyspace
        ks.loading = True  # nothing expires while the log is replayed (``Keyspace.loading``)
        try:
            return persist.replay(cmds, c.call, persist.put_value_into(lambda: c.db))
        finally:
            ks.loading = False
            c.closed()

    def create_aof(self) -> None:
        """A new AOF from the dataset in memory (at start, or CONFIG SET appendonly yes)."""
        self.aof_dir.mkdir(parents=True, exist_ok=True)
        aof = Aof(self.aof_dir, self.policy)
        try:  # only to number the new base past the old one's
            old = persist.read_manifest(aof.manifest) if aof.manifest.exists() else []
        except CorruptFile:
            old = []
        aof.files = old
        base = aof.new_file("b")
        aof.base_size = persist.write_dataset(
            self.aof_dir / base.name, self.state.keyspace, libraries=self.libraries()
        )
        aof.files = [base]
        aof.open_incr(after=max((f.seq for f in old if f.kind == "i"), default=0), avoid=old)
        self._remove_unlisted(aof.files)
        aof.start_fsync_thread()
        self.aof = aof

    # -- the hooks ------------------------------------------------------------------------------
    def write_log(self, c: Any, cmd: Any, args: list[bytes], reply: bytes) -> None:
        """After a command: log it (or its effects) if it wrote and succeeded."""
        cmd = cmd.called(args)  # XGROUP CREATE, FUNCTION LOAD: the subcommand's flags
        if reply[:1] == b"-" or "write" not in cmd.flags:
            return
        name = cmd.name
        aof = self.aof
        if aof is None or name in NOT_LOGGED:
            return
        if name in EFFECTS:
            self.log_effects(c.db, args[1:])
        elif name == "xadd":
            aof.feed(c.db.index, _xadd_with_id(args, reply))
        else:
            aof.feed(c.db.index, args)
            if name in TTL_COMMANDS and len(args) > 1:
                key = args[1]
                exp = c.db.expires.get(key)
                if c.db.peek(key) is None:
                    aof.feed(c.db.index, [b"DEL", key])  # a TTL already past deleted it
                elif exp is not None:
                    aof.feed(c.db.index, [b"PEXPIREAT", key, b"%d" % exp])
        self.state.unsynced = True

    def log_calls(self, c: Any, cmd: Any, calls: list[list[bytes]]) -> None:
        """A run of calls of ``cmd`` (one of ``runs``) ran: log them together, as
        ``write_log`` logs each (the ``RunLog`` of the session loop): their RESP, as
        ``log_wire`` takes a grid's (a read's run is not encoded)."""
        if self.aof is not None and "write" in cmd.flags:
            self.log_wire(c, cmd, b"".join([encode_command(*args) for args in calls]))

    def log_wire(self, c: Any, cmd: Any, wire: bytes) -> None:
        """A grid of calls of ``cmd`` ran: ``wire`` is their canonical RESP as it arrived
        (what ``encode_command`` writes for each, which ``write_log`` would have logged)."""
        aof = self.aof
        if aof is not None and "write" in cmd.flags:
            aof.feed_wire(c.db.index, wire)
            self.state.unsynced = True

    def log_effects(self, db: Any, keys: list[bytes]) -> None:
        assert self.aof is not None
        for key in dict.fromkeys(keys):
            if db.peek(key) is not None or key in db.data:
                for cmd in persist.key_commands(db, key):
                    self.aof.feed(db.index, cmd)
            else:
                self.aof.feed(db.index, [b"DEL", key])

    def served(self, c: Any, args: list[bytes]) -> None:
        """A blocked command (BLPOP...) was served by a later write: log its keys' state."""
        if self.aof is not None and args:
            self.log_effects(c.db, args[1:])
            self.state.unsynced = True

    def expired(self, db: Any, key: bytes) -> None:
        """``key`` expired (a lookup found it past its TTL, or the cron): log its DEL where
        it happened, as Redis does, so the log replays without the clock (``loading``)."""
        if self.aof is not None:
            self.aof.feed(db.index, [b"DEL", key])
            self.state.unsynced = True

    def evicted(self, db: Any, key: bytes) -> None:
        """maxmemory evicted ``key``: log its DEL (written with the batch, or by the cron)."""
        if self.aof is not None:
            self.aof.feed(db.index, [b"DEL", key])
            self.state.unsynced = True

    def sync(self, session: Any) -> None:
        """Before a batch's replies go out: its log bytes are written first, once per loop
        turn for every session served in it (Redis writes its AOF buffer once per event loop
        iteration, before sleeping), and under ``always`` fsynced too: the replies wait in
        ``session.held`` until ``group_commit`` has written (a group commit)."""
        self.state.unsynced = False
        aof = self.aof
        if aof is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (loading, tests driving a session by hand)
            self.write_aof()
            if aof.policy == "always":
                aof.fsync_now()
            return
        if session.held is None:
            session.held = []
            self.waiting.append(session)
        if not self.commit_scheduled:
            self.commit_scheduled = True
            loop.call_soon(self.group_commit)

    def group_commit(self) -> None:
        """Write (and under ``always`` fsync) the loop turn's log, then send the held replies."""
        self.commit_scheduled = False
        aof = self.aof
        if aof is not None and self.write_aof() and aof.policy == "always":
            try:
                aof.fsync_now()
            except OSError as e:  # as Redis: the replies must not go out
                log.critical("can't fsync the AOF (%s) under appendfsync always: exiting", e)
                os._exit(1)
        waiting, self.waiting = self.waiting, []
        for s in waiting:
            s.release()

    def write_aof(self) -> bool:
        """Write the AOF buffer; on failure keep it to retry and refuse writes (MISCONF).

        As Redis: under ``always`` a failed write ends the server (the replies must
        not go out; a restart loads what was logged); otherwise the commands already
        run are answered, and every later write command (and PING) is refused with
        ``-MISCONF Errors writing to the AOF file: ...`` until a retry succeeds
        (each batch that writes, and the cron ``hz`` times a second).
        """
        aof = self.aof
        assert aof is not None
        try:
            aof.flush()
        except OSError as e:
            if aof.policy == "always":
                log.critical("can't write the AOF (%s) under appendfsync always: exiting", e)
                os._exit(1)
            if self.write_error is None:
                log.error("can't write the AOF (%s): refusing writes until it can", e)
            self.write_error = e
            self._refuse()
            return False
        if self.write_error is not None:
            log.warning("AOF write error looks solved: accepting writes again")
            self.write_error = None
            self._refuse()
        return True

    def _refuse(self) -> None:
        """Set ``state.misconf`` from the last write's and the fsync thread's outcome."""
        aof = self.aof
        e = None if aof is None else self.write_error or aof.fsync_error
        misconf = None
        if e is not None:
            why = e.strerror or str(e)
            misconf = f"-MISCONF Errors writing to the AOF file: {why}\r\n".encode()
        if misconf != self.state.misconf:
            self.state.misconf = misconf
            for client in self.state.clients.values():  # the check runs on guarded clients
                client.update_guard()

    # -- forked children ------------------------------------------------------------------------------
    def bgrewrite(self) -> str | None:
        """Start a rewrite; an error message when one cannot start (Redis's, when the AOF
        directory cannot take the new files: the failure is logged and INFO says err)."""
        if self.child is not None:
            return "Background append only file rewriting already in progress" if (
                self.child[1] == "rewrite") else "Background save in progress"  # fmt: skip
        try:
            self._start_rewrite()
        except OSError as e:  # the directory gone or full, no fork possible
            log.error("can't start an AOF rewrite in %s: %s", self.aof_dir, e)
            self.last_rewrite_ok = False
            return (
                "Can't execute an AOF background rewriting. "
                "Please check the server logs for more information."
            )
        return None

    def _start_rewrite(self) -> None:
        if self.aof is None:  # appendonly no: the files are written, the AOF stays off (Redis)
            self.aof_dir.mkdir(parents=True, exist_ok=True)
            self.create_aof()  # writing its base is the rewrite
            assert self.aof is not None
            self.aof.close()
            self.aof = None
            self.rewrites += 1
            return
        aof = self.aof
        aof.flush()
        old_files = list(aof.files)
        new_incr = aof.open_incr()  # writes from now on go there; the manifest lists old + new
        base = aof.new_file("b")
        alive = _parent_alive(os.getpid())  # evaluated here, in the parent
        libs = self.libraries()
        pid = self._fork(lambda: persist.write_dataset(
            self.aof_dir / base.name, self.state.keyspace, alive, libs))  # fmt: skip
        self.child = (pid, "rewrite", (base, new_incr, old_files))
        log.info("background AOF rewrite started by pid %d", pid)

    def bgsave(self) -> str | None:
        if self.child is not None:
            return "Background save already in progress" if self.child[1] == "save" else (
                "Background append only file rewriting in progress")  # fmt: skip
        path = self.snapshot_path
        alive = _parent_alive(os.getpid())
        libs = self.libraries()
        self.last_bgsave_try = time.time()
        pid = self._fork(lambda: persist.write_dataset(path, self.state.keyspace, alive, libs))
        self.child = (pid, "save", self.state.keyspace.dirty)
        log.info("background saving started by pid %d", pid)
        return None

    def save(self) -> None:
        persist.write_dataset(self.snapshot_path, self.state.keyspace, libraries=self.libraries())
        self.lastsave = int(time.time())
        self.dirty_at_save = self.state.keyspace.dirty
        self.last_bgsave_ok = True

    def libraries(self) -> list[bytes]:
        """The FUNCTION libraries' codes: a base or snapshot file loads them first, as
        Redis's RDB and AOF rewrite keep functions beside the keys."""
        engine = self.state.scripting
        return [lib.code for lib in engine.libraries.values()] if engine is not None else []

    def _fork(self, work: Any) -> int:
        pid = os.fork()
        if pid == 0:  # the child: write the dataset as it was at the fork, and leave
            status = 0
            try:
                work()
            except BaseException:  # noqa: BLE001 - the child reports by its exit status
                status = 1
            os._exit(status)
        return pid

    def poll(self) -> None:
        """Cron: has the child finished? Then finish its job (the new manifest, the save time)."""
        aof = self.aof
        if aof is not None and (self.state.unsynced or self.write_error is not None):
            self.state.unsynced = False  # outside a batch (cron eviction), or a retry
            self.write_aof()
        if aof is not None:
            self._refuse()  # the fsync thread may have failed, or succeeded again
        if self.child is None:
            self._start_scheduled()  # (if a script held it back)
            if self.child is None:
                self._save_points()
            return
        pid, kind, ctx = self.child
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            return
        self.child = None
        try:
            self._child_done(kind, ctx, os.waitstatus_to_exitcode(status) == 0)
        finally:
            self._start_scheduled()

    def _start_scheduled(self) -> None:
        """The job a client asked for while the finished child ran (the rewrite first).

        Not while a script past busy-reply-threshold runs (the cron goes on meanwhile):
        a fork then copied the keyspace with half of the script's writes, and the new
        incr file got all of them (``Aof.hold``): replayed twice after a restart. Redis
        does not fork while a script runs either (its serverCron waits)."""
        if self.state.busy_script is not None:
            return
        if self.rewrite_scheduled:
            self.rewrite_scheduled = False
            self.bgrewrite()  # (a failure to start is logged and shown by INFO)
        elif self.save_scheduled:
            self.save_scheduled = False
            try:
                self.bgsave()
            except OSError as e:  # no fork possible
                log.error("can't start the scheduled BGSAVE: %s", e)
                self.last_bgsave_ok = False

    def _save_points(self) -> None:
        """The ``save`` points, as Redis's serverCron: the first ``seconds changes`` pair
        with at least ``changes`` writes since the last save and more than ``seconds``
        since it starts a BGSAVE (a failed one is tried again 5 s later at the soonest)."""
        words = self.state.extra_config.get("save", "").split()
        if not words or self.state.busy_script is not None:
            return
        changes = self.state.keyspace.dirty - self.dirty_at_save
        now = time.time()
        if not self.last_bgsave_ok and now - self.last_bgsave_try <= BGSAVE_RETRY_DELAY:
            return
        for seconds, needed in zip(map(int, words[::2]), map(int, words[1::2]), strict=True):
            if changes >= needed and now - self.lastsave > seconds:
                log.info("%d changes in %d seconds. Saving...", needed, seconds)
                try:
                    self.bgsave()
                except OSError as e:  # no fork possible
                    log.error("can't start the BGSAVE of a save point: %s", e)
                    self.last_bgsave_ok = False
                    self.last_bgsave_try = now
                return

    def _child_done(self, kind: str, ctx: Any, ok: bool) -> None:
        if kind == "save":
            self.last_bgsave_ok = ok
            if ok:
                self.lastsave = int(time.time())
                self.dirty_at_save = ctx  # (the dataset at the fork is saved)
            log.info("background saving %s", "terminated with success" if ok else "failed")
            return
        base, new_incr, old_files = ctx
        self.last_rewrite_ok = ok
        if not ok or self.aof is None:
            log.error("background AOF rewrite failed; the AOF stays as it was")
            return
        aof = self.aof
        keep_incrs = [f for f in aof.files if f.kind == "i" and f.seq >= new_incr.seq]
        try:
            aof.write_manifest([base, *keep_incrs])
        except OSError as e:  # a full disk: the old files and the new incr file stay listed
            log.error("background AOF rewrite failed: can't write the new manifest: %s", e)
            self.last_rewrite_ok = False
            self._remove_unlisted(aof.files)  # the new base, the manifest's temp file
            return
        aof.base_size = (self.aof_dir / base.name).stat().st_size
        self._remove_unlisted(aof.files)
        self.rewrites += 1
        log.info("background AOF rewrite finished: base %s, %d bytes", base.name, aof.base_size)

    def _kill_rewrite(self, files: list[AofFile]) -> None:
        """The AOF was turned off: its rewrite is moot (Redis's killAppendOnlyChild). Left
        running, a CONFIG SET appendonly yes could see the child rename its older dataset
        over the new base; its temp file goes with it."""
        if self.child is not None and self.child[1] == "rewrite":
            self.kill_child("the AOF is off", files)

    def kill_child(self, why: str, files: list[AofFile] | None = None) -> None:
        """End the forked child now (SIGKILL), and remove its temp file: a BGSAVE's
        ``temp-PID-dump.sdb``, a rewrite's new base (any file ``files``, else the AOF's
        manifest, does not list). The manifest already names the rewrite's new incr file
        after the old ones, so the AOF stays whole. SHUTDOWN kills either, as Redis
        (a BGSAVE child finishing late would rename an older dataset over the final save)."""
        if self.child is None:
            return
        pid, kind, _ = self.child
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        self.child = None
        log.info(
            "%s child %d killed: %s", "AOF rewrite" if kind == "rewrite" else "BGSAVE", pid, why
        )
        if kind == "save":  # (INFO's last status unchanged: Redis's SIGUSR1 kill leaves it)
            (self.dir / f"temp-{pid}-{self.dbfilename}").unlink(missing_ok=True)
        elif files is not None or self.aof is not None:
            self._remove_unlisted(files if files is not None else self.aof.files)  # type: ignore[union-attr]

    def _remove_unlisted(self, files: list[AofFile]) -> None:
        """Delete the AOF directory's files the manifest no longer names (and temp files)."""
        keep = {f.name for f in files} | {persist.MANIFEST}
        for p in self.aof_dir.iterdir():
            if p.name not in keep and p.name.startswith(("appendonly.aof.", "temp-")):
                try:
                    p.unlink()
                except OSError as e:  # pragma: no cover
                    log.warning("cannot remove %s: %s", p, e)

    def set_appendonly(self, on: bool) -> None:
        if on and self.aof is None:
            self.create_aof()  # (an OSError leaves the AOF off)
            self.appendonly = True
        elif not on and self.aof is not None:
            files = self.aof.files
            self.aof.close()
            self.aof = None
            self.appendonly = False
            self.rewrite_scheduled = False
            self._kill_rewrite(files)
            self.write_error = None
            self._refuse()  # no AOF: nothing refuses writes
        self._observe_writes()

    def _observe_writes(self) -> None:
        """The observer calls ``write_log`` after every command while there is an AOF to
        feed; without one nothing needs single calls (the session loop may run runs)."""
        observer = self.state.observer
        observer.write_log = self.write_log if self.aof is not None else None
        self.state.keyspace.on_expire = self.expired if self.aof is not None else None
        self.state.policy_changed()

    def set_policy(self, policy: str) -> None:
        if policy not in persist.POLICIES:
            raise ValueError(policy)
        self.policy = policy
        if self.aof is not None:
            self.aof.policy = policy

    def close(self) -> None:
        if self.aof is not None:
            self.aof.close()

    def info(self) -> dict[str, Any]:
        aof = self.aof
        return {
            "loading": 0,
            "rdb_changes_since_last_save": self.state.keyspace.dirty - self.dirty_at_save,
            "rdb_bgsave_in_progress": int(self.child is not None and self.child[1] == "save"),
            "rdb_last_save_time": self.lastsave,
            "rdb_last_bgsave_status": "ok" if self.last_bgsave_ok else "err",
            "aof_enabled": int(aof is not None),
            "aof_rewrite_in_progress": int(self.child is not None and self.child[1] == "rewrite"),
            "aof_rewrite_scheduled": int(self.rewrite_scheduled),
            "aof_rewrites": self.rewrites,
            "aof_last_bgrewrite_status": "ok" if self.last_rewrite_ok else "err",
            "aof_last_write_status": "ok" if self.state.misconf is None else "err",
            "aof_current_size": (aof.base_size + aof.size) if aof else 0,
            "aof_base_size": aof.base_size if aof else 0,
            "aof_fsync_policy": self.policy,
            "aof_fsyncs": aof.fsyncs if aof else 0,
            "aof_last_fsync_time": round(aof.last_fsync, 3) if aof else 0,
        }


def _parent_alive(parent: int) -> Any:
    """For a forked child: is the server that forked it still its parent?"""
    return lambda: os.getppid() == parent


def _xadd_with_id(args: list[bytes], reply: bytes) -> list[bytes]:
    """XADD with its ``*`` (or ``ms-*``) replaced by the ID the reply names."""
    i = 2
    n = len(args)
    while i < n:
        w = args[i].upper()
        if w == b"NOMKSTREAM":
            i += 1
        elif w in (b"MAXLEN", b"MINID"):
            i += 2 if i + 1 < n and args[i + 1] not in (b"=", b"~") else 3
        elif w == b"LIMIT":
            i += 2
        else:
            break
    if i < n and args[i].endswith(b"*") and reply[:1] == b"$":
        new_id = reply.split(b"\r\n")[1]
        return args[:i] + [new_id] + args[i + 1 :]
    return args


class _Nowhere:
    """The connection of the replaying session: replies go nowhere."""

    peer = "aof"
    sockname: tuple[Any, ...] = ()
    stopping = False
    closed = False
    log = log

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    abort = close

    def write_eof(self) -> None:
        pass

    def set_deadline(self, seconds: float | None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def write_buffer_size(self) -> int:
        return 0

    def set_write_high_water(self, high: int) -> None:
        pass


__all__ = ["CorruptFile", "Persistence"]
