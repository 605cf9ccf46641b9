"""The mock EC2 API on netlib.http: create, short poll, long poll, list, terminate.

``GET /instances/{id}?wait=S&state=KNOWN`` is the long poll: answered at once
when the state is not KNOWN, else held until it changes (200 with the new
state) or S seconds pass (``304 Not Modified``, no body: "no change"). S is
capped at ``MAX_WAIT`` (as AWS's SQS caps long polls at 20 s: a proxy or NAT
may drop a silent connection after a minute). At shutdown a held poll answers
at once with the current state rather than holding the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from netlib.http import App, HTTPError, JSONResponse, Request, Response

from .fleet import STATES, Fleet, FleetFull, Instance

MAX_WAIT = 30.0  # seconds a long poll may be held
MAX_DELAY = 3600.0  # the longest boot a client may ask for
MAX_NAME = 128


def _float(req: Request, name: str, default: float, top: float) -> float:
    raw = req.arg(name)
    if raw is None:
        return default
    try:
        v = float(raw)
    except ValueError:
        raise HTTPError(400, f"{name} must be a number of seconds") from None
    if not 0 <= v <= top:  # also refuses nan
        raise HTTPError(400, f"{name} must be between 0 and {top:g}")
    return v


def build_app(fleet: Fleet, default_delay: float, access_log: bool = True) -> App:
    app = App(access_log=access_log)

    def get(req: Request) -> Instance:
        inst = fleet.instances.get(req.params["id"])
        if inst is None:
            raise HTTPError(404, "no such instance")
        return inst

    def create(req: Request) -> Any:
        doc = req.json() if req.body.strip() else {}
        if not isinstance(doc, dict):
            raise HTTPError(400, "expected a JSON object")
        name, delay = doc.get("name", ""), doc.get("delay", default_delay)
        outcome = doc.get("outcome", "running")
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise HTTPError(400, f"name must be a string of at most {MAX_NAME} characters")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY:
            raise HTTPError(400, f"delay must be 0..{MAX_DELAY:g} seconds")
        if outcome not in ("running", "failed"):
            raise HTTPError(400, "outcome must be running or failed")
        try:
            inst = fleet.create(name, float(delay), outcome)
        except FleetFull as e:
            raise HTTPError(429, str(e)) from None
        return JSONResponse(inst.as_json(), 201, {"location": f"/instances/{inst.id}"})

    async def describe(req: Request) -> Any:
        inst = get(req)
        wait = _float(req, "wait", 0.0, MAX_WAIT)
        known = req.arg("state")
        if not wait or known is None:
            return inst.as_json()
        if known not in STATES:
            raise HTTPError(400, f"state must be one of {', '.join(STATES)}")
        shutdown = asyncio.ensure_future(req.wait_shutdown())
        change = asyncio.ensure_future(fleet.wait_change(inst, known, wait))
        try:
            await asyncio.wait((shutdown, change), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (shutdown, change):
                f.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await f
        if inst.state == known:
            return Response(b"", 304, {"x-state": known}, content_type="")
        return inst.as_json()

    def listing(req: Request) -> Any:
        return [i.as_json() for i in fleet.instances.values()]

    def terminate(req: Request) -> Any:
        inst = get(req)
        fleet.terminate(inst)
        return inst.as_json()

    def stats(req: Request) -> Any:
        counts = {s: 0 for s in STATES}
        for i in fleet.instances.values():
            counts[i.state] += 1
        return {"instances": len(fleet.instances), "waiting": fleet.waiting, "states": counts,
                "tasks": len(asyncio.all_tasks())}  # fmt: skip

    app.add("POST", "/instances", create)
    app.add("GET", "/instances", listing)
    app.add("GET", "/instances/{id}", describe)
    app.add("DELETE", "/instances/{id}", terminate)
    app.add("GET", "/stats", stats)
    return app
