"""The user-keyed half of attribution, called by the profile step: touchpoints join the
user's journey, conversions are credited under every rule-based model at once, and ended
paths go to the data-driven model.

Touchpoints (:func:`touch_of`): offer impressions and clicks and message opens (with their
channel, campaign and decision), and visits from a source: a ``page_view`` whose properties
name a ``utm_source`` or ``channel`` (``direct``, ``(direct)``, ``none`` and ``(none)`` all
mean :data:`~models.attribution_models.DIRECT`).

A conversion (``purchase`` by default) takes the journey's touches within the lookback and
emits one record per rule-based model (``("attribution", record)``), each with credits that
add up to exactly 1 and to the conversion value (:mod:`models.credit_split`), plus
``("path", payload)`` for the Markov step, which learns the path and emits the data-driven
record. A conversion with no touchpoint is credited to ``direct`` explicitly. A path that
ends without a conversion, because its newest touch left the lookback window or nothing
happened for the inactivity time (wall clock) or the profile expired, goes to the Markov
step as a non-converting path.

Examples
--------

>>> from schemas.event import Event, EventType
>>> cfg = AttributionConfig()
>>> journey = Journey()
>>> click = Event("e1", EventType.OFFER_CLICK, "u", 1_000, channel="email",
...               campaign_id="spring", decision_id="d1")
>>> visit = Event("e2", EventType.PAGE_VIEW, "u", 2_000, properties={"utm_source": "Google"})
>>> buy = Event("e3", EventType.PURCHASE, "u", 3_000, properties={"value": 10.0})
>>> for event in (click, visit):
...     cfg.on_event("u", journey, event, wall_ms=0)
[]
[]
>>> out = cfg.on_event("u", journey, buy, wall_ms=0)
>>> [(tag, r["model"], [(c["channel"], c["value"]) for c in r["credits"]])
...  for tag, r in out if r.get("model") in ("first_touch", "linear")]
[('attribution', 'first_touch', [('email', 10.0), ('google', 0.0)]), \
('attribution', 'linear', [('email', 5.0), ('google', 5.0)])]
>>> out[-1][0], journey.touches
('path', [])

"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.attribution_models import DIRECT, HEURISTIC_MODELS, HeuristicParams, weights
from models.credit_split import FRACTION_UNITS, from_cents, split, to_cents
from schemas.event import Event, EventType, amount
from schemas.units import DAY_MS
from state.journey import Journey, Touch

Output = tuple[str, Any]

_OFFER_TOUCHES = frozenset(
    {EventType.OFFER_IMPRESSION, EventType.OFFER_CLICK, EventType.MESSAGE_OPEN}
)
_DIRECT_NAMES = frozenset({"direct", "(direct)", "none", "(none)"})
_MAX_CHANNEL = 64


@dataclass(frozen=True)
class AttributionConfig:
    """Attribution settings shared by every user's step.

    Parameters
    ----------
    lookback_ms
        Touches older than this before a conversion (event time) earn nothing.
    max_touches
        Touches kept per user; the oldest are dropped (and counted) beyond it.
    inactivity_ms
        Wall-clock time without a new touch after which an open path ends unconverted.
    conversion_types
        Event types that count as conversions.
    heuristics
        Parameters of the rule-based models.

    """

    lookback_ms: int = 30 * DAY_MS
    max_touches: int = 32
    inactivity_ms: int = 7 * DAY_MS
    conversion_types: frozenset[str] = frozenset({EventType.PURCHASE.value})
    heuristics: HeuristicParams = field(default_factory=HeuristicParams)

    def on_event(self, user: str, journey: Journey, event: Event, wall_ms: int) -> list[Output]:
        """Outputs for an event the profile has just applied."""
        out: list[Output] = []
        if journey and event.ts - journey.touches[-1].ts > self.lookback_ms:
            out.append(self._ended(journey))
        if self.converts(event):
            conversion = Conversion.of(user, event)
            return out + self.credit(conversion, journey.take(event.ts, self.lookback_ms))
        touch = touch_of(event)
        if touch is not None:
            journey.add(touch, self.max_touches, wall_ms)
        return out

    def converts(self, event: Event) -> bool:
        """Whether ``event`` is a conversion."""
        return event.type.value in self.conversion_types

    def on_timer(self, journey: Journey, now_ms: int) -> list[Output]:
        """End a path that has been inactive, or whose newest touch left the lookback."""
        due = self.next_timer(journey)
        return [self._ended(journey)] if due is not None and now_ms >= due else []

    def next_timer(self, journey: Journey) -> int | None:
        """Wall-clock time (ms) at which the open path ends unconverted, if there is one."""
        if not journey:
            return None
        return min(journey.wall_ms + self.inactivity_ms, journey.touches[-1].ts + self.lookback_ms)

    def on_expire(self, journey: Journey) -> list[Output]:
        """The profile is going away: its open path ends unconverted."""
        return [self._ended(journey)] if journey else []

    def credit(self, conversion: Conversion, touches: list[Touch]) -> list[Output]:
        """Records of ``conversion`` under every rule-based model, and the path for the
        Markov step."""
        if touches:
            channels = [t.channel for t in touches]
            times = [t.ts for t in touches]
            out: list[Output] = [
                (
                    "attribution",
                    conversion.record(
                        model,
                        touches,
                        weights(model, channels, times, conversion.ts, self.heuristics),
                    ),
                )
                for model in HEURISTIC_MODELS
            ]
        else:  # every model credits direct alike: build the record once
            direct = conversion.record(HEURISTIC_MODELS[0], [], [])
            out = [("attribution", conversion.renamed(direct, m)) for m in HEURISTIC_MODELS]
        out.append(("path", {"conversion": conversion.to_dict(), "touches": touches}))
        return out

    def _ended(self, journey: Journey) -> Output:
        return ("path", {"conversion": None, "touches": journey.close()})


@dataclass(frozen=True)
class Conversion:
    """What attribution needs of a converting event (value in minor units, never negative)."""

    conversion_id: str
    user_id: str
    ts: int
    value_cents: int
    currency: str | None

    @classmethod
    def of(cls, user: str, event: Event) -> Conversion:
        currency = event.properties.get("currency")
        return cls(
            event.event_id,
            user,
            event.ts,
            max(to_cents(amount(event.properties.get("value"))), 0),
            currency if isinstance(currency, str) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def renamed(self, record: dict[str, Any], model: str) -> dict[str, Any]:
        """``record`` (of this conversion) under another model's name, credits shared."""
        return {**record, "attribution_id": f"{self.conversion_id}:{model}", "model": model}

    def record(self, model: str, touches: list[Touch], weights: list[float]) -> dict[str, Any]:
        """The ``attribution.avsc`` record of this conversion under ``model``."""
        if not touches:  # nothing to credit but the conversion itself
            touches, weights = [Touch(self.ts, DIRECT)], [1.0]
            credits = [{**_credit(touches[0]), "ts": None}]
        else:
            credits = [_credit(t) for t in touches]
        parts = split(weights, FRACTION_UNITS)
        cents = split(parts, self.value_cents)
        for credit, part, cent in zip(credits, parts, cents, strict=True):
            credit["fraction"] = part / FRACTION_UNITS
            credit["value"] = from_cents(cent)
        return {
            "attribution_id": f"{self.conversion_id}:{model}",
            "conversion_id": self.conversion_id,
            "user_id": self.user_id,
            "ts": self.ts,
            "model": model,
            "conversion_value": from_cents(self.value_cents),
            "currency": self.currency,
            "credits": credits,
        }


def touch_of(event: Event) -> Touch | None:
    """The touchpoint an event represents, if any."""
    if event.type in _OFFER_TOUCHES:
        return Touch(event.ts, event.channel or "unknown", event.campaign_id, event.decision_id)
    if event.type is EventType.PAGE_VIEW:
        source = event.properties.get("utm_source") or event.properties.get("channel")
        if isinstance(source, str) and source.strip():
            name = source.strip().lower()[:_MAX_CHANNEL]
            return Touch(event.ts, DIRECT if name in _DIRECT_NAMES else name)
    return None


def _credit(touch: Touch) -> dict[str, Any]:
    return {
        "channel": touch.channel,
        "campaign_id": touch.campaign_id,
        "decision_id": touch.decision_id,
        "ts": touch.ts,
    }
