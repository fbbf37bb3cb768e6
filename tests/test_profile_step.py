"""The profile step's behaviour: segment changes only on change, consent audits, erasure with
a grace window, TTL expiry, and snapshots, driven by a fake wall clock."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import orjson

from operators.feedback import Feedback, decode_feedback
from operators.profile_step import ProfileLogic, ProfileStepConfig
from operators.user_attribution import AttributionConfig
from schemas import codec
from schemas.event import Event, EventType
from schemas.rejection import Reason
from schemas.units import DAY_MS
from state.profile import ProfileConfig
from state.segments import RuleFile

HOUR_S = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def step(clock: Clock, rules: RuleFile | None = None) -> ProfileStepConfig:
    return ProfileStepConfig(
        ProfileConfig(half_lives_ms=(DAY_MS,)),
        rules or RuleFile(),
        ttl_ms=30 * DAY_MS,
        erase_grace_ms=DAY_MS,
        clock=clock,
    )


def ev(eid: str, kind: EventType, ts: int = 1_800_000_000_000, **kw: object) -> Event:
    return Event(eid, kind, "pid", ts, **kw)  # type: ignore[arg-type]


def tags(out: list) -> list[str]:
    return [tag for tag, _ in out]


def test_segment_changes_are_emitted_only_on_change() -> None:
    logic = ProfileLogic(step(Clock()), None)
    out, _ = logic.on_item(ev("1", EventType.PAGE_VIEW))
    change = dict(out)["segment"]
    assert change["added"] == ["new"] and change["segments"] == ["new"]
    out, _ = logic.on_item(ev("2", EventType.PAGE_VIEW))
    assert tags(out) == ["profile"]
    out, _ = logic.on_item(ev("3", EventType.ADD_TO_CART))
    change = dict(out)["segment"]
    assert (change["added"], change["removed"]) == (["cart_abandoner"], [])
    assert change["segments"] == ["cart_abandoner", "new"]
    assert (
        codec.decode("segment_change", codec.encode("segment_change", change, "avro"), "avro")
        == change
    )


def test_redeliveries_are_dead_lettered_and_counted_but_change_nothing_else() -> None:
    logic = ProfileLogic(step(Clock()), None)
    logic.on_item(ev("1", EventType.CONSENT, consent={"email": True}))
    out, _ = logic.on_item(ev("1", EventType.CONSENT, consent={"email": True}))
    assert tags(out) == ["dead", "profile"] and dict(out)["profile"]["duplicates"] == 1
    letter = dict(out)["dead"]
    assert letter.reason == "duplicate_event" and letter.dead_letter_id == "duplicate_event:1:1"
    out, _ = logic.on_item(ev("1", EventType.CONSENT, consent={"email": True}))
    assert dict(out)["dead"].dead_letter_id == "duplicate_event:2:1"  # each one its own id


def test_consent_and_unsubscribe_are_audited() -> None:
    logic = ProfileLogic(step(Clock()), None)
    out, _ = logic.on_item(ev("c", EventType.CONSENT, consent={"email": True, "sms": False}))
    audit = dict(out)["privacy"]
    assert audit["action"] == "consent" and audit["details"] == {
        "email": "granted",
        "sms": "withdrawn",
    }
    out, _ = logic.on_item(ev("u", EventType.UNSUBSCRIBE, channel="email"))
    audit = dict(out)["privacy"]
    assert (audit["action"], audit["details"], audit["source_event_id"]) == (
        "unsubscribe",
        {"email": "withdrawn"},
        "u",
    )
    assert dict(out)["profile"]["consent"]["email"]["granted"] is False


def test_erase_deletes_everything_and_dead_letters_late_events() -> None:
    clock = Clock()
    logic = ProfileLogic(step(clock), None)
    logic.on_item(ev("1", EventType.PURCHASE, properties={"value": 5.0, "category": "x"}))
    out, keep = logic.on_item(ev("2", EventType.ERASE))
    assert keep is logic.RETAIN and out[0] == ("profile", None)
    audit = out[1][1]
    assert (audit["action"], audit["user_id"], audit["audit_id"]) == ("erase", "pid", "erase:2")
    snapshot = logic.snapshot()
    assert orjson.loads(snapshot) == {"erased_at": int(clock.now * 1000), "user": "pid"}

    clock.now += HOUR_S
    resumed = ProfileLogic(step(clock), snapshot)  # also across a restart
    out, _ = resumed.on_item(ev("3", EventType.PAGE_VIEW))
    letter = out[0][1]
    assert out[0][0] == "dead" and letter.reason is Reason.ERASED_USER
    assert letter.to_record()["dead_letter_id"] == "erased:3"
    assert b"5.0" not in letter.value  # the late event, not the erased history

    assert resumed.notify_at().timestamp() == clock.now - HOUR_S + DAY_MS / 1000
    assert resumed.on_notify() == ([], resumed.RETAIN)
    clock.now += DAY_MS / 1000
    assert resumed.on_notify() == ([], resumed.DISCARD)


def test_inactive_profiles_expire_after_ttl() -> None:
    clock = Clock()
    logic = ProfileLogic(step(clock), None)
    logic.on_item(ev("1", EventType.PAGE_VIEW))
    assert logic.notify_at().timestamp() == clock.now + 30 * DAY_MS / 1000
    clock.now += 29 * DAY_MS / 1000
    assert logic.on_notify() == ([], logic.RETAIN)
    logic.on_item(ev("2", EventType.PAGE_VIEW))  # activity pushes expiry back
    clock.now += 29 * DAY_MS / 1000
    assert logic.on_notify() == ([], logic.RETAIN)
    clock.now += 2 * DAY_MS / 1000
    member_of = list(logic.profile.segments)
    out, keep = logic.on_notify()
    assert keep is logic.DISCARD and out[0] == ("profile", None)
    assert out[1][1]["action"] == "expire"
    (left,) = [payload for tag, payload in out if tag == "segment"]  # it leaves every segment
    assert member_of and left["segments"] == [] and left["removed"] == member_of


def test_snapshot_resumes_the_same_profile() -> None:
    logic = ProfileLogic(step(Clock()), None)
    logic.on_item(ev("1", EventType.PURCHASE, properties={"value": 12.0}))
    resumed = ProfileLogic(step(Clock()), logic.snapshot())
    assert resumed.profile.to_document() == logic.profile.to_document()
    assert resumed.user == "pid"


def test_rule_file_reloads_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[segment]]\nname = "any"\nall = ["events >= 1"]\n')
    clock = Clock()
    rules = RuleFile(str(path), check_every_s=1.0, clock=clock)
    logic = ProfileLogic(step(Clock(), rules), None)
    out, _ = logic.on_item(ev("1", EventType.PAGE_VIEW))
    assert dict(out)["segment"]["segments"] == ["any"]

    path.write_text('[[segment]]\nname = "two"\nall = ["events >= 2"]\n')
    os.utime(path, ns=(1, 2))  # a different mtime, whatever the file system's resolution
    clock.now += 2
    out, _ = logic.on_item(ev("2", EventType.PAGE_VIEW))
    assert dict(out)["segment"] == {**dict(out)["segment"], "added": ["two"], "removed": ["any"]}

    path.write_text("[[segment]]\nname = broken")
    os.utime(path, ns=(3, 4))
    clock.now += 2
    assert [s.name for s in rules.current().segments] == ["two"]  # typo: previous rules kept


def test_journeys_live_in_the_profile_step() -> None:
    """Touches survive snapshots, move with an identity link, end on inactivity, and vanish
    on erase."""
    clock = Clock()
    cfg = dataclasses.replace(
        step(clock), attribution=AttributionConfig(inactivity_ms=DAY_MS, lookback_ms=DAY_MS)
    )
    ts = int(clock.now * 1000)
    visit = ev("v", EventType.PAGE_VIEW, ts, properties={"utm_source": "google"})
    logic = ProfileLogic(cfg, None)
    logic.on_item(visit)
    logic = ProfileLogic(cfg, logic.snapshot())  # recovery keeps the journey
    assert [t.channel for t in logic.journey.touches] == ["google"]
    assert logic.notify_at().timestamp() == clock.now + DAY_MS / 1000
    clock.now += DAY_MS / 1000
    out, _ = logic.on_notify()
    assert tags(out) == ["path"] and dict(out)["path"]["conversion"] is None

    logic.on_item(dataclasses.replace(visit, event_id="v2"))
    out, _ = logic.on_item(Feedback("link", "pid", {"to": "known"}))
    absorb = dict(out)["internal"]
    assert absorb.payload["journey"][0][0][1] == "google" and not logic.journey
    known = ProfileLogic(cfg, None)
    known.on_item(decode_feedback(absorb.encode()))  # through the internal topic's encoding
    assert [t.channel for t in known.journey.touches] == ["google"]
    buy = Event("p", EventType.PURCHASE, "known", ts + 10, properties={"value": 5})
    out, _ = known.on_item(buy)
    assert sum(tag == "attribution" for tag in tags(out)) == 6 and "path" in tags(out)

    known.on_item(dataclasses.replace(visit, event_id="v3", user_id="known"))
    known.on_item(Event("x", EventType.ERASE, "known", ts + 20))
    assert not known.journey and known.snapshot()[:1] == b"{"


def test_a_redelivery_beyond_the_dedup_window_counts_again() -> None:
    # The documented limit: only the last DEDUP_WINDOW event ids of a user are remembered, so
    # a copy arriving after that many newer events is taken for a new event.
    logic = ProfileLogic(step(Clock()), None)
    window = logic.cfg.profile.dedup_window
    logic.on_item(ev("first", EventType.PAGE_VIEW))
    for n in range(window - 1):
        logic.on_item(ev(f"e{n}", EventType.PAGE_VIEW))
    out, _ = logic.on_item(ev("first", EventType.PAGE_VIEW))
    assert tags(out)[0] == "dead"  # still inside the window: a duplicate
    logic.on_item(ev("one-more", EventType.PAGE_VIEW))
    out, _ = logic.on_item(ev("first", EventType.PAGE_VIEW))
    assert "dead" not in tags(out) and dict(out)["profile"]["features"]["events"] == window + 2
