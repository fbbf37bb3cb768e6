"""Per-user counter: dedup window, out-of-order times, snapshot copies."""

from __future__ import annotations

import copy
import pickle

from schemas.event import Event, EventType
from state.event_counter import EventCounter, fingerprint


def ev(event_id: str, ts: int, kind: EventType = EventType.PAGE_VIEW) -> Event:
    return Event(event_id, kind, "p", ts)


def test_dedup_window_is_bounded() -> None:
    counter = EventCounter(dedup_window=2)
    for i in range(3):
        assert counter.update(ev(f"e{i}", i))
    assert not counter.update(ev("e2", 2))  # still in the window
    assert counter.update(ev("e0", 0))  # fell out of the window: counted again
    assert (counter.events, counter.duplicates) == (4, 1)


def test_deepcopy_is_independent_and_equal() -> None:
    counter = EventCounter()
    counter.update(ev("a", 5, EventType.PURCHASE))
    twin = copy.deepcopy(counter)
    counter.update(ev("b", 9))
    assert twin.to_document() == {
        "events": 1,
        "duplicates": 0,
        "first_ts": 5,
        "last_ts": 5,
        "by_type": {"purchase": 1},
    }
    assert not twin.update(ev("a", 5)) and twin.recent.maxlen == counter.recent.maxlen


def test_pickles_for_recovery() -> None:
    counter = EventCounter()
    counter.update(ev("a", 5))
    restored = pickle.loads(pickle.dumps(counter))
    assert restored.to_document() == counter.to_document() and not restored.update(ev("a", 5))


def test_fingerprint_is_stable_across_versions() -> None:
    # Snapshots hold fingerprints: changing the function would break dedup after an upgrade.
    assert fingerprint("evt-1") == 0xBE436E82DDA15C47
