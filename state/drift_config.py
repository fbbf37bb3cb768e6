"""A campaign's ``drift`` table: how its policy watches for and follows a changing world.

.. code-block:: toml

    [campaign.drift]
    detector = "adwin"    # adwin (default), page_hinkley or none
    delta = 0.002         # the detector's sensitivity (ADWIN: false-alarm bound)
    response = "shrink"   # report (default), reset or shrink
    keep = 5              # shrink: observations every other arm keeps
    half_life = "12h"     # discounted Thompson sampling (event time); absent: keep it all

Detectors watch every (campaign, segment, offer) reward stream and the response model's log
loss. ``report`` only records a detection; ``reset`` puts the drifted offer's posterior back
to the prior; ``shrink`` does that and scales every other offer of the same segment down to
``keep`` observations (means kept), so the whole segment explores again: after a change the
offer that became best is usually one the policy had stopped playing.

Examples
--------

>>> problems = []
>>> parse_drift({"response": "shrink", "half_life": "6h"}, lambda k, m: problems.append(m))
DriftConfig(detector='adwin', delta=0.002, response='shrink', keep=5.0, half_life_ms=21600000)
>>> parse_drift({"response": "forget"}, lambda k, m: problems.append(f"{k}: {m}")).response
'report'
>>> problems
["response: 'forget' is not one of report, reset, shrink"]

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.units import parse_duration

DETECTORS = ("adwin", "page_hinkley", "none")
RESPONSES = ("report", "reset", "shrink")


@dataclass(frozen=True)
class DriftConfig:
    """Drift detection and response of one campaign (see the module docstring)."""

    detector: str = "adwin"
    delta: float = 0.002
    response: str = "report"
    keep: float = 5.0
    half_life_ms: int | None = None


def parse_drift(raw: Any, err: Callable[[str, str], None]) -> DriftConfig:
    """The ``drift`` table; each problem goes to ``err(key, message)``."""
    if not isinstance(raw, dict):
        err("drift", "must be a table")
        return DriftConfig()
    out: dict[str, Any] = {}
    unknown = set(raw) - {"detector", "delta", "response", "keep", "half_life"}
    if unknown:
        err("drift", f"unknown keys {sorted(unknown)}")
    for key, choices in (("detector", DETECTORS), ("response", RESPONSES)):
        if key in raw:
            if raw[key] in choices:
                out[key] = raw[key]
            else:
                err(key, f"{raw[key]!r} is not one of {', '.join(choices)}")
    for key, low, high in (("delta", 0.0, 1.0), ("keep", 0.0, float("inf"))):
        if key in raw:
            value = raw[key]
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and low < value < high:
                out[key] = float(value)
            else:
                err(key, f"must be a number above {low:g}" + (f" and below {high:g}" * (high < 2)))
    if "half_life" in raw:
        try:
            out["half_life_ms"] = parse_duration(raw["half_life"])
        except ValueError as exc:
            err("half_life", str(exc))
    return DriftConfig(**out)
