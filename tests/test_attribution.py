"""Attribution models, exact credit sums, the Markov chain, journeys and batch mode."""

from __future__ import annotations

import io
import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.attribution_models import (
    DIRECT,
    HEURISTIC_MODELS,
    MARKOV_PATH,
    MODELS,
    RECORD_MODELS,
    HeuristicParams,
    weights,
)
from models.credit_split import split, to_cents
from models.markov_chain import MarkovAttribution
from offerflow.lab.attribution_batch import PathFileError, attribute_paths, read_paths
from operators.attribution_totals import AttributionTotals
from operators.markov_step import MarkovStep, run_paths
from operators.user_attribution import AttributionConfig, Conversion, touch_of
from schemas.event import Event, EventType
from state.journey import Journey, Touch

DAY = 86_400_000
PARAMS = HeuristicParams(half_life_ms=DAY)
PATH = ["email", "direct", "push", "web", "direct"]
TIMES = [0, DAY, 2 * DAY, 3 * DAY, 4 * DAY]


def normalized(model: str, path=PATH, times=TIMES, at=4 * DAY, params=PARAMS) -> list[float]:
    raw = weights(model, path, times, at, params)
    return [w / sum(raw) for w in raw]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("first_touch", [1, 0, 0, 0, 0]),
        ("last_touch", [0, 0, 0, 0, 1]),
        ("last_non_direct", [0, 0, 0, 1, 0]),
        ("linear", [0.2] * 5),
        # 2^-4, 2^-3, 2^-2, 2^-1, 1 over their sum 31/16
        ("time_decay", [1 / 31, 2 / 31, 4 / 31, 8 / 31, 16 / 31]),
        ("position_based", [0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4]),
    ],
)
def test_rule_based_models_on_a_hand_computed_path(model: str, expected: list[float]) -> None:
    assert normalized(model) == pytest.approx(expected, abs=1e-12)


def test_position_based_short_paths_and_custom_shares() -> None:
    assert normalized("position_based", ["a"], [0], 0) == [1.0]
    assert normalized("position_based", ["a", "b"], [0, 1], 1) == [0.5, 0.5]
    custom = HeuristicParams(half_life_ms=DAY, first_share=0.3, last_share=0.5)
    assert normalized("position_based", ["a", "b", "c"], [0, 1, 2], 2, custom) == pytest.approx(
        [0.3, 0.2, 0.5]
    )


def test_last_non_direct_falls_back_to_the_last_touch_on_all_direct_paths() -> None:
    assert normalized("last_non_direct", ["direct", "direct"], [0, 1], 1) == [0.0, 1.0]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="half_life"):
        HeuristicParams(half_life_ms=0)
    with pytest.raises(ValueError, match="shares"):
        HeuristicParams(first_share=0.7, last_share=0.5)
    with pytest.raises(ValueError, match="unknown"):
        weights("shapley", ["a"], [0], 0, PARAMS)


channels = st.sampled_from(["email", "sms", "push", "web", "google", DIRECT])


@settings(max_examples=300, deadline=None)
@given(
    path=st.lists(channels, min_size=0, max_size=12),
    value=st.floats(min_value=0, max_value=1e7, allow_nan=False),
    gaps=st.lists(st.integers(min_value=0, max_value=40 * DAY), min_size=12, max_size=12),
)
def test_credits_of_every_model_sum_exactly_to_one_and_to_the_value(
    path: list[str], value: float, gaps: list[int]
) -> None:
    times = [sum(gaps[: i + 1]) for i in range(len(path))]
    touches = [
        Touch(t, c, "camp", f"d{i}") for i, (t, c) in enumerate(zip(times, path, strict=True))
    ]
    at = (times[-1] if times else 0) + gaps[-1]
    conversion = Conversion("e1", "u", at, to_cents(value), "EUR")
    chain = MarkovAttribution()
    chain.learn(path, conversions=1)
    chain.learn(path[:1], nulls=1)
    for model in RECORD_MODELS:
        raw = (
            chain.weights(path) if model == MARKOV_PATH else weights(model, path, times, at, PARAMS)
        )
        record = conversion.record(model, touches, raw)
        fractions = [c["fraction"] for c in record["credits"]]
        assert sum(fractions) == 1.0 and sum(reversed(fractions)) == 1.0
        assert sum(to_cents(c["value"]) for c in record["credits"]) == to_cents(value)
        assert record["conversion_value"] == to_cents(value) / 100
        assert all(f >= 0 for f in fractions)
        assert len(record["credits"]) == max(len(path), 1)


