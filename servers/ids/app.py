"""The range service's HTTP API.

Routes::

    POST /ranges?size=N   -> {"first": F, "last": L}   (1 <= N <= MAX_RANGE)
    GET  /                -> {"high_water_mark": H, "max_range": MAX_RANGE}

The allocation (a file write and two fsyncs) runs in a worker thread so a slow
disk does not stall other connections; the allocator's lock keeps ranges
disjoint.
"""

from __future__ import annotations

import asyncio
from typing import Any

from netlib.http import App, HTTPError, Request
from netlib.http import serve as serve_http
from netlib.shell import Server, ShellConfig

from .allocator import MAX_RANGE, RangeAllocator


def build_app(alloc: RangeAllocator) -> App:
    app = App()

    @app.get("/")
    def index(req: Request) -> dict[str, Any]:
        return {"high_water_mark": alloc.hwm, "max_range": MAX_RANGE}

    @app.post("/ranges")
    async def ranges(req: Request) -> dict[str, Any]:
        raw = req.arg("size", "1000") or ""
        if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is True; int("²") fails
            raise HTTPError(400, "size must be a positive integer")
        try:
            first, last = await asyncio.to_thread(alloc.allocate, int(raw))
        except ValueError as e:
            raise HTTPError(400, str(e)) from None
        except OverflowError as e:
            raise HTTPError(507, str(e)) from None
        return {"first": first, "last": last}

    return app


async def serve(alloc: RangeAllocator, config: ShellConfig) -> Server:
    return await serve_http(build_app(alloc), config)
