"""The predictions part of the user step: a customer's facts go to the models step, and the
models it publishes come back to be applied here, beside the facts.

The models step (:mod:`operators.predict_step`) fits on the whole customer base and sends the
fitted parameters, a few hundred bytes, to every worker (``models`` internal messages). Each
process keeps the newest it has received in one :class:`Predictions` shared by its users'
steps. A customer's predictions are recomputed when they purchase, and otherwise at most every
``refresh_ms`` of processing time when newer models exist, so a refit costs each customer one
timer instead of one message through Kafka.

Examples
--------

>>> from state.predictor import Predictor
>>> from state.profile import ProfileConfig
>>> customer = Profile(ProfileConfig())
>>> customer.orders.add(ts=0, value=20.0)
>>> part = Predictions(refresh_ms=60_000)
>>> part.next_timer(customer, now_ms=0) is None  # no models yet
True
>>> params = {"fitted_at": 5, "purchase_model": {"model": "mbgnbd", "r": 0.2, "alpha": 4.0,
...                                           "a": 0.8, "b": 2.4},
...           "gamma_gamma": None, "clv": {"horizon_days": 90, "annual_discount": 0.1},
...           "clv_deciles": [1.0] * 9}
>>> part.on_models(params)
>>> part.current.as_of, part.next_timer(customer, now_ms=0)
(5, 60000)

"""

from __future__ import annotations

from typing import Any

from state.predictor import Predictor
from state.profile import Profile

Output = tuple[str, Any]


class Predictions:
    """The newest published models in this process, and the refresh interval.

    Parameters
    ----------
    refresh_ms
        Processing time between a customer's checks for newer models.

    """

    def __init__(self, refresh_ms: int) -> None:
        self.refresh_ms = refresh_ms
        self.current: Predictor | None = None

    def on_models(self, params: dict[str, Any]) -> None:
        """Keep ``params`` if they are the newest fit seen (messages can arrive out of
        order across partitions of the internal topic)."""
        models = Predictor.from_params(params)
        if self.current is None or models.as_of >= self.current.as_of:
            self.current = models

    def facts(self, user: str, profile: Profile, ts: int) -> list[Output]:
        """The customer's facts for the models step, after a purchase or a merge."""
        facts = profile.rfm()
        if facts is None:
            return []
        return [("predict", ("facts", {"user": user, "facts": facts, "ts": ts}))]

    def refresh(self, profile: Profile, *, purchased: bool = False) -> bool:
        """Recompute the customer's predictions if they just purchased or newer models
        exist; returns whether they changed."""
        facts, current = profile.rfm(), self.current
        if facts is None or current is None:
            return False
        if not purchased and profile.predictions.get("predicted_at", -1) >= current.as_of:
            return False
        predictions = current.predict(facts)
        if predictions == profile.predictions:
            return False
        profile.predictions = predictions
        return True

    def next_timer(self, profile: Profile, now_ms: int) -> int | None:
        """When a customer next checks for newer models (``None``: not a customer, or no
        models yet)."""
        if profile.purchases == 0 or self.current is None:
            return None
        return now_ms + self.refresh_ms