def test_a_conversion_without_touchpoints_is_credited_to_direct() -> None:
    record = Conversion("e1", "u", 5, 1999, None).record("linear", [], [])
    assert record["credits"] == [
        {"channel": DIRECT, "campaign_id": None, "decision_id": None, "ts": None,
         "fraction": 1.0, "value": 19.99}
    ]  # fmt: skip


def test_every_rule_based_model_credits_a_touchless_conversion_to_direct() -> None:
    conversion = Conversion("e1", "u", 5, 1999, "EUR")
    out = AttributionConfig().credit(conversion, [])
    records = [r for tag, r in out if tag == "attribution"]
    assert [r["model"] for r in records] == list(HEURISTIC_MODELS)
    assert records == [conversion.record(m, [], []) for m in HEURISTIC_MODELS]
    assert len({r["attribution_id"] for r in records}) == len(HEURISTIC_MODELS)


@given(
    st.lists(st.floats(min_value=0, max_value=1e9), min_size=1, max_size=30), st.integers(0, 10**15)
)
def test_split_is_exact_and_proportional(ws: list[float], total: int) -> None:
    parts = split(ws, total)
    assert sum(parts) == total and min(parts) >= 0
    mass = math.fsum(ws)
    if mass > 0:
        for w, p in zip(ws, parts, strict=True):
            assert abs(p - total * w / mass) <= 1 + total * 1e-12


def test_markov_removal_effects_by_hand() -> None:
    # Paths: A>B converts twice, A>C is null once, C converts once, B is null once.
    # start: A 3/5, C 1/5, B 1/5. A: B 2/3, C 1/3. B: conv 2/3, null 1/3. C: conv 1/2, null 1/2.
    chain = MarkovAttribution()
    chain.learn(["A", "B"], conversions=2)
    chain.learn(["A", "C"], nulls=1)
    chain.learn(["C"], conversions=1)
    chain.learn(["B"], nulls=1)
    b, c = 2 / 3, 1 / 2
    a = 2 / 3 * b + 1 / 3 * c
    p = 3 / 5 * a + 1 / 5 * c + 1 / 5 * b
    without = {
        "A": 1 / 5 * c + 1 / 5 * b,
        "B": 3 / 5 * (1 / 3 * c) + 1 / 5 * c,
        "C": 3 / 5 * (2 / 3 * b) + 1 / 5 * b,
    }
    assert chain.conversion_probability() == pytest.approx(p)
    assert chain.removal_effects() == pytest.approx({k: 1 - v / p for k, v in without.items()})


def test_second_order_chain_remembers_the_previous_channel() -> None:
    # After A, B always converts; after C, B never does: only order 2 can tell.
    first, second = MarkovAttribution(order=1), MarkovAttribution(order=2)
    for chain in (first, second):
        chain.learn(["A", "B"], conversions=1)
        chain.learn(["C", "B"], nulls=1)
    # First order: B converts half the time whatever came before, so A and C look alike.
    assert first.removal_effects() == pytest.approx({"A": 0.5, "B": 1.0, "C": 0.5})
    # Second order, without C: start -> A (1/2) -> AB -> conversion: P unchanged.
    assert second.removal_effects() == pytest.approx({"A": 1.0, "B": 1.0, "C": 0.0})
    assert ("A", "B") in second.transitions and ("B",) not in second.transitions
    assert second.transitions[("C", "B")] == {("(null)",): 1.0}


def test_markov_refresh_reuses_effects_until_enough_new_paths() -> None:
    chain = MarkovAttribution(refresh=3)
    chain.learn(["A"], conversions=1)
    assert chain.removal_effects() == {"A": 1.0}
    chain.learn(["B"], conversions=1)
    assert chain.removal_effects() == {"A": 1.0}  # stale by design
    chain.learn(["B"], conversions=1)
    chain.learn(["B"], conversions=1)
    assert set(chain.removal_effects()) == {"A", "B"}


