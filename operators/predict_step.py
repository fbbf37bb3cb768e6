"""The predictive-analytics step, one keyed state (``predict``): customers' RFM facts in,
fitted models out.

Bytewax ``stateful_map`` mapper over a :class:`~state.customers.Customers`. Inputs come from
the user step: ``("facts", {"user", "facts", "ts"})`` on each purchase, ``("forget", user)``
when a profile is erased, expires or is merged away. When a refit is due (enough repeat
customers for the first, then every ``refit`` of event time) the purchase model (MBG/NBD by
default) and Gamma-Gamma are refitted on every customer's facts, and once more when the input
ends (a bounded run: the last periodic fit may have come before the slower partitions caught
up), and the parameters (:meth:`Predictor.params
<state.predictor.Predictor.params>`, with the customer counts) are the step's output: to
Redis, and to every worker's user step, which computes each customer's predictions beside
their facts (:mod:`operators.user_predictions`). A refit therefore costs a few messages, not
one per customer. The first item after the process starts announces the current parameters
again, for user steps that restarted without them.

It is a hot key by design: the models need the whole customer base. It sees one message per
purchase, not per event; a refit costs a few seconds per million customers (vectorized
likelihood, L-BFGS-B) once per ``refit`` of event time.

Examples
--------

>>> step = PredictStep(refit_ms=86_400_000, min_repeat=3)
>>> state, params = None, None
>>> for i in range(6):  # six customers, three with repeat purchases
...     facts = (i % 2, 0, i * 86_400_000 * (i % 2), 20.0 + i)
...     state, params = step(state, ("facts", {"user": f"u{i}", "facts": facts, "ts": 9e8}))
>>> params["customers"], sorted(params)[:3], params["purchase_model"]["model"]
(6, ['clv', 'clv_deciles', 'clv_shares'], 'mbgnbd')
>>> state, params = step.at_end(state)  # nothing new since: no refit
>>> params is None
True

"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from models import gamma_gamma
from models.clv import PURCHASE_MODELS, Models
from schemas.units import HOUR_MS
from state.customers import Customers
from state.predictor import Predictor, clv_deciles

log = logging.getLogger(__name__)


class PredictStep:
    """``(customers, (kind, payload)) -> (customers, parameters or None)``.

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
    model
        Purchase model: ``mbgnbd`` or ``bgnbd`` (:data:`models.clv.PURCHASE_MODELS`).

    """

    def __init__(
        self,
        refit_ms: int = HOUR_MS,
        min_repeat: int = 50,
        horizon_days: int = 90,
        annual_discount: float = 0.1,
        model: str = "mbgnbd",
    ) -> None:
        self.refit_ms = refit_ms
        self.min_repeat = min_repeat
        self.horizon_days = horizon_days
        self.annual_discount = annual_discount
        self.fit_purchases = PURCHASE_MODELS[model].fit
        self._announced = False  # per process: not part of the state

    def __call__(
        self, state: Customers | None, item: tuple[str, Any]
    ) -> tuple[Customers, dict[str, Any] | None]:
        state = state or Customers(self.refit_ms, self.min_repeat)
        kind, payload = item
        if kind == "forget":
            state.forget(payload)
            return state, None
        facts = tuple(payload["facts"])
        state.add(payload["user"], facts, int(payload["ts"]))  # type: ignore[arg-type]
        if state.due():
            params = self._refit(state)
            if params is not None:
                self._announced = True
                return state, params
        if not self._announced and state.fit is not None:
            self._announced = True
            return state, state.params()
        return state, None

    def at_end(self, state: Customers | None) -> tuple[Customers | None, dict[str, Any] | None]:
        """The input ended: refit if any customer changed since the last fit, so a bounded run
        ends with models fitted on all of it."""
        if state is None or not state.changed or (state.fit is None and not state.due()):
            return state, None
        return state, self._refit(state)

    def _refit(self, state: Customers) -> dict[str, Any] | None:
        state.fitted_at = state.as_of  # a failed fit is retried at the next refit, not sooner
        state.changed = False
        x, t_x, T, m = state.arrays(state.facts)
        try:
            bg = self.fit_purchases(x, t_x, T)
        except ValueError as exc:
            log.warning("predictions: purchase model not refitted: %s", exc)
            return None
        try:
            gg = gamma_gamma.fit(x, m)
        except ValueError as exc:  # orders then count at each customer's own mean
            log.warning("predictions: Gamma-Gamma not refitted: %s", exc)
            gg = None
        models = Models(bg, gg, self.horizon_days, self.annual_discount)
        clv = models.predict(x, t_x, T, m)[models.clv_field]
        deciles = tuple(float(q) for q in np.quantile(clv, np.arange(1, 10) / 10))
        counts = np.bincount(clv_deciles(deciles, clv) - 1, minlength=10)
        state.fit = Predictor(models, deciles, state.as_of, tuple((counts / clv.size).tolist()))
        state.fit_counts = (len(state.facts), int(np.sum(x > 0)))
        return state.params()
