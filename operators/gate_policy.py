"""What a client may make the engine keep: allow-lists and size bounds checked at the gate.

Everything a producer controls is bounded before it reaches state, so no client can make a
profile, the attribution chain or the recommender grow without limit:

- **refused** (a dead letter with its reason): more properties than ``max_properties``, a key
  or string longer than ``max_key`` / ``max_string``, a number outside ``±max_number``, a
  purchase value outside ``[0, max_value]``, a product id longer than ``max_name``, a consent
  purpose not in ``purposes``;
- **mapped or left out, and counted** (see :attr:`Bounded.adjustments`): a delivery channel not
  in ``channels`` and an attribution source (``utm_source``) not in ``sources`` become
  ``other``; a trait not in ``traits`` is left out; a category or campaign id longer than
  ``max_name`` is cut.

Checks run in two halves: :meth:`GatePolicy.check` on the decoded event, before the PII scan
(which then never reads a huge string), and :meth:`GatePolicy.bound` after scrubbing, where
hashed contact keys (``email_hash``) are what the trait allow-list sees.

Examples
--------

>>> from schemas.event import Event, EventType
>>> policy = GatePolicy()
>>> e = Event("e1", EventType.PAGE_VIEW, "u", 0, channel="carrier-pigeon",
...           properties={"utm_source": "Google "})
>>> bounded = policy.bound(e)
>>> bounded.event.channel, bounded.event.properties["utm_source"], bounded.adjustments
('other', 'google', ('channel_other',))
>>> policy.check(Event("e2", EventType.CONSENT, "u", 0, consent={"alice@x.io": True}))
Traceback (most recent call last):
...
schemas.rejection.Rejected: unknown_consent_purpose: 1 consent purpose(s) not in the allow-list \
(OFFERFLOW_CONSENT_PURPOSES)

"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from schemas.event import PRODUCT_KEYS, Event, EventType, Scalar
from schemas.rejection import Reason, Rejected

#: Delivery channels the engine knows; campaigns name these.
DEFAULT_CHANNELS = frozenset({"email", "sms", "push", "web", "in_app", "whatsapp"})
#: Traffic sources attribution keeps apart (``utm_source`` or a page view's ``channel``).
DEFAULT_SOURCES = frozenset(
    {
        "direct",
        "google",
        "bing",
        "yahoo",
        "duckduckgo",
        "facebook",
        "instagram",
        "twitter",
        "x",
        "linkedin",
        "tiktok",
        "youtube",
        "pinterest",
        "snapchat",
        "reddit",
        "newsletter",
        "affiliate",
        "referral",
        "display",
        "partner",
        "organic",
        "cpc",
        *DEFAULT_CHANNELS,
    }
)
#: Consent purposes: processing purposes, and channels (consent per channel).
DEFAULT_PURPOSES = frozenset(
    {"marketing", "personalization", "analytics", "advertising", "profiling", *DEFAULT_CHANNELS}
)
#: Traits a profile keeps; everything else on ``identify`` is left out.
DEFAULT_TRAITS = frozenset(
    {
        "plan",
        "tier",
        "loyalty_tier",
        "persona",
        "language",
        "locale",
        "country",
        "region",
        "timezone",
        "currency",
        "age_band",
        "signup_source",
        "signup_ts",
        "company_size",
        "industry",
        "email_hash",
        "phone_hash",
        "anonymous_id",
        "previous_id",
    }
)
OTHER = "other"
_MAPS = ("properties", "context", "traits")
_SOURCE_KEYS = ("utm_source", "channel")
_NAME_KEYS = ("category",)


@dataclass(frozen=True, slots=True)
class Bounded:
    """An event within the bounds, and what was mapped or left out to get it there."""

    event: Event
    adjustments: tuple[str, ...] = ()


@dataclass(frozen=True)
class GatePolicy:
    """Allow-lists and bounds for client-sent values.

    Parameters
    ----------
    channels
        Delivery channels kept as sent; others become ``other``.
    sources
        Attribution sources kept as sent (lower-cased); others become ``other``.
    purposes
        Consent purposes accepted; an event naming another is refused.
    traits
        Trait names a profile keeps (after scrubbing); others are left out.
    max_properties
        Most entries in one of ``properties``, ``context`` or ``traits``.
    max_key
        Longest key in those maps.
    max_string
        Longest string value anywhere in the event.
    max_name
        Longest product id, category or campaign id.
    max_number
        Largest magnitude of a numeric value.
    max_value
        Largest purchase ``value`` (and values below zero are refused).

    """

    channels: frozenset[str] = DEFAULT_CHANNELS
    sources: frozenset[str] = DEFAULT_SOURCES
    purposes: frozenset[str] = DEFAULT_PURPOSES
    traits: frozenset[str] = DEFAULT_TRAITS
    max_properties: int = 64
    max_key: int = 64
    max_string: int = 1024
    max_name: int = 64
    max_number: float = 1e15
    max_value: float = 1e9
    _direct: frozenset[str] = field(
        default=frozenset({"(direct)", "none", "(none)"}), init=False, repr=False
    )

    def check(self, event: Event) -> None:
        """Raise :class:`Rejected` if the event is over a refusing bound."""
        limit = self.max_number
        for name in _MAPS:  # inlined loops: this runs on every entry of every event
            values: Mapping[str, Scalar] = getattr(event, name)
            if not values:
                continue
            if len(values) > self.max_properties:
                raise Rejected(
                    Reason.TOO_MANY_FIELDS,
                    f"{name} has {len(values)} entries; at most {self.max_properties}",
                )
            for key, value in values.items():
                kind = type(value)
                if len(key) > self.max_key:
                    raise Rejected(
                        Reason.STRING_TOO_LONG,
                        f"a key in {name} is longer than {self.max_key} characters",
                    )
                if kind is str:
                    if len(value) > self.max_string:
                        raise Rejected(
                            Reason.STRING_TOO_LONG,
                            f"{name}.{key[:32]} has {len(value)} characters; "
                            f"at most {self.max_string}",
                        )
                elif (kind is int or kind is float) and not -limit <= value <= limit:
                    raise Rejected(
                        Reason.VALUE_OUT_OF_RANGE, f"{name}.{key[:32]} is outside ±{limit:g}"
                    )
        if event.consent and not self.purposes.issuperset(event.consent):
            unknown = [p for p in event.consent if p not in self.purposes]
            raise Rejected(
                Reason.UNKNOWN_CONSENT_PURPOSE,
                f"{len(unknown)} consent purpose(s) not in the allow-list "
                "(OFFERFLOW_CONSENT_PURPOSES)",
            )
        props = event.properties
        if not props:
            return
        for key in PRODUCT_KEYS:
            item = props.get(key)
            if isinstance(item, str) and len(item) > self.max_name:
                raise Rejected(
                    Reason.STRING_TOO_LONG,
                    f"properties.{key} has {len(item)} characters; at most {self.max_name}",
                )
        if event.type is EventType.PURCHASE:
            value = props.get("value")
            if isinstance(value, int | float) and not 0 <= value <= self.max_value:
                raise Rejected(
                    Reason.VALUE_OUT_OF_RANGE,
                    f"properties.value must lie in [0, {self.max_value:g}]",
                )

    def bound(self, event: Event) -> Bounded:
        """The event with channels, sources, names and traits within the allow-lists."""
        notes: list[str] = []
        channel = event.channel
        if channel is not None and channel not in self.channels:
            channel = OTHER
            notes.append("channel_other")
        properties = self._properties(event.properties, notes)
        traits = event.traits
        if traits and not self.traits.issuperset(traits):
            traits = {k: v for k, v in traits.items() if k in self.traits}
            notes.append("trait_not_allowed")
        campaign = event.campaign_id
        if campaign is not None and len(campaign) > self.max_name:
            campaign = campaign[: self.max_name]
            notes.append("name_cut")
        if not notes:
            return Bounded(event)
        bounded = replace(
            event, channel=channel, campaign_id=campaign, properties=properties, traits=traits
        )
        return Bounded(bounded, tuple(notes))

    def _properties(self, props: Mapping[str, Scalar], notes: list[str]) -> Mapping[str, Scalar]:
        changed: dict[str, Scalar] | None = None
        for key in _SOURCE_KEYS:
            source = props.get(key)
            if not isinstance(source, str):
                continue
            name = source.strip().lower()
            if name not in self.sources and name not in self._direct and name:
                name = OTHER
                notes.append("source_other")
            if name != source:
                changed = changed or dict(props)
                changed[key] = name
        for key in _NAME_KEYS:
            value = props.get(key)
            if isinstance(value, str) and len(value) > self.max_name:
                changed = changed or dict(props)
                changed[key] = value[: self.max_name]
                notes.append("name_cut")
        return props if changed is None else changed
