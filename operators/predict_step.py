"""The predictive-analytics step, one keyed state (``predict``): customers' RFM facts in,
predictions back to their profiles.

Bytewax ``stateful_map`` mapper over a :class:`~state.customers.Customers`. Inputs come from
the user step: ``("facts", {"user", "facts", "ts"})`` on each purchase, ``("forget", user)``
when a profile is erased, expires or is merged away. When a refit is due (enough repeat
customers for the first, then every ``refit`` of event time) BG/NBD and Gamma-Gamma are
refitted on every customer's facts and every customer gets fresh predictions; otherwise the
purchasing customer's own are recomputed with the current models. Predictions go back to the
user step as ``predicted`` internal messages (it stores them in the profile, where segment
rules and Redis readers see them); the fitted parameters go to Redis.

It is a hot key by design: the models need the whole customer base. It sees one message per
purchase, not per event; a refit costs a few seconds per million customers (vectorized
likelihood, L-BFGS-B) once per ``refit`` of event time.

Examples
--------

>>> step = PredictStep(refit_ms=86_400_000, min_repeat=3)
>>> state, out = None, []
>>> for i in range(6):  # six customers, three with repeat purchases
...     facts = (i % 2, 0, i * 86_400_000 * (i % 2), 20.0 + i)
...     state, out = step(state, ("facts", {"user": f"u{i}", "facts": facts, "ts": 9e8}))
>>> [tag for tag, _ in out][:2], len(out)  # a fit, then every customer's predictions
(['params', 'internal'], 7)
>>> sorted(out[1][1].payload)[:3]
['churn_risk', 'clv_90d', 'clv_decile']

"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from models import bgnbd, gamma_gamma
from models.clv import Models
from operators.feedback import Feedback
from schemas.units import HOUR_MS
from state.customers import Customers

log = logging.getLogger(__name__)
Output = tuple[str, Any]


class PredictStep:
    """``(customers, (kind, payload)) -> (customers, outputs)``.

    Parameters
    ----------
    refit_ms
        Event time between refits.
    min_repeat
        Repeat customers needed before the first fit.
    horizon_days
        CLV horizon.
    annual_discount
        CLV discount rate per year.

    """

    def __init__(
        self,
        refit_ms: int = HOUR_MS,
        min_repeat: int = 50,
        horizon_days: int = 90,
        annual_discount: float = 0.1,
    ) -> None:
        self.refit_ms = refit_ms
        self.min_repeat = min_repeat
        self.horizon_days = horizon_days
        self.annual_discount = annual_discount

    def __call__(
        self, state: Customers | None, item: tuple[str, Any]
    ) -> tuple[Customers, list[Output]]:
        state = state or Customers(self.refit_ms, self.min_repeat)
        kind, payload = item
        if kind == "forget":
            state.forget(payload)
            return state, []
        user = payload["user"]
        state.add(user, tuple(payload["facts"]), int(payload["ts"]))  # type: ignore[arg-type]
        if state.due():
            refitted = self._refit(state)
            if refitted:
                return state, refitted
        if state.models is None:
            return state, []
        return state, _messages(state, [user])

    def _refit(self, state: Customers) -> list[Output]:
        state.fitted_at = state.as_of  # a failed fit is retried at the next refit, not sooner
        x, t_x, T, m = state.arrays(state.facts)
        try:
            bg = bgnbd.fit(x, t_x, T)
        except ValueError as exc:
            log.warning("predictions: BG/NBD not refitted: %s", exc)
            return []
        try:
            gg = gamma_gamma.fit(x, m)
        except ValueError as exc:  # orders then count at each customer's own mean
            log.warning("predictions: Gamma-Gamma not refitted: %s", exc)
            gg = None
        state.models = Models(bg, gg, self.horizon_days, self.annual_discount)
        clv = state.models.predict(x, t_x, T, m)[state.models.clv_field]
        state.deciles = tuple(float(q) for q in np.quantile(clv, np.arange(1, 10) / 10))
        params = {
            "fitted_at": state.as_of,
            "customers": len(state.facts),
            "repeat_customers": int(np.sum(x > 0)),
            "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "time_unit": "day"},
            "gamma_gamma": None if gg is None else {"p": gg.p, "q": gg.q, "gamma": gg.gamma},
            "clv": {"horizon_days": self.horizon_days, "annual_discount": self.annual_discount},
            "clv_deciles": list(state.deciles),
        }
        return [("params", params), *_messages(state, list(state.facts))]


def _messages(state: Customers, users: list[str]) -> list[Output]:
    """``predicted`` internal messages for ``users`` with the current models."""
    models = state.models
    assert models is not None
    x, t_x, T, m = state.arrays(users)
    predictions = models.predict(x, t_x, T, m)
    deciles = state.decile(predictions[models.clv_field])
    out: list[Output] = []
    for i, user in enumerate(users):
        payload = {name: round(float(v[i]), 6) for name, v in predictions.items()}
        payload["clv_decile"] = int(deciles[i])
        payload["predicted_at"] = state.as_of
        out.append(("internal", Feedback("predicted", user, payload)))
    return out
