"""``offerflow experiments report``: every variant of an experiment against its control, on
every metric, from the running flow's sums in Redis.

Per (variant, metric): the means, the relative lift with its fixed-horizon interval, the
fixed-horizon p-value (two-proportion z-test, or Welch's t-test for revenue), the always-valid
mSPRT p-value and confidence sequence, P(variant beats control) and expected loss (proportion
metrics), the CUPED-adjusted lift and the variance it removed, and a **verdict** from the
always-valid test (the one that stays honest however often the report is run): ``winner``,
``loser``, or ``inconclusive`` with the users per variant a fixed-horizon test would need to
detect the experiment's ``mde`` (relative) with its ``power``. A sample-ratio mismatch
(chi-square p < 0.001 against the weights) is printed as a loud warning above the results.

Examples
--------

>>> definition = {"id": "e", "name": "", "control": "a", "primary": "conversion",
...     "guardrails": [], "alpha": 0.05, "power": 0.8, "mde": 0.1, "tau": 0.05,
...     "variants": {"a": {"weight": 0.5}, "b": {"weight": 0.5}}}
>>> def doc(users, conversions):
...     zero = {"sum": 0, "sum_sq": 0, "x_sum": 0, "x_sum_sq": 0, "xy_sum": 0}
...     metrics = {m: dict(zero) for m in ("conversion", "revenue", "click", "unsubscribe")}
...     metrics["conversion"].update(sum=conversions, sum_sq=conversions)
...     return {"users": users, "exposures": users, "metrics": metrics}
>>> report = analyse(definition, {"a": doc(5000, 500), "b": doc(5000, 650)})
>>> r = report.results[0]
>>> r.metric, r.variant, r.verdict, round(r.fixed.lift, 2)
('conversion', 'b', 'winner', 0.3)
>>> report.sample_ratio.mismatch()
False

"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from config.settings import Settings
from models import experiment_stats as st
from operators.experiment_totals import sample_of
from state.experiments import LOWER_IS_BETTER, METRICS
from state.exposures import BINARY

FORMATS = ("table", "json")


@dataclass(frozen=True)
class MetricResult:
    """One variant against control on one metric."""

    metric: str
    role: str
    variant: str
    control_mean: float
    mean: float
    fixed: st.Comparison
    sequential: st.Sequential
    bayes: st.Bayes | None
    cuped: st.Comparison
    variance_reduction: float
    verdict: str
    more_users: int


@dataclass(frozen=True)
class ExperimentReport:
    """One experiment's variants (users, exposures, weight) and results."""

    definition: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    sample_ratio: st.SampleRatio
    results: list[MetricResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "definition": self.definition,
            "variants": self.variants,
            "sample_ratio": {**asdict(self.sample_ratio), "mismatch": self.sample_ratio.mismatch()},
            "results": [asdict(r) for r in self.results],
        }


def analyse(definition: dict[str, Any], documents: dict[str, dict[str, Any]]) -> ExperimentReport:
    """Compare every variant with control on every metric (primary first, then guardrails)."""
    control = definition["control"]
    weights = {v: spec["weight"] for v, spec in definition["variants"].items()}
    variants = {
        v: {
            "weight": weights[v],
            "users": documents[v]["users"] if v in documents else 0,
            "exposures": documents[v]["exposures"] if v in documents else 0,
        }
        for v in weights
    }
    counted = [v for v in weights if weights[v] > 0]
    ratio = st.sample_ratio([variants[v]["users"] for v in counted], [weights[v] for v in counted])
    results = []
    if control in documents:
        for metric in _ordered(definition):
            role = _role(definition, metric)
            for variant, doc in documents.items():
                if variant != control and variant in weights:
                    results.append(
                        _compare(definition, metric, role, variant, documents[control], doc)
                    )
    return ExperimentReport(definition, variants, ratio, results)


def live(
    settings: Settings, client: Any, experiment_id: str | None = None
) -> list[ExperimentReport]:
    """Reports for one experiment, or every experiment with sums in Redis (``client``)."""
    return [analyse(d, docs) for d, docs in stored(settings, client, experiment_id)]


def stored(
    settings: Settings, client: Any, experiment_id: str | None = None
) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    """``(definition, {variant: document})`` of one experiment, or of every experiment
    with sums in Redis."""
    pattern = settings.redis_key("experiment_def", experiment_id or "*")
    found = []
    for key in sorted(client.scan_iter(match=pattern)):
        definition = orjson.loads(client.get(key) or b"null")
        if not definition:
            continue
        documents = {}
        for variant in definition["variants"]:
            raw = client.get(settings.redis_key("experiment", definition["id"], variant))
            if raw is not None:
                documents[variant] = orjson.loads(raw)
        found.append((definition, documents))
    return found


