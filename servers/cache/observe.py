"""What the cache records about the commands it runs: INFO commandstats and errorstats,
SLOWLOG, LATENCY, and the MONITOR feed.

Strategy. The session loop times every command (one ``perf_counter`` call
each) and counts a run of ordinary calls of one command at once
(``Observer.count``: one dict lookup and two additions per run). A call goes
to ``Observer.observe`` on its own when it is not ordinary: an error reply,
slower than the slow log's or the latency monitor's threshold, a container
(``config|get``), or while a monitor is connected or the AOF is on
(``State.observe_every``). Everything else happens only when a threshold is
crossed or a monitor is connected.

* commandstats: per full command name (``get``, ``config|get``): calls,
  seconds, rejected calls (refused before running: NOPERM, NOAUTH, a wrong
  arity) and failed calls (ran and answered an error), as Redis 7 counts them.
* errorstats: replies counted by their error code (``ERR``, ``WRONGTYPE``).
  An error a command met inside a script counts once, there (with the
  command's failed or rejected call); the script's reply carrying it on
  counts as a failed EVAL but not again as an error (the client's
  ``error_counted``), as Redis 7's ``ignore_error_stats_update`` does.
* SLOWLOG: commands slower than ``slowlog-log-slower-than`` microseconds
  (negative: off, 0: every command), the newest ``slowlog-max-len`` kept;
  arguments trimmed as Redis does (32 arguments, 128 bytes each).
* LATENCY: with ``latency-monitor-threshold`` > 0 ms, each command that took
  at least that long is an event sample (``command``, or ``fast-command``
  for a @fast one); per event the latest, the all-time max and up to 160
  one-per-second samples, as Redis's latency monitor keeps.
* MONITOR: every command but the admin ones, after it ran, to each monitor,
  in Redis's line format, AUTH and HELLO passwords redacted.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .acl import categories

SLOWLOG_DEFAULT_US = 10_000  # Redis's slowlog-log-slower-than
SLOWLOG_DEFAULT_LEN = 128  # slowlog-max-len
SLOWLOG_MAX_ARGS = 32
SLOWLOG_MAX_STRING = 128
LATENCY_SAMPLES = 160  # LATENCY_TS_LEN
# Never in the slow log nor MONITOR's feed with their arguments (passwords).
REDACTED = frozenset({"auth", "hello", "acl|setuser"})
# Never in the slow log: EXEC, as Redis's skip_slowlog (what it ran is not logged either).
# AUTH and HELLO are, their credentials redacted (Redis 7.0 logs them so).
_NO_SLOWLOG = frozenset({"exec"})


def _repr_arg(b: bytes) -> str:
    """An argument as Redis's sdscatrepr quotes it: "..." with C escapes."""
    out = ['"']
    for ch in b:
        if ch in (0x22, 0x5C):
            out.append("\\" + chr(ch))
        elif ch == 10:
            out.append("\\n")
        elif ch == 13:
            out.append("\\r")
        elif ch == 9:
            out.append("\\t")
        elif ch == 7:
            out.append("\\a")
        elif ch == 8:
            out.append("\\b")
        elif 32 <= ch < 127:
            out.append(chr(ch))
        else:
            out.append(f"\\x{ch:02x}")
    out.append('"')
    return "".join(out)


# CONFIG SET parameters whose value is a secret (Redis's SENSITIVE_CONFIG).
SENSITIVE_CONFIG = frozenset({b"requirepass", b"masterauth", b"masteruser"})


def redact(name: str, args: list[bytes]) -> list[bytes]:
    """``args`` as SLOWLOG and MONITOR may show them (``name``: the full command name):
    AUTH's and HELLO AUTH's credentials, every ACL SETUSER word, CONFIG SET's secrets."""
    if name == "auth":
        return [args[0]] + [b"(redacted)"] * (len(args) - 1)
    if name == "acl|setuser":
        return args[:2] + [b"(redacted)"] * (len(args) - 2)
    if name == "config|set":
        out = list(args)
        for i in range(2, len(out) - 1, 2):
            if out[i].lower() in SENSITIVE_CONFIG:
                out[i + 1] = b"(redacted)"
        return out
    if name == "hello":
        out = list(args)
        for i in range(2, len(out) - 2):
            if out[i].upper() == b"AUTH":
                out[i + 1] = out[i + 2] = b"(redacted)"
        return out
    return args


@dataclass(slots=True)
class CommandStats:
    calls: int = 0
    seconds: float = 0.0
    rejected: int = 0
    failed: int = 0


@dataclass
class LatencyEvent:
    latest: int = 0  # ms
    max: int = 0
    samples: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))


