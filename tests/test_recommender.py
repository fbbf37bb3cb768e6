"""Recommendations: learning moves towards a planted preference, business rules (purchased,
out of stock, excluded, diversity), cold start for users and items, and the prequential
evaluator's metrics on cases computed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from models.recommender import Recommender
from models.taste import EVENT_WEIGHTS
from offerflow.lab.reco_eval import MODELS, Interaction, Score, evaluate, read_interactions
from offerflow.lab.reco_sim import Catalog, interactions


def shop() -> Recommender:
    reco = Recommender(per_category=2)
    for category in ("shoes", "bags", "tech"):
        for n in range(5):
            reco.register(f"{category}-{n}", category=category, price=10.0 * (n + 1))
    return reco


def test_learning_moves_recommendations_towards_a_planted_preference() -> None:
    reco = shop()
    for n in range(30):  # everybody likes bags-3 along with shoes-1; u-x likes shoes-1
        reco.learn(f"u{n}", "shoes-1", 1.0, ts=n * 10)
        reco.learn(f"u{n}", "bags-3", 1.0, ts=n * 10 + 1)
    for n in range(5):
        reco.learn(f"t{n}", "tech-0", 1.0, ts=400 + n)  # trending lately, but unrelated
    reco.learn("newcomer", "shoes-1", 1.0, ts=500)
    top = reco.recommend("newcomer", k=3, now=500)
    assert top[0] in ("bags-3", "shoes-1") and "bags-3" in top[:2]


def test_purchased_out_of_stock_and_excluded_items_never_appear() -> None:
    reco = shop()
    for n in range(10):
        reco.learn(f"u{n}", "shoes-0", 1.0, ts=n)
        reco.learn(f"u{n}", "shoes-2", 1.0, ts=n)
    reco.learn("buyer", "shoes-0", EVENT_WEIGHTS["purchase"], ts=20)
    reco.register("shoes-2", category="shoes", in_stock=False)
    top = reco.recommend("buyer", k=10, exclude=["shoes-3"], now=20)
    assert top and not {"shoes-0", "shoes-2", "shoes-3"} & set(top)
    keeps = Recommender(repeat="allow")
    keeps.learn("buyer", "x", EVENT_WEIGHTS["purchase"], ts=0)
    assert keeps.recommend("buyer", k=1, now=0) == ["x"]  # "buy again" when configured


def test_repeat_policies_leave_out_what_the_user_had() -> None:
    reco = shop()
    for n in range(10):  # everybody views shoes-0 and shoes-1; buyers buy bags-0
        reco.learn(f"u{n}", "shoes-0", 1.0, ts=n)
        reco.learn(f"u{n}", "shoes-1", 1.0, ts=n)
        reco.learn(f"u{n}", "bags-0", EVENT_WEIGHTS["purchase"], ts=n)
    had = {"shoes-0", "shoes-1", "bags-0"}
    default = set(reco.recommend("u1", k=10, now=20))
    assert "bags-0" not in default and {"shoes-0", "shoes-1"} <= default  # purchased
    assert not had & set(reco.recommend("u1", k=10, now=20, repeat="never"))
    assert had <= set(reco.recommend("u1", k=10, now=20, repeat="allow"))
    assert not had & set(Recommender(repeat="never").recommend("u1", k=10))
    with pytest.raises(ValueError, match="repeat must be one of"):
        Recommender(repeat="sometimes")


def test_no_more_than_n_items_of_a_category_in_a_top_k() -> None:
    reco = shop()
    for n in range(5):
        reco.learn("u", f"shoes-{n}", 1.0, ts=n)
        reco.learn("other", f"bags-{n}", 1.0, ts=n)  # something else is popular too
    top = reco.recommend("u", k=5, now=10)
    categories = [reco.items[i].category for i in top]
    assert categories.count("shoes") == 2  # the user's favourites, capped
    assert categories.count("bags") == 2  # the rest is filled from what is popular elsewhere
    assert len(top) == 4  # no other category has any signal yet


def test_cold_start_users_get_trending_in_their_segment_and_new_items_get_exposure() -> None:
    reco = shop()
    for n in range(10):
        reco.learn(f"s{n}", "tech-1", 1.0, ts=n, segment="student")
        reco.learn(f"f{n}", "bags-0", 1.0, ts=n, segment="family")
    assert reco.recommend("fresh", k=1, segment="student", now=20) == ["tech-1"]
    assert reco.recommend("fresh", k=1, segment="family", now=20) == ["bags-0"]
    reco.register("hat-old", category="hats")
    reco.learn("fan", "hat-old", 1.0, ts=30)
    reco.register("hat-new", category="hats")  # nobody has seen it: no collaborative signal
    assert "hat-new" in reco.recommend("fan", k=2, now=30)  # content-based exposure


def test_forget_erases_the_users_history() -> None:
    reco = shop()
    reco.learn("u", "bags-1", EVENT_WEIGHTS["purchase"], ts=0)
    reco.forget("u")
    assert "u" not in reco.tastes


# -- evaluation ---------------------------------------------------------------------------


def test_prequential_metrics_on_a_case_computed_by_hand() -> None:
    score = Score()
    score.add(["a", "b", "c"], "a")  # rank 0: 1 / log2(2) = 1
    score.add(["a", "b", "c"], "c")  # rank 2: 1 / log2(4) = 0.5
    score.add(["b", "d"], "e")  # miss
    score.add(["a", "e"], "f", had={"a"})  # a miss, and one of two slots repeats
    summary = score.summary(catalog=8)
    assert summary == {
        "hit_rate": 2 / 4, "ndcg": pytest.approx(1.5 / 4), "coverage": 5 / 8,
        "repeat_share": 1 / 10, "seconds": 0.0,
    }  # fmt: skip
    rows = [
        Interaction("u1", "x", 0),
        Interaction("u2", "y", 1),
        Interaction("u2", "y", 2),  # popularity at ts 2: y (1) beats x (1, older)
        Interaction("u3", "x", 3),  # x and y tie on count; y is more recent
    ]
    (pop,) = evaluate(rows, ["popularity"], k=1).values()
    assert (pop.interactions, pop.hits) == (4, 1)
    assert pop.ndcg == pytest.approx(1.0) and pop.shown == {"x", "y"}
    assert math.isclose(pop.summary(2)["coverage"], 1.0)


def test_logs_read_as_csv_or_json_lines_in_time_order(tmp_path: Path) -> None:
    csv_log = tmp_path / "log.csv"
    csv_log.write_text("user,item,timestamp,weight\nu,b,2000,1\nu,a,1970-01-01T00:00:01Z,3\n")
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text(
        '{"user": "u", "item": "b", "timestamp": 2000}\n'
        '{"user": "u", "item": "a", "timestamp": 1000, "weight": 3}\n'
    )
    for path in (csv_log, jsonl):
        rows = read_interactions(str(path))
        assert [(r.item, r.ts, r.weight) for r in rows] == [("a", 1000, 3.0), ("b", 2000, 1.0)]
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item\nu,a\n")
    with pytest.raises(ValueError, match=r"lacks \['timestamp'\]"):
        read_interactions(str(bad))


def test_on_planted_tastes_the_hybrid_beats_popularity() -> None:
    log = interactions(Catalog.planted(seed=3), users=300, count=4_000, seed=3)
    scores = evaluate(log, ["hybrid", "popularity"], k=10)
    hybrid, popular = (scores[m].summary(240) for m in ("hybrid", "popularity"))
    assert hybrid["hit_rate"] > 2 * popular["hit_rate"]
    assert hybrid["coverage"] > popular["coverage"]


def _independent_popularity(log: list, k: int, never: bool) -> int:
    """Hits of a popularity baseline written apart from the project: decayed counts (7-day
    half-life) over everybody, items the user had left out when ``never``, ties by id."""
    half_life, events, had, hits = 7 * 86_400_000, [], {}, 0
    for row in log:
        scores: dict[str, float] = {}
        for item, weight, ts in events:
            scores[item] = scores.get(item, 0.0) + weight * 2 ** (-(row.ts - ts) / half_life)
        seen = had.setdefault(row.user, set())
        ranked = sorted((i for i in scores if not (never and i in seen)),
                        key=lambda i: (-scores[i], i))  # fmt: skip
        hits += row.item in ranked[:k]
        events.append((row.item, row.weight, row.ts))
        seen.add(row.item)
    return hits


def test_the_popularity_row_is_an_exact_decayed_popularity_baseline() -> None:
    log = interactions(Catalog.planted(seed=5), users=120, count=1_200, seed=5)
    for repeat in ("allow", "never"):
        (score,) = evaluate(log, ["popularity"], k=10, repeat=repeat).values()
        assert score.hits == _independent_popularity(log, 10, repeat == "never"), repeat
    never = evaluate(log, ["hybrid", "popularity"], k=10, repeat="never")
    assert all(s.repeats == 0 for s in never.values())
    allowed = evaluate(log, ["hybrid"], k=10, repeat="allow")["hybrid"]
    assert allowed.repeats / allowed.slots > 0.2  # allowed to, it shows what users had


def test_evaluate_learns_every_row_scores_the_filtered_ones_and_reports_json(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from offerflow.cli import main

    log = interactions(Catalog.planted(seed=2), users=80, count=600, seed=2)
    liked = sum(r.weight >= 3 for r in log)
    (score,) = evaluate(log, ["popularity"], k=5, min_weight=3).values()
    assert 0 < score.interactions == liked < len(log)
    path = tmp_path / "log.csv"  # MovieLens-style: timestamps in seconds
    path.write_text("user,item,timestamp,weight\n" + "".join(
        f"{r.user},{r.item},{(r.ts + 10**12) // 1000},{r.weight}\n" for r in log))  # fmt: skip
    assert main(["recommend", "evaluate", str(path), "--models", "popularity",
                 "--format", "json", "--min-weight", "3"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    report = orjson.loads(captured.out)
    assert report["scored"] == liked and report["interactions"] == len(log)
    figures = {"hit_rate", "ndcg", "coverage", "repeat_share", "seconds"}
    assert set(report["models"]["popularity"]) == figures
    assert "look like seconds" in captured.err and "--seconds" in captured.err
    assert main(["recommend", "evaluate", str(path), "--models", "popularity", "--seconds"]) == 0
    assert "seconds" not in capsys.readouterr().err.replace("interactions/s", "")


def test_shared_blends_and_processes_side_by_side_change_no_figure() -> None:
    # In one process the blends share one recommender; jobs=2 replays in two processes:
    # either way each model must score exactly as it does evaluated alone.
    log = interactions(Catalog.planted(seed=4), users=150, count=1_500, seed=4)
    alone = {m: evaluate(log, [m], k=10, repeat="never")[m] for m in MODELS}
    for jobs in (1, 2):
        together = evaluate(log, MODELS, k=10, repeat="never", jobs=jobs)
        for model, mine in together.items():
            figures = (mine.hits, mine.ndcg, mine.shown, mine.interactions)
            assert figures == (alone[model].hits, alone[model].ndcg, alone[model].shown,
                               alone[model].interactions), (jobs, model)  # fmt: skip
            assert mine.hits > 0
