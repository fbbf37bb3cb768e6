"""``offerflow serve``: the personalization API as one FastAPI application.

Stateless: it reads what the flows keep in Redis and writes to Kafka, so operators run as many
replicas as they need. Every error is JSON ``{"error": "..."}`` with a 4xx that says what to
fix (a 5xx only for a dependency that is down, with Retry-After); request bodies are capped
before they are read; browsers may call it from the origins ``OFFERFLOW_API_CORS_ORIGINS``
allows. OpenAPI docs are at ``/docs`` (Swagger UI served from the ``fastapi-offline`` package,
so they load where browsers cannot reach a CDN).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import PlainTextResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import generate_latest
from starlette.exceptions import HTTPException

from config.settings import ConfigError, Settings
from offerflow.api import collect, decide, metrics, reads
from offerflow.api.keys import KeyRing
from offerflow.api.middleware import BodyLimit, Direct, Timed, http_error, invalid
from offerflow.api.service import Json, Service

log = logging.getLogger(__name__)


def create_app(settings: Settings, keys: KeyRing) -> FastAPI:
    """The application; its dependencies start with it and stop with it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = Service.start(settings, keys)
        await app.state.service.warm()
        # What exists now lives as long as the process: out of the collector's sight, a full
        # collection no longer walks it (up to 90 ms with every request waiting, without).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.service.close()

    app = FastAPIOffline(  # FastAPI serving its docs' scripts itself: no CDN needed
        title="OfferFlow personalization API",
        version="1",
        lifespan=lifespan,
        default_response_class=Json,
        description="Decisions, profiles, recommendations and analytics over HTTP, and an "
        "event collector. Authenticate with `Authorization: Bearer <key>`.",
    )
    app.include_router(decide.router)
    app.include_router(collect.router)
    app.include_router(reads.router)
    app.add_api_route("/healthz", _health, include_in_schema=False)
    app.add_api_route("/readyz", _ready, include_in_schema=False)
    app.add_api_route("/metrics", _metrics, include_in_schema=False)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, _crash)
    hot = [r for r in decide.router.routes if getattr(r, "name", "") == "decide_post"]
    app.add_middleware(Direct, fastapi=app, routes=hot)
    origins = [o.strip() for o in settings.api_cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["authorization", "x-api-key", "content-type"],
            max_age=600,
        )
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    app.add_middleware(Timed)
    return app


@dataclass
class Running:
    """An API serving in a background thread (:func:`start`): tests and the demo."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start(settings: Settings, keys: KeyRing, host: str = "127.0.0.1") -> Running:
    """Serve the API on ``host`` and any free port in a daemon thread, ready when it returns."""
    sock = socket.socket()
    sock.bind((host, 0))
    config = uvicorn.Config(create_app(settings, keys), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("the API did not start")
    return Running(f"http://{host}:{sock.getsockname()[1]}", server, thread)


def from_env() -> FastAPI:
    """The application as ``OFFERFLOW_*`` configures it (uvicorn's factory, one per worker)."""
    settings = Settings.from_env()
    return create_app(settings, load_keys(settings))


def load_keys(settings: Settings) -> KeyRing:
    """The keys file's keys; raises :class:`ConfigError` with one line if it is missing or bad."""
    if not settings.api_keys_file:
        raise ConfigError("OFFERFLOW_API_KEYS_FILE is not set: make a key with offerflow api-key")
    path = Path(settings.api_keys_file)
    try:
        return KeyRing.parse(path.read_text())
    except OSError as exc:
        raise ConfigError(f"OFFERFLOW_API_KEYS_FILE {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"OFFERFLOW_API_KEYS_FILE {path}: {exc}") from None


async def _crash(request: Request, exc: Exception) -> Json:
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("%s %s failed: %s", request.method, route, type(exc).__name__)
    return Json({"error": "internal error"}, 500)


async def _health() -> dict[str, str]:
    return {"status": "ok"}


async def _ready(request: Request) -> Json:
    svc: Service = request.app.state.service
    queued = max(svc.producer.queued(), svc.announcer.queued())
    checks = {"redis": "ok", "producer_queue": queued}
    try:
        await svc.redis.ping()
    except Exception as exc:
        checks["redis"] = type(exc).__name__
    ready = checks["redis"] == "ok" and queued < svc.producer.max_queued // 2
    return Json({"ready": ready, **checks}, 200 if ready else 503)


async def _metrics(request: Request) -> PlainTextResponse:
    svc: Service = request.app.state.service
    metrics.PRODUCER_QUEUE.set(svc.producer.queued() + svc.announcer.queued())
    return PlainTextResponse(generate_latest(metrics.REGISTRY).decode())
