"""``offerflow dashboard``: one local web server with a page per view of :mod:`flows.analytics`.

Starlette serves the pages and a JSON API (``/api/<page>``, the query layer's output as
is); the browser draws the charts with Plotly's JavaScript bundle, served from the
``plotly`` Python package, so nothing is fetched from the internet and nothing is built.
Pages poll their API every two seconds.

Every request needs the token (``OFFERFLOW_DASHBOARD_TOKEN``, or a random one made at start):
as ``?token=`` (which also sets an HttpOnly cookie, so links and polling need no token in the
URL), the cookie, or an ``Authorization: Bearer`` header. The server binds to 127.0.0.1
unless told otherwise.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import orjson
import plotly
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from flows.analytics import PAGES, Analytics
from flows.config import Settings

log = logging.getLogger(__name__)

COOKIE = "offerflow_token"
_ASSETS = resources.files("flows") / "dashboard_assets"
_PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
_TITLES = {
    "campaigns": "Campaigns",
    "experiments": "Experiments",
    "attribution": "Attribution",
    "segments": "Segments",
    "operations": "Operations",
}


def app(settings: Settings, token: str) -> Starlette:
    """The dashboard application over ``settings``' deployment, guarded by ``token``."""
    analytics = Analytics(settings)
    lock = threading.Lock()  # the Kafka client behind the lag figures is not thread-safe
    template = (_ASSETS / "page.html").read_text()

    def page(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in PAGES:
            return PlainTextResponse("no such page", status_code=404)
        nav = "".join(
            f'<a href="/{p}"{" class=current" if p == name else ""}>{_TITLES[p]}</a>' for p in PAGES
        )
        html = template.replace("{{page}}", name).replace("{{title}}", _TITLES[name])
        return HTMLResponse(
            html.replace("{{nav}}", nav).replace("{{prefix}}", settings.redis_prefix)
        )

    def api(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in PAGES:
            return PlainTextResponse("no such page", status_code=404)
        with lock:
            data = analytics.page(name)
        return Response(
            orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), media_type="application/json"
        )

    def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(_PLOTLY_JS, media_type="text/javascript")
        path = _ASSETS / name
        if name not in ("dashboard.js", "dashboard.css") or not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(path.read_bytes(), media_type=media)

    routes = [
        Route("/", lambda _r: RedirectResponse("/campaigns")),
        Route("/static/{name}", asset),
        Route("/api/{name}", api),
        Route("/{name}", page),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        analytics.close()

    application = Starlette(routes=routes, lifespan=lifespan)
    application.add_middleware(_TokenGuard, token=token)
    return application


class _TokenGuard:
    """ASGI middleware: 401 unless the request carries the token (query, cookie or header);
    a valid ``?token=`` sets the cookie."""

    def __init__(self, inner: Callable[..., Awaitable[None]], token: str) -> None:
        self.inner = inner
        self.token = token

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        request = Request(scope)
        query = request.query_params.get("token")
        header = request.headers.get("authorization", "")
        offered = [query, request.cookies.get(COOKIE)]
        if header.lower().startswith("bearer "):
            offered.append(header[7:])
        if not any(o and hmac.compare_digest(o.encode(), self.token.encode()) for o in offered):
            response: Response = PlainTextResponse(
                "OfferFlow dashboard: a valid token is required (?token=...)", status_code=401
            )
            await response(scope, receive, send)
            return
        if query:

            async def send_with_cookie(message: dict) -> None:
                if message["type"] == "http.response.start":
                    cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                    message.setdefault("headers", []).append((b"set-cookie", cookie.encode()))
                await send(message)

            await self.inner(scope, receive, send_with_cookie)
            return
        await self.inner(scope, receive, send)


@dataclass
class Running:
    """A dashboard serving in a background thread (:func:`start`)."""

    url: str
    token: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def login_url(self) -> str:
        return f"{self.url}/campaigns?token={self.token}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def token_for(settings: Settings) -> str:
    """The configured token, or a fresh random one."""
    return settings.dashboard_token or secrets.token_urlsafe(24)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (``port`` 0: any free port), so the URL is known before serving."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def start(settings: Settings, *, host: str | None = None, port: int | None = None) -> Running:
    """Serve the dashboard in a daemon thread; returns where and how to stop it."""
    token = token_for(settings)
    sock = bind(host or settings.dashboard_host, settings.dashboard_port if port is None else port)
    address, bound = sock.getsockname()[:2]
    config = uvicorn.Config(app(settings, token), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="offerflow-dashboard", daemon=True
    )
    thread.start()
    shown = f"[{address}]" if ":" in address else address
    return Running(f"http://{shown}:{bound}", token, server, thread)
