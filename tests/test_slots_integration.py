"""The shared cap and budget slots, on the real Redis: what the flow and the API both honour."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from operators.slots import SlotBook, Verdict
from state.campaign_file import parse_campaigns

pytestmark = pytest.mark.integration

DAY = 86_400_000
CATALOG = parse_campaigns("""
[[campaign]]
id = "promo"
channels = ["email", "web"]
caps = [{ channel = "email", max = 1, window = "1d" }, { channel = "web", max = 2, window = "1d" }]
budget = { max_sends = 3 }
[[campaign.offer]]
id = "o"

[[campaign]]
id = "free"
channels = ["push"]
[[campaign.offer]]
id = "p"
""")


@pytest.fixture
def book() -> SlotBook:
    prefix = f"test-slots-{uuid.uuid4().hex[:8]}"
    yield SlotBook("redis://127.0.0.1:6379/0", lambda *p: ":".join((prefix, *p)), keep_ms=30 * DAY)
    client = redis.Redis()
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


def test_caps_per_channel_replays_and_release(book: SlotBook) -> None:
    take = lambda did, chans, ts=DAY: book.reserve("u", did, CATALOG, "promo", chans, ts)  # noqa: E731
    assert take("d1", ("email",)) is Verdict.GRANTED
    assert take("d2", ("email",)) is Verdict.CAPPED  # one email a day
    assert take("d1", ("email",)) is Verdict.GRANTED  # a replay takes nothing more
    assert take("d2", ("web",)) is Verdict.GRANTED  # the email cap says nothing about web
    assert take("d3", ("email",), ts=2 * DAY + 1) is Verdict.GRANTED  # a day later
    assert take("d4", ("web",)) is Verdict.BUDGET  # three sends in all: d1, d2, d3
    book.release("u", "d2", "promo")
    assert take("d4", ("web",)) is Verdict.GRANTED
    assert book.reserve("u", "x", CATALOG, "free", ("push",), DAY) is None  # nothing to share


def test_a_confirmed_contact_counts_on_its_channel_only(book: SlotBook) -> None:
    assert book.reserve("u", "d1", CATALOG, "promo", ("email", "web"), DAY) is Verdict.GRANTED
    assert book.reserve("u", "d2", CATALOG, "promo", ("email",), DAY) is Verdict.CAPPED
    book.confirm("u", "d1", "promo", "web")
    assert book.reserve("u", "d2", CATALOG, "promo", ("email",), DAY) is Verdict.GRANTED


def test_racing_deciders_never_pass_a_cap(book: SlotBook) -> None:
    def take(i: int) -> Verdict:
        return book.reserve("racer", f"d{i}", CATALOG, "promo", ("web",), DAY)

    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(take, range(40)))
    assert verdicts.count(Verdict.GRANTED) == 2  # the web cap, with the budget to spare


def test_redis_down_answers_unavailable_at_once() -> None:
    book = SlotBook("redis://127.0.0.1:1/0", lambda *p: ":".join(p), keep_ms=DAY)
    assert book.reserve("u", "d1", CATALOG, "promo", ("web",), DAY) is Verdict.UNAVAILABLE
    assert book._down_until > 0  # and not asked again for a while