def test_markov_step_learns_null_paths_and_credits_conversions() -> None:
    step = MarkovStep()
    conv = Conversion("e1", "u", 10, 1000, "EUR").to_dict()
    chain, out = step(None, {"conversion": None, "touches": [Touch(1, "sms"), Touch(2, "web")]})
    assert [tag for tag, _ in out] == ["chain"] and chain.nulls == 1
    chain, out = step(chain, {"conversion": conv, "touches": [Touch(3, "web"), Touch(4, "web")]})
    record = out[0][1]
    assert record["model"] == "markov_path" and record["attribution_id"] == "e1:markov_path"
    assert [c["fraction"] for c in record["credits"]] == [0.5, 0.5]
    chain, out = step(chain, {"conversion": conv, "touches": []})  # direct: learns nothing
    assert out[0][1]["credits"][0]["channel"] == DIRECT and chain.conversions == 1


def test_touchpoints_come_from_offers_opens_and_sourced_visits() -> None:
    def event(kind: EventType, **fields) -> Event:
        return Event("e", kind, "u", 7, **fields)

    click = event(EventType.OFFER_CLICK, channel="push", campaign_id="c", decision_id="d")
    assert touch_of(click) == Touch(7, "push", "c", "d")
    assert touch_of(event(EventType.MESSAGE_OPEN, channel="email")) == Touch(7, "email")
    assert touch_of(event(EventType.PAGE_VIEW, properties={"utm_source": " Google "})) == Touch(
        7, "google"
    )
    assert touch_of(event(EventType.PAGE_VIEW, properties={"channel": "(direct)"})) == Touch(
        7, DIRECT
    )
    assert touch_of(event(EventType.PAGE_VIEW)) is None
    assert touch_of(event(EventType.MESSAGE_DELIVERED, channel="email")) is None
    assert touch_of(event(EventType.PRODUCT_VIEW, properties={"utm_source": "x"})) is None


def test_journey_lookback_bound_and_out_of_order_touches() -> None:
    cfg = AttributionConfig(lookback_ms=10 * DAY, max_touches=3, inactivity_ms=DAY)
    journey = Journey()

    def visit(ts: int, source: str) -> list:
        return cfg.on_event("u", journey, Event(f"v{ts}", EventType.PAGE_VIEW, "u", ts,
                            properties={"utm_source": source}), wall_ms=ts)  # fmt: skip

    for i, source in enumerate(["a", "b", "c", "d"]):
        assert visit(i * DAY, source) == []
    assert [t.channel for t in journey.touches] == ["b", "c", "d"] and journey.dropped == 1
    visit(20 * DAY, "z")  # after a gap longer than the lookback: the old path ended unconverted
    assert [t.channel for t in journey.touches] == ["z"]
    late = Event("late", EventType.PAGE_VIEW, "u", 30 * DAY, properties={"utm_source": "late"})
    cfg.on_event("u", journey, late, wall_ms=20 * DAY)
    buy = Event("p", EventType.PURCHASE, "u", 25 * DAY, properties={"value": 3})
    out = cfg.on_event("u", journey, buy, wall_ms=21 * DAY)
    linear = next(r for tag, r in out if tag == "attribution" and r["model"] == "linear")
    assert [c["channel"] for c in linear["credits"]] == ["z"]
    assert [t.channel for t in journey.touches] == ["late"]  # kept for the next path
    assert cfg.next_timer(journey) == 21 * DAY
    assert cfg.on_timer(journey, 21 * DAY - 1) == []
    ended = cfg.on_timer(journey, 21 * DAY)
    assert ended[0][0] == "path" and ended[0][1]["conversion"] is None and not journey


def test_journey_survives_its_snapshot_state() -> None:
    journey = Journey()
    journey.add(Touch(5, "email", "c", "d"), 4, 9)
    copy = Journey.from_state(pickle.loads(pickle.dumps(journey.to_state())))
    assert copy == journey


def test_totals_equal_the_records_exactly() -> None:
    totals = AttributionTotals("linear")
    records = [
        Conversion(f"e{i}", "u", i, 1000 + i, None).record(
            "linear", [Touch(0, "a", "c1"), Touch(1, "b"), Touch(2, "c", "c1")], [1, 1, 1]
        )
        for i in range(1000)
    ]
    for record in records:
        totals.add(record)
    doc = totals.document()
    assert doc["conversions"] == 1000
    assert doc["value"] == sum(1000 + i for i in range(1000)) / 100
    assert doc["campaigns"]["c1"]["conversions"] == math.fsum(
        c["fraction"] for r in records for c in r["credits"] if c["campaign_id"] == "c1"
    )  # exact: the correctly rounded sum of the records' fractions


