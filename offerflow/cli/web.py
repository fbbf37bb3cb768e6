"""``offerflow`` commands. The dashboard and its numbers as terminal reports."""

from __future__ import annotations

import argparse

from config.settings import Settings
from offerflow.reports.analytics import PAGES


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to the ``offerflow`` parser."""
    p = sub.add_parser(
        "dashboard",
        help="serve the live dashboard (campaigns, experiments, attribution, segments, ops)",
        description="One local web server over Redis and the topics; pages refresh every "
        "2 s. Needs the token (OFFERFLOW_DASHBOARD_TOKEN, else a random one is printed).",
    )
    p.add_argument("--host", default=None, help="bind address (OFFERFLOW_DASHBOARD_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (OFFERFLOW_DASHBOARD_PORT)")
    p.set_defaults(handler=_dashboard)

    p = sub.add_parser(
        "report",
        help="the dashboard's numbers as tables or JSON",
        description="The same query layer as the dashboard (offerflow/reports/analytics.py): "
        "one page's numbers, rendered as tables, or as JSON with --json.",
    )
    p.add_argument("page", choices=PAGES)
    p.add_argument("--json", action="store_true", help="print the page's JSON document")
    p.set_defaults(handler=_report)


def _dashboard(args: argparse.Namespace) -> int:
    from offerflow.web import dashboard

    running = dashboard.start(Settings.from_env(need_id_key=False), host=args.host, port=args.port)
    print(f"OfferFlow dashboard: {running.login_url}  (Ctrl-C stops it)", flush=True)
    try:
        running.thread.join()
    finally:
        running.stop()
    return 0


def _report(args: argparse.Namespace) -> int:
    import orjson

    from offerflow.reports.analytics import Analytics
    from offerflow.reports.pages import print_page

    analytics = Analytics(Settings.from_env(need_id_key=False))
    try:
        data = analytics.page(args.page)
    finally:
        analytics.close()
    if args.json:
        print(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
    else:
        print_page(args.page, data)
    return 0
