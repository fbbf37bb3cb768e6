"""The API's ASGI layers: body limits, latency by route, JSON errors, and the direct path that
serves the hottest route without FastAPI's per-request machinery."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from offerflow.api import metrics
from offerflow.api.service import Json


class Direct:
    """Serve a few (method, path) routes by calling their endpoint straight away.

    FastAPI's routing, dependency resolution and response layers cost about 0.1 to 0.2 ms of
    CPU per request on a 2-core machine, a fifth of a decision's. The endpoints of the routes
    given take ``(request, service)`` and do their own checks, so a direct call answers the
    same, errors included (rendered as the app's handlers render them); the routes stay
    declared on the app for the OpenAPI docs, and behind this layer for the latency metric.
    """

    def __init__(self, app: Any, fastapi: FastAPI, routes: list[APIRoute]) -> None:
        self.app, self.fastapi = app, fastapi
        self.routes = {(m, r.path): r for r in routes for m in r.methods}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        route = self.routes.get((scope.get("method", ""), scope.get("path", "")))
        if scope["type"] != "http" or route is None:
            return await self.app(scope, receive, send)
        scope["route"] = route  # it names the latency metric's label
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request, self.fastapi.state.service)
        except HTTPException as exc:
            response = await http_error(request, exc)
        except RequestValidationError as exc:
            response = await invalid(request, exc)
        await response(scope, receive, send)


class BodyLimit:
    """Refuse a body larger than ``limit`` bytes with 413, by its Content-Length or, when
    it is sent in chunks, as soon as the bytes read pass the limit."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:  # the server reads no more than the length declared
            if not declared.isdigit() or int(declared) > self.limit:
                return await self._refuse(send)
            return await self.app(scope, receive, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        await Json({"error": f"body larger than {self.limit} bytes"}, 413)(
            {"type": "http"}, None, send
        )


class _TooLarge(Exception):
    pass


class Timed:
    """Latency by route template and status (never the raw path: it holds user ids)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def sent(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.LATENCY.labels(path, scope["method"], str(status[0])).observe(
                time.perf_counter() - start
            )


async def http_error(_request: Request, exc: Exception) -> Json:
    """An :class:`HTTPException` as the JSON ``{"error": ...}`` every answer uses."""
    assert isinstance(exc, HTTPException)
    return Json({"error": exc.detail}, exc.status_code, headers=exc.headers)


async def invalid(_request: Request, exc: Exception) -> Json:
    """A validation error as a 422 naming each field and its problem."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"] if p != "body")
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return Json({"error": "; ".join(problems)}, 422)
