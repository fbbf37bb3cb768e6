"""``offerflow predict evaluate FILE``: fit BG/NBD and Gamma-Gamma on a calibration period of a
transaction log and check their predictions on the holdout period that follows.

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

from models import bgnbd, gamma_gamma
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
    bgnbd: bgnbd.BGNBD
    gamma_gamma: gamma_gamma.GammaGamma | None
    holdout_units: float
    mae: float
    correlation: float
    predicted_total: float
    actual_total: float
    by_frequency: list[tuple[str, int, float, float]]  # label, customers, actual, predicted
    curve: list[tuple[float, float, float]]  # time (units from cohort start), actual, expected


def evaluate(
    log: Log,
    calibration_end: date,
    holdout_end: date,
    *,
    unit_days: float = 7.0,
    progress: bool = False,
) -> Evaluation:
    """Fit on transactions up to ``calibration_end`` (inclusive), compare on the rest up to
    ``holdout_end``."""
    cohort = {c: t for c, t in log.items() if t[0][0] <= calibration_end}
    if not cohort:
        raise LogError(f"no customer made a first purchase by {calibration_end}")
    start = min(t[0][0] for t in cohort.values())

    def units(a: date, b: date) -> float:
        return (b - a).days / unit_days

    x, t_x, T, m, actual, firsts = [], [], [], [], [], []
    for tx in cohort.values():
        first = tx[0][0]
        calibration = [(d, v) for d, v in tx if d <= calibration_end]
        repeats = calibration[1:]
        x.append(len(repeats))
        t_x.append(units(first, calibration[-1][0]))
        T.append(units(first, calibration_end))
        m.append(sum(v for _, v in repeats) / len(repeats) if repeats else 0.0)
        actual.append(sum(1 for d, _ in tx if calibration_end < d <= holdout_end))
        firsts.append(units(start, first))
    x_a, t_a, T_a, m_a, actual_a = (np.array(v, float) for v in (x, t_x, T, m, actual))
    bg = bgnbd.fit(x_a, t_a, T_a, callback=_ticker(progress, "fitting BG/NBD"))
    try:
        gg = gamma_gamma.fit(x_a, m_a, callback=_ticker(progress, "fitting Gamma-Gamma"))
    except ValueError:
        gg = None
    horizon = units(calibration_end, holdout_end)
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
        customers=len(cohort),
        unit_days=unit_days,
        bgnbd=bg,
        gamma_gamma=gg,
        holdout_units=horizon,
        mae=float(np.mean(np.abs(predicted - actual_a))),
        correlation=float(stats.pearsonr(predicted, actual_a).statistic),
        predicted_total=float(predicted.sum()),
        actual_total=float(actual_a.sum()),
        by_frequency=by_frequency,
        curve=_curve(cohort, bg, start, holdout_end, np.array(firsts), unit_days),
    )


def render(ev: Evaluation, every: int = 4) -> str:
    """The evaluation as text; the curve every ``every`` time units."""
    bg, gg = ev.bgnbd, ev.gamma_gamma
    unit = "week" if ev.unit_days == 7 else f"{ev.unit_days:g} days"
    lines = [
        f"{ev.customers:,} customers in the calibration cohort; time unit: {unit}",
        f"BG/NBD: r = {bg.r:.4f}, alpha = {bg.alpha:.4f}, a = {bg.a:.4f}, b = {bg.b:.4f}",
        "Gamma-Gamma: "
        + (f"p = {gg.p:.4f}, q = {gg.q:.4f}, gamma = {gg.gamma:.4f}" if gg else "not fitted"),
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


def _curve(
    cohort: Log, bg: bgnbd.BGNBD, start: date, end: date, firsts: np.ndarray, unit_days: float
) -> list[tuple[float, float, float]]:
    repeat_times = np.sort(
        np.array([(d - start).days / unit_days for tx in cohort.values() for d, _ in tx[1:]])
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
