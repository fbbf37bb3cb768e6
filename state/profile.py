"""One user's profile: exact lifetime facts, time-decayed features, traits and consent.

Updated in O(1) per event and driven by event time only, so events arriving out of order give
the same profile as in order: counts and sums commute, first/last times are min/max, decayed
features use order-free epoch-scaled sums (:mod:`models.decay`), and "latest value" fields
(channel, device, country, traits, consent) keep the value of the event with the greatest
``(ts, event_id)``, not the last one to arrive. The one order-dependent bound is the top-K
category list: past K categories the weakest is evicted (counted in ``evicted_categories``).

Everything held is pseudonymous: ingestion has already replaced the user id and scrubbed PII.
:meth:`Profile.to_bytes` is the compact, versioned encoding used for Bytewax snapshots;
:meth:`Profile.from_bytes` reads every earlier version.

Examples
--------

>>> from schemas.event import Event, EventType
>>> day = 86_400_000
>>> p = Profile(ProfileConfig(half_lives_ms=(day, 7 * day)))
>>> p.apply(Event("e1", EventType.PRODUCT_VIEW, "u", 0, properties={"category": "shoes"}))
True
>>> p.apply(Event("e2", EventType.PURCHASE, "u", day,
...               properties={"value": 40.0, "category": "shoes"}, channel="email"))
True
>>> p.apply(Event("e2", EventType.PURCHASE, "u", day, properties={"value": 40.0}))  # redelivery
False
>>> f = p.features()
>>> f["purchases"], f["revenue"], f["spend.1d"], f["cat:shoes.1d"], f["last_channel"]
(1, 40.0, 40.0, 3.5, 'email')
>>> Profile.from_bytes(p.to_bytes(), p.config).features() == f
True

"""

from __future__ import annotations

import functools
import hashlib
import pickle
from array import array
from dataclasses import dataclass
from operator import add
from typing import Any

from models.decay import DecayedFeatures
from schemas.event import Event, EventType, amount
from schemas.units import DAY_MS, duration_label
from state.purchases import Facts, Purchases

#: Version of :meth:`Profile.to_bytes`; bump it and teach ``from_bytes`` the old one.
VERSION = 1

#: Weight of a category signal by event type (a purchase says more than a view).
CATEGORY_WEIGHTS = {
    EventType.PRODUCT_VIEW: 1.0,
    EventType.ADD_TO_CART: 2.0,
    EventType.PURCHASE: 3.0,
}
IMPRESSIONS = frozenset({EventType.OFFER_IMPRESSION, EventType.MESSAGE_DELIVERED})
ENGAGEMENTS = frozenset({EventType.OFFER_CLICK, EventType.MESSAGE_OPEN})


def fingerprint(event_id: str) -> int:
    """Stable 64-bit fingerprint of an event id, for the redelivery window."""
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class ProfileConfig:
    """Shape of every profile: decay half-lives, category bound, redelivery window."""

    half_lives_ms: tuple[int, ...] = (DAY_MS, 7 * DAY_MS, 30 * DAY_MS)
    max_categories: int = 10
    dedup_window: int = 32

    @functools.cached_property
    def labels(self) -> tuple[str, ...]:
        """Half-life labels used in feature names (``spend.7d``)."""
        return tuple(duration_label(h) for h in self.half_lives_ms)


