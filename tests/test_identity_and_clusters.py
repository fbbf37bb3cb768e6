"""Identity stitching and online clustering: the profile step's internal messages, driven by
hand here (the integration test sends them through Kafka)."""

from __future__ import annotations

import random

from operators.feedback import Feedback
from operators.profile_step import ProfileLogic, ProfileStepConfig
from schemas.event import Event, EventType
from schemas.units import DAY_MS
from state.profile import Profile, ProfileConfig
from state.segments import RuleFile, SegmentRules
from tests.test_profile import assert_same_features, make_event

CONFIG = ProfileConfig(half_lives_ms=(DAY_MS, 7 * DAY_MS))


class Loop:
    """Per-key logics plus a queue of internal messages, like the flow but in memory."""

    def __init__(self, rules: RuleFile | None = None) -> None:
        self.cfg = ProfileStepConfig(
            CONFIG, rules or RuleFile(), ttl_ms=10**12, erase_grace_ms=10**9, clock=lambda: 1.8e9
        )
        self.logics: dict[str, ProfileLogic] = {}
        self.outputs: list[tuple[str, tuple]] = []

    def send(self, key: str, value: Event | Feedback) -> None:
        pending = [(key, value)]
        while pending:
            key, value = pending.pop(0)
            logic = self.logics.setdefault(key, ProfileLogic(self.cfg, None))
            out, discard = logic.on_item(value)
            if discard:  # like Bytewax: a discarded key starts afresh
                del self.logics[key]
            else:  # and a kept one goes through its snapshot, as after a restart
                self.logics[key] = ProfileLogic(self.cfg, logic.snapshot())
            for tag, payload in out:
                self.outputs.append((key, (tag, payload)))
                if tag == "internal":
                    pending.append((payload.target, payload))


def with_user(e: Event, user: str) -> Event:
    return Event(
        e.event_id,
        e.type,
        user,
        e.ts,
        e.channel,
        e.campaign_id,
        e.decision_id,
        e.properties,
        e.context,
        e.traits,
        e.consent,
    )


def test_identify_merges_the_anonymous_history_and_later_events() -> None:
    rng = random.Random(7)
    events = [make_event(rng, i) for i in range(60)]
    loop = Loop()
    for e in events[:30]:
        loop.send("anon", with_user(e, "anon"))
    for e in events[30:45]:
        loop.send("known", with_user(e, "known"))
    identify = Event(
        "id-1",
        EventType.IDENTIFY,
        "known",
        events[0].ts,
        traits={"anonymous_id": "anon", "plan": "gold"},
    )
    loop.send("known", identify)
    for e in events[45:]:
        loop.send("anon", with_user(e, "anon"))  # after linking: forwarded to "known"

    everything = Profile(CONFIG)
    for e in [*events, identify]:
        everything.apply(e)
    known = loop.logics["known"].profile
    assert_same_features(known.features(), everything.features())
    assert known.merged_ids == ["anon"]
    alias = loop.logics["anon"]
    assert alias.profile is None and alias.alias_of == "known"
    assert ("anon", ("profile", None)) in loop.outputs  # the anonymous document is deleted


def test_erasing_the_known_user_forgets_its_aliases() -> None:
    loop = Loop()
    loop.send("anon", Event("a1", EventType.PAGE_VIEW, "anon", 0))
    loop.send("known", Event("k1", EventType.IDENTIFY, "known", 1, traits={"anonymous_id": "anon"}))
    loop.send("known", Event("k2", EventType.ERASE, "known", 2))
    assert loop.logics["known"].erased_at is not None
    assert loop.logics["anon"].erased_at is not None and loop.logics["anon"].alias_of is None
    audits = [p for _, (tag, p) in loop.outputs if tag == "privacy"]
    assert {a["user_id"] for a in audits if a["action"] == "erase"} == {"known", "anon"}


def test_a_second_identify_does_not_steal_an_alias() -> None:
    loop = Loop()
    loop.send("anon", Event("a1", EventType.PAGE_VIEW, "anon", 0))
    loop.send("k1", Event("i1", EventType.IDENTIFY, "k1", 1, traits={"anonymous_id": "anon"}))
    loop.send("k2", Event("i2", EventType.IDENTIFY, "k2", 2, traits={"anonymous_id": "anon"}))
    assert loop.logics["anon"].alias_of == "k1"
    assert loop.logics["k1"].profile.features()["count.page_view"] == 1
    assert "count.page_view" not in loop.logics["k2"].profile.features()


def test_unclaimed_users_get_a_cluster_segment() -> None:
    nobody = RuleFile.__new__(RuleFile)
    nobody.path, nobody.rules = (
        "",
        SegmentRules.parse('[[segment]]\nname = "never"\nall = ["events < 0"]'),
    )
    loop = Loop(nobody)
    loop.send("u", Event("1", EventType.PRODUCT_VIEW, "u", 0, properties={"category": "x"}))
    vectors = [p for _, (tag, p) in loop.outputs if tag == "vector"]
    assert vectors and vectors[0].user == "u" and vectors[0].vector["views"] > 0
    assert vectors[0].current is None
    loop.send("u", Feedback("cluster", "u", {"cluster": 4}))
    changes = [p for _, (tag, p) in loop.outputs if tag == "segment"]
    assert changes[-1]["segments"] == ["cluster_4"] and changes[-1]["added"] == ["cluster_4"]
    assert loop.logics["u"].profile.to_document()["segment"] == "cluster_4"
    loop.send("u", Feedback("cluster", "u", {"cluster": 4}))  # same answer: nothing new
    assert [p for _, (tag, p) in loop.outputs if tag == "segment"] == changes
    loop.send("u", Event("2", EventType.PAGE_VIEW, "u", 1))
    vectors = [p for _, (tag, p) in loop.outputs if tag == "vector"]
    assert vectors[-1].current == 4  # so the model answers only if the cluster changes


def test_malformed_internal_messages_are_dead_lettered() -> None:
    loop = Loop()
    loop.send("u", Feedback("absorb", "u", {"from": "x", "profile": "not base64 of a profile"}))
    letters = [p for _, (tag, p) in loop.outputs if tag == "dead"]
    assert letters and letters[0].reason.value == "bad_internal_record"
    assert "u" not in loop.logics  # nothing was created
