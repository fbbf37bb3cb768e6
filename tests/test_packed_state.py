"""Keys resting as their snapshot (operators/packed_state.py): a key woken by an item or a
timer carries on from exactly where it was, Bytewax's timer questions are answered without
waking it, and the profile step behaves the same packed at every epoch as never packed."""

from __future__ import annotations

from operators.packed_state import PackedLogic
from operators.pickled_state import PickledMapLogic
from operators.profile_step import ProfileLogic
from schemas.event import EventType
from tests.test_profile_step import DAY_MS, Clock, ev, step


def _counter(total, item):
    total = (total or 0) + item
    return (None if total < 0 else total), total


def _builds():
    built = []

    def build(resume):
        built.append(resume)
        return PickledMapLogic(_counter, resume)

    return built, build


def test_a_resting_key_wakes_once_with_its_state() -> None:
    built, build = _builds()
    key = PackedLogic(build, None)
    assert key.on_batch([2, 3]) == ([2, 5], False)
    rest = key.snapshot()
    assert key.live is None and key.snapshot() is rest  # untouched: the same bytes
    assert key.on_batch([1]) == ([6], False)
    assert key.on_batch([1]) == ([7], False)
    assert built == [None, rest]  # decoded once for the two batches


def test_a_key_discarded_inside_a_batch_starts_afresh() -> None:
    _built, build = _builds()
    key = PackedLogic(build, None)
    key.on_batch([4])
    key.snapshot()
    out, discard = key.on_batch([-10, 3])  # -6 discards the key, then 3 is a new one
    assert (out, discard) == ([-6, 3], False)
    assert key.on_batch([-4]) == ([-1], True)


def test_timers_of_a_resting_key() -> None:
    clock = Clock()
    built = []

    def build(resume):
        built.append(resume)
        return ProfileLogic(step(clock), resume)

    key = PackedLogic(build, None)
    key.on_batch([ev("1", EventType.PAGE_VIEW)])
    due = key.notify_at()
    key.snapshot()
    assert key.notify_at() == due and len(built) == 1  # answered without waking it
    assert key.on_eof() == ([], key.RETAIN) and len(built) == 1
    clock.now += 31 * DAY_MS / 1000
    out, discard = key.on_notify()  # the TTL fires on the woken profile, not an empty one
    assert discard and ("profile", None) in out
    assert [p["action"] for tag, p in out if tag == "privacy"] == ["expire"]


def test_the_profile_step_packed_at_every_epoch_matches_it_never_packed() -> None:
    clock = Clock()
    plain = ProfileLogic(step(clock), None)
    packed = PackedLogic(lambda resume: ProfileLogic(step(clock), resume), None)
    events = [
        ev("1", EventType.PAGE_VIEW, properties={"category": "shoes"}),
        ev("2", EventType.ADD_TO_CART, ts=1_800_000_060_000, properties={"category": "shoes"}),
        ev("2", EventType.ADD_TO_CART, ts=1_800_000_060_000),  # a redelivery
        ev("3", EventType.PURCHASE, ts=1_800_000_120_000, properties={"value": 30.0}),
        ev("4", EventType.CONSENT, ts=1_800_000_180_000, consent={"marketing": True}),
    ]
    for event in events:
        clock.now += 60
        expected, _ = plain.on_item(event)
        got, _ = packed.on_batch([event])
        assert got == expected
        assert packed.notify_at() == plain.notify_at()
        assert packed.snapshot() == plain.snapshot()
    clock.now += 31 * DAY_MS / 1000
    assert packed.on_notify() == plain.on_notify()
