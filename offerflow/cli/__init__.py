"""``offerflow``: the one command line of OfferFlow. ``offerflow --help`` lists the commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from config.secrets import mask_url
from config.settings import VARIABLES, ConfigError, Settings
from flows import ops
from offerflow import runner
from offerflow.reports.analytics import PAGES

#: Where ``offerflow run`` keeps Bytewax recovery state when nothing else is configured.
DEFAULT_RECOVERY_DIR = "offerflow-recovery"


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
        "campaigns",
        help="validate a campaign file, or change running flows' campaigns and experiments",
        description="validate FILE: report every error with its line; publish FILE: send "
        "each campaign, experiment and the holdout to the campaigns topic (running flows "
        "apply them at once); delete ID: stop a campaign everywhere (experiment:ID stops an "
        "experiment, holdout the global holdout).",
    )
    p.add_argument("action", choices=("validate", "publish", "delete"))
    p.add_argument("target", help="campaign file (validate, publish) or campaign id (delete)")
    p.set_defaults(handler=_campaigns)

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
        type=float,
        default=1.0,
        help="time-decay half-life in touches (paths carry no times; default 1)",
    )
    p.add_argument("--order", type=int, default=1, help="Markov chain order (default 1)")
    p.set_defaults(handler=_attribution)

    p = sub.add_parser(
        "experiments",
        help="experiment results from the running flow, or a peeking simulation",
        description="report [ID]: every variant against control on every metric (lift with "
        "intervals, fixed-horizon and always-valid p-values, P(better), CUPED, sample-ratio "
        "check, verdict), from the running flow's Redis sums. peeking: simulate many "
        "experiments looked at after every --step users and print how often the fixed-horizon "
        "and the always-valid tests declare a difference (false positives with --lift 0, "
        "power otherwise).",
    )
    p.add_argument("action", choices=("report", "peeking"))
    p.add_argument("experiment", nargs="?", help="experiment id (report; default: all)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--experiments", type=int, default=1000, help="simulated experiments (1000)")
    p.add_argument("--users", type=int, default=20_000, help="users per variant (20000)")
    p.add_argument("--step", type=int, default=100, help="users per variant between looks (100)")
    p.add_argument("--rate", type=float, default=0.05, help="control conversion rate (0.05)")
    p.add_argument("--lift", type=float, default=0.0, help="true relative lift (0: A/A)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    p.add_argument("--tau", type=float, default=0.05, help="mSPRT mixing sd, in metric sds")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_experiments)

    p = sub.add_parser(
        "predict",
        help="evaluate the churn / purchases / CLV models on a transaction log",
        description="evaluate FILE: fit BG/NBD and Gamma-Gamma on the transactions up to "
        "--calibration-end and compare their predictions with the holdout up to --holdout-end "
        "(per-customer MAE and correlation, means by calibration frequency, the aggregate "
        "repeat-purchase curve, the fitted parameters). fetch-cdnow: download the CDNOW logs "
        "(Fader, Hardie & Lee 2005) from PyPI into --dir. See docs/predictions.md.",
    )
    p.add_argument("action", choices=("evaluate", "fetch-cdnow"))
    p.add_argument("file", nargs="?", help="transaction log (evaluate)")
    p.add_argument("--calibration-end", help="last day of the calibration period, YYYY-MM-DD")
    p.add_argument("--holdout-end", help="last day of the holdout period, YYYY-MM-DD")
    p.add_argument(
        "--columns",
        default="customer,date,value",
        help="customer, date and value columns: header names, or 0-based positions "
        "(default customer,date,value)",
    )
    p.add_argument("--delimiter", default=",", help="CSV delimiter, or 'whitespace' (default ',')")
    p.add_argument("--date-format", default="%Y-%m-%d", help="strptime format (%%Y-%%m-%%d)")
    p.add_argument("--unit-days", type=float, default=7.0, help="model time unit in days (7)")
    p.add_argument("--dir", default=".stack/datasets/cdnow", help="where fetch-cdnow writes")
    p.set_defaults(handler=_predict)

    p = sub.add_parser(
        "recommend",
        help="evaluate product recommenders on an interaction log",
        description="evaluate FILE: prequential (test-then-train) HitRate@K, NDCG@K and "
        "catalog coverage of the hybrid recommender, its co-occurrence part alone, River's "
        "FunkMF and time-decayed popularity, over a CSV or JSON Lines log (user, item, "
        "timestamp, optional weight, category, tags). simulate-log FILE: write such a log "
        "from the simulator's catalogue with planted tastes. See docs/recommendations.md.",
    )
    p.add_argument("action", choices=("evaluate", "simulate-log"))
    p.add_argument("file", help="interaction log to read (evaluate) or write (simulate-log)")
    p.add_argument("-k", type=int, default=10, help="list length (10)")
    p.add_argument("--models", default="hybrid,cooccurrence,funk_mf,popularity")
    p.add_argument("--per-category", type=int, help="apply the diversity rule (default: off)")
    p.add_argument("--users", type=int, default=2_000, help="simulated users (2000)")
    p.add_argument("--interactions", type=int, default=30_000, help="simulated (30000)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=_recommend)

    p = sub.add_parser(
        "ope",
        help="offline policy evaluation of a decisions log",
        description="Estimate a target policy's value from a JSON Lines log of decisions "
        "(context, action, propensity, reward; see docs/ope.md) with IPW, self-normalized "
        "IPW and doubly robust estimators, or replay a learning policy on a uniformly "
        "random log.",
    )
    p.add_argument("log", help="JSON Lines decisions log")
    p.add_argument(
        "--target",
        default="uniform",
        help="uniform, greedy (best logged mean per context) or a JSON file "
        '{"context": {"action": probability}} ("*" for any context) (default uniform)',
    )
    p.add_argument(
        "--replay",
        metavar="POLICY",
        help="also replay a learning policy (thompson, ucb, epsilon_greedy, random)",
    )
    p.add_argument("--level", type=float, default=0.95, help="confidence level (0.95)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_ope)

    p = sub.add_parser(
        "simulate",
        help="compare policies on the simulated population (offline, no broker)",
        description="Put the same decisions to the per-segment policy, a single "
        "non-segmented one, uniform random and the oracle, through the flow's policy code, "
        "and report rewards over the last 20%%.",
    )
    p.add_argument("--decisions", type=int, default=200_000, help="decisions (200,000)")
    p.add_argument("--policy", default=None, help="override the campaign's policy kind")
    p.add_argument("--campaign", default="spring_sale", help="shipped campaign (spring_sale)")
    p.add_argument("--delay", type=int, default=500, help="decisions before a reward lands")
    p.add_argument("--seed", type=int, default=7, help="random seed (7)")
    p.set_defaults(handler=_simulate)

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

    p = sub.add_parser(
        "senders",
        help="run the reference channel senders",
        description="Consume the decisions topic, deliver (email/SMS to a file outbox, "
        "push/web to Redis inboxes, optional webhook) once per decision id, and publish "
        "deliveries back to the events topic. Ctrl-C stops.",
    )
    p.add_argument("--outbox", default=None, help="outbox directory (<STACK_DIR>/outbox)")
    p.add_argument("--webhook", default=os.environ.get("OFFERFLOW_WEBHOOK_URL", ""), help="URL")
    p.set_defaults(handler=_senders)

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
    return parser


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


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()  # fail here, with the message, not inside each worker
    env = {"OFFERFLOW_TAIL": "false"} if args.no_tail else {}
    recovery = args.recovery_dir or settings.recovery_dir or DEFAULT_RECOVERY_DIR
    if args.no_recovery:
        recovery = ""
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


def _campaigns(args: argparse.Namespace) -> int:
    from offerflow import campaign_admin

    if args.action == "validate":
        errors = campaign_admin.validate(args.target)
        for line in errors:
            print(line)
        if errors:
            print(f"{sum(not e.startswith(' ') for e in errors)} error(s)", file=sys.stderr)
            return 1
        for line in campaign_admin.summary(args.target):
            print(line)
        print(f"{args.target}: valid")
        return 0
    settings = Settings.from_env(need_id_key=False)
    if args.action == "publish":
        errors = campaign_admin.validate(args.target)
        if errors:
            print("\n".join(errors), file=sys.stderr)
            return 1
        n = campaign_admin.publish(settings, args.target)
        print(f"published {n} record(s) to {settings.topic('campaigns')}")
    else:
        campaign_admin.delete(settings, args.target)
        print(f"deleted {args.target} (tombstone on {settings.topic('campaigns')})")
    return 0


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
            print("offerflow attribution paths: give the paths FILE", file=sys.stderr)
            return 2
        columns = tuple(c.strip() for c in args.columns.split(","))
        settings = Settings.from_env({"OFFERFLOW_ENV": "dev", **os.environ})
        try:
            with open(args.file, newline="", encoding="utf-8") as fh:
                rows = read_paths(
                    fh, separator=args.separator, delimiter=args.delimiter, columns=columns
                )
        except (OSError, PathFileError, ValueError) as exc:
            print(f"offerflow attribution paths: {exc}", file=sys.stderr)
            return 1
        report = attribute_paths(
            rows,
            half_life_touches=args.half_life_touches,
            position=settings.attribution_position,
            order=args.order,
            progress=True,
        )
    print(attribution_report.render(report, args.format), end="")
    return 0


def _experiments(args: argparse.Namespace) -> int:
    if args.action == "peeking":
        from models.peeking import simulate

        r = simulate(
            args.experiments, args.users, args.step, args.rate, args.lift, args.alpha,
            args.tau, args.seed,
        )  # fmt: skip
        kind = "false positives (A/A)" if args.lift == 0 else f"power at lift {args.lift:+.1%}"
        print(
            f"{r.experiments:,} simulated experiments, {r.users:,} users per variant, control "
            f"rate {r.rate:.2%}, looked at {r.looks} times (every {args.step} users); {kind}:"
        )
        for label, share in (
            ("always-valid mSPRT, any look", r.sequential),
            ("fixed-horizon z-test, any look", r.fixed_peeking),
            ("fixed-horizon z-test, last look only", r.fixed_final),
        ):
            print(f"  {label:38}{share:>7.1%}  (± {r.standard_error(share):.1%} s.e.)")
        return 0
    from offerflow.reports import experiment_report
    from operators.redis_mirror import client_for

    settings = Settings.from_env(need_id_key=False)
    reports = experiment_report.live(settings, client_for(settings.redis_url), args.experiment)
    if not reports:
        print(f"no experiment results in Redis under {settings.redis_key('experiment_def', '*')}")
        return 1
    print(experiment_report.render(reports, args.format), end="")
    return 0


def _predict(args: argparse.Namespace) -> int:
    if args.action == "fetch-cdnow":
        from offerflow.lab.datasets import cdnow

        try:
            where = cdnow(args.dir)
        except RuntimeError as exc:
            print(f"offerflow predict fetch-cdnow: {exc}", file=sys.stderr)
            return 1
        print(f"CDNOW logs in {where}: CDNOW_sample.txt (2,357 customers), CDNOW_master.txt")
        return 0
    from datetime import date

    from offerflow.lab.predict_eval import LogError, evaluate, read_log, render

    if not (args.file and args.calibration_end and args.holdout_end):
        print("offerflow predict evaluate: give FILE, --calibration-end and --holdout-end",
              file=sys.stderr)  # fmt: skip
        return 2
    columns = tuple(c.strip() for c in args.columns.split(","))
    try:
        with open(args.file, newline="", encoding="utf-8") as fh:
            log = read_log(
                fh, columns=columns, delimiter=args.delimiter, date_format=args.date_format,
                progress=True,
            )  # fmt: skip
        result = evaluate(
            log,
            date.fromisoformat(args.calibration_end),
            date.fromisoformat(args.holdout_end),
            unit_days=args.unit_days,
            progress=True,
        )
    except (OSError, LogError, ValueError) as exc:
        print(f"offerflow predict evaluate: {exc}", file=sys.stderr)
        return 1
    print(render(result), end="")
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from offerflow.lab import reco_eval

    if args.action == "simulate-log":
        import orjson

        from offerflow.lab.reco_sim import Catalog, interactions

        log = interactions(Catalog.planted(args.seed), args.users, args.interactions, args.seed)
        with open(args.file, "wb") as fh:
            for row in log:
                record = {"user": row.user, "item": row.item, "timestamp": row.ts,
                          "weight": row.weight, "category": row.category}  # fmt: skip
                fh.write(orjson.dumps(record) + b"\n")
        print(f"wrote {len(log):,} interactions to {args.file}")
        return 0
    try:
        rows = reco_eval.read_interactions(args.file)
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        scores = reco_eval.evaluate(
            rows, models, args.k, progress=True, total=len(rows), per_category=args.per_category
        )
    except (OSError, ValueError) as exc:
        print(f"offerflow recommend evaluate: {exc}", file=sys.stderr)
        return 1
    catalog = len({r.item for r in rows})
    print(f"{len(rows):,} interactions, {catalog:,} items, prequential, k = {args.k}")
    print(f"{'model':14}{'HitRate@' + str(args.k):>12}{'NDCG@' + str(args.k):>10}{'coverage':>10}")
    for name, score in scores.items():
        s = score.summary(catalog)
        print(f"{name:14}{s['hit_rate']:>12.4f}{s['ndcg']:>10.4f}{s['coverage']:>10.1%}")
    return 0


def _ope(args: argparse.Namespace) -> int:
    import orjson

    from models import ope

    log = ope.read_log(args.log)
    if not log:
        print(f"offerflow ope: {args.log} holds no decisions", file=sys.stderr)
        return 1
    if args.target == "uniform":
        target = ope.uniform
    elif args.target == "greedy":
        target = ope.greedy(log)
    else:
        with open(args.target, "rb") as fh:
            target = ope.table_target(orjson.loads(fh.read()))
    estimates = [
        ope.ipw(log, target, args.level),
        ope.snipw(log, target, args.level),
        ope.doubly_robust(log, target, args.level),
    ]
    if args.replay:
        estimates.append(ope.replay(log, args.replay, level=args.level))
    logged = sum(r.reward for r in log) / len(log)
    if args.json:
        rows = [e.row() for e in estimates]
        print(
            orjson.dumps({"logged_mean": logged, "target": args.target, "estimates": rows}).decode()
        )
        return 0
    print(f"{len(log):,} decisions; logged policy's mean reward {logged:.4f}; target {args.target}")
    print(f"{'method':>16}{'value':>10}{'low':>10}{'high':>10}{'n':>10}")
    for e in estimates:
        print(f"{e.method:>16}{e.value:>10.4f}{e.low:>10.4f}{e.high:>10.4f}{e.n:>10,}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from offerflow.lab.policy_sim import compare

    results, _pop, tail = compare(
        args.decisions,
        campaign_id=args.campaign,
        policy=args.policy,
        delay=args.delay,
        seed=args.seed,
    )
    oracle = results["oracle"].tail_expected / tail
    print(f"{args.decisions:,} decisions, 6 segments; last {tail:,} decisions:")
    print(f"{'policy':>16}{'reward':>10}{'expected':>10}{'of oracle':>11}{'best offer':>18}")
    first = int(args.decisions * 0.2)
    for name, r in results.items():
        share = f"{r.best_share['first'] / first:.0%} -> {r.best_share['last'] / tail:.0%}"
        print(
            f"{name:>16}{r.tail_rewards / tail:>10.4f}{r.tail_expected / tail:>10.4f}"
            f"{r.tail_expected / tail / oracle:>11.1%}{share:>18}"
        )
    print("reward: realized click rate; expected: mean hidden click probability of the choices;")
    print("best offer: share of decisions choosing the persona's best offer, first -> last 20%.")
    return 0


def _latency(args: argparse.Namespace) -> int:
    from offerflow.devstack.latency import measure

    loads = tuple(float(x) for x in args.loads.split(","))
    for row in measure(loads, args.requests_per_s, args.duration, output=args.output):
        print("  ".join(f"{k}={v:,.2f}" for k, v in row.items()))
    print(f"written to {args.output}")
    return 0


def _senders(args: argparse.Namespace) -> int:
    import time

    from offerflow.senders import Senders

    settings = Settings.from_env(need_id_key=False)
    if not settings.sender_key:
        raise ConfigError(
            "senders need OFFERFLOW_SENDER_KEY (or OFFERFLOW_ID_KEY) to sign feedback"
        )
    outbox = args.outbox or os.path.join(settings.stack_dir, "outbox")
    senders = Senders(settings, outbox, webhook_url=args.webhook)
    print(f"delivering decisions from {settings.topic('decisions')}; outbox {outbox}")
    last = time.monotonic()
    try:
        while True:
            senders.poll(0.5)
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                print(f"senders: {dict(sorted(senders.counts.items()))}", flush=True)
    finally:
        senders.close()


def _pseudonymize(args: argparse.Namespace) -> int:
    from operators.pseudonymize import Pseudonymizer

    pseudonymizer = Pseudonymizer(Settings.from_env().id_key)
    print(pseudonymizer.event(args.user_id) if args.event else pseudonymizer.user(args.user_id))
    return 0
