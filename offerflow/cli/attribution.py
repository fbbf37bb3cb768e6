"""``offerflow`` commands. Attribution: the running flow's totals, and batch attribution of a path
file."""

from __future__ import annotations

import argparse
import os

from config.settings import Settings
from offerflow.cli.common import UsageError, check_readable, columns
from offerflow.flags import positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to the ``offerflow`` parser."""
    p = sub.add_parser(
        "attribution",
        help="attribution credits: the live flow's totals, or a batch of aggregated paths",
        description="report: conversions and value credited per channel and campaign under "
        "every model, from the running flow's Redis totals. paths FILE: the same models over "
        "an aggregated paths file (one row per distinct path: channels joined by ' > ', total "
        "conversions, total conversion value, total nulls), with the Markov removal effects.",
    )
    p.add_argument("action", choices=("report", "paths"))
    p.add_argument("file", nargs="?", help="aggregated paths CSV (paths)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--separator", default=" > ", help="between channels of a path")
    p.add_argument("--delimiter", default=",", help="between CSV columns")
    p.add_argument(
        "--columns",
        default="path,total_conversions,total_conversion_value,total_null",
        help="names of the path, conversions, value and nulls columns, comma-separated",
    )
    p.add_argument(
        "--half-life-touches",
        type=positive_float,
        default=1.0,
        help="time-decay half-life in touches (paths carry no times; default 1)",
    )
    p.add_argument("--order", type=positive_int, default=1, help="Markov chain order (default 1)")
    p.set_defaults(handler=_attribution)


def _attribution(args: argparse.Namespace) -> int:
    from offerflow.reports import attribution_report

    if args.action == "report":
        from operators.redis_mirror import client_for

        settings = Settings.from_env(need_id_key=False)
        report = attribution_report.live(settings, client_for(settings.redis_url))
        if not report.channels:
            print(f"no attribution totals in Redis under {settings.redis_key('attribution')}")
            return 1
    else:
        from offerflow.lab.attribution_batch import PathFileError, attribute_paths, read_paths

        if not args.file:
            raise UsageError("give the paths FILE")
        names = columns(args.columns, 4)
        settings = Settings.from_env({"OFFERFLOW_ENV": "dev", **os.environ})
        check_readable(args.file)
        try:
            with open(args.file, newline="", encoding="utf-8") as fh:
                rows = read_paths(fh, separator=args.separator, delimiter=args.delimiter,
                                  columns=names)  # fmt: skip
        except (PathFileError, ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"{args.file}: {exc}") from None
        if not rows:
            raise UsageError(f"{args.file} holds no paths")
        report = attribute_paths(
            rows,
            half_life_touches=args.half_life_touches,
            position=settings.attribution_position,
            order=args.order,
            progress=True,
        )
    print(attribution_report.render(report, args.format), end="")
    return 0
