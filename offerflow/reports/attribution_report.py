"""Attribution results as one table shape, whether they come from the running flow's Redis
totals (``offerflow attribution report``) or from a batch of aggregated paths
(``offerflow attribution paths``): conversions and value credited per channel (and, live,
per campaign) under every model, with the Markov chain's removal effects. The standard
``markov`` model is a split of the totals (by channel only); ``markov_path`` and the
heuristic models are sums of per-conversion credits.

Examples
--------

>>> report = Report(
...     {"linear": {"email": (1.5, 30.0), "web": (0.5, 10.0)},
...      "markov": {"email": (1.0, 20.0), "web": (1.0, 20.0)}},
...     removal_effects={"email": 0.8, "web": 0.8})
>>> print(render(report, "csv").strip())
table,model,key,conversions,value
channel,linear,email,1.5,30.0
channel,linear,web,0.5,10.0
channel,markov,email,1.0,20.0
channel,markov,web,1.0,20.0
removal_effect,markov,email,0.8,
removal_effect,markov,web,0.8,

"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from config.settings import Settings
from models.attribution_models import MARKOV, MODELS, RECORD_MODELS

Table = dict[str, dict[str, tuple[float, float]]]  # model -> key -> (conversions, value)
FORMATS = ("table", "csv", "json")


@dataclass
class Report:
    """Credits per model by channel (and campaign), and the Markov removal effects."""

    channels: Table
    campaigns: Table = field(default_factory=dict)
    removal_effects: dict[str, float] = field(default_factory=dict)
    conversion_probability: float | None = None
    conversions: float = 0.0
    value: float = 0.0

    def to_json(self) -> dict[str, Any]:
        def plain(table: Table) -> dict[str, Any]:
            return {
                model: {k: {"conversions": c, "value": v} for k, (c, v) in rows.items()}
                for model, rows in table.items()
            }

        return {
            "conversions": self.conversions,
            "value": self.value,
            "channels": plain(self.channels),
            "campaigns": plain(self.campaigns),
            "removal_effects": self.removal_effects,
            "conversion_probability": self.conversion_probability,
        }


def live(settings: Settings, client: Any) -> Report:
    """The running flow's totals from Redis (``client``). Models are updated independently,
    so while conversions arrive the report counts the conversions every model has credited."""
    channels: Table = {}
    campaigns: Table = {}
    conversions = value = math.inf
    for model in RECORD_MODELS:
        raw = client.get(settings.redis_key("attribution", model))
        if raw is None:
            continue
        doc = orjson.loads(raw)
        conversions, value = min(conversions, doc["conversions"]), min(value, doc["value"])
        channels[model] = {k: (v["conversions"], v["value"]) for k, v in doc["channels"].items()}
        campaigns[model] = {k: (v["conversions"], v["value"]) for k, v in doc["campaigns"].items()}
    raw = client.get(settings.redis_key("attribution_chain"))
    chain = orjson.loads(raw) if raw is not None else {}
    if channels and chain.get("standard"):
        channels[MARKOV] = {k: (c, v) for k, (c, v) in chain["standard"].items()}
    return Report(
        {m: channels[m] for m in MODELS if m in channels},
        campaigns,
        chain.get("removal_effects", {}),
        chain.get("conversion_probability"),
        conversions if channels else 0.0,
        value if channels else 0.0,
    )


def render(report: Report, fmt: str = "table") -> str:
    """``report`` as an aligned text table, CSV (long format) or JSON."""
    if fmt == "json":
        return orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("table", "model", "key", "conversions", "value"))
        for name, table in (("channel", report.channels), ("campaign", report.campaigns)):
            for model, rows in table.items():
                writer.writerows((name, model, k, c, v) for k, (c, v) in rows.items())
        writer.writerows(
            ("removal_effect", "markov", k, e, "") for k, e in report.removal_effects.items()
        )
        return out.getvalue()
    if fmt != "table":
        raise ValueError(f"format must be one of {FORMATS}")
    parts = [f"{report.conversions:,.0f} conversions, value {report.value:,.2f}"]
    for name, table in (("channel", report.channels), ("campaign", report.campaigns)):
        if table:
            parts += [
                _grid(f"conversions by {name}", table, 0),
                _grid(f"value by {name}", table, 1),
            ]
    if report.removal_effects:
        lines = ["Markov removal effects" + _probability(report.conversion_probability)]
        lines += [f"  {k:24}{e:>10.4f}" for k, e in report.removal_effects.items()]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _grid(title: str, table: Table, column: int) -> str:
    models = [m for m in MODELS if m in table]
    keys = sorted({k for rows in table.values() for k in rows})
    lines = [f"{title:24}" + "".join(f"{m:>16}" for m in models)]
    for key in keys:
        cells = (table[m].get(key, (0.0, 0.0))[column] for m in models)
        lines.append(f"  {key:22}" + "".join(f"{c:>16,.2f}" for c in cells))
    return "\n".join(lines)


def _probability(p: float | None) -> str:
    return "" if p is None else f" (conversion probability {p:.4f})"
