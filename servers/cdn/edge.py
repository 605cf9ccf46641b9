"""The edge: a shared HTTP cache (RFC 9111) in front of one origin and a failover.

Per GET/HEAD: look the target up (``store``), let ``policy.decide`` say fresh /
stale-while-revalidate / revalidate, and only then talk to the origin, through
``Fetcher``, which

* coalesces: concurrent misses for one key wait on the first one's fetch (one
  origin request for N clients, as Varnish's waiting list or nginx's
  ``proxy_cache_lock``); a waiter then looks the cache up again, and fetches on
  its own only if the response turned out not storable;
* streams through what is too big to store: the body goes to the client as it
  arrives (``StreamingResponse``), never held whole;
* fails over: an origin that refuses, times out or answers 5xx is marked down
  for ``origin_cooldown`` seconds; the edge serves stale where stale-if-error
  allows it, else asks the secondary origin, else answers 502/504.

``X-Cache`` says what happened: HIT, MISS, STALE (served stale: SWR or error),
REVALIDATED (a 304 from the origin refreshed it). ``Age`` is §4.2.3's.

Edge endpoints: ``GET /_cdn/health``, ``GET /_cdn/stats``, ``POST /_cdn/purge``
(JSON ``{"paths": [...]}`` or ``{"prefix": "/og/"}`` or ``{"all": true}``) and
``PURGE /any/path`` (as Varnish and Fastly take it).

Other methods are forwarded (body buffered, <= 1 MiB) and, when they succeed,
invalidate the target (§4.4). What a production CDN adds: TLS, range caching,
compression negotiation, tiered caching between PoPs, a purge fan-out bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netlib.http import App, HTTPClient, JSONResponse, Request, Response, StreamingResponse
from netlib.http.conditional import not_modified

from . import policy
from .policy import Action, Fields, Stored
from .store import Store

log = logging.getLogger(__name__)

# Request fields never forwarded to the origin when the edge fetches to fill the
# cache: the cache wants a whole 200 to store, and answers the client's
# conditionals itself; Host is the origin's.
NOT_FORWARDED = frozenset({"host", "content-length", "if-none-match", "if-modified-since",
                           "if-match", "if-unmodified-since", "if-range", "range"})  # fmt: skip
# Response fields the edge sets itself (the server adds Date and framing).
NOT_RELAYED = frozenset({"date", "server", "content-length", "age", "x-cache"})


@dataclass(frozen=True)
class EdgeConfig:
    origins: tuple[str, ...]  # primary first, then failovers
    name: str = "edge"
    max_bytes: int = 64 * 1024 * 1024  # memory tier
    max_object: int = 8 * 1024 * 1024  # larger responses stream through uncached
    disk_dir: Path | None = None
    disk_bytes: int = 0
    origin_timeout: float = 5.0  # seconds for the origin's response head
    origin_cooldown: float = 2.0  # seconds a failed origin is skipped
    clock: Callable[[], float] = time.time


@dataclass
class Counters:
    hit: int = 0
    miss: int = 0
    stale: int = 0
    revalidated: int = 0
    origin_requests: int = 0
    coalesced: int = 0
    origin_errors: int = 0
    failovers: int = 0
    streamed_through: int = 0
    by_origin: dict[str, int] = field(default_factory=dict)


class OriginDown(Exception):
    """Every origin failed; ``status`` is what the client gets (502 refused, 504 timeout)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass
class Fetched:
    """An origin's answer: whole (``body``) or still streaming (``stream``)."""

    status: int
    headers: policy.HeaderList
    body: bytes | None
    stream: AsyncIterator[bytes] | None
    request_time: float
    response_time: float
    origin: str


