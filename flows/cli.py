"""``offerflow``: the one command line of OfferFlow. ``offerflow --help`` lists the commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from flows.config import VARIABLES, ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("OFFERFLOW_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"offerflow: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="offerflow",
        description="OfferFlow: real-time personalized marketing on Kafka and Bytewax. "
        "Settings come from OFFERFLOW_* variables (see `offerflow config`).",
    )
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "stack",
        help="start, stop or inspect the local Kafka + Redis stack",
        description="Local stack: Tansu broker (unless OFFERFLOW_KAFKA_BOOTSTRAP "
        "is set), Redis, and every topic.",
    )
    p.add_argument("action", choices=("up", "down", "status"))
    p.set_defaults(handler=_stack)

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
        help="Bytewax recovery directory (default OFFERFLOW_RECOVERY_DIR; none: off)",
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
        "demo",
        help="end-to-end demo on the local stack",
        description="Produce synthetic events (a share malformed) to fresh "
        "topics, run the flow over them and account for every one.",
    )
    p.add_argument("--events", type=int, default=20_000, help="events to produce (20,000)")
    p.add_argument("--users", type=int, default=1_000, help="distinct users (1,000)")
    p.add_argument("--malformed-rate", type=float, default=0.05, help="share malformed (0.05)")
    p.add_argument("--seed", type=int, default=42, help="random seed (42)")
    p.set_defaults(handler=_demo)

    p = sub.add_parser(
        "bench",
        help="measure ingestion throughput on the local stack",
        description="Pre-produce events, then time the ingestion flow in one "
        "process; writes the figures to a Markdown file.",
    )
    p.add_argument("--events", type=int, default=200_000, help="events per run (200,000)")
    p.add_argument("--repeat", type=int, default=3, help="runs; the median is reported (3)")
    p.add_argument("--output", default="docs/BENCHMARKS.md", help="Markdown report path")
    p.add_argument(
        "--state-users", type=int, default=100_000, help="users for the state-size run (100,000)"
    )
    p.set_defaults(handler=_bench)

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
        "a user's entries in Redis and topics.",
    )
    p.add_argument("user_id")
    p.set_defaults(handler=_pseudonymize)
    return parser


def _stack(args: argparse.Namespace) -> int:
    from flows import stack

    settings = Settings.from_env({"OFFERFLOW_ENV": "dev", **os.environ})  # no key needed here
    try:
        if args.action == "up":
            stack.up(settings, external_kafka="OFFERFLOW_KAFKA_BOOTSTRAP" in os.environ)
        elif args.action == "down":
            stack.down(settings)
        else:
            return 0 if stack.status(settings) else 1
    except stack.StackError as exc:
        print(f"offerflow stack: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    from flows import runner

    settings = Settings.from_env()  # fail here, with the message, not inside each worker
    env = {"OFFERFLOW_TAIL": "false"} if args.no_tail else {}
    recovery = settings.recovery_dir if args.recovery_dir is None else args.recovery_dir
    if (args.process_id is None) != (args.addresses is None):
        print("offerflow run: --process-id and --addresses go together", file=sys.stderr)
        return 2
    member = None if args.addresses is None else (args.process_id, args.addresses)
    return runner.run(
        args.flow,
        member=member,
        env=env,
        processes=args.processes,
        workers=args.workers,
        recovery_dir=recovery,
        snapshot_s=settings.snapshot_s,
    )


def _demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    ok = run_demo(args.events, malformed_rate=args.malformed_rate, users=args.users, seed=args.seed)
    return 0 if ok else 1


def _bench(args: argparse.Namespace) -> int:
    from flows.bench import run_bench

    run_bench(args.events, repeat=args.repeat, output=args.output, state_users=args.state_users)
    return 0


def _config(args: argparse.Namespace) -> int:
    if args.markdown:
        print("| variable | default | meaning |\n|---|---|---|")
        for v in VARIABLES:
            print(
                f"| `OFFERFLOW_{v.name}` | `{v.default}` | {v.help} |"
                if v.default
                else f"| `OFFERFLOW_{v.name}` | | {v.help} |"
            )
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
            f"offerflow profile: Redis at {settings.redis_url} did not answer: {exc}",
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

    print(Pseudonymizer(Settings.from_env().id_key).user(args.user_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
