"""Batch attribution of aggregated paths, for back-tests and comparisons with other tools.

The input is the common industry layout (Google Analytics' path exports, the
``ChannelAttribution`` package): one row per distinct path, with the channels joined by
``" > "``, the path's total conversions, total conversion value and total non-converting
journeys ("nulls"). Separator, delimiter and column names are configurable.

Every model uses the same code as the streaming flow (:mod:`models.attribution_models`,
:mod:`models.markov_chain`): the chain learns every row (conversions and nulls), then
each row's conversions and value are split between its touches; ``markov`` (the standard
form) splits the totals by the normalized removal effects, ``markov_path`` each row's
conversions by its own channels' effects. The layout has no touch
times, so the time-decay model measures age in touches (``half_life_touches``) instead of
time. A row with an empty path is credited to ``direct``, like a streaming conversion
without touchpoints.

Examples
--------

>>> import io
>>> rows = read_paths(io.StringIO(
...     "path,total_conversions,total_conversion_value,total_null\\n"
...     "email > web,1,100,0\\n"
...     "email,0,0,1\\n"
...     "web,1,50,0\\n"))
>>> report = attribute_paths(rows)
>>> report.channels["linear"]["email"], report.channels["first_touch"]["web"]
((0.5, 50.0), (1.0, 50.0))
>>> report.removal_effects
{'email': 0.5, 'web': 1.0}

"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from models.attribution_models import (
    DIRECT,
    HEURISTIC_MODELS,
    MARKOV,
    MARKOV_PATH,
    HeuristicParams,
    weights,
)
from models.markov_chain import MarkovAttribution
from offerflow.progress import progress as with_progress
from offerflow.reports.attribution_report import Report, Table

#: Default column names: path, conversions, value, nulls.
COLUMNS = ("path", "total_conversions", "total_conversion_value", "total_null")


@dataclass(frozen=True)
class PathRow:
    """One distinct path and what happened at its end."""

    channels: tuple[str, ...]
    conversions: float
    value: float
    nulls: float


class PathFileError(ValueError):
    """The paths file does not have the expected columns or numbers; says which line."""


def read_paths(
    source: TextIO,
    *,
    separator: str = " > ",
    delimiter: str = ",",
    columns: tuple[str, str, str, str] = COLUMNS,
) -> list[PathRow]:
    """Rows of an aggregated paths file (CSV with a header row)."""
    reader = csv.DictReader(source, delimiter=delimiter)
    missing = [c for c in columns if c not in (reader.fieldnames or ())]
    if missing:
        raise PathFileError(f"missing column(s) {missing}; the header has {reader.fieldnames}")
    path_col, conv_col, value_col, null_col = columns
    rows = []
    for line, record in enumerate(reader, start=2):
        if None in record or None in record.values():
            raise PathFileError(f"line {line}: the row's fields do not match the header's")
        try:
            numbers = [float(record[c] or 0) for c in (conv_col, value_col, null_col)]
        except ValueError as exc:
            raise PathFileError(f"line {line}: {exc}") from None
        if not all(math.isfinite(n) and n >= 0 for n in numbers):
            raise PathFileError(f"line {line}: counts and values must be finite and not negative")
        channels = tuple(c.strip() for c in record[path_col].split(separator) if c.strip())
        rows.append(PathRow(channels, *numbers))
    return rows


def attribute_paths(
    rows: Iterable[PathRow],
    *,
    half_life_touches: float = 1.0,
    position: tuple[float, float] = (0.4, 0.4),
    order: int = 1,
    progress: bool = False,
) -> Report:
    """Per-channel conversions and value under every model, and the removal effects."""
    rows = list(rows)
    params = HeuristicParams(half_life_touches, *position)
    chain = MarkovAttribution(order=order, refresh=len(rows) + 1)
    for row in rows:
        chain.learn(row.channels, row.conversions, row.nulls, row.value)
    chain.refresh = 1  # solve once, now that every row is learned
    table: Table = {model: {} for model in (*HEURISTIC_MODELS, MARKOV_PATH)}
    total_conversions = total_value = 0.0
    for row in with_progress(rows, desc="paths", unit="path", enabled=progress):
        if not row.conversions and not row.value:
            continue
        total_conversions += row.conversions
        total_value += row.value
        channels = list(row.channels) or [DIRECT]
        times = list(range(len(channels)))
        for model in table:
            if model == MARKOV_PATH:
                raw = chain.weights(channels) if row.channels else [1.0]
            else:
                raw = weights(model, channels, times, len(channels) - 1, params)
            _add(table[model], channels, raw, row.conversions, row.value)
    table[MARKOV] = chain.standard_credit()
    order = (*HEURISTIC_MODELS, MARKOV, MARKOV_PATH)
    return Report(
        {m: dict(sorted(table[m].items())) for m in order},
        removal_effects=chain.removal_effects(),
        conversion_probability=chain.conversion_probability(),
        conversions=total_conversions,
        value=total_value,
    )


def _add(
    table: dict[str, tuple[float, float]],
    channels: list[str],
    raw: list[float],
    conversions: float,
    value: float,
) -> None:
    mass = sum(raw)
    shares = [w / mass for w in raw] if mass > 0 else [1 / len(raw)] * len(raw)
    for channel, share in zip(channels, shares, strict=True):
        c, v = table.get(channel, (0.0, 0.0))
        table[channel] = (c + conversions * share, v + value * share)
