"""The API's ASGI layers, composed as ``offerflow.api.app`` composes them, around a small
FastAPI app: the direct path answers as FastAPI would, errors and failures included, and the
latency metric names the route."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute

from offerflow.api import metrics
from offerflow.api.middleware import BodyLimit, Direct, Timed, http_error
from offerflow.api.service import Json


async def hot(request: Request, svc: object) -> Json:
    body = await request.body()
    if body == b"refuse":
        raise HTTPException(409, "refused, as asked")
    if body == b"fail":
        raise RuntimeError("a bug with user u-42 in its message")
    return Json({"served_by": svc, "body": body.decode()})


async def cold() -> dict[str, str]:
    return {"served_by": "FastAPI"}


async def crash(_request: Request, _exc: Exception) -> Json:
    return Json({"error": "internal error"}, 500)


def layered() -> FastAPI:
    app = FastAPI()
    app.state.service = "the service"
    app.add_api_route("/hot", hot, methods=["POST"])
    app.add_api_route("/cold", cold, methods=["GET"])
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, crash)
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path == "/hot"]
    app.add_middleware(Direct, fastapi=app, routes=routes)
    app.add_middleware(BodyLimit, limit=16)
    app.add_middleware(Timed)
    return app


def ask(method: str, path: str, body: bytes = b"") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=layered(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.request(method, path, content=body)

    return asyncio.run(go())


def _count(route: str, status: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "offerflow_api_request_seconds_count", {"route": route, "method": "POST", "status": status}
    )
    return sample or 0.0


def test_the_direct_path_answers_errors_and_failures_as_fastapi_would() -> None:
    before = _count("/hot", "500")
    answer = ask("POST", "/hot", b"hello")
    assert answer.status_code == 200 and answer.json() == {
        "served_by": "the service",
        "body": "hello",
    }
    refused = ask("POST", "/hot", b"refuse")
    assert (refused.status_code, refused.json()) == (409, {"error": "refused, as asked"})
    failed = ask("POST", "/hot", b"fail")
    assert (failed.status_code, failed.json()) == (500, {"error": "internal error"})
    assert "u-42" not in failed.text
    assert _count("/hot", "500") == before + 1  # timed under the route's template
    assert ask("POST", "/hot", b"x" * 17).status_code == 413  # the body limit still applies
    assert ask("GET", "/cold").json() == {"served_by": "FastAPI"}  # other routes: FastAPI's
