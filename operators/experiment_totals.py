"""Running sums per (experiment, variant), for Redis and the report.

Bytewax ``stateful_map`` mapper keyed ``"experiment|variant"``: adds each user-step delta
(:mod:`state.exposures`) to the variant's sums and returns the variant's document, plus the
experiment's definition the first time a key sees its version (the report needs weights,
control and metrics, and reads them from Redis like the sums). The deltas are tiny and
additive, so a key costs one vector addition per exposure or metric change; keying by
variant rather than experiment spreads an experiment over as many keys as it has variants.

Examples
--------

>>> from state.exposures import Exposures
>>> step = TotalsStep(lambda experiment_id: None, bucket_ms=60_000)
>>> ex = Exposures()
>>> state, out = step(None, ("e|b", ex.expose("e|b", 0, (0.0, 0.0, 1.0, 0.0)), 0))
>>> key, change = ex.observe(61_000, "revenue", 12.5)[0]
>>> state, out = step(state, (key, change, 61_000))
>>> doc = out[-1][1]
>>> doc["users"], doc["metrics"]["revenue"]["sum"], doc["metrics"]["click"]["x_sum"]
(1, 12.5, 1.0)
>>> [(t, users, sums["revenue"]) for t, (users, sums) in doc["history"]]
[(0, 1, [0.0, 0.0]), (60000, 1, [12.5, 156.25])]

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models.experiment_stats import Sample
from state.experiments import METRICS, Experiment
from state.exposures import WIDTH, Delta
from state.history import Series

_FIELDS = ("sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum")
#: History bucket when none is configured (``OFFERFLOW_HISTORY_BUCKET``'s default, 5 min).
DEFAULT_BUCKET_MS = 300_000


@dataclass
class VariantTotals:
    """One variant's sums (layout of :data:`state.exposures.Delta`)."""

    experiment: str
    variant: str
    sums: list[float] = field(default_factory=lambda: [0.0] * WIDTH)
    version: str | None = None
    history: Series = field(default_factory=lambda: Series(DEFAULT_BUCKET_MS))

    def add(self, delta: Delta, ts: int) -> None:
        """Add a delta made at event time ``ts``; the history's point for ``ts`` becomes
        the users and each metric's ``[sum, sum_sq]`` after it (all a sequential test over
        time needs)."""
        self.sums = [a + b for a, b in zip(self.sums, delta, strict=True)]
        point = self.history.slot(ts, _empty)
        point[0] = int(self.sums[1])
        for i, metric in enumerate(METRICS):
            base = 2 + 5 * i
            point[1][metric] = [round(self.sums[base], 9), round(self.sums[base + 1], 9)]

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Snapshots from before the history existed restore with an empty one."""
        self.__dict__.update({"history": Series(DEFAULT_BUCKET_MS), **state})

    def document(self) -> dict[str, Any]:
        """Exposures, users and per-metric sums as named numbers."""
        metrics = {}
        for i, metric in enumerate(METRICS):
            base = 2 + 5 * i
            metrics[metric] = {
                name: round(self.sums[base + j], 9) for j, name in enumerate(_FIELDS)
            }
        return {
            "experiment": self.experiment,
            "variant": self.variant,
            "exposures": int(self.sums[0]),
            "users": int(self.sums[1]),
            "metrics": metrics,
            "history": self.history.points,  # live: serialized once per batch by the mirror
        }


def _empty(_previous: Any) -> list[Any]:
    return [0, {}]


def sample_of(document: dict[str, Any], metric: str) -> Sample:
    """The :class:`~models.experiment_stats.Sample` of one metric in a variant document."""
    m = document["metrics"][metric]
    return Sample(document["users"], m["sum"], m["sum_sq"], m["x_sum"], m["x_sum_sq"], m["xy_sum"])


class TotalsStep:
    """``op.stateful_map`` mapper: ``(totals, (key, delta, ts)) -> (totals, outputs)`` where
    outputs are ``("variant", document)`` and, when the definition changed,
    ``("definition", definition)``.

    Parameters
    ----------
    definition
        The experiment in force by id (``None`` if it is gone), from the campaign book.
    bucket_ms
        Event time per point of each variant's history (``OFFERFLOW_HISTORY_BUCKET``).

    """

    def __init__(
        self, definition: Callable[[str], Experiment | None], bucket_ms: int = DEFAULT_BUCKET_MS
    ) -> None:
        self.definition = definition
        self.bucket_ms = bucket_ms

    def __call__(
        self, totals: VariantTotals | None, item: tuple[str, Delta, int]
    ) -> tuple[VariantTotals, list[tuple[str, dict[str, Any]]]]:
        key, delta, ts = item
        if totals is None:
            experiment, variant = key.split("|", 1)
            totals = VariantTotals(experiment, variant, history=Series(self.bucket_ms))
        totals.add(delta, ts)
        out = []
        experiment = self.definition(totals.experiment)
        if experiment is not None and experiment.version != totals.version:
            totals.version = experiment.version
            out.append(("definition", experiment.definition()))
        out.append(("variant", totals.document()))
        return totals, out
