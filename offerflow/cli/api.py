"""``offerflow`` commands. The personalization API: serve it, make its keys."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from config.settings import Settings
from offerflow.api.keys import SCOPES, new_key
from offerflow.cli.common import UsageError
from offerflow.flags import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to the ``offerflow`` parser."""
    p = sub.add_parser(
        "serve",
        help="serve the personalization API (decide, collect events, read profiles)",
        description="The HTTP API (FastAPI on uvicorn; OpenAPI docs at /docs). Keys come "
        "from OFFERFLOW_API_KEYS_FILE; in dev without one, a key with every scope is made "
        "and printed.",
    )
    p.add_argument("--host", default=None, help="bind address (OFFERFLOW_API_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (OFFERFLOW_API_PORT)")
    p.add_argument("--workers", type=positive_int, default=1, help="processes (default 1)")
    p.set_defaults(handler=_serve)

    p = sub.add_parser(
        "api-key",
        help="make an API key and its keys-file entry",
        description="Prints the key once (give it to the caller) and the TOML entry to "
        "append to OFFERFLOW_API_KEYS_FILE (it holds only the key's hash).",
    )
    p.add_argument("id", help="the key's name (letters, digits, - or _)")
    p.add_argument("--scopes", default="collect", help=f"comma-separated, from {', '.join(SCOPES)}")
    p.add_argument("--rate", type=positive_int, default=None, help="its own requests/s")
    p.set_defaults(handler=_api_key)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from offerflow.api.app import load_keys

    settings = Settings.from_env()
    if not settings.api_keys_file and settings.env == "dev":
        key, entry = new_key("dev", SCOPES)
        path = Path(settings.stack_dir) / "api-keys.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(entry)
        os.environ["OFFERFLOW_API_KEYS_FILE"] = str(path)
        print(f"development API key (every scope): {key}", flush=True)
        settings = Settings.from_env()
    load_keys(settings)  # a bad keys file is one line and exit 2, before any worker starts
    host = args.host or settings.api_host
    port = settings.api_port if args.port is None else args.port
    print(f"OfferFlow API on http://{host}:{port} (docs: /docs; Ctrl-C stops it)", flush=True)
    uvicorn.run(
        "offerflow.api.app:from_env",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )
    return 0


def _api_key(args: argparse.Namespace) -> int:
    try:
        key, entry = new_key(args.id, args.scopes.split(","), args.rate)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"key (shown once): {key}\n\n# append to OFFERFLOW_API_KEYS_FILE:\n{entry}", end="")
    return 0
