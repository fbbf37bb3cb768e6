"""``offerflow`` commands. Campaigns and experiments: check and publish campaign files, experiment
reports and the peeking simulation."""

from __future__ import annotations

import argparse
import sys

from config.settings import Settings
from offerflow.cli.common import UsageError, read_text
from offerflow.flags import positive_float, positive_int, share


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to the ``offerflow`` parser."""
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
    p.add_argument("--experiments", type=positive_int, default=1000, help="experiments (1000)")
    p.add_argument("--users", type=positive_int, default=20_000, help="users per variant (20000)")
    p.add_argument("--step", type=positive_int, default=100, help="users between looks (100)")
    p.add_argument("--rate", type=share, default=0.05, help="control conversion rate (0.05)")
    p.add_argument("--lift", type=float, default=0.0, help="true relative lift (0: A/A)")
    p.add_argument("--alpha", type=share, default=0.05, help="significance level (0.05)")
    p.add_argument("--tau", type=positive_float, default=0.05, help="mSPRT mixing sd (in sds)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_experiments)


def _campaigns(args: argparse.Namespace) -> int:
    from offerflow import campaign_admin

    if args.action in ("validate", "publish"):
        text = read_text(args.target, "campaign file")
        errors = campaign_admin.validate(args.target, text)
        if errors:
            print("\n".join(errors), file=sys.stderr)
            count = sum(not e.startswith(" ") for e in errors)
            unsent = ", nothing published" if args.action == "publish" else ""
            raise UsageError(f"{args.target}: {count} error(s){unsent}")
        if args.action == "validate":
            for line in campaign_admin.summary(text):
                print(line)
            print(f"{args.target}: valid")
            return 0
    settings = Settings.from_env(need_id_key=False)
    if args.action == "publish":
        n = campaign_admin.publish(settings, text)
        print(f"published {n} record(s) to {settings.topic('campaigns')}")
    else:
        campaign_admin.delete(settings, args.target)
        print(f"deleted {args.target} (tombstone on {settings.topic('campaigns')})")
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
