"""The statistics the report pages draw, from the flow's documents: Beta credible intervals,
shares, per-second rates between operations samples, and always-valid p-values over time.

Examples
--------

>>> credible(2.0, 1.0)  # Beta(2, 1): mean 2/3
(0.158114, 0.987421)
>>> shares({"a": 3, "b": 1})
{'a': 0.75, 'b': 0.25}

"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from scipy import stats

from models import experiment_stats as st


def credible(alpha: float, beta: float, level: float = 0.95) -> tuple[float, float]:
    """Equal-tailed credible interval of a Beta posterior."""
    tail = (1 - level) / 2
    low, high = stats.beta.ppf([tail, 1 - tail], alpha, beta)
    return round(float(low), 6), round(float(high), 6)


def shares(counts: dict[str, float]) -> dict[str, float]:
    """Counts as fractions of their total (empty when the total is 0)."""
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def rates(history: list[list[Any]]) -> dict[str, Any]:
    """Per-second rates between a process's successive samples ``[ts, in, out, {reason:
    dead}]``: times, events in, records out, dead letters by reason, and the newest rates.

    >>> r = rates([[0, 0, 0, {}], [2000, 100, 300, {"empty": 4}]])
    >>> r["in_per_s"], r["out_per_s"], r["dead_per_s"], r["now"]["in_per_s"]
    ([50.0], [150.0], {'empty': [2.0]}, 50.0)
    """
    times, ins, outs = [], [], []
    dead: dict[str, list[float]] = {}
    for before, after in itertools.pairwise(history):
        seconds = (after[0] - before[0]) / 1000
        if seconds <= 0:
            continue
        times.append(after[0])
        ins.append((after[1] - before[1]) / seconds)
        outs.append((after[2] - before[2]) / seconds)
        for reason in set(before[3]) | set(after[3]):
            series = dead.setdefault(reason, [0.0] * (len(times) - 1))
            series.append((after[3].get(reason, 0) - before[3].get(reason, 0)) / seconds)
        for series in dead.values():
            series.extend([0.0] * (len(times) - len(series)))
    now = {"in_per_s": ins[-1] if ins else 0.0, "out_per_s": outs[-1] if outs else 0.0}
    return {"times": times, "in_per_s": ins, "out_per_s": outs, "dead_per_s": dead, "now": now}


def p_value_history(
    definition: dict[str, Any], documents: dict[str, dict[str, Any]]
) -> dict[str, dict[str, list[float]]]:
    """The primary metric's always-valid (mSPRT) p-value of each variant against control at
    every point of the variants' histories. The p-value shown at a point is the smallest so
    far, as the always-valid definition has it (it can only fall as evidence accrues).

    >>> doc = lambda pts: {"history": [[t, [n, {"click": [s, s]}]] for t, n, s in pts]}
    >>> d = {"control": "a", "primary": "click", "tau": 0.05, "alpha": 0.05}
    >>> h = p_value_history(d, {"a": doc([(0, 1000, 50), (1, 4000, 200)]),
    ...                         "b": doc([(0, 1000, 90), (1, 4000, 400)])})
    >>> h["b"]["times"], h["b"]["p_value"][-1] < 0.001
    ([0, 1], True)
    """
    control, metric = definition["control"], definition["primary"]
    if control not in documents:
        return {}
    out = {}
    for variant, doc in documents.items():
        if variant == control:
            continue
        times, values, lowest = [], [], 1.0
        for ts, a, b in _aligned(documents[control]["history"], doc["history"]):
            sa, sb = _sample(a, metric), _sample(b, metric)
            lowest = min(lowest, st.msprt(sa, sb, definition["tau"], definition["alpha"]).p_value)
            times.append(ts)
            values.append(lowest)
        out[variant] = {"times": times, "p_value": values}
    return out


def _aligned(first: list, second: list) -> Iterable[tuple[int, Any, Any]]:
    """Both cumulative histories at every time either has a point (carried forward)."""
    a = dict((t, v) for t, v in first)
    b = dict((t, v) for t, v in second)
    last_a = last_b = None
    for ts in sorted(set(a) | set(b)):
        last_a, last_b = a.get(ts, last_a), b.get(ts, last_b)
        if last_a is not None and last_b is not None:
            yield ts, last_a, last_b


def _sample(point: list, metric: str) -> st.Sample:
    users, sums = point
    total, total_sq = sums.get(metric, (0.0, 0.0))
    return st.Sample(users, total, total_sq)
