"""The origin: what the edges cache.

    GET  /api/popular-searches?region=eu&k=10   top queries over a sliding window (JSON,
                                                public, max-age=5, SWR and stale-if-error)
    POST /api/search {"q": "...", "region": "eu"}  one more search event
    GET  /og/{owner}/{repo}.png                  the repository's Open Graph card (N9)
    GET  /repo/{owner}/{repo}                    an HTML page whose og:image is that card
    GET  /img/{n}.png                            gallery images for the lazy page (N12)
    GET  /web/...                                the pages in web/ (ETag, Last-Modified)
    GET  /lab/{name}?cc=..&vary=..&etag=1&lm=S&expires=S&size=N&delay=S&status=N&chunked=1
                                                 a resource whose caching headers the query
                                                 sets: the learner's (and the tests') probe
    POST /lab/{name}/bump                        a new version of that resource
    GET  /_origin/stats                          requests per path, cards rendered
    POST /_origin/fail {"status": 503}           answer everything but /_origin/* with it
                                                 ({"status": 0} heals)

Every response names its origin (``X-Origin``), so failover is visible.
Conditional GETs (If-None-Match) get 304 wherever there is an ETag; for the OG
cards that happens before anything is drawn.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from netlib.http import App, HTTPError, JSONResponse, Request, Response, StreamingResponse
from netlib.shell import Server, ShellConfig

from . import og
from .policy import format_date, http_date
from .popular import REGIONS, SearchStream, SlidingTopK

MAX_LAB_SIZE = 64 * 1024 * 1024  # bytes a lab resource may ask for (streaming tests use ~10 MB)
MAX_LAB_DELAY = 30.0  # seconds of simulated origin latency
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
POPULAR_CC = "public, max-age=5, stale-while-revalidate=10, stale-if-error=300"
OG_CC = "public, max-age=86400, s-maxage=604800"  # a day in browsers, a week at the edge
IMG_CC = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class OriginConfig:
    name: str = "origin"
    window: int = 60  # seconds of search events in Popular Searches
    events_per_second: int = 200  # synthetic search traffic (0: only POST /api/search)
    web_dir: str | None = None  # served at /web/
    clock: Callable[[], float] = time.time


class Origin:
    def __init__(self, config: OriginConfig) -> None:
        self.config = config
        self.topk = SlidingTopK(config.window, config.clock)
        self.stream = SearchStream()
        self.requests: Counter[str] = Counter()
        self.renders = 0
        self.versions: Counter[str] = Counter()
        self.failing = 0
        self.started = config.clock()
        self.bumped: dict[str, float] = {}

    def count(self, req: Request) -> None:
        self.requests[req.path] += 1

    def headers(self, extra: dict[str, str]) -> dict[str, str]:
        return {"x-origin": self.config.name, **extra}

    # -- Popular Searches ----------------------------------------------------------
    def popular(self, req: Request) -> Response:
        self.count(req)
        region = req.arg("region", "eu") or "eu"
        if region not in REGIONS:
            raise HTTPError(400, f"region is one of {', '.join(REGIONS)}")
        k = req.arg("k", "10") or "10"
        if not k.isdigit() or not 1 <= int(k) <= 100:
            raise HTTPError(400, "k is 1..100")
        top = self.topk.top(region, int(k))
        data = {
            "region": region, "window_seconds": self.config.window,
            "generated_at": format_date(self.config.clock()), "served_by": self.config.name,
            "events": self.topk.events(region),
            "top": [{"query": q, "count": c} for q, c in top],
        }  # fmt: skip
        body = json.dumps(data, separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        hdrs = self.headers({"cache-control": POPULAR_CC, "etag": etag, "vary": "Accept-Encoding"})
        if _matches(req, etag):
            return Response(b"", 304, hdrs, content_type="")
        return Response(body, 200, hdrs, content_type="application/json")

    def search(self, req: Request) -> Response:
        self.count(req)
        data = req.json()
        q, region = (data.get("q"), data.get("region", "eu")) if isinstance(data, dict) else (None, None)
        if not isinstance(q, str) or not q.strip() or len(q) > 100 or region not in REGIONS:
            raise HTTPError(422, f"send {{'q': 1..100 chars, 'region': one of {', '.join(REGIONS)}}}")
        self.topk.add(region, " ".join(q.lower().split()))
        return JSONResponse({"ok": True}, 202, self.headers({}))

    async def synthetic_traffic(self) -> None:
        """Search events at ``events_per_second``, ten batches a second."""
        per_tick = max(1, self.config.events_per_second // 10)
        while True:
            self.stream.feed(self.topk, per_tick)
            await asyncio.sleep(0.1)  # the traffic's pace, not a synchronisation

    # -- OG cards ------------------------------------------------------------------
    async def og_card(self, req: Request) -> Response:
        self.count(req)
        owner, file = req.params["owner"], req.params["file"]
        name = file.removesuffix(".png")
        if not file.endswith(".png") or not _NAME.fullmatch(owner) or not _NAME.fullmatch(name):
            raise HTTPError(404, "no such card")
        info = og.repo_info(owner, name)
        hdrs = self.headers({"cache-control": OG_CC, "etag": info.etag()})
        if _matches(req, info.etag()):
            return Response(b"", 304, hdrs, content_type="")
        png = await asyncio.to_thread(og.render, info)
        self.renders += 1
        return Response(png, 200, hdrs, content_type="image/png")

    def repo_page(self, req: Request) -> Response:
        self.count(req)
        owner, name = req.params["owner"], req.params["repo"]
        if not _NAME.fullmatch(owner) or not _NAME.fullmatch(name):
            raise HTTPError(404, "no such repository")
        info = og.repo_info(owner, name)
        host = req.headers.get("x-forwarded-host") or req.headers.get("host") or "127.0.0.1"
        image = f"http://{host}/og/{owner}/{name}.png"
        e = html.escape
        page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{e(owner)}/{e(name)}</title>
<meta property="og:title" content="{e(owner)}/{e(name)}">
<meta property="og:description" content="{e(info.description)}">
<meta property="og:image" content="{e(image)}">
<meta property="og:image:width" content="{og.WIDTH}">
<meta property="og:image:height" content="{og.HEIGHT}">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:image" content="{e(image)}">
</head><body><h1>{e(owner)}/{e(name)}</h1><p>{e(info.description)}</p>
<p>&#9733; {info.stars} &middot; {e(info.language)}</p><img src="{e(image)}" width="600" height="315" alt="card">
</body></html>
"""
        return Response(page, 200, self.headers({"cache-control": "public, max-age=60"}),
                        content_type="text/html; charset=utf-8")  # fmt: skip

    async def gallery(self, req: Request) -> Response:
        self.count(req)
        file = req.params["file"]
        n = file.removesuffix(".png")
        if not file.endswith(".png") or not n.isdigit() or int(n) > 100_000:
            raise HTTPError(404, "no such image")
        png = await asyncio.to_thread(og.gallery_image, int(n))
        etag = f'"img-{n}"'
        return Response(png, 200, self.headers({"cache-control": IMG_CC, "etag": etag}),
                        content_type="image/png")  # fmt: skip

    # -- the lab resource -----------------------------------------------------------
    async def lab(self, req: Request) -> Response:
        self.count(req)
        name = req.params["name"]
        delay = _number(req.arg("delay"), 0.0, MAX_LAB_DELAY, "delay")
        if delay:
            await asyncio.sleep(delay)  # simulated origin latency (timeouts, coalescing)
        version = self.versions[name]
        vary = req.arg("vary")
        variant = req.headers.get(vary, "") if vary else ""
        hdrs: dict[str, str] = {}
        for param, header in (("cc", "cache-control"), ("vary", "vary")):
            if (v := req.arg(param)) is not None:
                hdrs[header] = v
        now = self.config.clock()
        if req.arg("etag") == "1":
            hdrs["etag"] = f'"{name}-v{version}-{hashlib.sha256(variant.encode()).hexdigest()[:8]}"'
        if (lm := req.arg("lm")) is not None:
            since = self.started - _number(lm, 0, 10**9, "lm")  # fixed, so IMS can match
            hdrs["last-modified"] = format_date(max(since, self.bumped.get(name, 0.0)))
        if (ex := req.arg("expires")) is not None:
            hdrs["expires"] = format_date(now + _number(ex, -(10**9), 10**9, "expires"))
        if "set-cookie" in (req.arg("extra") or ""):
            hdrs["set-cookie"] = f"session={name}"
        status = int(_number(req.arg("status"), 100, 599, "status") or 200)
        if req.arg("hop") == "1":  # hop-by-hop fields a proxy must not relay (RFC 9110 §7.6.1)
            hdrs.update({"connection": "x-hop", "x-hop": "secret", "keep-alive": "timeout=5"})
        if ("etag" in hdrs and _matches(req, hdrs["etag"])) or _unmodified_since(req, hdrs):
            return Response(b"", 304, self.headers(hdrs), content_type="")
        size = int(_number(req.arg("size"), 0, MAX_LAB_SIZE, "size"))
        text = f"{name} v{version} {variant} from {self.config.name}\n".encode()
        if size:
            text = (text * (size // len(text) + 1))[:size]
        if req.arg("chunked") == "1":
            return StreamingResponse(_pieces(text), status, self.headers(hdrs), "text/plain")
        return Response(text, status, self.headers(hdrs), content_type="text/plain")

    def bump(self, req: Request) -> dict[str, Any]:
        self.versions[req.params["name"]] += 1
        self.bumped[req.params["name"]] = self.config.clock() + 1  # after any earlier date
        return {"name": req.params["name"], "version": self.versions[req.params["name"]]}

    def stats(self, req: Request) -> Response:
        data = {"name": self.config.name, "requests": dict(self.requests), "renders": self.renders,
                "total": sum(self.requests.values()), "failing": self.failing}  # fmt: skip
        return JSONResponse(data, headers={"cache-control": "no-store"})

    def echo(self, req: Request) -> Response:
        """The request fields as received: what the edge forwarded."""
        self.count(req)
        fields = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in req.raw_headers]
        return JSONResponse({"headers": fields}, headers=self.headers({"cache-control": "no-store"}))

    def fail(self, req: Request) -> dict[str, int]:
        data = req.json()
        status = data.get("status") if isinstance(data, dict) else None
        if not isinstance(status, int) or not (status == 0 or 500 <= status <= 599):
            raise HTTPError(422, 'send {"status": 500..599} to fail, {"status": 0} to heal')
        self.failing = status
        return {"failing": status}


def _pieces(text: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(text), size):
        yield text[i : i + size]


def _number(value: str | None, lo: float, hi: float, what: str) -> float:
    if value is None:
        return 0.0
    try:
        n = float(value)
    except ValueError:
        raise HTTPError(400, f"{what} is a number") from None
    if not lo <= n <= hi:
        raise HTTPError(400, f"{what} is {lo}..{hi}")
    return n


def _unmodified_since(req: Request, hdrs: dict[str, str]) -> bool:
    """If-Modified-Since (only without If-None-Match, RFC 9110 §13.2.2)."""
    ims, lm = req.headers.get("if-modified-since"), hdrs.get("last-modified")
    if ims is None or lm is None or req.headers.get("if-none-match") is not None:
        return False
    since, modified = http_date(ims), http_date(lm)
    return since is not None and modified is not None and modified <= since


def _matches(req: Request, etag: str) -> bool:
    inm = req.headers.get("if-none-match")
    if inm is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
    return "*" in tags or etag in tags


def build_app(origin: Origin) -> App:
    app = App()

    def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        """``POST /_origin/fail`` makes every content route answer that status."""

        async def wrapped(req: Request) -> Any:
            if origin.failing:
                origin.count(req)
                return Response(f"origin failing with {origin.failing}\n", origin.failing,
                                origin.headers({}))  # fmt: skip
            result = handler(req)
            return await result if asyncio.iscoroutine(result) else result

        return wrapped

    app.get("/api/popular-searches")(guarded(origin.popular))
    app.post("/api/search")(guarded(origin.search))
    app.get("/og/{owner}/{file}")(guarded(origin.og_card))
    app.get("/repo/{owner}/{repo}")(guarded(origin.repo_page))
    app.get("/img/{file}")(guarded(origin.gallery))
    app.get("/lab/{name}")(guarded(origin.lab))
    app.post("/lab/{name}/bump")(origin.bump)
    app.get("/_origin/stats")(origin.stats)
    app.get("/_origin/echo")(origin.echo)
    app.post("/_origin/fail")(origin.fail)
    if origin.config.web_dir:
        app.static("/web", origin.config.web_dir)
    return app


async def serve(origin: Origin, shell: ShellConfig) -> Server:
    from netlib.http import serve as serve_http

    server = await serve_http(build_app(origin), shell)
    if origin.config.events_per_second:
        server.background(origin.synthetic_traffic(), "search-events")
    return server
