"""The load balancer's settings: one frozen ``LBConfig``, from flags or a TOML file.

The TOML file (``--config lb.toml``; ``kill -HUP`` re-reads it)::

    mode = "http"                 # or "tcp"
    algorithm = "consistent"      # roundrobin | weighted | leastconn | p2c | consistent
    hash_key = "header:X-User"    # client | path | header:NAME (consistent only)
    balance_factor = 1.25         # bounded loads: a backend takes <= ceil(c * average)

    [timeouts]
    connect = 1.0                 # seconds to open an upstream connection
    read = 30.0                   # seconds to wait for the response head, or between body pieces

    [health]                      # active checks (interval 0 turns them off)
    interval = 2.0
    rise = 2
    fall = 3
    path = "/"                    # http mode: GET this, 2xx/3xx is healthy; tcp mode: connect

    [passive]                     # failures seen on real traffic
    max_fails = 3                 # this many within `window` seconds...
    window = 10.0
    cooldown = 10.0               # ...take the backend out for this long

    [[backend]]
    address = "127.0.0.1:9001"
    weight = 2

What a reload may change: everything but the listening addresses and the mode
(those belong to sockets already bound; a change is logged and ignored).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ALGORITHMS = ("roundrobin", "weighted", "leastconn", "p2c", "consistent")
MODES = ("http", "tcp")
# Defaults and where they come from.
CONNECT_TIMEOUT = 1.0  # loopback and LAN backends connect in < 1 ms; 1 s means dead or drowning
READ_TIMEOUT = 30.0  # HAProxy's usual `timeout server 30s`
HEALTH_INTERVAL = 2.0  # HAProxy's `inter 2s`
HEALTH_RISE = 2  # HAProxy's `rise 2`
HEALTH_FALL = 3  # HAProxy's `fall 3`
MAX_FAILS = 3  # nginx's max_fails is 1; 3 keeps one unlucky reset from taking a backend out
FAIL_WINDOW = 10.0  # nginx's fail_timeout (the window)...
COOLDOWN = 10.0  # ...which is also how long nginx keeps the backend out
BALANCE_FACTOR = 1.25  # HAProxy's hash-balance-factor 125, Google's c = 1.25


class ConfigError(ValueError):
    """A bad flag or config file: one line for the user, no traceback."""


@dataclass(frozen=True)
class BackendSpec:
    host: str
    port: int
    weight: int = 1

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class LBConfig:
    """Every setting of the balancer, with its default."""

    backends: tuple[BackendSpec, ...] = ()
    mode: str = "http"
    algorithm: str = "roundrobin"
    hash_key: str = "client"
    balance_factor: float = BALANCE_FACTOR
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    health_interval: float = HEALTH_INTERVAL
    health_rise: int = HEALTH_RISE
    health_fall: int = HEALTH_FALL
    health_path: str = "/"
    max_fails: int = MAX_FAILS
    fail_window: float = FAIL_WINDOW
    cooldown: float = COOLDOWN
    access_log: bool = False

    def check(self) -> LBConfig:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(
                f"algorithm must be one of {', '.join(ALGORITHMS)}, not {self.algorithm!r}"
            )
        hk = self.hash_key
        if hk not in ("client", "path") and not (hk.startswith("header:") and len(hk) > 7):
            raise ConfigError(f"hash_key must be client, path or header:NAME, not {hk!r}")
        if self.mode == "tcp" and hk != "client":
            raise ConfigError("tcp mode can only hash on the client address")
        if self.balance_factor < 1:
            raise ConfigError("balance_factor must be at least 1")
        for name in ("connect_timeout", "read_timeout", "fail_window", "cooldown"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.health_interval < 0 or self.health_rise < 1 or self.health_fall < 1:
            raise ConfigError("health: interval >= 0, rise >= 1, fall >= 1")
        if self.max_fails < 1:
            raise ConfigError("max_fails must be at least 1")
        names = [b.name for b in self.backends]
        if len(set(names)) != len(names):
            raise ConfigError("a backend is listed twice")
        return self


def parse_backend(text: str) -> BackendSpec:
    """``HOST:PORT[,weight=N]`` -> BackendSpec (ConfigError if malformed)."""
    addr, *opts = text.split(",")
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"a backend is HOST:PORT[,weight=N], not {text!r}")
    weight = 1
    for opt in opts:
        key, _, value = opt.partition("=")
        if key.strip() != "weight" or not value.strip().isdigit() or int(value) < 1:
            raise ConfigError(f"unknown or bad backend option {opt!r} in {text!r}")
        weight = int(value)
    return BackendSpec(host, int(port), weight)


# TOML section -> {key in the section: LBConfig field}
_SECTIONS: dict[str, dict[str, str]] = {
    "": {"mode": "mode", "algorithm": "algorithm", "hash_key": "hash_key",
         "balance_factor": "balance_factor", "access_log": "access_log"},
    "timeouts": {"connect": "connect_timeout", "read": "read_timeout"},
    "health": {"interval": "health_interval", "rise": "health_rise", "fall": "health_fall",
               "path": "health_path"},
    "passive": {"max_fails": "max_fails", "window": "fail_window", "cooldown": "cooldown"},
}  # fmt: skip


def load_toml(path: Path, base: LBConfig | None = None) -> LBConfig:
    """The config in ``path`` over ``base`` (the flags); ConfigError names what is wrong."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    changes: dict[str, Any] = {}
    for section, keys in _SECTIONS.items():
        table = data if not section else data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key, value in table.items():
            if isinstance(value, dict | list) and not section:
                continue  # a sub-table or the backend list
            if key not in keys:
                raise ConfigError(f"{path}: unknown setting {section + '.' if section else ''}{key}")
            changes[keys[key]] = value
    known = set(_SECTIONS) | {"backend"}
    for key in data:
        if isinstance(data[key], dict | list) and key not in known:
            raise ConfigError(f"{path}: unknown section [{key}]")
    backends = []
    for b in data.get("backend", []):
        if not isinstance(b, dict) or not isinstance(b.get("address"), str):
            raise ConfigError(f"{path}: each [[backend]] needs address = \"HOST:PORT\"")
        spec = parse_backend(b["address"])
        weight = b.get("weight", 1)
        if not isinstance(weight, int) or weight < 1:
            raise ConfigError(f"{path}: weight of {spec.name} must be a positive integer")
        backends.append(replace(spec, weight=weight))
    if backends:
        changes["backends"] = tuple(backends)
    try:
        return replace(base or LBConfig(), **changes).check()
    except TypeError as e:
        raise ConfigError(f"{path}: {e}") from None
