"""The keyed profile step: folds each user's events into their :class:`~state.profile.Profile`
and says what changed, for Redis, the topics and the flow's own internal topic.

A key holds one of three states:

- a **profile** (the usual case);
- an **alias**: an anonymous id linked to a known user by an ``identify`` event carrying
  ``traits.anonymous_id``. Its profile was handed over (``absorb``) and later events for it are
  forwarded to the known user, so history is merged, not lost;
- an **erasure tombstone**: for ``erase_grace`` after an ``erase``, events for that id are
  dead-lettered instead of rebuilding a profile.

A profile also carries the user's contact ledger (:mod:`state.contacts`): the decisions made
for them, for frequency caps and the reward join (:mod:`operators.user_decisions`); and their
journey (:mod:`state.journey`): the touchpoints that attribution credits when they convert
(:mod:`operators.user_attribution`).

Wall-clock timers (they must fire when the user sends nothing) expire inactive profiles after
``ttl``, drop tombstones after the grace window, close reward windows and fire behavioural
triggers, and end inactive journeys. Bytewax snapshots the state as bytes
(:meth:`Profile.to_bytes`, prefixed ``D`` and paired with the ledger and journey when either
holds anything, or a small JSON record for aliases and tombstones), so recovery restores
exactly what was there.

Outputs are ``(tag, payload)`` pairs: ``("profile", document-or-None)`` (``None`` deletes),
``("segment", segment_change)``, ``("privacy", privacy_audit)``, ``("dead", DeadLetter)``,
``("internal", Feedback)`` for the internal topic, ``("vector", (user, features))`` for
the clustering stage, ``("predict", ("facts" | "forget", ...))`` for the predictive models
(:mod:`operators.predict_step`, whose ``predicted`` answers land in the profile's features),
``("reco", ("learn" | "forget", ...))`` for the recommender (:mod:`operators.reco_step`),
and the outputs of :mod:`operators.user_decisions` and :mod:`operators.user_attribution`.
"""

from __future__ import annotations

import base64
import pickle
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from bytewax.operators import StatefulLogic

from models.recommender import EVENT_WEIGHTS
from operators.dead_letter import DeadLetter, Origin
from operators.feedback import Feedback
from operators.user_attribution import AttributionConfig
from operators.user_decisions import Decisioning, on_decided
from schemas import codec
from schemas.event import Event, EventType, amount, parse_event
from schemas.rejection import Reason, Rejected
from state.clusters import cluster_vector
from state.contacts import ContactLedger
from state.journey import Journey
from state.profile import Profile, ProfileConfig
from state.segments import RuleFile

Output = tuple[str, Any]
#: Event properties that name the product, in order of preference.
PRODUCT_KEYS = ("product_id", "item_id", "sku")


@dataclass(frozen=True)
class ProfileStepConfig:
    """What every user's step shares: profile shape, rules, timers, clustering, decisioning
    and attribution (``None``: off), predictions (facts sent to :mod:`operators.predict_step`),
    recommendations (product interactions sent to :mod:`operators.reco_step`), the clock."""

    profile: ProfileConfig
    rules: RuleFile
    ttl_ms: int
    erase_grace_ms: int
    clustering: bool = True
    decisioning: Decisioning | None = None
    attribution: AttributionConfig | None = None
    predictions: bool = False
    recommendations: bool = False
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