class Observer:
    """The counters and logs; ``observe`` is the session loop's per-command hook."""

    def __init__(self) -> None:
        self.commands: dict[str, CommandStats] = {}
        self.errors: dict[str, int] = {}
        self.error_replies = 0
        self.slowlog: deque[list[Any]] = deque(maxlen=SLOWLOG_DEFAULT_LEN)
        self.slowlog_ids = 0
        self.slower_than = SLOWLOG_DEFAULT_US / 1e6  # seconds; inf when off
        self.slower_than_us = SLOWLOG_DEFAULT_US
        self.latency_threshold_ms = 0
        self.latency_threshold = float("inf")  # seconds
        self.latency: dict[str, LatencyEvent] = {}
        self.monitors: set[Any] = set()
        # INFO latencystats (CONFIG latency-tracking, latency-tracking-info-percentiles)
        self.latency_tracking = True
        self.percentiles: list[float] = [50.0, 99.0, 99.9]
        # The AOF's hook (servers.cache.saving), set while persistence is on.
        self.write_log: Any = None
        # Called when what the session loop reads of this changes (monitors, thresholds):
        # the state's ``policy_changed``.
        self.changed: Callable[[], None] = lambda: None

    # -- settings (CONFIG SET) -----------------------------------------------------------
    def set_slowlog_threshold(self, us: int) -> None:
        self.slower_than_us = us
        self.slower_than = float("inf") if us < 0 else us / 1e6
        self.changed()

    def set_slowlog_len(self, n: int) -> None:
        if n < 0:
            raise ValueError(n)
        self.slowlog = deque(self.slowlog, maxlen=n)

    def set_latency_threshold(self, ms: int) -> None:
        if ms < 0:
            raise ValueError(ms)
        self.latency_threshold_ms = ms
        self.latency_threshold = ms / 1000 if ms > 0 else float("inf")
        self.changed()

    def add_monitor(self, c: Any) -> None:
        """MONITOR: ``c`` is sent every command from now on."""
        self.monitors.add(c)
        self.changed()

    def remove_monitor(self, c: Any) -> None:
        self.monitors.discard(c)
        self.changed()

    # -- the hot path ------------------------------------------------------------------------
    def _stats_of(self, cmd: Any, args: list[bytes]) -> tuple[str, CommandStats]:
        """A call's name and statistics row: the subcommand's (``config|get``) if it has one."""
        name = cmd.called(args).name
        st = self.commands.get(name)
        if st is None:
            st = self.commands[name] = CommandStats()
        return name, st

    def observe(
        self, c: Any, cmd: Any, args: list[bytes], reply: bytes | None, seconds: float
    ) -> None:
        name, st = self._stats_of(cmd, args)
        st.calls += 1
        st.seconds += seconds
        if reply is not None and reply[:1] == b"-":
            st.failed += 1
            if c.error_counted:  # a script's error, counted where redis.call met it
                c.error_counted = False
            else:
                self.count_error(reply)
        if seconds >= self.slower_than and name not in _NO_SLOWLOG:
            self._slow(c, name, args, seconds)
        if seconds >= self.latency_threshold:
            self._latency("fast-command" if "fast" in cmd.flags else "command", seconds)
        if reply is None and c.blocked is not None:
            c.blocked_args = args  # logged (AOF, slow log) when it is answered
        elif self.write_log is not None and reply is not None:
            self.write_log(c, cmd, args, reply)
        if self.monitors and "skip_monitor" not in cmd.flags:
            self.monitor(c, cmd, args)

    def unblocked(self, c: Any, args: list[bytes] | None) -> None:
        """A blocked command answered: Redis logs it in the slow log then, as it was sent and
        with the time it ran (not the time it waited): here nothing measurable."""
        if args and self.slower_than <= 0:
            name = args[0].decode(errors="replace").lower()
            if name not in _NO_SLOWLOG:
                self._slow(c, name, args, 0.0)

    def monitor(self, c: Any, cmd: Any, args: list[bytes], addr: str | None = None) -> None:
        """MONITOR's line for a command that ran, unless it is an admin one."""
        target = cmd.called(args)
        if "admin" not in categories(target, cmd if target is not cmd else None):
            self.feed(c, target.name, args, addr)

    def count(self, cmd: Any, calls: int, seconds: float) -> None:
        """``calls`` ordinary calls of ``cmd`` (no error, not slow, nobody monitoring)."""
        st = self.commands.get(cmd.name)
        if st is None:
            st = self.commands[cmd.name] = CommandStats()
        st.calls += calls
        st.seconds += seconds

    def script_call(self, cmd: Any, args: list[bytes], reply: bytes, seconds: float) -> None:
        """A command a script ran (redis.call): its statistics and its error, as Redis's
        call() counts them for the Lua client (no MONITOR, no AOF here: the engine logs)."""
        _, st = self._stats_of(cmd, args)
        st.calls += 1
        st.seconds += seconds
        if reply[:1] == b"-":
            st.failed += 1
            self.count_error(reply)

    def rejected(self, cmd: Any, reply: bytes) -> None:
        """A command refused before it ran (NOPERM, NOAUTH, subscribe mode)."""
        st = self.commands.get(cmd.name)
        if st is None:
            st = self.commands[cmd.name] = CommandStats()
        st.rejected += 1  # the error itself is counted by the session's ``reject``

    def count_error(self, reply: bytes) -> None:
        code = reply[1:].split(b" ", 1)[0].split(b"\r", 1)[0].decode(errors="replace")
        self.error_replies += 1
        if code in self.errors or len(self.errors) < 128:  # Redis's ERRORSTATS_LIMIT
            self.errors[code] = self.errors.get(code, 0) + 1

    # -- the slow paths ------------------------------------------------------------------------
    def _slow(self, c: Any, name: str, args: list[bytes], seconds: float) -> None:
        args = redact(name, args)
        shown = []
        for i, a in enumerate(args):
            if i == SLOWLOG_MAX_ARGS - 1 and len(args) > SLOWLOG_MAX_ARGS:
                shown.append(b"... (%d more arguments)" % (len(args) - i))
                break
            if len(a) > SLOWLOG_MAX_STRING:
                a = a[:SLOWLOG_MAX_STRING] + b"... (%d more bytes)" % (len(a) - SLOWLOG_MAX_STRING)
            shown.append(a)
        entry = [self.slowlog_ids, int(time.time()), int(seconds * 1e6), shown,
                 str(c.conn.peer).encode(), c.name]  # fmt: skip
        self.slowlog_ids += 1
        self.slowlog.appendleft(entry)

    def _latency(self, event: str, seconds: float) -> None:
        ms = int(seconds * 1000)
        e = self.latency.get(event)
        if e is None:
            e = self.latency[event] = LatencyEvent()
        now = int(time.time())
        e.latest = ms
        e.max = max(e.max, ms)
        if e.samples and e.samples[-1][0] == now:
            e.samples[-1] = (now, max(ms, e.samples[-1][1]))
        else:
            e.samples.append((now, ms))

    def feed(self, c: Any, name: str, args: list[bytes], addr: str | None = None) -> None:
        """One MONITOR line to every monitor: ``+<time> [<db> <addr>] "cmd" "arg"...``
        (``addr`` "lua" for a command a script ran, as Redis shows it)."""
        now = time.time()
        args = redact(name, args)
        quoted = " ".join(_repr_arg(a) for a in args)
        line = f"+{now:.6f} [{c.db_index} {addr or c.conn.peer}] {quoted}\r\n"
        data = line.encode()
        for m in list(self.monitors):
            m.send(data)

    def reset(self) -> None:
        """CONFIG RESETSTAT."""
        self.commands.clear()
        self.errors.clear()
        self.error_replies = 0

    # -- INFO ------------------------------------------------------------------------------
    def sections(self) -> dict[str, dict[str, Any]]:
        cmdstats = {
            f"cmdstat_{name}": (
                f"calls={s.calls},usec={int(s.seconds * 1e6)},"
                f"usec_per_call={s.seconds * 1e6 / s.calls if s.calls else 0:.2f},"
                f"rejected_calls={s.rejected},failed_calls={s.failed}"
            )
            for name, s in sorted(self.commands.items())
        }
        errstats = {f"errorstat_{k}": f"count={v}" for k, v in sorted(self.errors.items())}
        return {"commandstats": cmdstats, "errorstats": errstats,
                "latencystats": self.latencystats()}  # fmt: skip

    def latencystats(self) -> dict[str, str]:
        """``latency_percentiles_usec_<command>:p50=..,p99=..``. Calls are counted in runs,
        not timed one by one (see LATENCY HISTOGRAM), so every percentile is the mean time
        per call; Redis keeps an HdrHistogram per command. Nothing while latency-tracking
        is off (Redis records nothing then; here the calls made meanwhile still count)."""
        if not self.latency_tracking:
            return {}
        out = {}
        for name, st in sorted(self.commands.items()):
            if st.calls:
                mean = st.seconds * 1e6 / st.calls
                out[f"latency_percentiles_usec_{name}"] = ",".join(
                    f"p{percentile_text(p)}={mean:.3f}" for p in self.percentiles
                )
        return out


def percentile_text(p: float) -> str:
    """Redis's "%f" then trimDoubleString: 50.0 -> 50, 99.9 -> 99.9."""
    return f"{p:f}".rstrip("0").rstrip(".")
