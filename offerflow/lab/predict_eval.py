"""``offerflow predict evaluate FILE``: fit the purchase model (MBG/NBD or BG/NBD) and
Gamma-Gamma on a calibration period of a transaction log and check their predictions on the
holdout period that follows (or, without a holdout, just fit them at a point).

The log has one transaction per line: customer id, date, value (CSV with a header, or
whitespace-separated columns picked by position; see ``--help`` and docs/predictions.md).
Transactions of one customer on one day count as one purchase (as in Fader, Hardie & Lee),
their values summed. The cohort is every customer whose first purchase falls in the
calibration period; for them the report gives:

- the fitted parameters (time unit: ``unit_days``);
- per customer, holdout purchases predicted (conditional expectation given their
  calibration facts) against actual: mean absolute error, Pearson correlation, totals, and the
  means by number of calibration repeat purchases (FHL 2005, figure 4);
- the aggregate curve: cumulative repeat purchases of the cohort, actual against expected,
  through calibration and holdout (FHL 2005, figure 1).

Examples
--------

>>> import io
>>> log = io.StringIO("customer,date,value\\na,2020-01-01,10\\na,2020-01-01,5\\na,2020-01-08,20\\n"
...                   "b,2020-01-03,7\\n")
>>> tx = read_log(log, columns=("customer", "date", "value"), date_format="%Y-%m-%d")
>>> tx["a"]  # same-day purchases merged
[(datetime.date(2020, 1, 1), 15.0), (datetime.date(2020, 1, 8), 20.0)]

"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from scipy import stats

from models import gamma_gamma
from models.bgnbd import BGNBD
from models.clv import PURCHASE_MODELS
from offerflow.progress import Progress
from offerflow.progress import progress as with_progress

Log = dict[str, list[tuple[date, float]]]


class LogError(ValueError):
    """The transaction log cannot be read as configured."""


def read_log(
    lines: Iterable[str],
    *,
    columns: tuple[str, str, str] = ("customer", "date", "value"),
    delimiter: str = ",",
    date_format: str = "%Y-%m-%d",
    progress: bool = False,
) -> Log:
    """Transactions per customer, by day, sorted. ``columns`` are header names, or 0-based
    positions for a file without a header; ``delimiter="whitespace"`` splits on runs of
    spaces."""
    positional = all(c.isdigit() for c in columns)
    if delimiter == "whitespace":
        rows: Iterable[list[str]] = (line.split() for line in lines)
    else:
        rows = csv.reader(lines, delimiter=delimiter)
    picks: list[int] = [int(c) for c in columns] if positional else []
    days: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for number, row in enumerate(
        with_progress(rows, desc="reading", unit="rows", enabled=progress)
    ):
        if not row:
            continue
        if not picks:
            try:
                picks = [row.index(c) for c in columns]
            except ValueError:
                raise LogError(
                    f"the header {row} lacks one of the columns {list(columns)} (is the "
                    "delimiter right? --columns takes names or 0-based positions)"
                ) from None
            continue
        if len(row) <= max(picks):
            raise LogError(
                f"row {number + 1} has {len(row)} field(s); the columns need {max(picks) + 1} "
                "(is the delimiter right?)"
            )
        try:
            customer = row[picks[0]]
            day = datetime.strptime(row[picks[1]], date_format).date()
            value = float(row[picks[2]])
        except ValueError as exc:
            raise LogError(f"row {number + 1}: {exc}") from None
        if not (math.isfinite(value) and value >= 0):
            raise LogError(f"row {number + 1}: a purchase value must not be negative, got {value}")
        days[customer][day] += value
    return {c: sorted(by_day.items()) for c, by_day in days.items()}


@dataclass(frozen=True)
class Evaluation:
    """Fitted models and the holdout comparison (see the module docstring)."""

    customers: int
    unit_days: float
    purchases: BGNBD
    gamma_gamma: gamma_gamma.GammaGamma | None
    holdout_units: float
    mae: float
    correlation: float
    predicted_total: float
    actual_total: float
    by_frequency: list[tuple[str, int, float, float]]  # label, customers, actual, predicted
    curve: list[tuple[float, float, float]]  # time (units from cohort start), actual, expected


@dataclass(frozen=True)
class Cohort:
    """Every customer whose first purchase falls on or before ``end``, summarized at ``end``
    as the models see them (time in units of ``unit_days``)."""

    end: date
    unit_days: float
    x: np.ndarray  # repeat purchase days
    t_x: np.ndarray  # last purchase, from the first
    T: np.ndarray  # age at ``end``, from the first purchase
    m: np.ndarray  # mean value of the repeat purchase days
    firsts: np.ndarray  # first purchase, from the cohort's first
    start: date  # the cohort's first purchase day

    @classmethod
    def at(cls, log: Log, end: date, unit_days: float = 7.0) -> Cohort:
        cohort = [t for t in log.values() if t[0][0] <= end]
        if not cohort:
            raise LogError(f"no customer made a first purchase by {end}")
        start = min(t[0][0] for t in cohort)
        rows = []
        for tx in cohort:
            first = tx[0][0]
            calibration = [(d, v) for d, v in tx if d <= end]
            repeats = calibration[1:]
            mean = sum(v for _, v in repeats) / len(repeats) if repeats else 0.0
            rows.append((len(repeats), (calibration[-1][0] - first).days,
                         (end - first).days, mean, (first - start).days))  # fmt: skip
        x, t_x, T, m, firsts = np.array(rows, float).reshape(-1, 5).T
        return cls(end, unit_days, x, t_x / unit_days, T / unit_days, m, firsts / unit_days, start)

    def fit(
        self, model: str = "mbgnbd", progress: bool = False
    ) -> tuple[BGNBD, gamma_gamma.GammaGamma | None]:
        """The purchase model ``model`` and Gamma-Gamma (``None`` if it cannot be fitted)."""
        purchase_model = PURCHASE_MODELS[model]
        ticker = _ticker(progress, f"fitting {purchase_model.title}")
        bg = purchase_model.fit(self.x, self.t_x, self.T, callback=ticker)
        try:
            gg = gamma_gamma.fit(self.x, self.m, callback=_ticker(progress, "fitting Gamma-Gamma"))
        except ValueError:
            gg = None
        return bg, gg


def evaluate(
    log: Log,
    calibration_end: date,
    holdout_end: date,
    *,
    unit_days: float = 7.0,
    model: str = "mbgnbd",
    progress: bool = False,
) -> Evaluation:
    """Fit on transactions up to ``calibration_end`` (inclusive), compare on the rest up to
    ``holdout_end``."""
    cohort = Cohort.at(log, calibration_end, unit_days)
    bg, gg = cohort.fit(model, progress)
    x_a, t_a, T_a = cohort.x, cohort.t_x, cohort.T
    members = [t for t in log.values() if t[0][0] <= calibration_end]
    actual_a = np.array(
        [sum(1 for d, _ in tx if calibration_end < d <= holdout_end) for tx in members], float
    )
    horizon = (holdout_end - calibration_end).days / unit_days
    predicted = bg.expected_purchases(horizon, x_a, t_a, T_a)
    by_frequency = []
    for low, high, label in [(k, k, str(k)) for k in range(7)] + [(7, np.inf, "7+")]:
        group = (x_a >= low) & (x_a <= high)
        if group.any():
            by_frequency.append(
                (
                    label,
                    int(group.sum()),
                    float(actual_a[group].mean()),
                    float(predicted[group].mean()),
                )
            )
    return Evaluation(
        customers=len(members),
        unit_days=unit_days,
        purchases=bg,
        gamma_gamma=gg,
        holdout_units=horizon,
        mae=float(np.mean(np.abs(predicted - actual_a))),
        correlation=float(stats.pearsonr(predicted, actual_a).statistic),
        predicted_total=float(predicted.sum()),
        actual_total=float(actual_a.sum()),
        by_frequency=by_frequency,
        curve=_curve(members, bg, cohort.start, holdout_end, cohort.firsts, unit_days),
    )


def render(ev: Evaluation, every: int = 4) -> str:
    """The evaluation as text; the curve every ``every`` time units."""
    lines = [
        *render_fit(ev.customers, ev.unit_days, ev.purchases, ev.gamma_gamma),
        f"holdout ({ev.holdout_units:.1f} units): purchases per customer, predicted vs actual: "
        f"MAE {ev.mae:.4f}, correlation {ev.correlation:.4f}; "
        f"total predicted {ev.predicted_total:,.1f}, actual {ev.actual_total:,.0f}",
        "",
        f"{'calibration repeat purchases':>30}{'customers':>11}{'actual':>10}{'predicted':>11}",
    ]
    lines += [f"{label:>30}{n:>11,}{a:>10.3f}{p:>11.3f}" for label, n, a, p in ev.by_frequency]
    lines += ["", f"{'time':>8}{'cumulative repeat purchases: actual':>38}{'expected':>11}"]
    lines += [f"{t:>8.0f}{a:>38,.0f}{e:>11,.1f}" for t, a, e in ev.curve[every - 1 :: every]]
    return "\n".join(lines) + "\n"


def render_fit(
    customers: int,
    unit_days: float,
    bg: BGNBD,
    gg: gamma_gamma.GammaGamma | None,
) -> list[str]:
    """The cohort and the fitted parameters, as lines."""
    unit = "week" if unit_days == 7 else "day" if unit_days == 1 else f"{unit_days:g} days"
    name = bg.title
    return [
        f"{customers:,} customers in the calibration cohort; time unit: {unit}",
        f"{name}: r = {bg.r:.4f}, alpha = {bg.alpha:.4f}, a = {bg.a:.4f}, b = {bg.b:.4f}",
        "Gamma-Gamma: "
        + (f"p = {gg.p:.4f}, q = {gg.q:.4f}, gamma = {gg.gamma:.4f}" if gg else "not fitted"),
    ]


def _curve(
    cohort: list[list[tuple[date, float]]],
    bg: BGNBD,
    start: date,
    end: date,
    firsts: np.ndarray,
    unit_days: float,
) -> list[tuple[float, float, float]]:
    repeat_times = np.sort(
        np.array([(d - start).days / unit_days for tx in cohort for d, _ in tx[1:]])
    )
    out = []
    for t in np.arange(1, (end - start).days / unit_days + 1e-9):
        expected = float(bg.expected_purchases_new(np.maximum(t - firsts, 0.0)).sum())
        out.append((float(t), float(np.searchsorted(repeat_times, t, side="right")), expected))
    return out


def _ticker(progress: bool, desc: str) -> Callable[[np.ndarray], None] | None:
    if not progress:
        return None
    bar = Progress(desc=desc, unit="iterations")
    return lambda _params: bar.update(1)