def variant_counts(settings: Settings, client: Any, keys: Any) -> dict[str, tuple[int, int]]:
    """``(users, exposures)`` in Redis for each ``"experiment|variant"`` of ``keys``."""
    counts = {}
    for key in keys:
        raw = client.get(settings.redis_key("experiment", *key.split("|")))
        doc = orjson.loads(raw) if raw else {"users": 0, "exposures": 0}
        counts[key] = (doc["users"], doc["exposures"])
    return counts


def render(reports: list[ExperimentReport], fmt: str = "table") -> str:
    """Reports as text tables or JSON."""
    if fmt == "json":
        return orjson.dumps([r.to_json() for r in reports], option=orjson.OPT_INDENT_2).decode()
    if fmt != "table":
        raise ValueError(f"format must be one of {FORMATS}")
    return "\n".join(_table(r) for r in reports)


def _compare(
    definition: dict[str, Any],
    metric: str,
    role: str,
    variant: str,
    control_doc: dict[str, Any],
    variant_doc: dict[str, Any],
) -> MetricResult:
    alpha = definition["alpha"]
    control, treatment = sample_of(control_doc, metric), sample_of(variant_doc, metric)
    binary = metric in BINARY
    fixed = (st.two_proportions if binary else st.welch)(control, treatment, alpha)
    sequential = st.msprt(control, treatment, definition["tau"], alpha)
    bayes = st.beta_binomial(control, treatment) if binary else None
    cuped, reduction = st.cuped_welch(control, treatment, alpha)
    better = -fixed.diff if metric in LOWER_IS_BETTER else fixed.diff
    more = 0
    if sequential.p_value <= alpha and better != 0:
        verdict = "winner" if better > 0 else "loser"
    else:
        verdict = "inconclusive"
        effect = definition["mde"] * max(control.mean, treatment.mean)
        needed = st.users_needed(control, treatment, effect, alpha, definition["power"])
        more = max(0, needed - min(control.n, treatment.n))
    return MetricResult(
        metric,
        role,
        variant,
        control.mean,
        treatment.mean,
        fixed,
        sequential,
        bayes,
        cuped,
        reduction,
        verdict,
        more,
    )


def _ordered(definition: dict[str, Any]) -> list[str]:
    first = [definition["primary"], *definition["guardrails"]]
    return [*dict.fromkeys(first), *(m for m in METRICS if m not in first)]


def _role(definition: dict[str, Any], metric: str) -> str:
    if metric == definition["primary"]:
        return "primary"
    return "guardrail" if metric in definition["guardrails"] else "secondary"


def _table(report: ExperimentReport) -> str:
    d = report.definition
    title = f"experiment {d['id']}" + (f": {d['name']}" if d.get("name") else "")
    lines = [title, f"control: {d['control']}; alpha {d['alpha']}; verdicts from the always-valid"
             " (mSPRT) test"]  # fmt: skip
    lines.append(f"  {'variant':16}{'weight':>8}{'users':>9}{'exposures':>11}")
    for name, v in report.variants.items():
        lines.append(f"  {name:16}{v['weight']:>8.3f}{v['users']:>9,}{v['exposures']:>11,}")
    srm = report.sample_ratio
    if srm.mismatch():
        lines.append(
            f"  !!! SAMPLE RATIO MISMATCH: users {list(srm.observed)} vs expected "
            f"{[round(e) for e in srm.expected]} (chi-square p = {srm.p_value:.2g}). The "
            "assignment or the exposure logging is broken: do not trust these results. !!!"
        )
    else:
        lines.append(f"  sample ratio ok (chi-square p = {srm.p_value:.3f})")
    header = (
        f"  {'metric':24}{'variant':12}{'control':>10}{'variant':>10}{'lift [95% CI]':>28}"
        f"{'p fixed':>9}{'p always':>10}{'P(better)':>10}{'CUPED lift':>12}{'var -':>7}  verdict"
    )
    lines.append(header)
    for r in report.results:
        lines.append(
            f"  {r.metric + ' (' + r.role + ')':24}{r.variant:12}{r.control_mean:>10.4f}"
            f"{r.mean:>10.4f}{_lift(r.fixed):>28}{r.fixed.p_value:>9.4f}"
            f"{r.sequential.p_value:>10.4f}"
            f"{'' if r.bayes is None else format(r.bayes.prob_better, '.3f'):>10}"
            f"{_pct(r.cuped.lift):>12}{r.variance_reduction:>7.1%}  {r.verdict}"
            + (f" (about {r.more_users:,} more users per variant)" if r.more_users else "")
        )
    return "\n".join(lines) + "\n"


def _lift(c: st.Comparison) -> str:
    if c.lift is None:
        return f"diff {c.diff:+.4f}"
    if c.lift_ci is None:
        return _pct(c.lift)
    return f"{_pct(c.lift)} [{_pct(c.lift_ci[0])}, {_pct(c.lift_ci[1])}]"


def _pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:+.1%}"
