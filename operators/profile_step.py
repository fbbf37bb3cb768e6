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
triggers, and end inactive journeys. Bytewax snapshots the key's state as
:class:`~state.key_state.KeyState` encodes it.

Outputs are ``(tag, payload)`` pairs: ``("profile", document-or-None)`` (``None`` deletes),
``("segment", segment_change)``, ``("privacy", privacy_audit)``, ``("dead", DeadLetter)``,
``("internal", Feedback)`` for the internal topic, ``("vector", ClusterUpdate)`` for
the clustering stage, ``("predict", ("facts" | "forget", ...))`` for the predictive models
(:mod:`operators.predict_step`, whose published models the profile applies itself:
:mod:`operators.user_predictions`),
``("reco", ("learn" | "forget", ...))`` for the recommender (:mod:`operators.reco_step`),
and the outputs of :mod:`operators.user_decisions` and :mod:`operators.user_attribution`.
"""

from __future__ import annotations

import base64
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bytewax.operators import StatefulLogic

from operators import user_records as records
from operators.dead_letter import DeadLetter, Origin
from operators.feedback import Feedback
from operators.user_attribution import AttributionConfig
from operators.user_decisions import Decisioning
from operators.user_predictions import Predictions
from schemas.event import Event, EventType, parse_event
from schemas.rejection import Reason, Rejected
from state.clusters import ClusterUpdate, cluster_vector
from state.contacts import ContactLedger
from state.journey import Journey
from state.key_state import KeyState
from state.profile import Profile, ProfileConfig
from state.segments import RuleFile

Output = tuple[str, Any]


@dataclass(frozen=True)
class ProfileStepConfig:
    """What every user's step shares: profile shape, rules, timers, clustering, decisioning,
    attribution and predictions (``None``: off), recommendations (product interactions sent
    to :mod:`operators.reco_step`), the clock."""

    profile: ProfileConfig
    rules: RuleFile
    ttl_ms: int
    erase_grace_ms: int
    clustering: bool = True
    decisioning: Decisioning | None = None
    attribution: AttributionConfig | None = None
    predictions: Predictions | None = None
    recommendations: bool = False
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


class ProfileLogic(StatefulLogic[Event | Feedback, Output, bytes]):
    """One key's profile, alias or tombstone, and its timers."""

    def __init__(self, cfg: ProfileStepConfig, resume: bytes | None) -> None:
        self.cfg = cfg
        key = KeyState("") if resume is None else KeyState.from_bytes(resume, cfg.profile)
        self.user, self.profile, self.ledger, self.journey = (
            key.user, key.profile, key.ledger, key.journey
        )  # fmt: skip
        self.erased_at, self.alias_of = key.erased_at, key.alias_of
        self.features: dict[str, Any] = {}

    # -- Bytewax callbacks ---------------------------------------------------------------

    def on_item(self, value: Event | Feedback) -> tuple[list[Output], bool]:
        if isinstance(value, Feedback):
            self.user = value.target
            out = self._feedback(value)
        else:
            self.user = value.user_id
            out = self._event(value)
            self.features = {}  # the event's view only: kept, it cost 1.5 kB per user
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
            predictions = self.cfg.predictions
            if predictions is not None:
                due = min(due, predictions.next_timer(self.profile, self.cfg.now_ms()) or due)
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
            if self.cfg.predictions is not None and self.cfg.predictions.refresh(profile):
                cause = f"predicted:{profile.predictions['predicted_at']}"
                out = self._refresh(out, cause, profile.last_seen or 0, True)
            return out, self.RETAIN
        ended = attribution.on_expire(self.journey) if attribution else []
        ended += self._leave()
        left = self._left_segments(f"expire:{profile.touched_ms}", now)
        audit = records.audit(
            self.user,
            f"expire:{profile.touched_ms}",
            now,
            "expire",
            None,
            {"inactive_since": str(profile.touched_ms)},
        )
        return [*ended, ("profile", None), ("privacy", audit), *left], self.DISCARD

    def snapshot(self) -> bytes:
        key = KeyState(self.user, self.profile, self.ledger, self.journey, self.erased_at,
                       self.alias_of)  # fmt: skip
        return key.to_bytes()

    # -- events --------------------------------------------------------------------------

    def _event(self, event: Event) -> list[Output]:
        if self.erased_at is not None:
            return [("dead", records.erased_letter(self.user, event, self.cfg.erase_grace_ms))]
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
            out.append(("dead", records.letter(self.user, event, Reason.DUPLICATE_EVENT, detail,
                                             f"duplicate_event:{profile.duplicates}")))  # fmt: skip
        if applied:
            if event.type in (EventType.CONSENT, EventType.UNSUBSCRIBE):
                out.append(("privacy", records.consent_audit(self.user, event)))
            anonymous = event.traits.get("anonymous_id")
            if (
                event.type is EventType.IDENTIFY
                and isinstance(anonymous, str)
                and anonymous != self.user
                and anonymous not in profile.merged_ids
            ):
                out.append(("internal", Feedback("link", anonymous, {"to": self.user})))
        purchased = applied and event.type is EventType.PURCHASE
        if self.cfg.predictions is not None:
            self.cfg.predictions.refresh(profile, purchased=purchased)
        out = self._refresh(out, event.event_id, event.ts, applied)
        refused = False
        if applied and self.cfg.decisioning is not None:
            decided = self.cfg.decisioning.on_event(
                self.user,
                profile,
                self.ledger,
                event,
                self.features,
                partial(records.letter, self.user),
            )
            # feedback naming a decision this user never had is no touchpoint
            refused = any(tag == "dead" and _unknown(letter) for tag, letter in decided)
            out += decided
        attribution = self.cfg.attribution
        if applied and attribution and (attribution.converts(event) or not refused):
            out += attribution.on_event(self.user, self.journey, event, profile.touched_ms)
        if purchased:
            out += self._facts(event.ts)
        if applied and self.cfg.recommendations:
            out += records.interaction(self.user, event, profile.segments)
        return out

    def _facts(self, ts: int) -> list[Output]:  # after a purchase or a merge
        if self.cfg.predictions is None or self.profile is None:
            return []
        return self.cfg.predictions.facts(self.user, self.profile, ts)

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
        return [
            ("segment", records.segment_change(self.user, cause, ts, self.profile.segments, ()))
        ]

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
                out.append(("vector", ClusterUpdate(self.user, vector, profile.cluster)))
                if profile.cluster is not None:
                    segments = (f"cluster_{profile.cluster}",)
            if segments != profile.segments:
                out.append(
                    (
                        "segment",
                        records.segment_change(self.user, cause, ts, profile.segments, segments),
                    )
                )
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
        audit = records.audit(
            self.user, f"erase:{event.event_id}", event.ts, "erase", event.event_id, details
        )
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
            **{kind: partial(self._decided, kind) for kind in ("decided", "released", "recorded")},
            "models": self._models,
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
        if self.profile is None or self.cfg.decisioning is None:  # erased, expired, or off
            return []
        return self.cfg.decisioning.on_decided(self.user, self.ledger, kind, payload)

    def _models(self, payload: dict[str, Any]) -> list[Output]:
        if self.cfg.predictions is not None:  # else predictions were turned off since
            self.cfg.predictions.on_models(payload)
        return []

    def _forget(self, payload: dict[str, Any]) -> list[Output]:
        if self.erased_at is not None:
            return []
        self.profile, self.journey, self.alias_of = None, Journey(), None
        self.erased_at = self.cfg.now_ms()
        audit = records.audit(
            self.user,
            f"erase:{payload['erased_by']}:{self.user}",
            self.erased_at,
            "erase",
            None,
            {"alias_of_erased": str(payload["erased_by"])},
        )
        return [("profile", None), ("privacy", audit), *self._leave()]


def _unknown(letter: DeadLetter) -> bool:
    return letter.reason is Reason.UNKNOWN_DECISION


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
