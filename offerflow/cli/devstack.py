"""``offerflow`` commands. The local stack and the tools that run on it: stack, demo, soak, bench,
latency."""

from __future__ import annotations

import argparse
import os
import sys

from config.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to the ``offerflow`` parser."""
    p = sub.add_parser(
        "stack",
        help="start, stop or inspect the local Kafka + Redis stack",
        description="Local stack: Tansu broker (unless OFFERFLOW_KAFKA_BOOTSTRAP "
        "is set), Redis, and every topic.",
    )
    p.add_argument("action", choices=("up", "down", "status"))
    p.set_defaults(handler=_stack)

    p = sub.add_parser(
        "demo",
        help="end-to-end demo on the local stack",
        description="Part 1: produce synthetic events (a share malformed) to fresh topics, "
        "run the flow over them and account for every one. Part 2: the full loop (flow, "
        "simulated population, reference senders) with a table per campaign.",
    )
    p.add_argument("--events", type=int, default=20_000, help="events to produce (20,000)")
    p.add_argument("--users", type=int, default=1_000, help="distinct users (1,000)")
    p.add_argument("--malformed-rate", type=float, default=0.05, help="share malformed (0.05)")
    p.add_argument("--seed", type=int, default=42, help="random seed (42)")
    p.add_argument(
        "--requests", type=int, default=15_000, help="decision requests in the loop (15,000)"
    )
    p.add_argument("--rate", type=float, default=500.0, help="requests per second (500)")
    p.add_argument("--loop-users", type=int, default=3_000, help="simulated users (3,000)")
    p.add_argument(
        "--no-serve",
        action="store_true",
        help="exit after the report instead of serving the dashboard until Ctrl-C (CI)",
    )
    p.set_defaults(handler=_demo)

    p = sub.add_parser(
        "soak",
        help="bounded steady-load run reporting memory and lag (not for CI)",
        description="Produce the benchmark mix at a steady rate to fresh topics while one "
        "flow process tails them; sample its RSS and consumer lag; write docs/SOAK.md.",
    )
    p.add_argument("--minutes", type=float, default=10.0, help="duration (10)")
    p.add_argument("--rate", type=float, default=1000.0, help="events per second (1,000)")
    p.add_argument("--users", type=int, default=20_000, help="population (20,000)")
    p.add_argument("--every", type=float, default=30.0, help="seconds between samples (30)")
    p.add_argument(
        "--output",
        help="report file ('' for none; docs/SOAK.md, or docs/SOAK_BROKER.md with --broker-only)",
    )
    p.add_argument(
        "--broker-only",
        action="store_true",
        help="a plain consumer tails the topic instead of the flow: the broker's baseline",
    )
    p.set_defaults(handler=_soak)

    p = sub.add_parser(
        "bench",
        help="throughput, ceiling, latency and memory on the local stack",
        description="Throughput of the main flow (1 and 2 processes, recovery on, features "
        "off) against a plain confluent-kafka loop, decision latency under load, memory and "
        "state per user; writes a Markdown report and a PNG chart.",
    )
    p.add_argument("--events", type=int, default=100_000, help="events per run (100,000)")
    p.add_argument("--repeat", type=int, default=2, help="runs; the median is reported (2)")
    p.add_argument("--output", default="docs/BENCHMARKS.md", help="Markdown report path")
    p.add_argument("--chart", default="docs/benchmarks.png", help="PNG chart path")
    p.add_argument(
        "--state-users",
        default="100000,1000000",
        help="users of the memory runs, comma-separated (100000,1000000)",
    )
    p.add_argument("--per-user", type=int, default=2, help="events per user there (2)")
    p.add_argument(
        "--latency-loads",
        default="500,1000,2000,5000",
        help="background loads (events/s) of the latency runs (500,1000,2000,5000)",
    )
    p.add_argument(
        "--latency-duration", type=float, default=45.0, help="seconds per latency load (45)"
    )
    p.set_defaults(handler=_bench)

    p = sub.add_parser(
        "latency",
        help="measure decision latency under a steady background load",
        description="Start the flow on fresh topics, produce background events and decision "
        "requests at steady rates, and report request-to-decision latency percentiles "
        "(writes docs/LATENCY.md).",
    )
    p.add_argument(
        "--loads",
        default="500,2000",
        help="background loads to measure, events/s, comma-separated (500,2000)",
    )
    p.add_argument("--requests-per-s", type=float, default=20.0, help="requests/s (20)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds measured (60)")
    p.add_argument("--output", default="docs/LATENCY.md", help="Markdown report path")
    p.set_defaults(handler=_latency)


def _stack(args: argparse.Namespace) -> int:
    from offerflow.devstack import stack

    settings = Settings.from_env(need_id_key=False)
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


def _demo(args: argparse.Namespace) -> int:
    from offerflow.devstack.demo import run_demo

    ok = run_demo(
        args.events,
        malformed_rate=args.malformed_rate,
        users=args.users,
        seed=args.seed,
        requests=args.requests,
        rate=args.rate,
        loop_users=args.loop_users,
        serve=not args.no_serve,
    )
    return 0 if ok else 1


def _soak(args: argparse.Namespace) -> int:
    from offerflow.devstack.soak import run_soak

    output = args.output
    if output is None:
        output = "docs/SOAK_BROKER.md" if args.broker_only else "docs/SOAK.md"
    flat = run_soak(args.minutes, args.rate, args.users, args.every, output, args.broker_only)
    return 0 if flat else 1


def _bench(args: argparse.Namespace) -> int:
    from offerflow.devstack.bench import run_bench

    run_bench(
        args.events,
        repeat=args.repeat,
        output=args.output,
        chart=args.chart,
        state_users=tuple(int(n) for n in args.state_users.split(",") if n),
        per_user=args.per_user,
        latency_loads=tuple(float(n) for n in args.latency_loads.split(",") if n),
        latency_s=args.latency_duration,
    )
    return 0


def _latency(args: argparse.Namespace) -> int:
    from offerflow.devstack.latency import measure

    loads = tuple(float(x) for x in args.loads.split(","))
    for row in measure(loads, args.requests_per_s, args.duration, output=args.output):
        print("  ".join(f"{k}={v:,.2f}" for k, v in row.items()))
    print(f"written to {args.output}")
    return 0
