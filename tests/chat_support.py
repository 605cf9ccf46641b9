"""Starting servers.chat children and speaking raw Engine.IO polling to them (urllib only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from harness.procs import Child, python_module


def chat_child(*args: str) -> Child:
    return python_module("servers.chat", "--no-access-log", *args, port=0)


def stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def eio(port: int, method: str = "GET", query: str = "EIO=4&transport=polling", body: bytes | None = None,
        timeout: float = 10) -> tuple[int, str]:  # fmt: skip
    """One Engine.IO polling request: (status, body text), errors included."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/socket.io/?{query}", body, method=method,
                                 headers={"content-type": "text/plain;charset=UTF-8"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def handshake(port: int) -> dict[str, Any]:
    status, body = eio(port)
    assert status == 200 and body[0] == "0", body
    return json.loads(body[1:])  # type: ignore[no-any-return]
