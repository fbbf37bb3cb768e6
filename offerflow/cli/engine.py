"""``offerflow`` commands. Operating the engine: run a dataflow, show the settings, look up a
profile, pseudonymize an id."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter

from config.secrets import mask_url
from config.settings import VARIABLES, Settings
from offerflow import runner
from offerflow.cli.common import UsageError

#: Where ``offerflow run`` keeps Bytewax recovery state when nothing else is configured.
DEFAULT_RECOVERY_DIR = "offerflow-recovery"


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to the ``offerflow`` parser."""
    p = sub.add_parser(
        "run",
        help="run a dataflow (Bytewax) until stopped",
        description="Run a dataflow as local Bytewax processes.",
    )
    p.add_argument("flow", nargs="?", default="profiles", help="flow name (default: profiles)")
    p.add_argument(
        "-p",
        "--processes",
        type=int,
        default=1,
        help="Bytewax processes (one per core scales best; default 1)",
    )
    p.add_argument("-w", "--workers", type=int, default=1, help="worker threads per process")
    p.add_argument(
        "-r",
        "--recovery-dir",
        default=None,
        help=f"Bytewax recovery directory (default OFFERFLOW_RECOVERY_DIR, else "
        f"./{DEFAULT_RECOVERY_DIR}); created on first use",
    )
    p.add_argument(
        "--no-recovery",
        action="store_true",
        help="run without recovery (a crash then loses state and replays nothing)",
    )
    p.add_argument(
        "-i",
        "--process-id",
        type=int,
        default=None,
        help="run only this process of a multi-host cluster (with --addresses)",
    )
    p.add_argument(
        "-a",
        "--addresses",
        default=None,
        help='every process of the cluster, "host:port;host:port" (with -i)',
    )
    p.add_argument(
        "--no-tail",
        action="store_true",
        help="stop at the end of the input topic instead of waiting for more",
    )
    p.set_defaults(handler=_run)

    p = sub.add_parser(
        "config",
        help="print the effective settings and every variable",
        description="Print the resolved settings (secrets masked) and the "
        "table of OFFERFLOW_* variables.",
    )
    p.add_argument("--markdown", action="store_true", help="print the variables as Markdown")
    p.set_defaults(handler=_config)

    p = sub.add_parser(
        "profile",
        help="show a user's live profile from Redis",
        description="Show the live profile of a user. The raw id is pseudonymized with "
        "OFFERFLOW_ID_KEY first (pass --pseudonymous for an id that already is).",
    )
    p.add_argument("user_id")
    p.add_argument("--pseudonymous", action="store_true", help="USER_ID is already a pseudonym")
    p.set_defaults(handler=_profile)

    p = sub.add_parser(
        "pseudonymize",
        help="print the pseudonym of a raw user id",
        description="Pseudonymize a raw user id with OFFERFLOW_ID_KEY, to find "
        "a user's entries in Redis and topics; with --event, hash an event id instead (what "
        "decisions carry as request_event_id and audits as source_event_id).",
    )
    p.add_argument("user_id", help="raw user id (or event id with --event)")
    p.add_argument("--event", action="store_true", help="hash an event id, not a user id")
    p.set_defaults(handler=_pseudonymize)


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()  # fail here, with the message, not inside each worker
    env = {"OFFERFLOW_TAIL": "false"} if args.no_tail else {}
    recovery = args.recovery_dir or settings.recovery_dir or DEFAULT_RECOVERY_DIR
    if args.no_recovery:
        recovery = ""
    if (args.process_id is None) != (args.addresses is None):
        raise UsageError("--process-id and --addresses go together")
    member = None if args.addresses is None else (args.process_id, args.addresses)
    with tempfile.TemporaryDirectory(prefix="offerflow-run-") as summary_dir:
        code = runner.run(
            args.flow,
            member=member,
            env=env,
            processes=args.processes,
            workers=args.workers,
            recovery_dir=recovery,
            snapshot_s=settings.snapshot_s,
            summary_dir=summary_dir if args.no_tail else "",
        )
        if args.no_tail:
            accepted, dead = runner.summary(summary_dir)
            for line in run_summary(accepted, dead, settings):
                print(line, file=sys.stderr)
    return code


def run_summary(accepted: int, dead: Counter[str], settings: Settings) -> list[str]:
    """What a bounded run did, and a hint where the numbers point at a common mistake.

    >>> s = Settings.from_env({"OFFERFLOW_ENV": "dev"})
    >>> for line in run_summary(0, Counter(timestamp_out_of_range=900), s):
    ...     print(line)  # doctest: +ELLIPSIS
    offerflow run: 0 events accepted, 900 dead-lettered (timestamp_out_of_range 900)
    hint: every refused event was outside the accepted time range: ... OFFERFLOW_MAX_EVENT_AGE_S ...
    """
    total = sum(dead.values())
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in dead.most_common())
    lines = [
        f"offerflow run: {accepted:,} events accepted, {total:,} dead-lettered"
        + (f" ({reasons})" if reasons else "")
    ]
    if accepted + total == 0:
        lines.append(
            f"hint: nothing was read from {settings.topic('events')}: check "
            "OFFERFLOW_TOPIC_PREFIX and OFFERFLOW_KAFKA_BOOTSTRAP, and that events were sent"
        )
    elif dead["timestamp_out_of_range"] * 2 > accepted + total:
        share = "every" if not accepted else "most"
        lines.append(
            f"hint: {share} refused event was outside the accepted time range: events older "
            f"than OFFERFLOW_MAX_EVENT_AGE_S ({settings.max_event_age_s:,.0f} s) or more than "
            f"OFFERFLOW_MAX_FUTURE_S ({settings.max_future_s:,.0f} s) ahead are dead-lettered; to "
            "replay historical data, raise OFFERFLOW_MAX_EVENT_AGE_S"
        )
    elif (dead["unparseable"] + dead["unknown_schema_id"]) * 2 > accepted + total:
        lines.append(
            "hint: most records could not be decoded: check OFFERFLOW_INPUT_FORMAT "
            f"({settings.input_format}) against what the producers write"
        )
    return lines


def _config(args: argparse.Namespace) -> int:
    if args.markdown:
        group = None
        for v in VARIABLES:
            if v.group != group:
                group = v.group
                print(f"\n**{group}**\n\n| variable | default | meaning |\n|---|---|---|")
            default = f"`{v.default}`" if v.default else ""
            print(f"| `OFFERFLOW_{v.name}` | {default} | {v.help} |")
        return 0
    for key, value in Settings.from_env().describe().items():
        print(f"{key:18} {value}")
    return 0


def _profile(args: argparse.Namespace) -> int:
    import orjson
    import redis

    from operators.pseudonymize import Pseudonymizer

    settings = Settings.from_env()
    pid = args.user_id if args.pseudonymous else Pseudonymizer(settings.id_key).user(args.user_id)
    key = settings.redis_key("profile", pid)
    try:
        with redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2) as client:
            raw = client.get(key)
    except redis.RedisError as exc:
        print(
            f"offerflow profile: Redis at {mask_url(settings.redis_url)} did not answer: "
            f"{mask_url(str(exc))}",
            file=sys.stderr,
        )
        return 1
    if raw is None:
        print(f"no profile for pseudonym {pid} (key {key})", file=sys.stderr)
        return 1
    print(
        orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    )
    return 0


def _pseudonymize(args: argparse.Namespace) -> int:
    from operators.pseudonymize import Pseudonymizer

    pseudonymizer = Pseudonymizer(Settings.from_env().id_key)
    print(pseudonymizer.event(args.user_id) if args.event else pseudonymizer.user(args.user_id))
    return 0
