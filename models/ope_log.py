"""Decision logs and target tables for offline policy evaluation, read and checked.

A log is JSON Lines, one decision per line (docs/ope.md)::

    {"context": "new", "action": "pct10", "propensity": 0.12, "reward": 1.0,
     "actions": ["pct10", "pct20"]}

``context`` is the segment name (a string), ``propensity`` the probability in (0, 1] with which
the logging policy chose ``action``, ``actions`` the offers that were available (optional), and
``target`` (optional) the probabilities a contextual target policy gives each action for this
very decision. A target table is ``{context: {action: probability}}`` with ``"*"`` for every
other context.

Each check raises :class:`ValueError` with a message that names the problem, because a
silently repaired input gives plausible numbers for a policy nobody meant: a misspelt action
would be evaluated as the uniform policy, a table that does not sum to 1 renormalized.

Examples
--------

>>> from models.ope import Logged
>>> log = [Logged("new", "a", 0.5, 1.0), Logged("old", "b", 0.5, 0.0)]
>>> check_table({"new": {"a": 1.0}, "*": {"b": 0.5, "a": 0.5}}, log)["new"]
{'a': 1.0}
>>> check_table({"new": {"A": 1.0}, "*": {"b": 1.0}}, log)
Traceback (most recent call last):
...
ValueError: target row 'new' names actions the log never shows: 'A' (the log's actions: 'a', 'b')
>>> check_table({"new": {"a": 0.7}, "old": {"b": 1.0}}, log)
Traceback (most recent call last):
...
ValueError: target row 'new' sums to 0.7, not 1

"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from models.ope import Logged

#: How far a row's probabilities may sum from 1 (rounding in hand-written tables).
SUM_TOLERANCE = 1e-6


def read_log(path: str) -> list[Logged]:
    """Every decision of a JSON Lines log; :class:`ValueError` names the first bad line."""
    log = []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    log.append(_decision(orjson.loads(line)))
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None
    return log


def check_table(raw: Any, log: Sequence[Logged]) -> dict[str, dict[str, float]]:
    """A target table checked against the log it will be evaluated on: rows are objects of
    probabilities that sum to 1, name only actions the log shows, and cover every context of
    the log (or a ``"*"`` row does); every row names a context of the log or is ``"*"``."""
    if not isinstance(raw, Mapping):
        kind = type(raw).__name__
        raise ValueError(f"the target must be a JSON object {{context: {{action: p}}}}, not {kind}")
    actions = sorted({r.action for r in log} | {a for r in log for a in r.actions})
    contexts = sorted({r.context for r in log})
    table: dict[str, dict[str, float]] = {}
    for context, row in raw.items():
        if not isinstance(row, Mapping) or not row:
            raise ValueError(f"target row {context!r} must be a non-empty object {{action: p}}")
        if not all(_probability(p) for p in row.values()):
            raise ValueError(f"target row {context!r}: probabilities must be numbers in [0, 1]")
        unknown = sorted(set(row) - set(actions))
        if unknown:
            raise ValueError(
                f"target row {context!r} names actions the log never shows: {_listed(unknown)} "
                f"(the log's actions: {_listed(actions)})"
            )
        total = math.fsum(row.values())
        if abs(total - 1) > SUM_TOLERANCE:
            raise ValueError(f"target row {context!r} sums to {total:g}, not 1")
        table[context] = {a: float(p) for a, p in row.items()}
    strangers = sorted(set(table) - set(contexts) - {"*"})
    if strangers:
        raise ValueError(
            f"target rows for contexts the log never shows: {_listed(strangers)} "
            f"(the log's contexts: {_listed(contexts)}; '*' covers every other one)"
        )
    uncovered = sorted(set(contexts) - set(table))
    if uncovered and "*" not in table:
        raise ValueError(
            f"the target has no row for the log's contexts {_listed(uncovered)}: "
            "add them or a '*' row"
        )
    return table


def _decision(raw: Any) -> Logged:
    if not isinstance(raw, dict):
        raise ValueError(f"a decision must be a JSON object, not {type(raw).__name__}")
    missing = [k for k in ("context", "action", "propensity", "reward") if k not in raw]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    context, action, actions = raw["context"], raw["action"], raw.get("actions") or []
    for name, value in (("context", context), ("action", action)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise ValueError("actions must be a list of strings")
    propensity, reward = raw["propensity"], raw["reward"]
    if not _number(propensity) or not 0 < propensity <= 1:
        raise ValueError(f"propensity must be a number in (0, 1], not {propensity!r}")
    if not _number(reward):
        raise ValueError(f"reward must be a finite number, not {reward!r}")
    if actions and action not in actions:
        raise ValueError(f"action {action!r} is not among the available actions")
    target = _row_target(raw.get("target"), actions)
    return Logged(context, action, float(propensity), float(reward), tuple(actions), target)


def _row_target(raw: Any, actions: list[str]) -> tuple[tuple[str, float], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise ValueError("target must be a non-empty object {action: probability}")
    if not all(isinstance(a, str) and _probability(p) for a, p in raw.items()):
        raise ValueError("target probabilities must be numbers in [0, 1]")
    if actions and set(raw) - set(actions):
        unknown = sorted(set(raw) - set(actions))
        raise ValueError(f"target names actions that were not available: {_listed(unknown)}")
    total = math.fsum(raw.values())
    if abs(total - 1) > SUM_TOLERANCE:
        raise ValueError(f"target sums to {total:g}, not 1")
    return tuple(sorted((a, float(p)) for a, p in raw.items()))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _probability(value: Any) -> bool:
    return _number(value) and 0 <= value <= 1


def _listed(names: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
