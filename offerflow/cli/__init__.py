"""``offerflow``: the one command line of OfferFlow. ``offerflow --help`` lists the commands.

Each command group lives in a module of its own (its parser next to its handler); this module
assembles them and turns the errors a user can fix into one line and exit code 2: a bad
setting (:class:`~config.values.ConfigError`) or a bad flag or file (:class:`UsageError`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from config.secrets import mask_url
from config.settings import ConfigError
from flows import ops
from offerflow.cli import api, attribution, campaigns, devstack, engine, lab, senders, web
from offerflow.cli.common import UsageError

#: Command groups in the order ``offerflow --help`` lists them.
GROUPS = (engine, devstack, web, api, campaigns, attribution, lab, senders)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return the exit code."""
    ops.honour_sigint()
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("OFFERFLOW_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"offerflow: configuration error: {mask_url(str(exc))}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"offerflow {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="offerflow",
        description="OfferFlow: real-time personalized marketing on Kafka and Bytewax. "
        "Settings come from OFFERFLOW_* variables (see `offerflow config`).",
    )
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND", dest="command")
    for group in GROUPS:
        group.register(sub)
    return parser