class Profile:
    """A user's profile; see the module docstring.

    Parameters
    ----------
    config
        Half-lives, category bound and redelivery window shared by all profiles.
    user_id
        The pseudonymous id this profile belongs to.

    """

    __slots__ = (
        "cluster",
        "config",
        "consent",
        "counts",
        "decayed",
        "duplicates",
        "evicted_categories",
        "first_seen",
        "last_seen",
        "latest",
        "merged_ids",
        "orders",
        "predictions",
        "recent",
        "segments",
        "touched_ms",
        "traits",
        "user_id",
    )

    def __init__(self, config: ProfileConfig, user_id: str = "") -> None:
        self.config = config
        self.user_id = user_id
        self.first_seen: int | None = None
        self.last_seen: int | None = None
        self.counts: dict[str, int] = {}
        self.duplicates = 0
        #: purchases: count, cents, first and last, purchase days (state/purchases.py)
        self.orders = Purchases()
        #: churn risk, expected purchases, CLV... from the predictive models (models/clv.py)
        self.predictions: dict[str, float] = {}
        #: field -> [value, ts, event_id] for channel, device and country
        self.latest: dict[str, list[Any]] = {}
        self.traits: dict[str, list[Any]] = {}
        #: purpose or channel -> [granted, ts, source]
        self.consent: dict[str, list[Any]] = {}
        self.decayed = DecayedFeatures(config.half_lives_ms)
        self.evicted_categories = 0
        #: fingerprints of the last ``dedup_window`` event ids (an array: a deque took 600 B)
        self.recent = array("Q")
        self.segments: tuple[str, ...] = ()
        self.merged_ids: list[str] = []
        self.touched_ms = 0
        #: online cluster, used as segment when no rule segment claims the user
        self.cluster: int | None = None

    # -- updates -------------------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Fold ``event`` into the profile; ``False`` if it is a redelivery (ignored)."""
        fp = fingerprint(event.event_id)
        if fp in self.recent:
            self.duplicates += 1
            return False
        self.recent.append(fp)
        del self.recent[: -self.config.dedup_window]
        ts, kind, eid = event.ts, event.type, event.event_id
        self.counts[kind.value] = self.counts.get(kind.value, 0) + 1
        self.first_seen = ts if self.first_seen is None else min(self.first_seen, ts)
        self.last_seen = ts if self.last_seen is None else max(self.last_seen, ts)
        decayed = self.decayed
        decayed.add("act:" + kind.value, 1.0, ts)
        props = event.properties
        if kind is EventType.PURCHASE:
            value = amount(props.get("value"))
            self.orders.add(ts, value)
            decayed.add("spend", value, ts)
        weight = CATEGORY_WEIGHTS.get(kind)
        category = props.get("category")
        if weight is not None and isinstance(category, str) and category:
            self._category(category, weight, ts)
        channel = event.channel
        if channel is not None:
            _latest(self.latest, "channel", channel, ts, eid)
            if kind in IMPRESSIONS:
                decayed.add("imp:" + channel, 1.0, ts)
            elif kind in ENGAGEMENTS:
                decayed.add("eng:" + channel, 1.0, ts)
        for field in ("device", "country"):
            value = event.context.get(field)
            if isinstance(value, str):
                _latest(self.latest, field, value, ts, eid)
        if kind is EventType.IDENTIFY:
            for name, value in event.traits.items():
                _latest(self.traits, name, value, ts, eid)
        elif kind is EventType.CONSENT:
            for purpose, granted in event.consent.items():
                _latest(self.consent, purpose, granted, ts, "consent:" + eid)
        elif kind is EventType.UNSUBSCRIBE and channel is not None:
            _latest(self.consent, channel, False, ts, "unsubscribe:" + eid)
        return True

    def merge(self, other: Profile) -> None:
        """Absorb another profile of the same person (identity stitching): its history is
        added as if its events had arrived here."""
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        self.first_seen = _min(self.first_seen, other.first_seen)
        self.last_seen = _max(self.last_seen, other.last_seen)
        self.orders.merge(other.orders)
        self.duplicates += other.duplicates
        for target, source in (
            (self.latest, other.latest),
            (self.traits, other.traits),
            (self.consent, other.consent),
        ):
            for name, (value, ts, eid) in source.items():
                _latest(target, name, value, ts, eid)
        self.decayed.merge(other.decayed)
        self._bound_categories(self.last_seen or 0)
        self.recent.extend(other.recent)
        del self.recent[: -self.config.dedup_window]
        self.evicted_categories += other.evicted_categories
        self.merged_ids.extend(i for i in other.merged_ids if i not in self.merged_ids)

    def _category(self, category: str, weight: float, ts: int) -> None:
        name = "cat:" + category
        self.decayed.add(name, weight, ts)
        self._bound_categories(ts)

    def _bound_categories(self, now: int) -> None:
        names = self.decayed.names("cat:")
        excess = len(names) - self.config.max_categories
        if excess > 0:
            weakest = sorted(names, key=lambda n: self.decayed.value(n, now)[-1])[:excess]
            self.decayed.remove(weakest)
            self.evicted_categories += excess

    # -- reads ---------------------------------------------------------------------------

    @property
    def purchases(self) -> int:
        return self.orders.count

    @property
    def last_purchase(self) -> int | None:
        return self.orders.last

    @property
    def recency_as_of(self) -> int:
        """The event time ``days_since_*`` are measured at: the last event, or the later time
        the predictions were computed at after a refit (the flow's clock moved on while
        this customer was silent)."""
        return max(self.last_seen or 0, int(self.predictions.get("predicted_at", 0)))

    def features(self) -> dict[str, Any]:
        """Flat feature view as of the last event time: what segment rules and the profile
        document use. Decayed features are ``<name>.<half-life>``."""
        as_of, recency = self.last_seen or 0, self.recency_as_of
        f: dict[str, Any] = {
            "events": sum(self.counts.values()),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "days_since_first_seen": (recency - self.first_seen) / DAY_MS
            if self.first_seen is not None
            else None,
            **self.orders.features(recency),
        }
        f.update(self.predictions)
        for kind, n in self.counts.items():
            f["count." + kind] = n
        for name, (value, _ts, _eid) in self.latest.items():
            f["last_" + name if name == "channel" else name] = value
        for name, (value, _ts, _eid) in self.traits.items():
            f["trait." + name] = value
        for purpose, (granted, _ts, _src) in self.consent.items():
            f["consent." + purpose] = granted
        labels = self.config.labels
        imp = [0.0] * len(labels)
        eng = [0.0] * len(labels)
        for name, values in self.decayed.items(as_of):
            f.update(zip(_feature_keys(name, labels), values, strict=True))
            if name[:4] == "imp:":
                imp = list(map(add, imp, values))
            elif name[:4] == "eng:":
                eng = list(map(add, eng, values))
        for label, i, e in zip(labels, imp, eng, strict=True):
            f["fatigue." + label] = max(0.0, i - e)
        return f

    def to_document(self, features: dict[str, Any] | None = None) -> dict[str, Any]:
        """The profile as Redis readers see it: features as of ``as_of`` (the last event
        time; decay further by ``2 ** (-(now - as_of) / half_life)``), consent with its
        time and source, segments, and bookkeeping. Pass ``features`` if already computed."""
        return {
            "v": VERSION,
            "as_of": self.last_seen,
            "features": self.features() if features is None else features,
            "consent": {
                p: {"granted": g, "ts": ts, "source": src}
                for p, (g, ts, src) in self.consent.items()
            },
            "segments": list(self.segments),
            "segment": self.segments[0] if self.segments else None,
            "duplicates": self.duplicates,
            "evicted_categories": self.evicted_categories,
            "merged_ids": self.merged_ids,
        }

    def rfm(self) -> Facts | None:
        """The exact facts the predictive models use (:meth:`Purchases.rfm
        <state.purchases.Purchases.rfm>`): repeat purchase days, first and last purchase
        times (ms) and the mean value of a repeat purchase day; ``None`` before the first
        purchase.

        >>> from schemas.event import Event, EventType
        >>> p = Profile(ProfileConfig())
        >>> for i, value in enumerate((10.0, 30.0, 50.0)):
        ...     _ = p.apply(Event(f"e{i}", EventType.PURCHASE, "u", 86_400_000 * i,
        ...                       properties={"value": value}))
        >>> p.rfm()
        (2, 0, 172800000, 40.0)
        """
        return self.orders.rfm()

    # -- encoding ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Compact versioned encoding, used as the Bytewax snapshot.

        A pickle of built-in values only (no classes, so any later version can read it),
        with the redelivery fingerprints packed as 8-byte integers: about half the size of
        the same data as JSON. The field order is the format: append, never reorder.
        """
        orders, orders_tail = self.orders.to_fields()
        return pickle.dumps(
            (
                VERSION,
                self.user_id,
                self.config.half_lives_ms,
                *(getattr(self, name) for name in _ENCODED_FACTS[:4]),
                *orders,
                *(getattr(self, name) for name in _ENCODED_FACTS[4:]),
                self.decayed.epoch,
                self.decayed.sums,
                self.evicted_categories,
                self.recent.tobytes(),
                self.segments,
                *(getattr(self, name) for name in _ENCODED_LINKS),
                self.orders.first_day_cents / 100,  # read by versions before cents
                self.predictions,
                *orders_tail,
            ),
            protocol=5,
        )

    @classmethod
    def from_bytes(cls, data: bytes, config: ProfileConfig) -> Profile:
        """Decode any version of :meth:`to_bytes`. Decayed sums kept at other half-lives
        than ``config``'s are dropped (they cannot be converted); exact facts always load."""
        fields = pickle.loads(data)
        if fields[0] != VERSION:
            raise ValueError(f"unknown profile encoding version {fields[0]}")
        p = cls(config)
        p.user_id, half_lives = fields[1:3]
        at = 3 + len(_ENCODED_FACTS) + 4
        for name, value in zip(_ENCODED_FACTS, fields[3:7] + fields[11:at], strict=True):
            setattr(p, name, value)
        orders = fields[7:11]
        epoch, sums, p.evicted_categories, recent, segments = fields[at : at + 5]
        at += 5
        for name, value in zip(_ENCODED_LINKS, fields[at : at + 3], strict=True):
            setattr(p, name, value)
        first_value, p.predictions = fields[at + 3 : at + 5] or (0.0, {})  # older: absent
        p.orders = Purchases.from_fields(orders, fields[at + 5 :], first_value)
        if tuple(half_lives) == config.half_lives_ms:
            p.decayed = DecayedFeatures(config.half_lives_ms, epoch, sums)
        p.recent.frombytes(recent)
        del p.recent[: -config.dedup_window]
        p.segments = tuple(segments)
        return p


#: Attributes stored as they are, in encoding order (see :meth:`Profile.to_bytes`).
#: The purchase facts (:meth:`Purchases.to_fields`) sit between the fourth and the fifth.
_ENCODED_FACTS = (
    "first_seen", "last_seen", "counts", "duplicates", "latest", "traits", "consent",
)  # fmt: skip
_ENCODED_LINKS = ("merged_ids", "touched_ms", "cluster")


@functools.lru_cache(maxsize=4096)  # category names come from events: keep it bounded
def _feature_keys(name: str, labels: tuple[str, ...]) -> tuple[str, ...]:
    """``("spend", ("1d", "7d"))`` → ``("spend.1d", "spend.7d")``, built once per name."""
    return tuple(f"{name}.{label}" for label in labels)


def _latest(fields: dict[str, list[Any]], name: str, value: Any, ts: int, eid: str) -> None:
    current = fields.get(name)
    if current is None or (ts, eid) > (current[1], current[2]):
        fields[name] = [value, ts, eid]


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