class Edge:
    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.store = Store(config.max_bytes, config.disk_dir, config.disk_bytes)
        self.client = HTTPClient(timeout=config.origin_timeout, max_body=None)
        self.counters = Counters()
        self.inflight: dict[str, asyncio.Future[Response | None]] = {}
        self.down_until: dict[str, float] = {}
        self.background: set[asyncio.Task[Any]] = set()
        self.via = f"1.1 {config.name}"

    # -- the request path --------------------------------------------------------
    async def handle(self, req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            return await self.forward_unsafe(req)
        key = cache_key(req)
        fields = Fields((n.decode("latin-1"), v.decode("latin-1")) for n, v in req.raw_headers)
        if "no-store" in policy.request_directives(fields):
            return await self.pass_through(req, fields)
        for _ in range(3):  # a waiter whose leader's answer was not storable goes again
            s = self.store.lookup(key, fields)
            now = self.config.clock()
            if s is not None:
                action = policy.decide(s, fields, now)
                if action is Action.FRESH:
                    self.counters.hit += 1
                    return self.serve(req, s, "HIT")
                if action is Action.STALE_REFRESH:
                    self.counters.stale += 1
                    self.refresh_behind(key, req, fields, s)
                    return self.serve(req, s, "STALE")
            elif "only-if-cached" in policy.request_directives(fields):
                return Response("not in cache\n", 504)
            waiting = self.inflight.get(key)
            if waiting is None:
                return await self.lead(key, req, fields, s)
            self.counters.coalesced += 1
            shared = await asyncio.shield(waiting)
            if shared is not None:  # the leader's error, shared rather than retried N times
                return shared
        return await self.pass_through(req, fields)

    async def lead(self, key: str, req: Request, fields: Fields, s: Stored | None) -> Response:
        fut: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()
        self.inflight[key] = fut
        shared: Response | None = None
        try:
            resp, shared = await self.fetch_for(key, req, fields, s)
            return resp
        finally:
            del self.inflight[key]
            fut.set_result(shared)

    def refresh_behind(self, key: str, req: Request, fields: Fields, s: Stored) -> None:
        """stale-while-revalidate: one background revalidation per key at a time."""
        if key in self.inflight:
            return
        task = asyncio.get_running_loop().create_task(self.lead(key, req, fields, s))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def fetch_for(
        self, key: str, req: Request, fields: Fields, s: Stored | None
    ) -> tuple[Response, Response | None]:
        """Fetch (or revalidate ``s``) and store; (the client's response, one to share)."""
        headers = self.forward_headers(req)
        if s is not None:
            headers.update(policy.conditional_headers(s))
        try:
            got = await self.fetch(req.target, headers)
        except OriginDown as e:
            if s is not None and policy.stale_on_error(s, fields, self.config.clock()):
                self.counters.stale += 1
                return self.serve(req, s, "STALE"), None
            err = Response(f"{e}\n", e.status, {"x-cache": "MISS", "via": self.via})
            return err, err
        if got.status in policy.ERROR_STATUSES and s is not None and policy.stale_on_error(
            s, fields, self.config.clock()
        ):
            await _discard(got)
            self.counters.stale += 1
            return self.serve(req, s, "STALE"), None
        if got.status == 304 and s is not None:
            fresh = policy.freshen(s, Fields(got.headers), got.request_time, got.response_time)
            if fresh is not None:
                self.store.put(key, fresh)
                self.counters.revalidated += 1
                return self.serve(req, fresh, "REVALIDATED"), None
            self.store.purge(key)  # the 304 named another representation: fetch it whole
            return await self.fetch_for(key, req, fields, None)
        self.counters.miss += 1
        return await self.admit(key, req, fields, got), None

    async def admit(self, key: str, req: Request, fields: Fields, got: Fetched) -> Response:
        """Store the origin's answer if allowed and small enough; answer the client."""
        resp_fields = Fields(got.headers)
        if got.body is None:  # too big to hold: stream through, never stored
            self.counters.streamed_through += 1
            return self.streamed(got)
        if policy.storable(got.status, fields, resp_fields):
            headers = policy.strip_private_fields(got.headers, resp_fields.cc())
            s = Stored(got.status, headers, got.body, got.request_time, got.response_time,
                       policy.vary_key(resp_fields, fields))  # fmt: skip
            self.store.put(key, s)
            return self.serve(req, s, "MISS")
        return self.relay(got.status, got.headers, got.body, "MISS", age=None)

    async def pass_through(self, req: Request, fields: Fields) -> Response:
        """Neither looked up nor stored (request no-store, or an unlucky waiter)."""
        try:
            got = await self.fetch(req.target, self.forward_headers(req))
        except OriginDown as e:
            return Response(f"{e}\n", e.status, {"x-cache": "MISS", "via": self.via})
        self.counters.miss += 1
        if got.body is None:
            return self.streamed(got)
        return self.relay(got.status, got.headers, got.body, "MISS", age=None)

    async def forward_unsafe(self, req: Request) -> Response:
        headers = self.forward_headers(req)
        try:
            got = await self.fetch(req.target, headers, method=req.method, body=req.body)
        except OriginDown as e:
            return Response(f"{e}\n", e.status, {"via": self.via})
        if policy.invalidates(req.method, got.status):
            self.store.purge(cache_key(req))
        if got.body is None:
            return self.streamed(got)
        return self.relay(got.status, got.headers, got.body, "MISS", age=None)

    # -- answering -----------------------------------------------------------------
    def serve(self, req: Request, s: Stored, how: str) -> Response:
        age = int(policy.current_age(s, self.config.clock()))
        f = s.fields
        etag, lm = f.first("etag"), f.first("last-modified")
        inm, ims = req.headers.get("if-none-match"), req.headers.get("if-modified-since")
        if s.status == 200 and (etag or lm) and (inm or ims):
            mtime = policy.http_date(lm)
            if not_modified(inm, ims, etag or "", int(mtime) if mtime is not None else 1 << 62):
                keep = {"etag", "last-modified", "cache-control", "expires", "vary"}
                return self.relay(304, [(k, v) for k, v in s.headers if k in keep], b"", how, age)
        return self.relay(s.status, s.headers, s.body, how, age)

    def relay(self, status: int, headers: policy.HeaderList, body: bytes, how: str, age: int | None) -> Response:
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers if k not in NOT_RELAYED]
        out += [(b"x-cache", how.encode()), (b"via", self.via.encode())]
        if age is not None:
            out.append((b"age", str(age).encode()))
        return Response(body, status, out, content_type="")

    def streamed(self, got: Fetched) -> Response:
        assert got.stream is not None
        keep = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in got.headers if k not in NOT_RELAYED]
        keep += [(b"x-cache", b"MISS"), (b"via", self.via.encode())]
        length = Fields(got.headers).first("content-length")
        if length is not None:
            keep.append((b"content-length", length.encode()))
        return StreamingResponse(got.stream, got.status, keep, content_type="")

    def forward_headers(self, req: Request) -> dict[str, str]:
        raw = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in req.raw_headers]
        out: dict[str, str] = {}
        for k, v in policy.end_to_end(raw):
            if k not in NOT_FORWARDED:
                out[k] = f"{out[k]}, {v}" if k in out else v
        out["via"] = f"{out['via']}, {self.via}" if "via" in out else self.via
        out["x-forwarded-for"] = req.peer.rsplit(":", 1)[0]
        if host := req.headers.get("host"):
            out["x-forwarded-host"] = host
        return out

    # -- the origins -----------------------------------------------------------------
    def origin_order(self) -> list[str]:
        """Healthy origins first, in configured order; the down ones last (still tried)."""
        now = time.monotonic()
        up = [o for o in self.config.origins if self.down_until.get(o, 0) <= now]
        return up + [o for o in self.config.origins if o not in up]

    async def fetch(self, target: bytes, headers: dict[str, str], method: str = "GET",
                    body: bytes | None = None) -> Fetched:  # fmt: skip
        """Ask each origin in turn; the first non-5xx answer wins (or the last 5xx)."""
        last_error: OriginDown | None = None
        last_5xx: Fetched | None = None
        for i, origin in enumerate(self.origin_order()):
            if i:
                self.counters.failovers += 1
            try:
                got = await self.fetch_one(origin, target, headers, method, body)
            except OriginDown as e:
                last_error = e
                self.mark_down(origin, str(e))
                continue
            if got.status not in policy.ERROR_STATUSES:
                return got
            self.mark_down(origin, f"answered {got.status}")
            if last_5xx is not None:
                await _discard(last_5xx)
            last_5xx = got
        if last_5xx is not None:
            return last_5xx
        assert last_error is not None
        raise last_error

    def mark_down(self, origin: str, why: str) -> None:
        self.counters.origin_errors += 1
        self.down_until[origin] = time.monotonic() + self.config.origin_cooldown
        log.warning("origin %s failed (%s): down for %.1fs", origin, why, self.config.origin_cooldown)

    async def fetch_one(self, origin: str, target: bytes, headers: dict[str, str], method: str,
                        body: bytes | None) -> Fetched:  # fmt: skip
        url = origin.rstrip("/") + target.decode("latin-1")
        self.counters.origin_requests += 1
        self.counters.by_origin[origin] = self.counters.by_origin.get(origin, 0) + 1
        sent = self.config.clock()
        try:
            r = await self.client.request(method, url, headers=headers, body=body, stream=True)
        except TimeoutError:
            raise OriginDown(504, f"origin {origin} timed out") from None
        except (OSError, ValueError) as e:  # ConnectionError, refused, bad framing from it
            raise OriginDown(502, f"origin {origin} failed: {e}") from None
        got_at = self.config.clock()
        raw = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in r.headers.raw]
        hdrs = policy.end_to_end(raw)
        if not any(k == "date" for k, _ in hdrs):
            hdrs.append(("date", policy.format_date(got_at)))  # §4.2.3 wants one: we add it
        chunks = r.stream()
        buf: list[bytes] = []
        size = 0
        length = Fields(hdrs).first("content-length")
        if method == "HEAD" or r.status in (204, 304):
            pass
        elif length is not None and length.isdigit() and int(length) > self.config.max_object:
            return Fetched(r.status, hdrs, None, _guarded(chunks, origin), sent, got_at, origin)
        else:
            try:
                async for chunk in chunks:
                    buf.append(chunk)
                    size += len(chunk)
                    if size > self.config.max_object:  # no length said: too big after all
                        stream = _chain(buf, _guarded(chunks, origin))
                        return Fetched(r.status, hdrs, None, stream, sent, got_at, origin)
            except (OSError, ValueError) as e:
                raise OriginDown(502, f"origin {origin} broke off its body: {e}") from None
        return Fetched(r.status, hdrs, b"".join(buf), None, sent, got_at, origin)

    # -- the edge's own endpoints ----------------------------------------------------
    def stats(self) -> dict[str, Any]:
        c = self.counters
        looked = c.hit + c.miss + c.stale + c.revalidated
        return {
            "name": self.config.name, "origins": list(self.config.origins),
            "hit": c.hit, "miss": c.miss, "stale": c.stale, "revalidated": c.revalidated,
            "hit_ratio": round((c.hit + c.stale + c.revalidated) / looked, 4) if looked else 0.0,
            "origin_requests": c.origin_requests, "coalesced": c.coalesced,
            "origin_errors": c.origin_errors, "failovers": c.failovers,
            "streamed_through": c.streamed_through, "by_origin": c.by_origin,
            **self.store.stats(),
        }  # fmt: skip

    def purge(self, data: Any) -> dict[str, int]:
        if not isinstance(data, dict):
            raise ValueError('send {"paths": [...]}, {"prefix": "/..."} or {"all": true}')
        n = 0
        if data.get("all") is True:
            n += self.store.clear()
        if isinstance(prefix := data.get("prefix"), str):
            n += self.store.purge_prefix(prefix)
        paths = data.get("paths", [])
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ValueError("paths is a list of strings")
        n += sum(self.store.purge(p) for p in paths)
        return {"purged": n}

    async def close(self) -> None:
        for t in list(self.background):
            t.cancel()
        await self.client.close()


