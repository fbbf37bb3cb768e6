"""MBG/NBD: BG/NBD in which a customer can also drop out right after their first purchase.

The modified beta-geometric/negative-binomial model of Batislam, Denizel & Filiztekin,
"Empirical validation and comparison of models for customer base analysis" (International
Journal of Research in Marketing, 2007), with the erratum of Wagner & Hoppe (IJRM, 2008). The
story is BG/NBD's (:mod:`models.bgnbd`): purchases at a Poisson rate lambda ~ Gamma(r, alpha),
dropout with probability p ~ Beta(a, b), but the coin is tossed at the start of the customer's
life as well as after each purchase. In BG/NBD a customer who bought once and never came back
is alive with probability 1 however long the silence; here their P(alive) falls with the
silence, which is what anyone reading a churn risk expects.

Inputs are the same exact facts: ``x`` repeat purchases, ``t_x`` the time of the last purchase
and ``T`` the customer's age, both from the first purchase, in any time unit. The
log-likelihood is

    log B(a, b + x + 1) / B(a, b) + log Gamma(r + x) / Gamma(r) + r log alpha
    - (r + x) log(alpha + T) + log(1 + a / (b + x) ((alpha + T) / (alpha + t_x))^(r + x)),

maximized like BG/NBD's (:func:`models.mle.fit_purchase_model`).

Examples
--------

>>> model = MBGNBD(r=0.525, alpha=6.183, a=0.891, b=1.614)
>>> print(f"{model.p_alive(x=0, t_x=0, T=1):.3f} {model.p_alive(x=0, t_x=0, T=70):.3f}")
0.626 0.326
>>> print(f"{model.p_alive(x=4, t_x=65, T=70):.3f}")  # a regular buyer, seen lately
0.823
>>> print(f"{model.expected_purchases(39, x=2, t_x=30.43, T=38.86):.3f}")
1.263

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special

from models.bgnbd import BGNBD
from models.mle import ArrayLike


@dataclass(frozen=True)
class MBGNBD(BGNBD):
    """Fitted (or given) MBG/NBD parameters: purchase rate heterogeneity ``r``, ``alpha`` and
    dropout heterogeneity ``a``, ``b``. A :class:`~models.bgnbd.BGNBD` whose likelihood,
    P(alive) and expectations follow the modified story."""

    #: The name parameters are published under.
    kind: ClassVar[str] = "mbgnbd"
    #: Its name in messages.
    title: ClassVar[str] = "MBG/NBD"

    def expected_purchases(
        self, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Expected purchases in ``(T, T + t]`` for customers ``(x, t_x, T)``."""
        x, t_x, T = np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t))
        ratio = np.exp((r + x) * np.log((alpha + T) / (alpha + T + t)))
        head = (a + b + x) / (a - 1)
        return head * (1 - ratio * hyp) / (1 + self._odds_dead(x, t_x, T))

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """Expected repeat purchases in ``(0, t]`` of a customer just acquired."""
        t = np.asarray(t, float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r, b + 1, a + b, t / (alpha + t))
        return b / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)

    @staticmethod
    def _log_likelihood(params, x, t_x, T) -> np.ndarray:
        return _log_likelihood(params, x, t_x, T)

    def _odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        return a / (b + x) * np.exp((r + x) * np.log((alpha + T) / (alpha + t_x)))


#: Maximum-likelihood parameters for customers ``(x, t_x, T)`` (:meth:`BGNBD.fit`).
fit = MBGNBD.fit


def _log_likelihood(
    params: tuple[float, float, float, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    r, alpha, a, b = params
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    survived = special.betaln(a, b + x + 1) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    odds_dead = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return head + survived + np.logaddexp(odds_dead, 0.0)
