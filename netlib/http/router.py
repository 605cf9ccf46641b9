"""Routing: (method, path pattern) -> handler, and the ``App`` that holds them.

Patterns are paths with ``{name}`` (one segment), ``{name:int}`` (digits, given
to the handler as an int) and ``{name:path}`` (the rest, slashes included).
Literal paths go in a dict, so the hello route costs one lookup; patterns are
tried in order. A path that matches with another method gets 405 and an
``Allow`` header, nothing gets 404. GET routes answer HEAD too (the core drops
the body).

A handler is ``def h(request)`` or ``async def h(request)``: a sync one runs
inline in ``data_received`` (no task per request, the fast path); an async one
gets a task. Registered with ``stream=True`` it is called as soon as the head
arrives and reads ``request.stream()``; otherwise the body is buffered into
``request.body`` first. Either way the body is limited to ``App.max_body``
(small) unless the route gives its own ``max_body`` (an upload route may allow
gigabytes: streamed, it never costs more than a socket buffer of memory).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .messages import HTTPError, Request, split_target
from .static import StaticFiles

Handler = Callable[[Request], Any]
# Router.fast_route's answer: route, params, path, query string, method, StaticFiles.
FastRoute = tuple["Route", dict[str, Any], str, bytes, str, Any]

# Request bodies larger than this get 413, unless the route allows more: a JSON
# API needs far less, and a route that wants big uploads says so (and streams).
DEFAULT_MAX_BODY = 1024 * 1024
# Seconds a client gets to send a whole request head (slowloris defence).
DEFAULT_HEAD_TIMEOUT = 10.0
# Seconds a client gets to send a buffered body (<= max_body) after its head: a
# trickled body is the slowloris of POST. Streamed routes pace themselves.
DEFAULT_BODY_TIMEOUT = 30.0
# Minimum data rate of a request head or body while we wait for it: Kestrel's
# MinRequestBodyDataRate default, 240 bytes/s averaged over a 5 s window (its grace
# period). A client slower than that is cut: one byte every few seconds keeps a
# connection forever under a plain idle timeout (slowloris).
DEFAULT_MIN_DATA_RATE = 240.0
DEFAULT_MIN_RATE_WINDOW = 5.0

# Targets whose route the fast path remembers (``Router.fast_route``); past it the
# memory is emptied. Longer targets are looked up each time.
FAST_ROUTES = 1024
FAST_TARGET = 512

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(int|path))?\}")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    is_async: bool
    stream: bool
    converters: tuple[tuple[str, Callable[[str], Any]], ...] = ()
    max_body: int | None = None  # None: the App's


def _compile(pattern: str) -> tuple[re.Pattern[str], tuple[tuple[str, Callable[[str], Any]], ...]]:
    out, pos, conv = [], 0, []
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        name, kind = m.group(1), m.group(2)
        out.append(
            f"(?P<{name}>{'.*' if kind == 'path' else '[0-9]+' if kind == 'int' else '[^/]+'})"
        )
        if kind == "int":
            conv.append((name, int))
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out)), tuple(conv)


class Router:
    """Method + path pattern -> Route."""

    def __init__(self) -> None:
        self._literal: dict[str, dict[str, Route]] = {}
        self._patterns: list[tuple[re.Pattern[str], dict[str, Route]]] = []
        self._by_pattern: dict[str, dict[str, Route]] = {}
        # (method, raw target) -> what ``fast_route`` found; emptied by ``add``.
        self.fast_routes: dict[tuple[bytes, bytes], FastRoute] = {}

    def add(
        self,
        methods: str | list[str],
        pattern: str,
        handler: Handler,
        *,
        stream: bool = False,
        max_body: int | None = None,
    ) -> None:
        if isinstance(methods, str):
            methods = [methods]
        if not pattern.startswith("/"):
            raise ValueError(f"pattern must start with /: {pattern!r}")
        table = self._by_pattern.get(pattern)
        conv: tuple[tuple[str, Callable[[str], Any]], ...] = ()
        if table is None:
            table = self._by_pattern[pattern] = {}
            if _PARAM.search(pattern):
                regex, conv = _compile(pattern)
                self._patterns.append((regex, table))
            else:
                self._literal[pattern] = table
        else:
            conv = next(iter(table.values())).converters
        is_async = inspect.iscoroutinefunction(handler)
        self.fast_routes.clear()
        for m in methods:
            table[m.upper()] = Route(m.upper(), pattern, handler, is_async, stream, conv,
                                     max_body)  # fmt: skip

    def route(
        self,
        pattern: str,
        methods: str | list[str] = "GET",
        *,
        stream: bool = False,
        max_body: int | None = None,
    ) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.add(methods, pattern, fn, stream=stream, max_body=max_body)
            return fn

        return deco

    def get(self, pattern: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, "GET", **kw)

    def post(self, pattern: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, "POST", **kw)

    def put(self, pattern: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, "PUT", **kw)

    def delete(self, pattern: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, "DELETE", **kw)

    def patch(self, pattern: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, "PATCH", **kw)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]]:
        """The route and its path parameters; HTTPError 404/405 when none fits."""
        table = self._literal.get(path)
        params: dict[str, Any] = {}
        if table is None:
            for regex, t in self._patterns:
                m = regex.fullmatch(path)
                if m is not None:
                    table, params = t, m.groupdict()
                    break
            else:
                raise HTTPError(404, "not found")
        route = table.get(method) or (table.get("GET") if method == "HEAD" else None)
        if route is None:
            allow = ", ".join(sorted(set(table) | ({"HEAD"} if "GET" in table else set())))
            raise HTTPError(405, "method not allowed", [(b"allow", allow.encode())])
        try:
            for name, fn in route.converters:
                params[name] = fn(params[name])
        except ValueError:  # e.g. past int()'s 4300-digit limit: no such resource
            raise HTTPError(404, "not found") from None
        return route, params

    def fast_route(self, method: bytes, target: bytes) -> FastRoute | None:
        """What a GET/HEAD of the raw ``target`` is routed to, remembered per (method,
        target) (the server's fast path looks in ``fast_routes`` first): the route,
        its parameters (copy them: a handler may change its own), the path, the query
        string, the method as a str, and the StaticFiles handler if that is the route's.
        None: no route (404 or 405, the core answers)."""
        path, qs = split_target(target)
        mstr = method.decode("latin-1")
        try:
            route, params = self.match(mstr, path)
        except HTTPError:
            return None
        files = route.handler if type(route.handler) is StaticFiles else None
        hit = (route, params, path, qs, mstr, files)
        if len(target) <= FAST_TARGET:
            if len(self.fast_routes) >= FAST_ROUTES:
                self.fast_routes.clear()
            self.fast_routes[method, target] = hit
        return hit


class App(Router):
    """A router plus the settings of the server that runs it."""

    def __init__(
        self,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        head_timeout: float = DEFAULT_HEAD_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        min_data_rate: float | None = DEFAULT_MIN_DATA_RATE,
        min_rate_window: float = DEFAULT_MIN_RATE_WINDOW,
        access_log: bool = True,
        server_header: str = "syslab",
    ) -> None:
        super().__init__()
        self.max_body = max_body
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.min_data_rate = min_data_rate
        self.min_rate_window = min_rate_window
        self.access_log = access_log
        self.server_header = server_header.encode()

    def static(self, prefix: str, directory: str, **kw: Any) -> None:
        """Serve files under ``directory`` at ``prefix/...`` (see ``netlib.http.static``)."""
        from .static import slash_redirect

        files = StaticFiles(directory, **kw)
        prefix = prefix.rstrip("/")
        self.add(["GET"], prefix + "/{path:path}", files)
        if prefix:
            self.add(["GET"], prefix, slash_redirect)
