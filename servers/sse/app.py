"""The HTTP routes of the SSE server, on netlib.http.

``GET /events`` is a ``text/event-stream``: a ``retry`` line, the replay owed to
the client's ``Last-Event-ID`` (header, or ``?lastEventId=`` for a page that
opens a new EventSource itself), then live events from its queue. Heartbeat
comments come from one timer for all clients (``Hub.heartbeat``): a per-stream
timer (netlib's ``Heartbeat`` policy) costs a task per chunk per client, which is
what 10,000 clients cannot afford. ``POST /publish`` takes
``{"event": "...", "data": ...}`` (data: a string, or any JSON, sent as JSON
text). ``GET /stats`` counts. The built web page (N4) is served at ``/``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from netlib.http import App, HTTPError, JSONResponse, Request, StreamingResponse, TCPKeepAlive

from .hub import Hub, Numbered, parse_last_id

MAX_PUBLISH_BODY = 64 * 1024  # one event's JSON: far more than a notification needs
MAX_EVENT_NAME = 64
DEFAULT_RETRY_MS = 2000  # what browsers wait before reconnecting (their default is ~3 s)

Publisher = Callable[[str, str], Awaitable[int]]


def _event_fields(req: Request) -> tuple[str, str]:
    doc = req.json()
    if not isinstance(doc, dict) or "data" not in doc:
        raise HTTPError(400, 'expected a JSON object {"event": "...", "data": ...}')
    event = doc.get("event", "message")
    if not isinstance(event, str) or not event or len(event) > MAX_EVENT_NAME or any(c in event for c in "\r\n\0"):
        raise HTTPError(400, f"event must be a name of 1..{MAX_EVENT_NAME} characters without CR, LF, NUL")
    data = doc["data"]
    return event, data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))


def build_app(hub: Hub, publish: Publisher | None = None, retry_ms: int = DEFAULT_RETRY_MS,
              web: Path | None = None, access_log: bool = True) -> App:  # fmt: skip
    app = App(access_log=access_log)
    prelude = f"retry: {retry_ms}\n\n".encode()

    async def local_publish(event: str, data: str) -> int:
        ev = Numbered.make(hub.next_id(), event, data)
        hub.deliver(ev)
        return ev.id

    publisher = publish or local_publish

    def events(req: Request) -> StreamingResponse:
        last = parse_last_id(req.headers.get("last-event-id") or req.arg("lastEventId"))
        conn = req.connection
        sub = hub.subscribe(req.peer, conn.abort if conn is not None else lambda: None)
        backlog = hub.replay(last)  # with the subscription, in one step: no gap, no repeat

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield prelude
                for chunk in backlog:
                    yield chunk
                while True:
                    live = await sub.queue.get()
                    if live is None:  # the server is stopping
                        return
                    yield live
            finally:
                hub.unsubscribe(sub)

        headers = {"cache-control": "no-cache", "x-accel-buffering": "no",
                   "access-control-allow-origin": "*"}  # fmt: skip
        return StreamingResponse(stream(), headers=headers, content_type="text/event-stream",
                                 keepalive=TCPKeepAlive())  # fmt: skip

    async def publish_route(req: Request) -> Any:
        event, data = _event_fields(req)
        return JSONResponse({"id": await publisher(event, data)}, 201,
                            {"access-control-allow-origin": "*"})  # fmt: skip

    def stats(req: Request) -> Any:
        return {"clients": len(hub.subscribers), "last_id": hub.last_id, "dropped": hub.dropped,
                "published": hub.published, "buffered": len(hub.ring)}  # fmt: skip

    app.add("GET", "/events", events)
    app.add("POST", "/publish", publish_route, max_body=MAX_PUBLISH_BODY)
    app.add("GET", "/stats", stats)
    if web is not None and web.is_dir():
        app.static("/", str(web))
    return app
