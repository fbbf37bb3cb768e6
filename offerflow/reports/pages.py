"""``offerflow report PAGE``: a page of :mod:`offerflow.reports.analytics` as terminal tables
(``rich``).

The numbers are the query layer's, unchanged: this module only lays them out, so the report
and the dashboard always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table


def _n(x: Any, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def _table(title: str, headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    return table


def campaigns(data: dict[str, Any]) -> list[Table]:
    funnel = _table(
        "Campaigns",
        ["campaign", "decisions", "no offer", "impressions", "clicks", "CTR", "conversions",
         "revenue", "budget burn"],
        [
            [c["campaign"], _n(c["decisions"]), _n(c["no_offers"]), _n(c["impressions"]),
             _n(c["clicks"]), _pct(c["ctr"], 2), _n(c["conversions"]), _n(c["revenue"], 2),
             ", ".join(f"{k} {_pct(b['share'])}" for k, b in c["budget"]["burn"].items()) or "-"]
            for c in data["campaigns"]
        ],
    )  # fmt: skip
    arms = _table(
        "Posterior mean reward per arm (95% credible interval)",
        ["campaign", "segment", "offer", "pulls", "mean", "interval"],
        [
            [c["campaign"], p["segment"], p["offer"], _n(p["pulls"]), f"{p['mean']:.4f}",
             f"[{p['low']:.4f}, {p['high']:.4f}]"]
            for c in data["campaigns"]
            for p in c["posteriors"]
        ],
    )  # fmt: skip
    drifts = [(c["campaign"], d) for c in data["campaigns"] for d in c.get("drifts", [])]
    if not drifts:
        return [funnel, arms]
    changes = _table(
        "Drift detections (newest last)",
        ["campaign", "segment", "stream", "offer", "response", "event time"],
        [
            [campaign, d["segment"], d["stream"], d["offer_id"] or "-", d["response"],
             datetime.fromtimestamp(d["ts"] / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")]
            for campaign, d in drifts
        ],
    )  # fmt: skip
    return [funnel, arms, changes]


def experiments(data: dict[str, Any]) -> list[Table]:
    tables = []
    for e in data["experiments"]:
        d = e["definition"]
        srm = "SAMPLE RATIO MISMATCH" if e["srm_warning"] else "no mismatch"
        tables.append(
            _table(
                f"Experiment {d['id']} (control {d['control']}; SRM p = "
                f"{e['sample_ratio']['p_value']:.3g}: {srm})",
                [
                    "metric",
                    "variant",
                    "users",
                    "control mean",
                    "mean",
                    "lift",
                    "lift 95% CI",
                    "p fixed",
                    "p always-valid",
                    "verdict",
                ],
                [
                    [
                        r["metric"],
                        r["variant"],
                        _n(e["variants"][r["variant"]]["users"]),
                        f"{r['control_mean']:.4f}",
                        f"{r['mean']:.4f}",
                        _pct(r["fixed"]["lift"]),
                        _interval(r["fixed"]["lift_ci"]),
                        f"{r['fixed']['p_value']:.4f}",
                        f"{r['sequential']['p_value']:.4f}",
                        r["verdict"],
                    ]
                    for r in e["results"]
                ],
            )
        )
    return tables


def _interval(ci: list[float | None] | None) -> str:
    return "-" if not ci else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def attribution(data: dict[str, Any]) -> list[Table]:
    models = list(data["channels"])
    tables = []
    for kind in ("channels", "campaigns"):
        keys = sorted({k for m in models for k in data[kind][m]})
        tables.append(
            _table(
                f"Conversions credited per {kind[:-1]} ({_n(data['conversions'])} conversions)",
                [kind[:-1], *models],
                [
                    [k, *(_n(data[kind][m].get(k, {}).get("conversions", 0.0), 2) for m in models)]
                    for k in keys
                ],
            )
        )
    return tables


def segments(data: dict[str, Any]) -> list[Table]:
    sizes = _table(
        "Segments",
        ["segment", "users", "joined", "left"],
        [[s["segment"], _n(s["size"]), _n(s["joined"]), _n(s["left"])] for s in data["segments"]],
    )
    features = list(data["summaries"][0]["means"]) if data["summaries"] else []
    means = _table(
        f"Feature means ({_n(data['profiles_sampled'])} profiles sampled)",
        ["segment", "profiles", *features],
        [
            [s["segment"], _n(s["sampled"]), *(_n(s["means"][f], 2) for f in features)]
            for s in data["summaries"]
        ],
    )
    return [sizes, means]


def operations(data: dict[str, Any]) -> list[Table]:
    processes = _table(
        f"Flow processes ({data['workers']} live)",
        ["host", "process", "pid", "events/s in", "records/s out", "recovery"],
        [
            [p["host"], p["process"], p["pid"], _n(p["now"]["in_per_s"], 1),
             _n(p["now"]["out_per_s"], 1), p["recovery_dir"] or "off"]
            for p in data["processes"]
        ],
    )  # fmt: skip
    dead = _table(
        "Dead letters by reason",
        ["reason", "records", "share"],
        [
            [reason, _n(n), _pct(data["dead_letter_share"].get(reason))]
            for reason, n in sorted(data["totals"].get("dead_letters", {}).items())
        ],
    )
    lag = _table(
        "Consumer lag",
        ["topic", "partition", "end", "consumed", "lag"],
        [
            [row["topic"], row["partition"], _n(row["end"]), _n(row["consumed"]), _n(row["lag"])]
            for row in data["lag"]
            if "error" not in row
        ],
    )
    redis = _table("Redis", ["field", "value"], [[k, v] for k, v in data["redis"].items()])
    return [processes, dead, lag, redis]


RENDERERS: dict[str, Callable[[dict[str, Any]], list[Table]]] = {
    "campaigns": campaigns,
    "experiments": experiments,
    "attribution": attribution,
    "segments": segments,
    "operations": operations,
}


def print_page(page: str, data: dict[str, Any], console: Console | None = None) -> None:
    """Print one page's tables."""
    console = console or Console()
    for table in RENDERERS[page](data):
        console.print(table)
