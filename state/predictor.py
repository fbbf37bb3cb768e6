"""One customer's predictions from the published models: what a profile computes beside its own
facts, so a refit sends the customer base a few parameters instead of a message per customer.

The models step fits BG/NBD and Gamma-Gamma on the whole customer base and publishes the
fitted parameters (:meth:`Predictor.params`); every user step holds the newest it has seen
and computes its customer's churn risk, expected purchases, CLV and CLV decile from them.
Time is event time: a customer's age is taken at the later of the fit's ``as_of`` and their
own last purchase.

Examples
--------

>>> from models.bgnbd import BGNBD
>>> from models.clv import Models
>>> from models.gamma_gamma import GammaGamma
>>> models = Models(BGNBD(0.243, 30.9, 0.793, 2.426), GammaGamma(6.25, 3.74, 15.44))
>>> day = 86_400_000
>>> predictor = Predictor(models, deciles=(1.0,) * 9, as_of=272 * day)
>>> p = predictor.predict((2, 0, 213 * day, 22.35))
>>> round(p["churn_risk"], 3), p["clv_decile"], p["predicted_at"] == 272 * day
(0.273, 10, True)
>>> Predictor.from_params(predictor.params()) == predictor  # what travels, and back
True

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.clv import PURCHASE_MODELS, Models
from models.gamma_gamma import GammaGamma
from schemas.units import DAY_MS
from state.purchases import Facts


def clv_deciles(edges: tuple[float, ...], clv: np.ndarray | float) -> np.ndarray:
    """The CLV decile (1 to 10) of each ``clv`` given the nine ``edges``; a value equal to an
    edge goes up."""
    return 1 + np.searchsorted(edges, clv, side="right")


@dataclass(frozen=True)
class Predictor:
    """Fitted models, the CLV decile edges of the customer base, and the event time of the
    fit.

    Parameters
    ----------
    models
        The fitted BG/NBD and Gamma-Gamma pair with the CLV settings.
    deciles
        Nine CLV values splitting the customer base into deciles at the fit.
    as_of
        Event time (ms) of the fit: the latest purchase the models step had seen.
    shares
        The share of the customer base in each CLV decile at the fit (ties at an edge make
        them differ from a tenth).

    """

    models: Models
    deciles: tuple[float, ...]
    as_of: int
    shares: tuple[float, ...] = ()

    def predict(self, facts: Facts) -> dict[str, float]:
        """The profile fields of a customer with ``facts``: churn risk, P(alive), expected
        purchases over 30 and 90 days, expected order value, CLV, CLV decile (1 to 10) and
        ``predicted_at``, the event time the customer's age is taken at."""
        repeat, first, last, mean = facts
        as_of = max(self.as_of, last)
        values = self.models.predict([repeat], [(last - first) / DAY_MS],
                                     [(as_of - first) / DAY_MS], [mean])  # fmt: skip
        out = {name: round(float(v[0]), 6) for name, v in values.items()}
        clv = out[self.models.clv_field]
        out["clv_decile"] = int(clv_deciles(self.deciles, clv))
        out["predicted_at"] = as_of
        return out

    def params(self) -> dict[str, Any]:
        """The parameters as plain values (JSON), as :meth:`from_params` reads them."""
        bg, gg = self.models.purchases, self.models.gamma_gamma
        return {
            "fitted_at": self.as_of,
            "purchase_model": {"model": bg.kind, **vars(bg), "time_unit": "day"},
            "gamma_gamma": None if gg is None else {"p": gg.p, "q": gg.q, "gamma": gg.gamma},
            "clv": {
                "horizon_days": self.models.horizon_days,
                "annual_discount": self.models.annual_discount,
            },
            "clv_deciles": list(self.deciles),
            "clv_shares": list(self.shares),
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Predictor:
        """Read :meth:`params`; raises ``KeyError``, ``TypeError`` or ``ValueError`` on a
        malformed record."""
        gg, clv = params["gamma_gamma"], params["clv"]
        bg = params["purchase_model"] if "purchase_model" in params else params["bgnbd"]
        model = PURCHASE_MODELS[bg.get("model", "bgnbd")]  # older records: BG/NBD only
        models = Models(
            model(float(bg["r"]), float(bg["alpha"]), float(bg["a"]), float(bg["b"])),
            None if gg is None else GammaGamma(float(gg["p"]), float(gg["q"]), float(gg["gamma"])),
            int(clv["horizon_days"]),
            float(clv["annual_discount"]),
        )
        deciles = tuple(float(d) for d in params["clv_deciles"])
        if len(deciles) != 9:
            raise ValueError(f"{len(deciles)} CLV decile edges, expected 9")
        shares = tuple(float(v) for v in params.get("clv_shares", ()))
        return cls(models, deciles, int(params["fitted_at"]), shares)
