"""The customer base the predictive models are fitted on: every purchaser's exact RFM facts,
the last fit (as the :class:`~state.predictor.Predictor` every profile is sent), and when it
was made.

One keyed state (``predict``) in the flow: the user step sends a customer's facts on each of
their purchases (and a ``forget`` on erasure or expiry), so this holds ``(x, first, last,
mean repeat value)`` per customer, about 100 bytes each. Time is the flow's event time: the
latest purchase time seen (``as_of``) drives the refit schedule and the customers' ages.

Examples
--------

>>> base = Customers(refit_ms=3_600_000, min_repeat=2)
>>> base.add("u1", (2, 0, 10 * DAY_MS, 20.0), ts=10 * DAY_MS)
>>> base.add("u2", (0, 5 * DAY_MS, 5 * DAY_MS, 0.0), ts=11 * DAY_MS)
>>> base.due()  # one repeat customer: too few to fit
False
>>> base.add("u3", (1, DAY_MS, 9 * DAY_MS, 35.0), ts=12 * DAY_MS)
>>> base.due()
True
>>> x, t_x, T, m = base.arrays(["u1", "u2"])
>>> x.tolist(), t_x.tolist(), T.tolist()
([2.0, 0.0], [10.0, 0.0], [12.0, 7.0])
>>> base.add("u2", (1, 5 * DAY_MS, 6 * DAY_MS, 9.0), ts=12 * DAY_MS)  # u2 comes back
>>> base.forget("u1")
>>> base.repeaters, base.due()
(2, True)

"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from schemas.units import DAY_MS
from state.predictor import Predictor
from state.purchases import Facts


@dataclass
class Customers:
    """Facts by pseudonymous user and the last fit with the customer counts it was made on.

    Parameters
    ----------
    refit_ms
        Event time between refits.
    min_repeat
        Customers with a repeat purchase needed before the first fit.

    """

    refit_ms: int
    min_repeat: int = 50
    facts: dict[str, Facts] = field(default_factory=dict)
    as_of: int = 0
    fitted_at: int | None = None
    fit: Predictor | None = None
    fit_counts: tuple[int, int] = (0, 0)  # customers, repeat customers
    changed: bool = False  # facts added or forgotten since the last fit
    repeaters: int = 0  # customers with a repeat purchase, kept so a check costs no scan

    def __setstate__(self, state: dict) -> None:
        """Snapshots taken before the count was kept: count once."""
        self.__dict__.update(state)
        if "repeaters" not in state:
            self.repeaters = sum(1 for f in self.facts.values() if f[0] > 0)

    def params(self) -> dict[str, Any] | None:
        """The last fit as published, with the customer counts; ``None`` before the first."""
        if self.fit is None:
            return None
        customers, repeat = self.fit_counts
        return {**self.fit.params(), "customers": customers, "repeat_customers": repeat}

    def add(self, user: str, facts: Facts, ts: int) -> None:
        """A customer's current facts, as of event time ``ts``."""
        before = self.facts.get(user)
        self.repeaters += (facts[0] > 0) - (before is not None and before[0] > 0)
        self.facts[user] = facts
        self.as_of = max(self.as_of, ts)
        self.changed = True

    def forget(self, user: str) -> None:
        before = self.facts.pop(user, None)
        if before is not None:
            self.changed = True
            self.repeaters -= before[0] > 0

    def due(self) -> bool:
        """Whether a (re)fit is due: enough repeat customers and, after the first fit,
        ``refit_ms`` of event time since the last."""
        if self.fitted_at is not None:
            return self.as_of - self.fitted_at >= self.refit_ms
        return self.repeaters >= self.min_repeat

    def arrays(self, users: Iterable[str]) -> tuple[np.ndarray, ...]:
        """``(x, t_x, T, m)`` in days for ``users``, their age taken at ``as_of``."""
        rows = np.array([self.facts[u] for u in users], dtype=float).reshape(-1, 4)
        x, first, last, m = rows.T
        return x, (last - first) / DAY_MS, np.maximum(self.as_of - first, last - first) / DAY_MS, m