PATHS_FILE = """path;conv;value;nulls
email > web;3;300;1
email;0;0;2
web > sms > web;1;40;0
;2;20;0
"""


def test_batch_mode_reads_custom_layouts_and_keeps_totals() -> None:
    rows = read_paths(
        io.StringIO(PATHS_FILE), delimiter=";", columns=("path", "conv", "value", "nulls")
    )
    assert rows[2].channels == ("web", "sms", "web") and rows[3].channels == ()
    report = attribute_paths(rows)
    for model in MODELS:
        table = report.channels[model]
        assert sum(c for c, _v in table.values()) == pytest.approx(6)
        assert sum(v for _c, v in table.values()) == pytest.approx(360)
        assert table[DIRECT] == (2.0, 20.0)
    assert report.channels["first_touch"]["email"] == (3.0, 300.0)
    assert report.channels["linear"]["web"] == pytest.approx((1.5 + 2 / 3, 150 + 80 / 3))
    # Position-based, three touches: 0.4 / 0.2 / 0.4 -> web 0.8, sms 0.2 of that conversion.
    assert report.channels["position_based"]["sms"] == pytest.approx((0.2, 8.0))
    # Time decay in touches (half-life 1): weights 1/4, 1/2, 1 over 7/4.
    assert report.channels["time_decay"]["sms"] == pytest.approx((2 / 7, 80 / 7))
    with pytest.raises(PathFileError, match="missing column"):
        read_paths(io.StringIO(PATHS_FILE))
    with pytest.raises(PathFileError, match="line 2"):
        read_paths(
            io.StringIO("path,total_conversions,total_conversion_value,total_null\na,x,1,1\n")
        )


def test_batch_and_streaming_models_agree_on_the_same_paths() -> None:
    """The user step plus the Markov step (streaming) and batch mode give the same
    per-channel totals and removal effects for the same paths (time decay aside: batch
    paths carry no times)."""
    paths = [(["email", "web"], True), (["sms"], False), (["web", "web", "push"], True),
             (["push"], True), (["email"], False), ([], True)]  # fmt: skip
    cfg = AttributionConfig()
    step, chain = MarkovStep(), None
    streamed = {m: AttributionTotals(m) for m in RECORD_MODELS}
    for n, (path, converted) in enumerate(paths):
        journey = Journey()
        for i, channel in enumerate(path):
            journey.add(Touch(i, channel), 32, i)
        conversion = Conversion(f"e{n}", "u", 10, 1000, None)
        out = cfg.credit(conversion, journey.take(10, DAY)) if converted else cfg.on_expire(journey)
        chain, out = run_paths(step, chain, out)
        for tag, payload in out:
            if tag == "attribution":
                streamed[payload["model"]].add(payload)
    rows = io.StringIO(
        "path,total_conversions,total_conversion_value,total_null\n"
        + "".join(f"{' > '.join(p)},{int(c)},{10 * int(c)},{int(not c)}\n" for p, c in paths)
    )
    batch = attribute_paths(read_paths(rows))
    for model in HEURISTIC_MODELS:
        if model == "time_decay":
            continue
        doc = streamed[model].document()["channels"]
        got = {(k, 0): v["conversions"] for k, v in doc.items()}
        got |= {(k, 1): v["value"] for k, v in doc.items()}
        want = {(k, i): cv[i] for k, cv in batch.channels[model].items() for i in (0, 1)}
        assert got == pytest.approx(want, abs=0.01 * len(paths)), model  # streaming: cents
    assert chain is not None and chain.removal_effects() == pytest.approx(batch.removal_effects)
    # the standard Markov split too: the stream's chain document and batch mode agree
    standard = {(k, i): cv[i] for k, cv in chain.document()["standard"].items() for i in (0, 1)}
    want = {(k, i): cv[i] for k, cv in batch.channels["markov"].items() for i in (0, 1)}
    assert standard == pytest.approx(want, abs=1e-9)
