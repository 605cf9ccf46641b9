"""Backends: their state (health, passive failures, draining), counters and idle connections.

A backend is *available* when it is not draining, its active health check (if
any) says it is up, and passive checking has not put it in cooldown. Passive
checking counts failures seen on real traffic (connect refused, reset, timeout,
a broken response): ``max_fails`` of them within ``fail_window`` seconds take
the backend out for ``cooldown`` seconds, after which it gets traffic again (and
is taken out again at once if it still fails). That is nginx's max_fails /
fail_timeout; HAProxy's ``observe layer4`` does much the same.

Draining: a backend dropped from the configuration (a SIGHUP reload) gets no new
request; what it is serving finishes; its idle keep-alive connections are
closed; it leaves the table once nothing is in flight.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Protocol

from .config import BackendSpec, LBConfig

log = logging.getLogger("servers.lb")

# Idle keep-alive connections kept per backend. 64 covers wrk's -c64 against one
# backend; more would only hold sockets the backend has to keep too.
MAX_IDLE_PER_BACKEND = 64


class Pooled(Protocol):
    """What the pool needs of an idle upstream connection."""

    def usable(self) -> bool: ...
    def close(self) -> None: ...


class Backend:
    """One upstream server: address, weight, state and counters."""

    def __init__(self, spec: BackendSpec, cfg: LBConfig) -> None:
        self.spec = spec
        self.name = spec.name
        self.host, self.port, self.weight = spec.host, spec.port, spec.weight
        self.cfg = cfg
        self.healthy = True  # the active check's verdict (True until it says otherwise)
        self.draining = False
        self.down_until = 0.0  # passive cooldown ends (monotonic)
        self.active = 0  # requests (http) or connections (tcp) in flight
        self.requests = 0
        self.failures = 0
        self.opened = 0  # upstream connections opened (keep-alive reuse keeps it low)
        self.recent_fails: deque[float] = deque()
        self.idle: list[Any] = []  # idle keep-alive upstream connections (http)
        self.checks_ok = 0  # consecutive active-check results, for rise / fall
        self.checks_failed = 0

    @property
    def available(self) -> bool:
        return self.healthy and not self.draining and time.monotonic() >= self.down_until

    def state(self) -> str:
        if self.draining:
            return "draining"
        if not self.healthy:
            return "down"
        if time.monotonic() < self.down_until:
            return "cooldown"
        return "up"

    def failed(self, why: str) -> None:
        """A failure seen on real traffic (passive health checking)."""
        self.failures += 1
        now = time.monotonic()
        fails = self.recent_fails
        fails.append(now)
        while fails and fails[0] < now - self.cfg.fail_window:
            fails.popleft()
        log.warning("backend %s failed: %s", self.name, why)
        if len(fails) >= self.cfg.max_fails and now >= self.down_until:
            self.down_until = now + self.cfg.cooldown
            fails.clear()
            self.close_idle()
            log.warning("backend %s out for %gs after %d failures in %gs", self.name,
                        self.cfg.cooldown, self.cfg.max_fails, self.cfg.fail_window)  # fmt: skip

    # -- the keep-alive pool ------------------------------------------------------
    def take_idle(self) -> Any | None:
        idle = self.idle
        while idle:
            up = idle.pop()
            if up.usable():
                return up
            up.close()
        return None

    def give_back(self, up: Pooled) -> None:
        if up.usable() and not self.draining and len(self.idle) < MAX_IDLE_PER_BACKEND:
            self.idle.append(up)
        else:
            up.close()

    def forget(self, up: object) -> None:
        """An idle connection closed by the backend leaves the pool at once."""
        try:
            self.idle.remove(up)
        except ValueError:
            pass

    def close_idle(self) -> None:
        idle, self.idle = self.idle, []
        for up in idle:
            up.close()

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name, "host": self.host, "port": self.port, "weight": self.weight,
            "state": self.state(), "healthy": self.available, "active": self.active,
            "requests": self.requests, "failures": self.failures, "idle_connections": len(self.idle),
            "connections_opened": self.opened,
        }  # fmt: skip


class BackendSet:
    """The configured backends plus those still draining; applies a new list on reload."""

    def __init__(self, cfg: LBConfig) -> None:
        self.cfg = cfg
        self.backends: dict[str, Backend] = {}
        self.version = 0  # bumped whenever the list changes (balancers rebuild on it)
        self.apply(cfg)

    def apply(self, cfg: LBConfig) -> tuple[list[Backend], list[Backend]]:
        """Make the set match ``cfg.backends``: (added, now draining)."""
        self.cfg = cfg
        wanted = {s.name: s for s in cfg.backends}
        added, drained = [], []
        for name, spec in wanted.items():
            b = self.backends.get(name)
            if b is None or b.draining:
                if b is not None:
                    b.close_idle()  # a draining one comes back: start afresh
                b = self.backends[name] = Backend(spec, cfg)
                added.append(b)
            b.cfg, b.spec, b.weight = cfg, spec, spec.weight
        for name, b in self.backends.items():
            if name not in wanted and not b.draining:
                b.draining = True
                b.close_idle()
                drained.append(b)
                log.info("backend %s draining (%d in flight)", name, b.active)
        self.version += 1
        self.reap()
        return added, drained

    def reap(self) -> None:
        """Drop drained backends with nothing in flight."""
        for name in [n for n, b in self.backends.items() if b.draining and b.active == 0]:
            del self.backends[name]
            log.info("backend %s drained", name)

    def available(self) -> list[Backend]:
        now = time.monotonic()  # (Backend.available, inlined: this runs per request)
        return [b for b in self.backends.values()
                if b.healthy and not b.draining and now >= b.down_until]  # fmt: skip

    def __iter__(self) -> Any:
        return iter(list(self.backends.values()))
