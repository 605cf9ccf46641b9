"""Starting servers.sse children and talking to them (publish over HTTP, read with clients.sse)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from harness.procs import Child, python_module


def sse_child(*args: str) -> Child:
    return python_module("servers.sse", *args, port=0)


def publish(port: int, data: Any, event: str | None = None) -> int:
    body: dict[str, Any] = {"data": data}
    if event is not None:
        body["event"] = event
    req = urllib.request.Request(f"http://127.0.0.1:{port}/publish", json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(json.loads(r.read())["id"])


def stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]