class ProfileLogic(StatefulLogic[Event | Feedback, Output, bytes]):
    """One key's profile, alias or tombstone, and its timers."""

    def __init__(self, cfg: ProfileStepConfig, resume: bytes | None) -> None:
        self.cfg = cfg
        self.user = ""
        self.profile: Profile | None = None
        self.erased_at: int | None = None
        self.alias_of: str | None = None
        self.ledger = ContactLedger()
        self.journey = Journey()
        self.features: dict[str, Any] = {}
        if resume is None:
            return
        if resume[:1] in (b"C", b"D"):  # C: written before journeys existed
            profile_bytes, ledger, *journey = pickle.loads(resume[1:])
            self.profile = Profile.from_bytes(profile_bytes, cfg.profile)
            self.user = self.profile.user_id
            self.ledger = ContactLedger.from_state(ledger)
            self.journey = Journey.from_state(journey[0]) if journey else Journey()
        elif resume[:1] == b"{":
            record = orjson.loads(resume)
            self.user = record["user"]
            self.erased_at = record.get("erased_at")
            self.alias_of = record.get("alias_of")
        else:
            self.profile = Profile.from_bytes(resume, cfg.profile)
            self.user = self.profile.user_id

    # -- Bytewax callbacks ---------------------------------------------------------------

    def on_item(self, value: Event | Feedback) -> tuple[list[Output], bool]:
        if isinstance(value, Feedback):
            self.user = value.target
            out = self._feedback(value)
        else:
            self.user = value.user_id
            out = self._event(value)
        holds = self.profile is not None or self.alias_of is not None or self.erased_at is not None
        return out, self.RETAIN if holds else self.DISCARD

    def notify_at(self) -> datetime | None:
        if self.erased_at is not None:
            return _utc(self.erased_at + self.cfg.erase_grace_ms)
        if self.profile is not None:
            due = self.profile.touched_ms + self.cfg.ttl_ms
            if self.cfg.decisioning is not None:
                due = min(due, self.cfg.decisioning.next_timer(self.profile, self.ledger) or due)
            if self.cfg.attribution is not None:
                due = min(due, self.cfg.attribution.next_timer(self.journey) or due)
            return _utc(due)
        return None

    def on_notify(self) -> tuple[list[Output], bool]:
        now = self.cfg.now_ms()
        if self.erased_at is not None:
            expired = now >= self.erased_at + self.cfg.erase_grace_ms
            return [], self.DISCARD if expired else self.RETAIN
        profile = self.profile
        if profile is None:
            return [], self.RETAIN
        attribution = self.cfg.attribution
        if now < profile.touched_ms + self.cfg.ttl_ms:
            out = attribution.on_timer(self.journey, now) if attribution else []
            if self.cfg.decisioning is not None:
                out += self.cfg.decisioning.on_timer(self.user, profile, self.ledger, now)
            return out, self.RETAIN
        ended = attribution.on_expire(self.journey) if attribution else []
        ended += self._leave()
        left = self._left_segments(f"expire:{profile.touched_ms}", now)
        audit = self._audit(
            f"expire:{profile.touched_ms}",
            now,
            "expire",
            None,
            {"inactive_since": str(profile.touched_ms)},
        )
        return [*ended, ("profile", None), ("privacy", audit), *left], self.DISCARD

    def snapshot(self) -> bytes:
        if self.profile is not None:
            if self.ledger or self.journey:
                state = (self.profile.to_bytes(), self.ledger.to_state(), self.journey.to_state())
                return b"D" + pickle.dumps(state)
            return self.profile.to_bytes()
        if self.erased_at is not None:
            return orjson.dumps({"user": self.user, "erased_at": self.erased_at})
        return orjson.dumps({"user": self.user, "alias_of": self.alias_of})

    # -- events --------------------------------------------------------------------------

    def _event(self, event: Event) -> list[Output]:
        if self.erased_at is not None:
            return [("dead", self._erased_letter(event))]
        if self.alias_of is not None:
            record = event.to_record(with_extra=False)
            return [("internal", Feedback("forward", self.alias_of, {"event": record}))]
        if event.type is EventType.ERASE:
            return self._erase(event)
        out: list[Output] = []
        profile = self._profile()
        applied = profile.apply(event)
        if not applied:  # a redelivery: counted in the profile, and told on the DLQ
            window = self.cfg.profile.dedup_window
            detail = f"event_id seen among this user's last {window} events"
            out.append(("dead", self._letter(event, Reason.DUPLICATE_EVENT, detail,
                                             f"duplicate_event:{profile.duplicates}")))  # fmt: skip
        if applied:
            if event.type in (EventType.CONSENT, EventType.UNSUBSCRIBE):
                out.append(("privacy", self._consent_audit(event)))
            anonymous = event.traits.get("anonymous_id")
            if (
                event.type is EventType.IDENTIFY
                and isinstance(anonymous, str)
                and anonymous != self.user
                and anonymous not in profile.merged_ids
            ):
                out.append(("internal", Feedback("link", anonymous, {"to": self.user})))
        out = self._refresh(out, event.event_id, event.ts, applied)
        refused = False
        if applied and self.cfg.decisioning is not None:
            decided = self.cfg.decisioning.on_event(
                self.user, profile, self.ledger, event, self.features, self._letter
            )
            # feedback naming a decision this user never had is no touchpoint
            refused = any(tag == "dead" and _unknown(letter) for tag, letter in decided)
            out += decided
        attribution = self.cfg.attribution
        if applied and attribution and (attribution.converts(event) or not refused):
            out += attribution.on_event(self.user, self.journey, event, profile.touched_ms)
        if applied and event.type is EventType.PURCHASE:
            out += self._facts(event.ts)
        if applied and self.cfg.recommendations:
            out += _interaction(self.user, event, profile.segments)
        return out

    def _facts(self, ts: int) -> list[Output]:
        """The customer's RFM facts for the predictive models, after a purchase or a merge."""
        if not self.cfg.predictions or self.profile is None:
            return []
        facts = self.profile.rfm()
        if facts is None:
            return []
        return [("predict", ("facts", {"user": self.user, "facts": facts, "ts": ts}))]

    def _leave(self) -> list[Output]:
        """This id leaves the customer base and the recommender (erased, expired, merged into
        another)."""
        out: list[Output] = [("predict", ("forget", self.user))] if self.cfg.predictions else []
        if self.cfg.recommendations:
            out.append(("reco", ("forget", self.user)))
        return out

    def _left_segments(self, cause: str, ts: int) -> list[Output]:
        """The segment change of a profile that is going away (erased, expired, merged into
        another): it leaves every segment, so segment sizes and CRM copies of the membership
        stay true."""
        if self.profile is None or not self.profile.segments:
            return []
        return [("segment", self._segment_change(cause, ts, self.profile.segments, ()))]

    def _profile(self) -> Profile:
        if self.profile is None:
            self.profile = Profile(self.cfg.profile, self.user)
            self.ledger = ContactLedger()
            self.journey = Journey()
        self.profile.touched_ms = self.cfg.now_ms()
        return self.profile

    def _refresh(self, out: list[Output], cause: str, ts: int, changed: bool) -> list[Output]:
        """Re-evaluate segments after a change and emit the new document."""
        profile = self.profile
        assert profile is not None
        features = self.features = profile.features()
        if changed:
            segments = self.cfg.rules.current().evaluate(features)
            if not segments and self.cfg.clustering:
                vector = cluster_vector(
                    features, self.cfg.profile.labels[len(self.cfg.profile.labels) // 2]
                )
                out.append(("vector", (self.user, vector)))
                if profile.cluster is not None:
                    segments = (f"cluster_{profile.cluster}",)
            if segments != profile.segments:
                out.append(("segment", self._segment_change(cause, ts, profile.segments, segments)))
                profile.segments = segments
        out.append(("profile", profile.to_document(features)))
        return out

    def _erase(self, event: Event) -> list[Output]:
        merged = self.profile.merged_ids if self.profile is not None else []
        left = self._left_segments(f"erase:{event.event_id}", event.ts)
        self.profile, self.journey = None, Journey()
        self.erased_at = self.cfg.now_ms()
        details = {
            "state": "deleted",
            "redis": "delete queued with this record",
            "merged_ids": ",".join(merged),
        }
        audit = self._audit(f"erase:{event.event_id}", event.ts, "erase", event.event_id, details)
        forgets: list[Output] = [
            ("internal", Feedback("forget", alias, {"erased_by": self.user})) for alias in merged
        ]
        return [("profile", None), ("privacy", audit), *left, *forgets, *self._leave()]

    # -- internal messages ---------------------------------------------------------------

    def _feedback(self, msg: Feedback) -> list[Output]:
        handler = {
            "link": self._link,
            "absorb": self._absorb,
            "forward": self._forward,
            "cluster": self._cluster,
            "forget": self._forget,
            "decided": lambda payload: self._decided("decided", payload),
            "released": lambda payload: self._decided("released", payload),
            "predicted": self._predicted,
        }[msg.kind]
        try:
            return handler(msg.payload)
        except (KeyError, TypeError, ValueError) as exc:  # a malformed internal record
            value = msg.encode()
            letter = DeadLetter(
                Reason.BAD_INTERNAL_RECORD,
                f"{type(exc).__name__}: {exc}",
                self.user.encode(),
                value,
                Origin(),
                f"internal:{msg.kind}:{self.user}:{zlib.crc32(value):08x}",
            )
            return [("dead", letter)]

    def _link(self, payload: dict[str, Any]) -> list[Output]:
        known = payload["to"]
        if not isinstance(known, str) or self.erased_at is not None or known == self.user:
            return []
        if self.alias_of is not None:
            return []  # already linked: the first identify wins
        self.alias_of = known
        if self.profile is None:
            return []
        left = self._left_segments(f"link:{known}", self.profile.last_seen or 0)
        profile, self.profile = self.profile, None
        encoded = base64.b64encode(profile.to_bytes()).decode("ascii")
        journey, self.journey = self.journey.to_state(), Journey()
        handover = {"from": self.user, "profile": encoded, "journey": journey}
        return [
            ("internal", Feedback("absorb", known, handover)),
            ("profile", None),
            *self._leave(),
            *left,
        ]

    def _absorb(self, payload: dict[str, Any]) -> list[Output]:
        source = payload["from"]
        other = Profile.from_bytes(base64.b64decode(payload["profile"]), self.cfg.profile)
        if self.erased_at is not None:
            return [("internal", Feedback("forget", source, {"erased_by": self.user}))]
        if self.alias_of is not None:
            return [("internal", Feedback("absorb", self.alias_of, payload))]
        profile = self._profile()
        profile.merge(other)
        if self.cfg.attribution is not None and payload.get("journey"):
            journey = Journey.from_state(payload["journey"])
            self.journey.merge(journey, self.cfg.attribution.max_touches)
        if source not in profile.merged_ids:
            profile.merged_ids.append(source)
        out = self._refresh([], f"absorb:{source}", profile.last_seen or 0, True)
        return out + (self._facts(profile.last_purchase) if other.purchases else [])

    def _forward(self, payload: dict[str, Any]) -> list[Output]:
        try:
            event = parse_event(payload["event"])
        except Rejected as err:
            raise ValueError(err.detail) from None
        return self._event(event)

    def _cluster(self, payload: dict[str, Any]) -> list[Output]:
        cluster = int(payload["cluster"])
        profile = self.profile
        if profile is None or profile.cluster == cluster:
            return []
        profile.cluster = cluster
        return self._refresh([], f"cluster:{cluster}", profile.last_seen or 0, True)

    def _decided(self, kind: str, payload: dict[str, Any]) -> list[Output]:
        if self.profile is None:  # erased or expired since: nothing to track
            return []
        return on_decided(self.ledger, kind, payload)

    def _predicted(self, payload: dict[str, Any]) -> list[Output]:
        profile = self.profile
        if profile is None:  # erased or expired since: nothing to store
            return []
        profile.predictions = {str(k): float(v) for k, v in payload.items()}
        cause = f"predicted:{int(payload['predicted_at'])}"
        return self._refresh([], cause, profile.last_seen or 0, True)

    def _forget(self, payload: dict[str, Any]) -> list[Output]:
        if self.erased_at is not None:
            return []
        self.profile, self.journey = None, Journey()
        self.alias_of = None
        self.erased_at = self.cfg.now_ms()
        audit = self._audit(
            f"erase:{payload['erased_by']}:{self.user}",
            self.erased_at,
            "erase",
            None,
            {"alias_of_erased": str(payload["erased_by"])},
        )
        return [("profile", None), ("privacy", audit), *self._leave()]

    # -- records -------------------------------------------------------------------------

    def _erased_letter(self, event: Event) -> DeadLetter:
        detail = f"user erased less than {self.cfg.erase_grace_ms // 1000} s ago"
        return self._letter(event, Reason.ERASED_USER, detail, "erased")

    def _letter(
        self, event: Event, reason: Reason, detail: str, prefix: str | None = None
    ) -> DeadLetter:
        # The pseudonymous, scrubbed event, not the raw bytes: those are gone after ingestion
        # (and this user may have asked to be erased).
        value = codec.encode("event", event.to_record(with_extra=False), "json")
        return DeadLetter(
            reason,
            detail,
            self.user.encode(),
            value,
            Origin(),
            f"{prefix or reason}:{event.event_id}",
        )

    def _segment_change(
        self, cause: str, ts: int, before: tuple[str, ...], after: tuple[str, ...]
    ) -> dict[str, Any]:
        return {
            "change_id": f"{self.user}:{cause}",
            "user_id": self.user,
            "ts": ts,
            "segments": list(after),
            "added": [s for s in after if s not in before],
            "removed": [s for s in before if s not in after],
        }

    def _consent_audit(self, event: Event) -> dict[str, Any]:
        if event.type is EventType.UNSUBSCRIBE:
            details = {str(event.channel): "withdrawn"}
        else:
            details = {p: "granted" if g else "withdrawn" for p, g in event.consent.items()}
        action = event.type.value
        return self._audit(f"{action}:{event.event_id}", event.ts, action, event.event_id, details)

    def _audit(
        self, audit_id: str, ts: int, action: str, source: str | None, details: dict[str, str]
    ) -> dict[str, Any]:
        return {
            "audit_id": audit_id,
            "user_id": self.user,
            "ts": ts,
            "action": action,
            "source_event_id": source,
            "details": details,
        }


def _interaction(user: str, event: Event, segments: tuple[str, ...]) -> list[Output]:
    """A product event naming its product, for the recommender."""
    weight = EVENT_WEIGHTS.get(event.type.value)
    if weight is None:  # most events: not about a product
        return []
    props = event.properties
    item = next((props[k] for k in PRODUCT_KEYS if isinstance(props.get(k), str | int)), None)
    if item is None or item == "":
        return []
    learn = {
        "user": user,
        "item": str(item),
        "weight": weight,
        "ts": event.ts,
        "segment": segments[0] if segments else None,
        "category": props.get("category") if isinstance(props.get("category"), str) else None,
        "price": amount(props.get("price")) or None,
    }
    return [("reco", ("learn", learn))]


def _unknown(letter: DeadLetter) -> bool:
    return letter.reason is Reason.UNKNOWN_DECISION


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
