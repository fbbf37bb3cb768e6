"""Gamma-Gamma: what a customer's orders are worth on average, shrunk towards the population.

Fader, Hardie & Lee, "RFM and CLV: using iso-value curves for customer base analysis"
(Journal of Marketing Research, 2005), after Colombo & Jiang (1999). A customer's order
values are Gamma(p, nu) around their own mean, and nu ~ Gamma(q, gamma) across customers. Fitted by
maximum likelihood on customers with at least one repeat purchase, from ``x`` (repeat
purchases) and ``m`` (the mean value of those repeat purchases), in log space
(:func:`scipy.special.gammaln`) over the logs of the parameters. The expected average order
value of a customer weighs their own mean against the population mean by how many orders
back it:

``E[M | x, m] = (gamma + x m) p / (p x + q - 1)``

Examples
--------

>>> model = GammaGamma(p=6.25, q=3.74, gamma=15.44)  # FHL's CDNOW estimates
>>> print(f"{model.population_mean():.2f}")
35.22
>>> print(f"{model.expected_value(x=1, m=10.0):.2f} {model.expected_value(x=10, m=10.0):.2f}")
17.69 11.06

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from models.mle import ArrayLike, maximize


@dataclass(frozen=True)
class GammaGamma:
    """Fitted (or given) Gamma-Gamma parameters ``p``, ``q`` and ``gamma``."""

    p: float
    q: float
    gamma: float

    def log_likelihood(self, x: ArrayLike, m: ArrayLike) -> np.ndarray:
        """Each customer's log-likelihood of their mean repeat order value ``m`` over ``x``
        repeat orders (constant terms in ``m`` and ``x`` included)."""
        return _log_likelihood((self.p, self.q, self.gamma), np.asarray(x), np.asarray(m))

    def expected_value(self, x: ArrayLike, m: ArrayLike) -> np.ndarray:
        """Expected average order value of customers with ``x`` repeat orders of mean ``m``
        (the population mean for ``x = 0``)."""
        x, m = np.asarray(x, float), np.asarray(m, float)
        return (self.gamma + x * m) * self.p / (self.p * x + self.q - 1)

    def population_mean(self) -> float:
        """Expected order value of a customer we know nothing about: ``p gamma / (q - 1)``."""
        return float(self.p * self.gamma / (self.q - 1))


def fit(
    x: ArrayLike,
    m: ArrayLike,
    *,
    start: tuple[float, float, float] = (1.0, 1.0, 1.0),
    callback: Callable[[np.ndarray], None] | None = None,
) -> GammaGamma:
    """Maximum-likelihood parameters from the customers with ``x > 0`` and ``m > 0``.

    Raises :class:`ValueError` with fewer than two such customers or when the optimizer
    does not converge.
    """
    x, m = np.asarray(x, float), np.asarray(m, float)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if x.size < 2:
        raise ValueError("Gamma-Gamma needs customers with repeat purchases of some value")
    scale = float(np.mean(m))  # fit in units of the mean order: well conditioned

    def total(params: np.ndarray) -> float:
        return float(np.sum(_log_likelihood(tuple(params), x, m / scale)))

    p, q, gamma = maximize(total, start, "Gamma-Gamma", callback)
    return GammaGamma(float(p), float(q), float(gamma * scale))


def _log_likelihood(params: tuple[float, float, float], x: np.ndarray, m: np.ndarray):
    p, q, gamma = params
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + gamma)
    )
