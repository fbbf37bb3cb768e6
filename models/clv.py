"""Per-customer predictions from a fitted purchase model (MBG/NBD or BG/NBD) and Gamma-Gamma:
churn risk, expected purchases over the next 30 and 90 days, expected order value and the
customer lifetime value over a horizon, discounted.

CLV is the discounted-cash-flow sum used by Fader, Hardie & Lee's RFM/CLV work (and the
``lifetimes`` library): over each period ``i`` of the horizon, the purchases the purchase model
expects in that period times the Gamma-Gamma expected order value, divided by ``(1 + d)^i``,
where ``d`` is the discount rate per period (from an annual rate).

Time is in days.

Examples
--------

>>> from models.bgnbd import BGNBD
>>> from models.gamma_gamma import GammaGamma
>>> models = Models(BGNBD(0.243, 4.414 * 7, 0.793, 2.426), GammaGamma(6.25, 3.74, 15.44))
>>> p = models.predict(x=[2, 0], t_x=[213.0, 0.0], T=[272.0, 272.0], m=[22.35, 0.0])
>>> [round(float(v), 3) for v in p["expected_purchases_30d"]]
[0.158, 0.024]
>>> [round(float(v), 3) for v in p["churn_risk"]]  # no repeat purchase: cannot have dropped
[0.273, 0.0]
>>> bool(p["clv_90d"][0] > p["clv_90d"][1])
True

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.bgnbd import BGNBD
from models.gamma_gamma import GammaGamma
from models.mbgnbd import MBGNBD

#: The purchase-and-dropout models, by the name their parameters are published under.
PURCHASE_MODELS: dict[str, type[BGNBD]] = {"mbgnbd": MBGNBD, "bgnbd": BGNBD}

#: The prediction fields of a profile (``clv_<horizon>`` is added by :meth:`Models.predict`).
FIELDS = ("churn_risk", "p_alive", "expected_purchases_30d", "expected_purchases_90d")


@dataclass(frozen=True)
class Models:
    """A fitted purchase model (time in days) and Gamma-Gamma pair and the CLV settings.

    Parameters
    ----------
    purchases
        Purchase and dropout model: MBG/NBD or BG/NBD.
    gamma_gamma
        Order value model; ``None`` values orders at each customer's own mean.
    horizon_days
        CLV horizon.
    annual_discount
        Discount rate per year (0.1: a euro next year is worth 0.91 today).
    period_days
        Length of the discounting periods.

    """

    purchases: BGNBD
    gamma_gamma: GammaGamma | None
    horizon_days: int = 90
    annual_discount: float = 0.1
    period_days: int = 30

    @property
    def clv_field(self) -> str:
        return f"clv_{self.horizon_days}d"

    def predict(self, x, t_x, T, m) -> dict[str, np.ndarray]:
        """Predictions for customers: ``x`` repeat purchases, last at ``t_x`` days and age
        ``T`` days after the first, mean repeat order value ``m``."""
        x, t_x, T, m = (np.asarray(v, float) for v in (x, t_x, T, m))
        bg = self.purchases
        alive = np.clip(bg.p_alive(x, t_x, T), 0.0, 1.0)
        gg = self.gamma_gamma
        value = gg.expected_value(x, m) if gg is not None else m
        rate = (1 + self.annual_discount) ** (self.period_days / 365.0) - 1
        clv = np.zeros_like(x)
        before = np.zeros_like(x)
        periods = int(np.ceil(self.horizon_days / self.period_days))
        for i in range(1, periods + 1):
            upto = bg.expected_purchases(min(i * self.period_days, self.horizon_days), x, t_x, T)
            clv += (upto - before) * value / (1 + rate) ** i
            before = upto
        return {
            "churn_risk": 1.0 - alive,
            "p_alive": alive,
            "expected_purchases_30d": bg.expected_purchases(30, x, t_x, T),
            "expected_purchases_90d": bg.expected_purchases(90, x, t_x, T),
            "expected_order_value": np.asarray(value, float) + np.zeros_like(x),
            self.clv_field: clv,
        }
