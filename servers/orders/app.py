"""The HTTP API of the ordering service (JSON in, JSON out).

Routes::

    POST /orders                 {"item": 1, "qty": 2} -> 201 {"order", "agent", "item", "qty"}
                                 or 409 (nothing held anywhere), as problem details
    GET  /orders/{txid}          the decision in the log and where the order's rows are
    POST /orders/{txid}/delivered  the agent is free again (a local transaction)
    GET  /stock                  portions left per item, free and busy agents
    POST /recover                settle prepared branches now (also runs every few seconds)

Errors are RFC 9457 problem details (``application/problem+json``).
The coordinator is blocking code (one thread per order in flight, from a
bounded executor): the event loop only parses requests and waits.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clients.mysql import MySQLError
from netlib.http import App, HTTPError, JSONResponse, Request
from netlib.http import serve as serve_http
from netlib.http.problem import Problem, problems
from netlib.shell import Server, ShellConfig

from .flow import free_agent, order_work
from .twopc import TXID_PREFIX, Coordinator

log = logging.getLogger(__name__)

MAX_QTY = 20  # portions in one order: a typo of 10**9 is refused, not tried
RECOVER_EVERY_S = 5.0  # how often prepared branches left by failures are settled


class Service:
    """The coordinator plus the executor its blocking calls run on."""

    def __init__(self, coordinator: Coordinator, workers: int = 8):
        self.coordinator = coordinator
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="2pc")

    async def call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, fn, *args)
        except MySQLError as e:
            raise HTTPError(503, f"a database is unavailable: {e}") from None

    def on(self, participant: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(conn, *args)`` on a pooled connection to one participant (blocking)."""
        with self.coordinator.pools[participant].connection() as conn:
            return fn(conn, *args)

    def query(self, participant: str, sql: str, params: Any = None) -> list[tuple]:
        return self.on(participant, lambda conn: conn.query(sql, params).rows)

    async def recover_forever(self) -> None:
        while True:
            await asyncio.sleep(RECOVER_EVERY_S)
            try:
                counts = await self.call(self.coordinator.recover)
                if counts["committed"] or counts["rolled_back"]:
                    log.info("recovery settled %s", counts)
            except Exception as e:  # noqa: BLE001 - a failed round is retried next time
                log.warning("recovery round failed: %s", e)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.coordinator.close()


def order_request(req: Request) -> tuple[int, int]:
    try:
        data = req.json()
    except HTTPError:
        data = None
    if not isinstance(data, dict):
        raise HTTPError(400, 'send {"item": ID, "qty": N}')
    item, qty = data.get("item"), data.get("qty", 1)
    if not isinstance(item, int) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
        raise HTTPError(422, f"item is an integer id and qty an integer from 1 to {MAX_QTY}")
    return item, qty


def build_app(svc: Service) -> App:
    app = App()

    @app.post("/orders")
    @problems
    async def place(req: Request) -> JSONResponse:
        item, qty = order_request(req)
        txid = f"{TXID_PREFIX}{uuid.uuid4().hex[:16]}"
        out = await svc.call(svc.coordinator.run, txid, order_work(item, qty))
        if not out.committed:
            return Problem(409, out.reason, order=txid)
        return JSONResponse({"order": txid, "item": item, "qty": qty,
                             "agent": out.results["delivery"]}, 201)  # fmt: skip

    @app.get("/orders/{txid}")
    @problems
    async def show(req: Request) -> dict[str, Any]:
        txid = req.params["txid"]
        outcome = svc.coordinator.decisions.outcome(txid)
        if outcome is None:
            raise HTTPError(404, "no such order")
        rows = await svc.call(svc.query, "orders", "SELECT item_id, qty, agent_id FROM orders"
                              " WHERE txid = %s", (txid,))  # fmt: skip
        return {"order": txid, "outcome": outcome,
                "finished": svc.coordinator.decisions.finished(txid),
                "row": dict(zip(("item", "qty", "agent"), rows[0], strict=True)) if rows else None}  # fmt: skip

    @app.post("/orders/{txid}/delivered")
    @problems
    async def delivered(req: Request) -> dict[str, Any]:
        txid = req.params["txid"]
        agent = await svc.call(svc.on, "delivery", free_agent, txid)
        if agent is None:
            raise HTTPError(404, "no agent is delivering this order")
        return {"order": txid, "agent_free": agent}

    @app.get("/stock")
    @problems
    async def stock(req: Request) -> dict[str, Any]:
        items = await svc.call(svc.query, "store", "SELECT id, name, stock FROM items ORDER BY id")
        agents = await svc.call(svc.query, "delivery", "SELECT COUNT(*),"
                                " COUNT(order_txid) FROM agents")  # fmt: skip
        return {"items": [{"id": i, "name": n, "stock": s} for i, n, s in items],
                "agents": {"total": agents[0][0], "busy": agents[0][1]}}  # fmt: skip

    @app.post("/recover")
    @problems
    async def recover(req: Request) -> dict[str, int]:
        result: dict[str, int] = await svc.call(svc.coordinator.recover)
        return result

    return app


async def serve(svc: Service, config: ShellConfig) -> Server:
    return await serve_http(build_app(svc), config)
