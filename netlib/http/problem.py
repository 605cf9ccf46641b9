"""Errors of JSON APIs as RFC 9457 problem details (``application/problem+json``).

One shape for every JSON API in the lab: ``{"type", "title", "status", "detail"}``
plus any extension members. ``problems`` wraps an async handler so that the
``HTTPError`` it raises (or that a helper raises for it) goes out in that shape
instead of as plain text.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from .messages import HTTPError, JSONResponse, Request

MEDIA_TYPE = "application/problem+json"


class Problem(JSONResponse):
    """A problem details response; ``type`` defaults to ``about:blank`` (RFC 9457 §4.2.1)."""

    __slots__ = ()
    media_type = MEDIA_TYPE

    def __init__(self, status: int, detail: str, headers: Any = None, **extra: Any) -> None:
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
        super().__init__(body, status, headers)


Handler = Callable[[Request], Awaitable[Any]]


def problems(handler: Handler) -> Handler:
    """Answer an ``HTTPError`` raised by ``handler`` as problem details."""

    @functools.wraps(handler)
    async def wrapper(req: Request) -> Any:
        try:
            return await handler(req)
        except HTTPError as e:
            return Problem(e.status, e.detail, e.headers or None)

    return wrapper