def cache_key(req: Request) -> str:
    """The target as sent (path and query): one origin per edge, so no host in it."""
    target = req.target.decode("latin-1")
    if not target.startswith("/"):  # absolute-form: keep from the path on
        target = req.path + ("?" + req.query_string.decode("latin-1") if req.query_string else "")
    return target


async def _discard(got: Fetched) -> None:
    if got.stream is not None:
        await got.stream.aclose()  # type: ignore[attr-defined]


async def _guarded(chunks: AsyncIterator[bytes], origin: str) -> AsyncIterator[bytes]:
    try:
        async for c in chunks:
            yield c
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


async def _chain(first: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for c in first:
        yield c
    async for c in rest:
        yield c


def build_app(edge: Edge) -> App:
    app = App()

    @app.get("/_cdn/health")
    def health(req: Request) -> dict[str, Any]:
        return {"ok": True, "name": edge.config.name}

    @app.get("/_cdn/stats")
    def stats(req: Request) -> Response:
        return JSONResponse(edge.stats(), headers={"cache-control": "no-store"})

    @app.post("/_cdn/purge")
    def purge(req: Request) -> Any:
        try:
            return edge.purge(req.json())
        except ValueError as e:
            return Response(f"{e}\n", 400)

    @app.route("/{path:path}", ["PURGE"])
    def purge_one(req: Request) -> Any:
        found = edge.store.purge(cache_key(req))
        return JSONResponse({"purged": int(found)}, status=200 if found else 404)

    app.add(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], "/{path:path}", edge.handle)
    return app
