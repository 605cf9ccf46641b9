"""The blog API's routes.

Routes (JSON in, JSON out)::

    GET  /                                  the id scheme and the number of shards
    POST /users/{uid}/blogs                 {"title", "body"?} -> 201 {"id", "shard", "url"}
    GET  /users/{uid}/blogs                 the user's newest blogs (from their shard)
    GET  /users/{uid}/blogs/{id}            one blog (the URL a post answers with)
    POST /users/{uid}/move?to=K             move the user and their blogs to shard K
    GET  /blogs/{id}                        every shard's blog with this id: 200 for one,
                                            300 Multiple Choices when ids collide, 404 for none

Database trouble is a 503 for that request only; a bad body a 400; a move
that would collide a 409.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from clients.mysql import MySQLError
from clients.pool import PoolError
from netlib.http import App, HTTPError, JSONResponse, Request
from netlib.http import serve as serve_http
from netlib.shell import Server, ShellConfig

from . import store
from .shards import MoveCollision, ShardSet

log = logging.getLogger(__name__)
T = TypeVar("T")


async def guarded(work: Awaitable[T]) -> T:
    try:
        return await work
    except MoveCollision as e:
        raise HTTPError(409, str(e)) from None
    except (MySQLError, PoolError, OSError) as e:
        log.warning("shard unavailable: %s", e)
        raise HTTPError(503, f"database unavailable: {e}") from None


def _user(req: Request) -> int:
    uid = int(req.params["uid"])
    if not 0 <= uid <= store.MAX_USER_ID:
        raise HTTPError(400, "user id out of range")
    return uid


def _id(req: Request) -> int:
    bid = int(req.params["bid"])
    if not 0 <= bid < 1 << 64:
        raise HTTPError(400, "blog id out of range")
    return bid


def build_app(shards: ShardSet) -> App:
    app = App()

    @app.get("/")
    def index(req: Request) -> dict[str, Any]:
        return {"ids": shards.ids, "shards": len(shards)}

    @app.post("/users/{uid:int}/blogs")
    async def create(req: Request) -> JSONResponse:
        try:
            title, body = store.validate(req.json())
        except store.InvalidBlog as e:
            raise HTTPError(400, str(e)) from None
        blog = await guarded(shards.create(_user(req), title, body))
        resp = JSONResponse(blog, 201)
        resp.headers.append((b"location", blog["url"].encode()))
        return resp

    @app.get("/users/{uid:int}/blogs")
    async def listing(req: Request) -> dict[str, Any]:
        shard, blogs = await guarded(shards.list_user(_user(req)))
        return {"user": _user(req), "shard": shard, "blogs": blogs}

    @app.get("/users/{uid:int}/blogs/{bid:int}")
    async def read(req: Request) -> JSONResponse:
        shard, blog = await guarded(shards.get(_user(req), _id(req)))
        if blog is None:
            return JSONResponse({"error": "no such blog"}, 404)
        return JSONResponse({**blog, "shard": shard})

    @app.post("/users/{uid:int}/move")
    async def move(req: Request) -> dict[str, Any]:
        to = req.arg("to", "") or ""
        if not (to.isascii() and to.isdigit()) or int(to) >= len(shards):
            raise HTTPError(400, f"?to= must be a shard number 0..{len(shards) - 1}")
        return await guarded(shards.move(_user(req), int(to)))

    @app.get("/blogs/{bid:int}")
    async def anywhere(req: Request) -> JSONResponse:
        found = await guarded(shards.find_everywhere(_id(req)))
        status = 404 if not found else 200 if len(found) == 1 else 300
        return JSONResponse({"id": _id(req), "found": found}, status)

    return app


async def serve(shards: ShardSet, config: ShellConfig) -> Server:
    await shards.prepare()
    return await serve_http(build_app(shards), config)
