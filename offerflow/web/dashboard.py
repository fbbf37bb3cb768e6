"""``offerflow dashboard``: one local web server with a page per view of
:mod:`offerflow.reports.analytics`.

Starlette serves the pages and a JSON API (``/api/<page>``, the query layer's output as
is); the browser draws the charts with Plotly's JavaScript bundle, served from the
``plotly`` Python package, so nothing is fetched from the internet and nothing is built.
Pages poll their API every two seconds.

Every request needs the token (``OFFERFLOW_DASHBOARD_TOKEN``, at least
:data:`MIN_TOKEN` characters, or a random one made at start): as ``?token=`` once, which sets
an HttpOnly cookie and redirects to the same address without the token (so it does not stay in
the address bar, the history or a shared link), the cookie, or an ``Authorization: Bearer``
header. Every response carries a strict Content-Security-Policy, ``X-Frame-Options: DENY``,
``nosniff`` and ``Cache-Control: no-store``. The server binds to 127.0.0.1 unless told
otherwise, and warns when told to listen beyond the machine.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

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

from config.settings import ConfigError, Settings
from offerflow.reports.analytics import PAGES, Analytics

log = logging.getLogger(__name__)

COOKIE = "offerflow_token"
#: Shortest token accepted: ``secrets.token_urlsafe(16)`` (128 bits) is 22 characters.
MIN_TOKEN = 20
#: Scripts and styles from this server only (Plotly sets inline styles on its SVG).
SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
)
_ASSETS = resources.files("offerflow.web") / "dashboard_assets"
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

        async def send_secured(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).extend(SECURITY_HEADERS)
            await send(message)

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
            await response(scope, receive, send_secured)
            return
        if query:  # set the cookie, and take the token out of the address bar
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            await response(scope, receive, send_secured)
            return
        await self.inner(scope, receive, send_secured)


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
    """The configured token, or a fresh random one; a short configured one is refused."""
    token = settings.dashboard_token
    if token and len(token) < MIN_TOKEN:
        raise ConfigError(
            f"OFFERFLOW_DASHBOARD_TOKEN has {len(token)} characters; at least {MIN_TOKEN} "
            "(e.g. `openssl rand -hex 16`)"
        )
    return token or secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    host = host or settings.dashboard_host
    if not is_loopback(host):
        log.warning(
            "the dashboard listens on %s, beyond this machine: put it behind TLS and keep the "
            "token secret",
            host,
        )
    sock = bind(host, settings.dashboard_port if port is None else port)
    address, bound = sock.getsockname()[:2]
    config = uvicorn.Config(app(settings, token), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="offerflow-dashboard", daemon=True
    )
    thread.start()
    shown = f"[{address}]" if ":" in address else address
    return Running(f"http://{shown}:{bound}", token, server, thread)
