"""How the cache ends: SHUTDOWN and SIGTERM/SIGINT, as Redis 7.0's ``finishShutdown``.

The steps, in Redis's order, all on the loop thread (nothing else runs meanwhile):
a forked BGSAVE or rewrite child is killed and its temp file removed; with the AOF
on, its buffer is written and fsynced; with save points configured (``save``), or
SAVE given, the snapshot is written (NOSAVE skips it). Then the files are closed,
the shell stops at once (``Server.stop_now``: no connection is read or answered
again, so no write is acknowledged after the final save) and the process exits 0.
The SHUTDOWN caller gets no reply: its connection just closes, which redis-cli and
redis-py take as success.

A failed step refuses: the caller gets Redis's ``-ERR Errors trying to SHUTDOWN.
Check logs.``, the log says why, and the server goes on serving, unless FORCE.
A signal goes the same way with ``shutdown-on-sigterm`` / ``shutdown-on-sigint``
(``default``: save if there are save points), and a refused one is logged and the
server goes on, as Redis does.

Where this differs from Redis, on purpose: an AOF that cannot be written or
fsynced refuses the shutdown (unless FORCE); Redis logs it and exits, dropping
acknowledged writes. A server started without ``--dir`` keeps nothing: its save
points (which only a client's CONFIG SET or a redis.conf gives it) are ignored at
the exit, logged, so SIGTERM still stops it; SHUTDOWN SAVE there fails (refused
unless FORCE).

What Redis has that this needs no code for: with replicas a shutdown first waits
up to ``shutdown-timeout`` seconds for them to catch up (NOW skips that) and
SHUTDOWN ABORT cancels that wait. This cache has no replicas, so a shutdown never
waits: ABORT always answers ``No shutdown in progress.`` and ``shutdown-timeout``
is kept for CONFIG GET only.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import State

log = logging.getLogger("servers.cache")

FAILED = b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
NOT_IN_PROGRESS = b"-ERR No shutdown in progress.\r\n"
# shutdown-on-sigterm / shutdown-on-sigint take these words, in Redis's order (CONFIG GET).
WORDS = ("default", "save", "nosave", "now", "force")
NOT_A_WORD = "argument(s) must be one of the following: " + ", ".join(WORDS)
BOTH = "shutdown options SAVE and NOSAVE can't be used simultaneously"
SIGNALS: dict[int, str] = {signal.SIGTERM: "sigterm", signal.SIGINT: "sigint"}


@dataclass(frozen=True)
class Flags:
    """SHUTDOWN's options (NOW only skips a wait for replicas: none here)."""

    save: bool = False
    nosave: bool = False
    now: bool = False
    force: bool = False


def parse_command(args: list[bytes]) -> tuple[Flags, bool] | None:
    """SHUTDOWN's arguments: (flags, ABORT given), or None for Redis's syntax error
    (an unknown word, NOSAVE with SAVE, ABORT with anything but ABORT)."""
    words = {w.lower() for w in args}
    if not words <= {b"nosave", b"save", b"now", b"force", b"abort"}:
        return None
    flags = Flags(b"save" in words, b"nosave" in words, b"now" in words, b"force" in words)
    abort = b"abort" in words
    if (abort and flags != Flags()) or (flags.save and flags.nosave):
        return None
    return flags, abort


def parse_config(text: str) -> Flags:
    """A shutdown-on-sigterm value (``save now``): ValueError with Redis's message."""
    from .commands.server import ConfigError

    words = text.lower().split()
    if not words or any(w not in WORDS for w in words):
        raise ConfigError(NOT_A_WORD)
    if "save" in words and "nosave" in words:
        raise ConfigError(BOTH)
    return Flags(*(w in words for w in WORDS[1:]))


def config_text(flags: Flags) -> str:
    """What CONFIG GET shows: the words set, in Redis's order, or ``default``."""
    on = [w for w in WORDS[1:] if getattr(flags, w)]
    return " ".join(on) if on else "default"


def shut_down(state: State, flags: Flags) -> bool:
    """Save what has to be saved and stop serving (True), or refuse (False, logged)."""
    log.warning("User requested shutdown...")
    if not _finish(state, flags):
        log.warning("Errors trying to shut down the server. Check the logs for more information.")
        return False
    if state.persistence is not None:
        try:  # (idempotent: the exit's close_files finds it closed)
            state.persistence.close()
        except OSError as e:  # (its fsync just succeeded: what is logged is on disk)
            log.warning("closing the AOF: %s", e)
    log.warning("the cache is now ready to exit, bye bye...")
    state.shut_down = True
    if state.shell is not None:
        state.shell.stop_now()
    return True


def _finish(state: State, flags: Flags) -> bool:
    p = state.persistence
    if p is not None:
        p.kill_child("shutting down")
        aof = p.aof
        if aof is not None:
            log.info("Calling fsync() on the AOF file.")
            try:
                aof.flush()
                aof.fsync_now()
            except OSError as e:
                if not flags.force:
                    log.warning("Fail to write or fsync the AOF file: %s, can't exit.", e)
                    return False
                log.warning("Fail to write or fsync the AOF file: %s. Exit anyway.", e)
    save_points = bool(state.extra_config.get("save", "").split()) and not flags.nosave
    if save_points and p is None and not flags.save:
        log.info("Not saving: the save points have nowhere to save (no --dir).")
    elif flags.save or save_points:
        log.info("Saving the final snapshot before exiting.")
        try:
            if p is None:
                raise OSError("persistence is off (no --dir): nowhere to save")
            p.save()
        except Exception as e:  # noqa: BLE001 - any failure to save refuses the exit
            if not flags.force:
                log.warning("Error trying to save the DB (%s), can't exit.", e)
                return False
            log.warning("Error trying to save the DB (%s). Exit anyway.", e)
        else:
            log.info("DB saved on disk")
    return True


def on_signal(state: State, signum: int) -> bool:
    """SIGTERM or SIGINT: shut down with ``shutdown-on-sig*``'s flags; False keeps serving."""
    name = SIGNALS.get(signum, "sigterm")
    log.warning("Received %s scheduling shutdown...", name.upper())
    return shut_down(state, state.shutdown_on[name])


__all__ = ["FAILED", "NOT_IN_PROGRESS", "Flags", "on_signal", "parse_command", "shut_down"]
