"""Online response model: the probability that a user responds (clicks or converts, as the
campaign's reward says) to an offer on a channel, learned from every closed reward window.

A River ``LogisticRegression`` over the decision's context
features (a few profile features, see :func:`operators.eligibility.context_features`) plus
one-hot offer and channel indicators and their products with the context, so an offer can
suit one kind of user better than another. The bandit chooses the offer; this model ranks
what the bandit leaves open: the channel of a "best channel" request, and the order in which
ties are broken.

Examples
--------

>>> m = ResponseModel()
>>> for i in range(400):
...     m.learn({"engaged": float(i % 2)}, "coupon", "email", bool(i % 2))
>>> m.predict({"engaged": 1.0}, "coupon", "email") > 0.8 > 0.2 > m.predict(
...     {"engaged": 0.0}, "coupon", "email")
True
>>> for i in range(200):  # email gets answers, SMS does not
...     m.learn({"engaged": 1.0}, "coupon", "sms" if i % 2 else "email", not i % 2)
>>> m.best_channel({"engaged": 1.0}, "coupon", ["sms", "email"])
'email'

"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from river import linear_model, optim


class ResponseModel:
    """River logistic regression on pre-scaled context, offer and channel features.

    Parameters
    ----------
    learning_rate
        SGD step size of the logistic regression.

    """

    def __init__(self, learning_rate: float = 0.05) -> None:
        self.learning_rate = learning_rate
        # No scaler: River's StandardScaler maps an always-1.0 indicator to 0, which would
        # erase the offer and channel one-hots; context features come pre-scaled instead.
        self.model = linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate))
        self.samples = 0

    def learn(
        self, context: Mapping[str, float], offer: str, channel: str, responded: bool
    ) -> None:
        self.model.learn_one(_features(context, offer, channel), responded)
        self.samples += 1

    def predict(self, context: Mapping[str, float], offer: str, channel: str) -> float:
        """P(response); 0.5 before anything was learned."""
        proba = self.model.predict_proba_one(_features(context, offer, channel))
        return float(proba.get(True, 0.5))

    def best_channel(
        self, context: Mapping[str, float], offer: str, channels: Sequence[str]
    ) -> str:
        """The channel with the highest predicted response (the first one on ties)."""
        scores = [self.predict(context, offer, c) for c in channels]
        return channels[scores.index(max(scores))]

    def rank(self, context: Mapping[str, float], offers: Sequence[str], channel: str) -> list[str]:
        """``offers`` by predicted response, best first (stable on ties)."""
        if not self.samples:
            return list(offers)
        return sorted(offers, key=lambda o: -self.predict(context, o, channel))


def _features(context: Mapping[str, float], offer: str, channel: str) -> dict[str, float]:
    features = dict(context)
    features[f"offer={offer}"] = 1.0
    features[f"channel={channel}"] = 1.0
    for name, value in context.items():
        features[f"{offer}*{name}"] = value
    return features
