"""Active health checks: every ``interval`` seconds each backend is probed.

HTTP mode sends ``GET <path>`` on a fresh connection and wants a 2xx or 3xx
within the interval; TCP mode only wants the connect to succeed. ``fall``
failures in a row mark a backend down, ``rise`` successes in a row mark it up
again (HAProxy's ``inter``, ``rise``, ``fall``). Passive checks (``backends``)
work on real traffic between probes; the two are independent, and a backend
takes traffic only when both agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from netlib.http import core as h11

from .backends import Backend

if TYPE_CHECKING:
    from .server import LoadBalancer

log = logging.getLogger("servers.lb")


async def probe(lb: LoadBalancer, b: Backend) -> bool:
    """One check of ``b``: True if healthy."""
    cfg = lb.cfg
    timeout = max(cfg.health_interval, cfg.connect_timeout)
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(b.host, b.port)
            if cfg.mode == "tcp":
                return True
            h = h11.Connection(h11.CLIENT)
            req = h11.Request(b"GET", cfg.health_path.encode(),
                              [(b"host", b.name.encode()), (b"connection", b"close"),
                               (b"user-agent", b"syslab-lb-health")])  # fmt: skip
            writer.write(h.send_message(req))
            while True:
                ev = h.next_event()
                if ev is h11.NEED_DATA:
                    h.receive_data(await reader.read(4096))
                    continue
                return type(ev) is h11.Response and 200 <= ev.status_code < 400  # type: ignore[attr-defined]
    except (OSError, TimeoutError, h11.RemoteProtocolError):
        return False
    finally:
        if writer is not None:
            writer.close()


def record(lb: LoadBalancer, b: Backend, ok: bool) -> None:
    cfg = lb.cfg
    if ok:
        b.checks_ok, b.checks_failed = b.checks_ok + 1, 0
        if not b.healthy and b.checks_ok >= cfg.health_rise:
            b.healthy = True
            b.down_until = 0.0  # the probe says it is back: no need to sit out a cooldown
            log.info("backend %s is up (%d checks passed)", b.name, b.checks_ok)
    else:
        b.checks_ok, b.checks_failed = 0, b.checks_failed + 1
        if b.healthy and b.checks_failed >= cfg.health_fall:
            b.healthy = False
            b.close_idle()
            log.warning("backend %s is down (%d checks failed)", b.name, b.checks_failed)


async def run_checks(lb: LoadBalancer) -> None:
    """Probe every backend each interval, all at once (a slow one does not delay the rest)."""
    while True:
        interval = lb.cfg.health_interval
        if interval <= 0:
            await lb.config_changed.wait()
            continue
        backends = [b for b in lb.backends if not b.draining]
        results = await asyncio.gather(*(probe(lb, b) for b in backends))
        for b, ok in zip(backends, results, strict=True):
            record(lb, b, ok)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lb.config_changed.wait(), interval)
