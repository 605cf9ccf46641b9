"""The edge: a shared HTTP cache (RFC 9111) in front of one origin and a failover.

Per GET/HEAD: look the target up (``store``), let ``policy.decide`` say fresh /
stale-while-revalidate / revalidate, and only then talk to the origin
(``upstream.fetch_one``, one request each), which

* coalesces: concurrent misses for one key wait on the first one's fetch (one
  origin request for N clients, as Varnish's waiting list or nginx's
  ``proxy_cache_lock``); a waiter then looks the cache up again, and fetches on
  its own only if the response turned out not storable;
* streams through what is too big to store: the body goes to the client as it
  arrives (``StreamingResponse``), never held whole;
* fails over: an origin that refuses, times out or answers 5xx is marked down
  for ``origin_cooldown`` seconds; the edge serves stale where stale-if-error
  allows it, else asks the secondary origin, else answers 502/504.

What it gives up: a URL whose answer is not storable (private, Set-Cookie) is
fetched by each waiter in turn after the first, for at most three turns, then all
at once; Varnish remembers such URLs ("hit-for-miss") so later requests skip the
queue.

With ``peers`` (every edge's URL), the edges shard among themselves on the
consistent-hash ring (``clients.hashring``): a miss asks the object's owner edge
before the origin, one hop at most (``X-CDN-Peer`` marks the hop), and the
origins if that edge is down; so the origin sees each object once, whichever
edge a user reached (Varnish's shard director, a CDN's tiered cache).

``X-Cache`` says what happened: HIT, MISS, STALE (served stale: SWR or error),
REVALIDATED (a 304 from the origin refreshed it). ``Age`` is §4.2.3's.

Edge endpoints: ``GET /_cdn/health``, ``GET /_cdn/stats``, ``POST /_cdn/purge``
(JSON ``{"paths": [...]}`` or ``{"prefix": "/og/"}`` or ``{"all": true}``) and
``PURGE /any/path`` (as Varnish and Fastly take it). Anyone who reaches the edge
may purge: it binds 127.0.0.1; a real CDN authenticates purges (Fastly's API
tokens, Varnish ACLs).

Other methods are forwarded (body buffered, <= 1 MiB) and, when they succeed,
invalidate the target (§4.4). What a production CDN adds: TLS, range caching,
compression negotiation, tiered caching between PoPs, a purge fan-out bus.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients.hashring import HashRing
from netlib.http import App, HTTPClient, JSONResponse, Request, Response, StreamingResponse
from netlib.http.conditional import not_modified

from . import policy
from .policy import Action, Fields, Stored
from .store import Store
from .upstream import Fetched, OriginDown, discard, fetch_one, nothing

log = logging.getLogger(__name__)

# Request fields never forwarded to the origin when the edge fetches to fill the
# cache: the cache wants a whole 200 to store, and answers the client's
# conditionals itself; Host is the origin's.
NOT_FORWARDED = frozenset({"host", "content-length", "if-none-match", "if-modified-since",
                           "if-match", "if-unmodified-since", "if-range", "range", "x-cdn-peer"})  # fmt: skip
# Set on a request one edge sends to the peer that owns the object (never sent on).
PEER_HEADER = "x-cdn-peer"
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
    peers: tuple[str, ...] = ()  # every edge's URL, this one's included: the shard ring
    self_url: str = ""  # this edge's URL among the peers
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
    peer_requests: int = 0
    by_origin: dict[str, int] = field(default_factory=dict)


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
        self.via_bytes = self.via.encode()
        self.wire: dict[int, tuple[Stored, list[tuple[bytes, bytes]]]] = {}
        self.ring = HashRing(list(config.peers)) if config.peers else None

    # -- the request path --------------------------------------------------------
    async def handle(self, req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            return await self.forward_unsafe(req)
        key = cache_key(req)
        fields = Fields((n.decode("latin-1"), v.decode("latin-1")) for n, v in req.raw_headers)
        req_cc = policy.request_directives(fields)
        if "no-store" in req_cc:
            return await self.pass_through(req, fields)
        for _ in range(3):  # a waiter whose leader's answer was not storable goes again
            s = self.store.lookup(key, fields)
            now = self.config.clock()
            if s is not None:
                action = policy.decide(s, fields, now, req_cc)
                if action is Action.FRESH:
                    self.counters.hit += 1
                    return self.serve(req, s, "HIT")
                if action is Action.STALE_REFRESH:
                    self.counters.stale += 1
                    self.refresh_behind(key, req, fields, s)
                    return self.serve(req, s, "STALE")
            elif "only-if-cached" in req_cc:
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
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task[Any]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background revalidation failed", exc_info=task.exception())

    async def fetch_for(
        self, key: str, req: Request, fields: Fields, s: Stored | None
    ) -> tuple[Response, Response | None]:
        """Fetch (or revalidate ``s``) and store; (the client's response, one to share)."""
        headers = self.forward_headers(req)
        if s is not None:
            headers.update(policy.conditional_headers(s))

        def stale_ok() -> bool:
            return s is not None and policy.stale_on_error(s, fields, self.config.clock())

        try:
            got = await self.fetch(req.target, headers, stale_ok=stale_ok, peer=self.owner(key, req))
        except OriginDown as e:
            if s is not None and policy.stale_on_error(s, fields, self.config.clock()):
                self.counters.stale += 1
                return self.serve(req, s, "STALE"), None
            err = Response(f"{e}\n", e.status, {"x-cache": "MISS", "via": self.via})
            return err, err
        if got.status in policy.ERROR_STATUSES and s is not None and policy.stale_on_error(
            s, fields, self.config.clock()
        ):
            await discard(got)
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
            return await self.streamed(req, got)
        if policy.storable(got.status, fields, resp_fields):
            s = Stored(got.status, got.headers, got.body, got.request_time, got.response_time,
                       policy.vary_key(resp_fields, fields))  # fmt: skip
            kept = policy.strip_private_fields(got.headers, resp_fields.cc())
            self.store.put(key, dataclasses.replace(s, headers=kept))
            return self.serve(req, s, "MISS")  # this client gets the fields kept from others
        return self.relay(got.status, got.headers, got.body, "MISS", age=None)

    async def pass_through(self, req: Request, fields: Fields) -> Response:
        """Neither looked up nor stored (request no-store, or an unlucky waiter)."""
        try:
            got = await self.fetch(req.target, self.forward_headers(req))
        except OriginDown as e:
            return Response(f"{e}\n", e.status, {"x-cache": "MISS", "via": self.via})
        self.counters.miss += 1
        if got.body is None:
            return await self.streamed(req, got)
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
            return await self.streamed(req, got)
        return self.relay(got.status, got.headers, got.body, "MISS", age=None)

    # -- answering -----------------------------------------------------------------
    def serve(self, req: Request, s: Stored, how: str) -> Response:
        age = int(policy.current_age(s, self.config.clock()))
        inm = ims = None
        for name, value in req.raw_headers:  # the client's own conditionals, answered here
            if name == b"if-none-match":
                inm = value.decode("latin-1")
            elif name == b"if-modified-since":
                ims = value.decode("latin-1")
        f = s.fields
        etag, lm = f.first("etag"), f.first("last-modified")
        if s.status == 200 and (etag or lm) and (inm or ims):
            mtime = policy.http_date(lm)
            if not_modified(inm, ims, etag or "", int(mtime) if mtime is not None else 1 << 62):
                keep = {"etag", "last-modified", "cache-control", "expires", "vary"}
                return self.relay(304, [(k, v) for k, v in s.headers if k in keep], b"", how, age)
        wire = self.wire.get(id(s))
        if wire is None or wire[0] is not s:  # encoded once per stored response, not per hit
            wire = self.wire[id(s)] = (s, self.encode(s.headers))
            if len(self.wire) > 2 * len(self.store) + 64:  # entries gone from the store
                self.wire = {k: v for k, v in self.wire.items() if k == id(s)}
        return self.finish(s.status, list(wire[1]), s.body, how, age)

    def encode(self, headers: policy.HeaderList) -> list[tuple[bytes, bytes]]:
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers if k not in NOT_RELAYED]

    def relay(self, status: int, headers: policy.HeaderList, body: bytes, how: str, age: int | None) -> Response:
        return self.finish(status, self.encode(headers), body, how, age)

    def finish(self, status: int, out: list[tuple[bytes, bytes]], body: bytes, how: str, age: int | None) -> Response:
        out += [(b"x-cache", how.encode()), (b"via", self.via_bytes)]
        if age is not None:
            out.append((b"age", b"%d" % age))
        return Response(body, status, out, content_type="")

    async def streamed(self, req: Request, got: Fetched) -> Response:
        """The origin's body passed on as it arrives (a HEAD gets the head: the body is dropped)."""
        assert got.stream is not None
        keep = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in got.headers if k not in NOT_RELAYED]
        keep += [(b"x-cache", b"MISS"), (b"via", self.via.encode())]
        length = Fields(got.headers).first("content-length")
        if length is not None:
            keep.append((b"content-length", length.encode()))
        body = got.stream
        if req.method == "HEAD":  # the server sends no body for HEAD: close the origin's now
            await discard(got)
            body = nothing()
        return StreamingResponse(body, got.status, keep, content_type="")

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
    def owner(self, key: str, req: Request) -> str | None:
        """The peer edge that owns ``key`` on the ring, when it is another (and up).

        A request that already came from a peer is never sent on: one hop at most."""
        if self.ring is None or req.headers.get(PEER_HEADER) is not None:
            return None
        owner = self.ring.lookup(key)
        if owner == self.config.self_url or self.down_until.get(owner, 0) > time.monotonic():
            return None
        return owner

    def origin_order(self) -> list[str]:
        """Healthy origins first, in configured order; the down ones last (still tried)."""
        now = time.monotonic()
        up = [o for o in self.config.origins if self.down_until.get(o, 0) <= now]
        return up + [o for o in self.config.origins if o not in up]

    async def fetch(self, target: bytes, headers: dict[str, str], method: str = "GET",
                    body: bytes | None = None, stale_ok: Callable[[], bool] | None = None,
                    peer: str | None = None) -> Fetched:  # fmt: skip
        """Ask each origin in turn; the first non-5xx answer wins (or the last 5xx).

        After a failure, ``stale_ok()`` True stops the failover: the caller has a stale
        copy it may serve, which the issue's order (stale, then the secondary) prefers.
        ``peer``: the edge that owns this object, asked before any origin (its cache
        is the shard's); if it fails, the origins are asked as usual."""
        last_error: OriginDown | None = None
        last_5xx: Fetched | None = None
        upstreams = ([peer] if peer else []) + self.origin_order()
        for i, origin in enumerate(upstreams):
            if i > (1 if peer else 0):  # from one origin to the next
                if stale_ok is not None and stale_ok():
                    break
                self.counters.failovers += 1
            sent_headers = {**headers, PEER_HEADER: self.config.name} if origin == peer else headers
            if origin == peer:
                self.counters.peer_requests += 1
            try:
                got = await self.fetch_one(origin, target, sent_headers, method, body)
            except OriginDown as e:
                last_error = e
                self.mark_down(origin, str(e))
                continue
            if got.status not in policy.ERROR_STATUSES:
                return got
            if origin != peer:  # a peer's 5xx is its origin's failure, not the peer's
                self.mark_down(origin, f"answered {got.status}")
            if last_5xx is not None:
                await discard(last_5xx)
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
        self.counters.origin_requests += 1
        self.counters.by_origin[origin] = self.counters.by_origin.get(origin, 0) + 1
        c = self.config
        return await fetch_one(self.client, origin, target, headers, method, body,
                               max_object=c.max_object, idle_timeout=c.origin_timeout, clock=c.clock)  # fmt: skip

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
            "peer_requests": c.peer_requests,
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
