"""Maximum likelihood for models with positive parameters (BG/NBD, Gamma-Gamma): maximize the
total log-likelihood over the parameters' logs, so the optimizer needs no constraints beyond
wide bounds, with :func:`scipy.optimize.minimize` (L-BFGS-B).

Examples
--------

>>> import numpy as np
>>> data = np.array([1.0, 2.0, 3.0])
>>> (rate,) = maximize(lambda p: float(np.sum(np.log(p[0]) - p[0] * data)), (1.0,), "exp")
>>> round(float(rate), 4)  # the exponential rate's MLE is 1 / mean
0.5

"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

#: Array or scalar inputs of the models.
ArrayLike = np.ndarray | float


def maximize(
    log_likelihood: Callable[[np.ndarray], float],
    start: tuple[float, ...],
    name: str,
    callback: Callable[[np.ndarray], None] | None = None,
) -> np.ndarray:
    """The positive parameters maximizing ``log_likelihood(params)``, from ``start``.

    Raises :class:`ValueError` when the optimizer fails (L-BFGS-B's "abnormal termination in
    line search" at a flat optimum is accepted: the point is the maximum to within precision).
    """
    result = optimize.minimize(
        lambda log_params: -log_likelihood(np.exp(log_params)),
        np.log(start),
        method="L-BFGS-B",
        bounds=[(-12.0, 12.0)] * len(start),
        callback=callback,
    )
    if not result.success and "ABNORMAL" not in str(result.message).upper():
        raise ValueError(f"{name} fit did not converge: {result.message}")
    return np.exp(result.x)


def fit_purchase_model(
    log_likelihood: Callable[[tuple[float, ...], np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    start: tuple[float, float, float, float],
    name: str,
    callback: Callable[[np.ndarray], None] | None = None,
) -> tuple[float, float, float, float]:
    """``(r, alpha, a, b)`` maximizing the summed ``log_likelihood(params, x, t_x, T)`` of a
    BG/NBD-family model. Time is rescaled to the longest history while fitting (a well
    conditioned problem whatever the unit) and ``alpha`` scaled back.

    Raises :class:`ValueError` without a repeat purchase (the dropout process is then not
    identified) or when the optimizer does not converge.
    """
    x, t_x, T = np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float)
    if x.size == 0 or not np.any(x > 0):
        raise ValueError(f"{name} needs customers with repeat purchases to fit")
    scale = max(float(T.max()), 1e-9)

    def total(params: np.ndarray) -> float:
        return float(np.sum(log_likelihood(tuple(params), x, t_x / scale, T / scale)))

    r, alpha, a, b = maximize(total, start, name, callback)
    return float(r), float(alpha * scale), float(a), float(b)
