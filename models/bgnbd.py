"""BG/NBD: how many purchases a customer will make, and whether they are still a customer.

The beta-geometric/negative-binomial distribution model of Fader, Hardie & Lee, "'Counting
your customers' the easy way: an alternative to the Pareto/NBD model" (Marketing Science,
2005). While alive, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after each purchase
they drop out with probability p ~ Beta(a, b). Each customer is summarized by their exact
facts: ``x`` repeat purchases (purchases after the first), ``t_x`` the time of the last
purchase and ``T`` the age of the customer, both measured from the first purchase, in any
time unit (the flow uses days; CDNOW is usually fitted in weeks).

Parameters are fitted by maximum likelihood over all customers: the log-likelihood (FHL 2005,
eq. 6) is evaluated in log space with :func:`scipy.special.gammaln`/``betaln`` and
``logaddexp``, and maximized over the logs of the parameters (so they stay positive) with
:func:`scipy.optimize.minimize` (L-BFGS-B). Predictions are FHL 2005 eq. 10 (expected
purchases in the next ``t``, with :func:`scipy.special.hyp2f1`) and the probability the
customer is still alive.

Examples
--------

>>> model = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)  # FHL 2005's CDNOW estimates
>>> print(f"{model.expected_purchases(39, x=2, t_x=30.43, T=38.86):.3f}")  # the paper's: 1.226
1.226
>>> print(f"{model.p_alive(x=0, t_x=0, T=38.86):.3f} {model.p_alive(2, 5, 38.86):.3f}")
1.000 0.124

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from scipy import special

from models.mle import ArrayLike, fit_purchase_model


@dataclass(frozen=True)
class BGNBD:
    """Fitted (or given) BG/NBD parameters: purchase rate heterogeneity ``r``, ``alpha`` and
    dropout heterogeneity ``a``, ``b``."""

    #: The name parameters are published under.
    kind: ClassVar[str] = "bgnbd"
    #: Its name in messages.
    title: ClassVar[str] = "BG/NBD"

    r: float
    alpha: float
    a: float
    b: float

    def log_likelihood(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Each customer's log-likelihood (FHL 2005, eq. 6)."""
        return self._log_likelihood(
            (self.r, self.alpha, self.a, self.b), np.asarray(x), np.asarray(t_x), np.asarray(T)
        )

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still a customer at ``T``). In BG/NBD it is 1 for a customer with no repeat
        purchase, since dropout happens only right after a repeat purchase."""
        x, t_x, T = np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float)
        return 1.0 / (1.0 + self._odds_dead(x, t_x, T))

    def expected_purchases(
        self, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Expected purchases in ``(T, T + t]`` for customers ``(x, t_x, T)`` (FHL 2005, eq. 10)."""
        x, t_x, T = np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        ratio = np.exp((r + x) * np.log((alpha + T) / (alpha + T + t)))
        head = (a + b + x - 1) / (a - 1)
        return head * (1 - ratio * hyp) / (1 + self._odds_dead(x, t_x, T))

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """Expected purchases in ``(0, t]`` of a customer just acquired (FHL 2005, eq. 9):
        the population curve the evaluation compares with actual repeat purchases."""
        t = np.asarray(t, float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)

    @classmethod
    def fit(
        cls,
        x: ArrayLike,
        t_x: ArrayLike,
        T: ArrayLike,
        *,
        start: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
        callback: Callable[[np.ndarray], None] | None = None,
    ) -> Self:
        """Maximum-likelihood parameters for customers ``(x, t_x, T)``.

        Raises :class:`ValueError` when the optimizer does not converge (too few customers,
        or no repeat purchase at all: the dropout process is then not identified).
        """
        found = fit_purchase_model(
            cls._log_likelihood, x, t_x, T, start=start, name=cls.title, callback=callback
        )
        return cls(*found)

    @staticmethod
    def _log_likelihood(params, x, t_x, T) -> np.ndarray:
        return _log_likelihood(params, x, t_x, T)

    def _odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = a / (b + x - 1) * np.exp((r + x) * np.log((alpha + T) / (alpha + t_x)))
        return np.where(x > 0, odds, 0.0)


#: Maximum-likelihood parameters for customers ``(x, t_x, T)`` (:meth:`BGNBD.fit`).
fit = BGNBD.fit


def _log_likelihood(
    params: tuple[float, float, float, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    r, alpha, a, b = params
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    beta_ab = special.betaln(a, b)
    alive = special.betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + T)
    repeat = x > 0
    safe_x = np.where(repeat, x, 1.0)  # the dropout term exists only after a repeat purchase
    dropped = special.betaln(a + 1, b + safe_x - 1) - beta_ab - (r + x) * np.log(alpha + t_x)
    return head + np.where(repeat, np.logaddexp(alive, dropped), alive)
