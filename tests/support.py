"""What many tests share: waiting on a condition with a deadline, and raw-socket conversations.

Waiting. A test never sleeps for an effect to "settle": it waits for the
condition it needs (a server state, a row in a process list) and fails with a
clear message when the deadline passes. ``wait_until`` is for threads and
plain code, ``until`` for coroutines (its predicate may be async). The short
pause between two checks is the only sleep tests need, and it lives here.

Raw sockets. ``converse`` sends bytes and reads until the server closes (end
the request with QUIT to get every reply), ``read_until`` until an expected
suffix: exact bytes on the wire, with a timeout so a hung server fails the
test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

POLL = 0.005  # seconds between two checks of a condition
DEFAULT_TIMEOUT = 10.0


def wait_until(
    pred: Callable[[], object], timeout: float = DEFAULT_TIMEOUT, what: str = "condition"
) -> None:
    """Block until ``pred()`` is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"{what} never became true within {timeout}s"
        time.sleep(POLL)


async def until(
    pred: Callable[[], object | Awaitable[object]],
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "condition",
) -> None:
    """Wait (without blocking the loop) until ``pred()`` (or its awaited value) is true."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        assert time.monotonic() < deadline, f"{what} never became true within {timeout}s"
        await asyncio.sleep(POLL)


async def converse(port: int, data: bytes, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Send ``data`` to 127.0.0.1:``port`` and return everything read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def read_until(
    reader: asyncio.StreamReader, suffix: bytes, timeout: float = DEFAULT_TIMEOUT
) -> bytes:
    """Read until the bytes end with ``suffix`` (or EOF); the bytes read."""
    got = b""
    while not got.endswith(suffix):
        chunk = await asyncio.wait_for(reader.read(65536), timeout)
        if not chunk:
            break
        got += chunk
    return got


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """True once the server closed the connection: EOF, or an RST (``abort()``)."""
    try:
        await asyncio.wait_for(reader.read(), timeout)
    except ConnectionResetError:
        pass
    return True


async def curl(*args: str, timeout: float = 60.0) -> tuple[int, bytes, bytes]:
    """``curl -sS ARGS``, a client nobody here wrote: its exit code, stdout and stderr."""
    exe = shutil.which("curl")
    assert exe, "curl not found: apt-get install curl"
    p = await asyncio.create_subprocess_exec(exe, "-sS", *args, stdout=-1, stderr=-1)
    out, err = await asyncio.wait_for(p.communicate(), timeout)
    assert p.returncode is not None
    return p.returncode, out, err


async def exchange(port: int, data: bytes, until: bytes) -> bytes:
    """Open a connection to 127.0.0.1:``port``, send ``data``, read until ``until``, close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return await read_until(reader, until)
    finally:
        writer.close()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NUMBER_AS_TEXT = re.compile(r"^[-+]?[\d.,]+\s*(/\s*[\d.,]+)?\s*%?$")


def assert_bench_report(folder: Path, name: str, png: str | None = None) -> dict[str, Any]:
    """A bench's output in ``folder``: ``NAME.json`` whose every row has numeric
    min <= median <= max (its value the median) and no number written as text, and a
    real PNG (``png``, default ``NAME.png``): the signature bytes and a nonzero size.
    Returns the JSON document."""
    doc = json.loads((folder / f"{name}.json").read_text())
    image = (folder / (png or f"{name}.png")).read_bytes()
    assert image[:8] == PNG_SIGNATURE and len(image) > 1000, f"{png or name + '.png'} is not a PNG"
    assert doc["rows"], f"{name}.json has no rows"
    for r in doc["rows"]:
        what = f"{name}: {r['workload']} / {r['impl']}"
        spread = [r["extra"].get(k) for k in ("min", "median", "max")]
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spread), what
        assert spread[0] <= spread[1] <= spread[2] and r["value"] == spread[1], what
        for k, v in r["extra"].items():
            assert not (isinstance(v, str) and _NUMBER_AS_TEXT.match(v)), f"{what}: {k}={v!r} is text"
    return doc
