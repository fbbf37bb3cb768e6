"""The keyed profile step: folds each user's events into their :class:`~state.profile.Profile`
and says what changed, for Redis, the segments topic, the privacy topic and dead letters.

Per user it also runs two wall-clock timers (they must fire when the user sends nothing):
inactive profiles expire ``ttl`` after their last update, and an erased user leaves a
tombstone for ``erase_grace`` during which late events for that id are dead-lettered instead
of rebuilding a profile. Bytewax snapshots the state as :meth:`Profile.to_bytes` (immutable,
compact and versioned), so recovery restores exactly what was there.

Outputs are ``(tag, payload)`` pairs: ``("profile", document-or-None)`` (``None`` deletes),
``("segment", segment_change record)``, ``("privacy", privacy_audit record)`` and
``("dead", DeadLetter)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from bytewax.operators import StatefulLogic

from operators.dead_letter import DeadLetter, Origin
from schemas import codec
from schemas.event import Event, EventType
from schemas.rejection import Reason
from state.profile import Profile, ProfileConfig
from state.segments import RuleFile

Output = tuple[str, Any]


@dataclass(frozen=True)
class ProfileStepConfig:
    """What every user's step shares: profile shape, rules, timers and the wall clock."""

    profile: ProfileConfig
    rules: RuleFile
    ttl_ms: int
    erase_grace_ms: int
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


class ProfileLogic(StatefulLogic[Event, Output, bytes]):
    """One user's profile (or erasure tombstone) and its timers."""

    def __init__(self, cfg: ProfileStepConfig, resume: bytes | None) -> None:
        self.cfg = cfg
        self.user = ""
        self.profile: Profile | None = None
        self.erased_at: int | None = None
        if resume is not None:
            if resume[:1] == b"{":
                tombstone = orjson.loads(resume)
                self.erased_at, self.user = tombstone["erased_at"], tombstone["user"]
            else:
                self.profile = Profile.from_bytes(resume, cfg.profile)
                self.user = self.profile.user_id

    def on_item(self, event: Event) -> tuple[list[Output], bool]:
        now = self.cfg.now_ms()
        self.user = event.user_id
        if self.erased_at is not None:
            return [("dead", self._erased_letter(event))], self.RETAIN
        if event.type is EventType.ERASE:
            return self._erase(event, now), self.RETAIN
        out: list[Output] = []
        profile = self.profile
        if profile is None:
            profile = self.profile = Profile(self.cfg.profile, event.user_id)
        applied = profile.apply(event)
        profile.touched_ms = now
        features = profile.features()
        if applied:
            segments = self.cfg.rules.current().evaluate(features)
            if segments != profile.segments:
                out.append(("segment", self._segment_change(event, profile.segments, segments)))
                profile.segments = segments
            if event.type in (EventType.CONSENT, EventType.UNSUBSCRIBE):
                out.append(("privacy", self._consent_audit(event)))
        out.append(("profile", profile.to_document(features)))
        return out, self.RETAIN

    def notify_at(self) -> datetime | None:
        if self.erased_at is not None:
            return _utc(self.erased_at + self.cfg.erase_grace_ms)
        if self.profile is not None:
            return _utc(self.profile.touched_ms + self.cfg.ttl_ms)
        return None

    def on_notify(self) -> tuple[list[Output], bool]:
        now = self.cfg.now_ms()
        if self.erased_at is not None:
            if now >= self.erased_at + self.cfg.erase_grace_ms:
                return [], self.DISCARD
            return [], self.RETAIN
        profile = self.profile
        if profile is None or now < profile.touched_ms + self.cfg.ttl_ms:
            return [], self.RETAIN
        audit = self._audit(
            f"expire:{profile.touched_ms}",
            now,
            "expire",
            None,
            {"inactive_since": str(profile.touched_ms)},
        )
        return [("profile", None), ("privacy", audit)], self.DISCARD

    def snapshot(self) -> bytes:
        if self.erased_at is not None:
            return orjson.dumps({"erased_at": self.erased_at, "user": self.user})
        assert self.profile is not None
        return self.profile.to_bytes()

    def _erase(self, event: Event, now: int) -> list[Output]:
        merged = self.profile.merged_ids if self.profile is not None else []
        self.profile = None
        self.erased_at = now
        details = {
            "state": "deleted",
            "redis": "delete queued with this record",
            "merged_ids": ",".join(merged),
        }
        audit = self._audit(f"erase:{event.event_id}", event.ts, "erase", event.event_id, details)
        return [("profile", None), ("privacy", audit)]

    def _erased_letter(self, event: Event) -> DeadLetter:
        # The pseudonymous, scrubbed event, not the raw bytes: this user asked to be erased.
        value = codec.encode("event", event.to_record(with_extra=False), "json")
        return DeadLetter(
            Reason.ERASED_USER,
            f"user erased less than {self.cfg.erase_grace_ms // 1000} s ago",
            self.user.encode(),
            value,
            Origin(),
            f"erased:{event.event_id}",
        )

    def _segment_change(
        self, event: Event, before: tuple[str, ...], after: tuple[str, ...]
    ) -> dict[str, Any]:
        return {
            "change_id": f"{self.user}:{event.event_id}",
            "user_id": self.user,
            "ts": event.ts,
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


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
