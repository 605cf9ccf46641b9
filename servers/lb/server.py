"""The balancer itself: listeners, backends, the algorithm, health checks, reload.

``LoadBalancer`` owns the state every connection shares: the ``BackendSet``,
the ``Balancer`` and the current ``LBConfig``. ``start`` binds the proxy port
(HTTP or TCP mode) and the admin port; ``reload(cfg)`` swaps the configuration
in place: new backends take traffic at once, removed ones drain, the algorithm
and timeouts apply to the next request. No socket is closed by a reload, so no
connection is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from netlib.http import App, JSONResponse, serve
from netlib.shell import Server, ShellConfig, start

from .backends import Backend, BackendSet
from .balance import Balancer, make_balancer
from .config import LBConfig
from .health import run_checks
from .proxy import ProxySession
from .tcp import pipe

log = logging.getLogger("servers.lb")


class LoadBalancer:
    def __init__(self, cfg: LBConfig) -> None:
        self.cfg = cfg.check()
        self.backends = BackendSet(cfg)
        self.balancer: Balancer = make_balancer(cfg.algorithm, cfg.balance_factor)
        self.config_changed = asyncio.Event()
        self.reloads = 0
        self.byte_path = 0  # requests proxied on the byte path (``rawpath``)
        self.byte_inflight: set[Any] = set()  # its requests in flight (``rawpath._sweep``)
        self.byte_sweeping = False
        self.server: Server | None = None
        self.admin: Server | None = None

    # -- per request ---------------------------------------------------------------
    def choose(self, key: str, exclude: list[Backend]) -> Backend | None:
        """An available backend not in ``exclude``, counted as busy until ``done``."""
        cands = self.backends.available()
        if exclude:
            cands = [b for b in cands if b not in exclude]
        if not cands:
            return None
        b = self.balancer.pick(cands, key)
        b.active += 1
        b.requests += 1
        return b

    def done(self, b: Backend) -> None:
        b.active -= 1
        self.balancer.release(b)
        if b.draining and b.active == 0:
            self.backends.reap()

    # -- configuration --------------------------------------------------------------
    def reload(self, cfg: LBConfig) -> None:
        cfg = cfg.check()
        if cfg.mode != self.cfg.mode:
            log.warning("reload: mode cannot change on a running balancer (keeping %s)",
                        self.cfg.mode)  # fmt: skip
            cfg = replace(cfg, mode=self.cfg.mode)
        if (cfg.algorithm, cfg.balance_factor) != (self.cfg.algorithm, self.cfg.balance_factor):
            self.balancer = make_balancer(cfg.algorithm, cfg.balance_factor)
        self.cfg = cfg
        added, drained = self.backends.apply(cfg)
        self.reloads += 1
        self.config_changed.set()
        self.config_changed.clear()
        log.info("reloaded: %d backend(s), %s; added %s, draining %s", len(cfg.backends),
                 cfg.algorithm, [b.name for b in added] or "none",
                 [b.name for b in drained] or "none")  # fmt: skip

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.cfg.mode, "algorithm": self.cfg.algorithm, "hash_key": self.cfg.hash_key,
            "reloads": self.reloads, "byte_path_requests": self.byte_path,
            "connections": len(self.server.connections) if self.server else 0,
            "backends": [b.status() for b in self.backends],
        }  # fmt: skip

    # -- lifetime ---------------------------------------------------------------------------
    async def start(self, listen: ShellConfig, admin: ShellConfig | None = None) -> Server:
        if self.cfg.mode == "tcp":
            self.server = await start(lambda conn: pipe(self, conn), listen)
        else:
            self.server = await start(config=listen,
                                      session_factory=lambda conn: ProxySession(conn, self))  # fmt: skip
        self.server.background(run_checks(self), "health checks")
        if admin is not None:
            self.admin = await serve(admin_app(self), admin)
        return self.server

    async def stop(self) -> None:
        if self.admin is not None:
            await self.admin.shutdown(grace=0.5)
        if self.server is not None:
            await self.server.shutdown()
        for b in self.backends:
            b.close_idle()


def admin_app(lb: LoadBalancer) -> App:
    """``GET /_lb/status``: the balancer and every backend's state, as JSON."""
    app = App(access_log=False)

    @app.get("/_lb/status")
    def status(req: Any) -> JSONResponse:
        return JSONResponse(lb.status())

    return app
