"""The rule-based multi-touch attribution models: how much of one conversion each touchpoint
of its path earned.

Every model is a function of the path (channels in time order, oldest first), the touch times
and the conversion time, returning one non-negative weight per touchpoint; weights are
normalized and split exactly by :mod:`models.credit_split`. The streaming flow and the
batch ``offerflow attribution paths`` command both call :func:`weights`, so they cannot
disagree on what a model means.

- ``first_touch`` / ``last_touch``: all credit to the first / last touch.
- ``last_non_direct``: all credit to the last touch whose channel is not direct (Google
  Analytics' default); a path of direct touches only credits its last touch.
- ``linear``: equal credit to every touch.
- ``time_decay``: weight ``2 ** (-(conversion time - touch time) / half_life)``, so a touch one
  half-life before the conversion counts half as much as one at the conversion.
- ``position_based`` (U-shaped): ``first_share`` to the first touch, ``last_share`` to the
  last, the rest equally to the touches between; one touch takes everything, two split
  ``first_share : last_share``.

The data-driven model (Markov chain removal effects) lives in :mod:`models.markov_chain`.

Examples
--------

>>> params = HeuristicParams(half_life_ms=1000)
>>> path = ["email", "direct", "web", "direct"]
>>> weights("last_non_direct", path, [0, 1000, 2000, 3000], 3000, params)
[0.0, 0.0, 1.0, 0.0]
>>> [round(w, 3) for w in weights("position_based", path, [0, 1, 2, 3], 3, params)]
[0.4, 0.1, 0.1, 0.4]
>>> weights("time_decay", path, [0, 1000, 2000, 3000], 3000, params)
[0.125, 0.25, 0.5, 1.0]

"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.units import DAY_MS

#: Rule-based models, in report order.
HEURISTIC_MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
)
#: The data-driven model in its standard form: total credit split by normalized removal
#: effects (a report-level total, :func:`models.markov_chain.standard_split`).
MARKOV = "markov"
#: The data-driven model per conversion: each path's credit split by its channels' removal
#: effects (what the per-conversion attribution records carry).
MARKOV_PATH = "markov_path"
#: Models credited conversion by conversion (records on the attributions topic).
RECORD_MODELS = (*HEURISTIC_MODELS, MARKOV_PATH)
#: Every model, in report order.
MODELS = (*HEURISTIC_MODELS, MARKOV, MARKOV_PATH)
#: Channel of visits without a source, and of conversions without any touchpoint.
DIRECT = "direct"


@dataclass(frozen=True)
class HeuristicParams:
    """Parameters of the rule-based models.

    Parameters
    ----------
    half_life_ms
        Time-decay half-life, in the same unit as the touch times.
    first_share, last_share
        Position-based shares of the first and last touches (U-shaped 40/20/40 by default).
    direct
        Channels that ``last_non_direct`` skips.

    """

    half_life_ms: float = 7 * DAY_MS
    first_share: float = 0.4
    last_share: float = 0.4
    direct: frozenset[str] = frozenset({DIRECT})

    def __post_init__(self) -> None:
        if not self.half_life_ms > 0:
            raise ValueError("half_life_ms must be positive")
        shares = (self.first_share, self.last_share)
        if min(shares) < 0 or sum(shares) > 1:
            raise ValueError("position shares must be non-negative and sum to at most 1")


def weights(
    model: str,
    channels: Sequence[str],
    times: Sequence[float],
    conversion_ts: float,
    params: HeuristicParams,
) -> list[float]:
    """One weight per touch of ``channels`` under the rule-based ``model``."""
    n = len(channels)
    if n == 0:
        return []
    out = [0.0] * n
    if model == "first_touch":
        out[0] = 1.0
    elif model == "last_touch":
        out[-1] = 1.0
    elif model == "last_non_direct":
        chosen = max((i for i, c in enumerate(channels) if c not in params.direct), default=n - 1)
        out[chosen] = 1.0
    elif model == "linear":
        out = [1.0] * n
    elif model == "time_decay":
        out = [2.0 ** (-max(conversion_ts - t, 0.0) / params.half_life_ms) for t in times]
    elif model == "position_based":
        out = _u_shaped(n, params.first_share, params.last_share)
    else:
        raise ValueError(f"unknown rule-based model {model!r}; known: {HEURISTIC_MODELS}")
    return out


def _u_shaped(n: int, first: float, last: float) -> list[float]:
    if n == 1:
        return [1.0]
    if n == 2:
        return [first, last] if first + last > 0 else [1.0, 1.0]
    middle = (1.0 - first - last) / (n - 2)
    return [first, *([middle] * (n - 2)), last]
