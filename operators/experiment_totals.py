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
>>> step = TotalsStep(lambda experiment_id: None)
>>> ex = Exposures()
>>> state, out = step(None, ("e|b", ex.expose("e|b", 0, (0.0, 0.0, 1.0, 0.0))))
>>> key, change = ex.observe(5, "revenue", 12.5)[0]
>>> state, out = step(state, (key, change))
>>> doc = out[-1][1]
>>> doc["users"], doc["metrics"]["revenue"]["sum"], doc["metrics"]["click"]["x_sum"]
(1, 12.5, 1.0)

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from operators.experiment_stats import Sample
from state.experiments import METRICS, Experiment
from state.exposures import WIDTH, Delta

_FIELDS = ("sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum")


@dataclass
class VariantTotals:
    """One variant's sums (layout of :data:`state.exposures.Delta`)."""

    experiment: str
    variant: str
    sums: list[float] = field(default_factory=lambda: [0.0] * WIDTH)
    version: str | None = None

    def add(self, delta: Delta) -> None:
        self.sums = [a + b for a, b in zip(self.sums, delta, strict=True)]

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
        }


def sample_of(document: dict[str, Any], metric: str) -> Sample:
    """The :class:`~operators.experiment_stats.Sample` of one metric in a variant document."""
    m = document["metrics"][metric]
    return Sample(document["users"], m["sum"], m["sum_sq"], m["x_sum"], m["x_sum_sq"], m["xy_sum"])


class TotalsStep:
    """``op.stateful_map`` mapper: ``(totals, (key, delta)) -> (totals, outputs)`` where
    outputs are ``("variant", document)`` and, when the definition changed,
    ``("definition", definition)``.

    Parameters
    ----------
    definition
        The experiment in force by id (``None`` if it is gone), from the campaign book.

    """

    def __init__(self, definition: Callable[[str], Experiment | None]) -> None:
        self.definition = definition

    def __call__(
        self, totals: VariantTotals | None, item: tuple[str, Delta]
    ) -> tuple[VariantTotals, list[tuple[str, dict[str, Any]]]]:
        key, delta = item
        if totals is None:
            experiment, variant = key.split("|", 1)
            totals = VariantTotals(experiment, variant)
        totals.add(delta)
        out = []
        experiment = self.definition(totals.experiment)
        if experiment is not None and experiment.version != totals.version:
            totals.version = experiment.version
            out.append(("definition", experiment.definition()))
        out.append(("variant", totals.document()))
        return totals, out
