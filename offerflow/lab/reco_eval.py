"""``offerflow recommend evaluate FILE``: prequential (test-then-train) evaluation of
recommenders over an interaction log.

Interactions are replayed in time order. For each one, every model first recommends ``k``
items to the user (the test), then learns the interaction (the train). Reported per model:

- **HitRate@k**: the share of interactions whose item was in the user's top ``k``;
- **NDCG@k**: the same, discounted by rank (``1 / log2(rank + 2)``);
- **coverage**: the share of the catalog that appeared in any top ``k``;
- **repeats**: the share of top-``k`` slots that went to items the user already had
  (interacted with before).

Every model sees the same repeat policy (``repeat``, by default the live configuration's
``OFFERFLOW_RECO_REPEAT``): ``never`` leaves out everything the user interacted with before,
``purchased`` what they bought (an interaction of at least the purchase weight, 5),
``allow`` nothing. On one-off consumption (films, articles, trips) use ``never``: a
recommender allowed to repeat fills its list with what the user has just seen.

Models:

- ``hybrid``: :class:`models.recommender.Recommender` as the flow runs it (without the
  diversity rule unless ``per_category`` is given: the evaluation measures the ranking);
- ``cooccurrence``: its collaborative part alone;
- ``funk_mf``: River's online matrix factorization (``river.reco.FunkMF``), ranking every
  item;
- ``popularity``: time-decayed popularity (the same half-life of event time) over everybody's
  interactions, ranked exactly at every step, minus what the repeat policy leaves out: the
  baseline.

The log is CSV (header ``user,item,timestamp[,weight]``) or JSON Lines with the same keys.
Timestamps are epoch milliseconds or ISO-8601. The optional columns ``category`` and
``tags`` (``|``-separated) register item metadata as items appear.

Examples
--------

>>> rows = [Interaction("u1", "a", 0), Interaction("u2", "a", 1), Interaction("u3", "a", 2)]
>>> result = evaluate(rows, ["popularity"], k=1)["popularity"]
>>> result.hits, result.interactions  # u2 and u3 are shown a, the first to be seen
(2, 3)

"""

from __future__ import annotations

import csv
import functools
import math
import multiprocessing as mp
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from models.taste import EVENT_WEIGHTS, REPEATS
from offerflow.lab import reco_runners
from offerflow.lab.reco_runners import MODELS, Interaction, shares
from offerflow.progress import progress as with_progress
from schemas.units import DAY_MS

#: What each repeat policy leaves out of a user's top-k, as reports say it.
REPEAT_MEANING = {
    "never": "items the user interacted with are left out",
    "purchased": "items the user bought are left out",
    "allow": "nothing is left out",
}


@dataclass
class Score:
    """A model's running prequential figures."""

    interactions: int = 0
    hits: int = 0
    ndcg: float = 0.0
    slots: int = 0
    repeats: int = 0
    seconds: float = 0.0  # spent recommending and learning
    shown: set[str] = field(default_factory=set)

    def add(self, recommended: list[str], item: str, had: set[str] | frozenset = frozenset()):
        self.interactions += 1
        self.shown.update(recommended)
        self.slots += len(recommended)
        self.repeats += sum(r in had for r in recommended)
        if item in recommended:
            self.hits += 1
            self.ndcg += 1 / math.log2(recommended.index(item) + 2)

    def summary(self, catalog: int) -> dict[str, float]:
        n = max(self.interactions, 1)
        return {
            "hit_rate": self.hits / n,
            "ndcg": self.ndcg / n,
            "coverage": len(self.shown) / max(catalog, 1),
            "repeat_share": self.repeats / max(self.slots, 1),
            "seconds": self.seconds,
        }


def read_interactions(path: str) -> list[Interaction]:
    """A CSV or JSON Lines log, sorted by time (stable: equal times keep file order);
    :class:`ValueError` names the first bad line."""
    with open(path, encoding="utf-8", newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        if first.lstrip().startswith("{"):
            out = [_json_line(line, n) for n, line in enumerate(fh, 1) if line.strip()]
        else:
            reader = csv.DictReader(fh)
            missing = {"user", "item", "timestamp"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(
                    f"the header {reader.fieldnames} lacks {sorted(missing)} (a CSV log needs "
                    "user, item and timestamp columns, comma-separated)"
                )
            out = [_interaction(row, n) for n, row in enumerate(reader, 2)]
    return sorted(out, key=lambda i: i.ts)


def _json_line(line: str, number: int) -> Interaction:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"line {number}: not JSON ({exc})") from None
    if not isinstance(row, dict):
        raise ValueError(f"line {number}: an interaction must be a JSON object")
    return _interaction(row, number)


def evaluate(
    interactions: Iterable[Interaction],
    models: Iterable[str] = MODELS,
    k: int = 10,
    progress: bool = False,
    total: int | None = None,
    per_category: int | None = None,
    repeat: str = "purchased",
    min_weight: float | None = None,
    half_life_ms: int = 7 * DAY_MS,
    jobs: int = 1,
) -> dict[str, Score]:
    """Prequential HitRate@k, NDCG@k, coverage and repeat share of each model over
    ``interactions``, every model under the ``repeat`` policy; ``per_category`` applies the
    flow's diversity rule (default: off, to measure ranking). Every row is learned; with
    ``min_weight`` only rows of at least that weight are scored (e.g. ratings of 4 and 5).
    ``half_life_ms`` is the decay of the hybrid's parts and of popularity. Up to ``jobs``
    processes replay the log side by side, each for its share of the models
    (:func:`~offerflow.lab.reco_runners.shares`); the figures do not depend on it."""
    if repeat not in REPEATS:
        raise ValueError(f"repeat must be one of {', '.join(REPEATS)}")
    names = list(models)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown} (choose from {', '.join(MODELS)})")
    replay = functools.partial(
        _replay, k=k, per_category=per_category or k, repeat=repeat, min_weight=min_weight,
        half_life_ms=half_life_ms,
    )  # fmt: skip
    dealt = shares(names, jobs)
    if len(dealt) == 1:
        return replay(interactions, dealt[0], progress=progress, total=total)
    rows = list(interactions)
    # fork: the children start from this process's imports instead of importing again
    with ProcessPoolExecutor(len(dealt) - 1, mp_context=mp.get_context("fork")) as pool:
        others = [pool.submit(replay, rows, share) for share in dealt[1:]]
        scores = replay(rows, dealt[0], progress=progress, total=len(rows))
        for other in others:
            scores.update(other.result())
    return {name: scores[name] for name in names}


def _replay(
    interactions: Iterable[Interaction],
    models: list[str],
    k: int,
    per_category: int,
    repeat: str,
    min_weight: float | None,
    half_life_ms: int,
    progress: bool = False,
    total: int | None = None,
) -> dict[str, Score]:
    """One process's share of :func:`evaluate`."""
    runners = reco_runners.runners(models, per_category, half_life_ms)
    scores = {name: Score() for name in runners}
    seen: dict[str, set[str]] = {}
    bought: dict[str, set[str]] = {}
    for row in with_progress(
        interactions, total=total, desc="interactions", unit="interactions", enabled=progress
    ):
        had = seen.setdefault(row.user, set())
        banned = had if repeat == "never" else bought.get(row.user, set())
        banned = banned if repeat != "allow" else set()
        scored = min_weight is None or row.weight >= min_weight
        # every model recommends before any learns: models may share what they learn
        for name, model in runners.items():
            if scored:
                started = time.perf_counter()
                scores[name].add(model.recommend(row.user, k, row.ts, banned), row.item, had)
                scores[name].seconds += time.perf_counter() - started
        for name, model in runners.items():
            started = time.perf_counter()
            model.learn(row)
            scores[name].seconds += time.perf_counter() - started
        had.add(row.item)
        if row.weight >= EVENT_WEIGHTS["purchase"]:
            bought.setdefault(row.user, set()).add(row.item)
    return scores


#: Epoch milliseconds of 1973-03-03: a log whose newest timestamp is smaller is in seconds.
SECONDS_BEFORE = 10**11


def in_seconds(rows: list[Interaction]) -> bool:
    """Whether the log's timestamps look like epoch seconds rather than milliseconds."""
    return bool(rows) and max(r.ts for r in rows) < SECONDS_BEFORE


def render(
    scores: dict[str, Score],
    rows: int,
    catalog: int,
    k: int,
    repeat: str,
    half_life_ms: int = 7 * DAY_MS,
    fmt: str = "table",
) -> str:
    """The evaluation as a table, or JSON (``fmt="json"``), saying what it measured."""
    measured = {
        "interactions": rows,
        "items": catalog,
        "k": k,
        "repeat": repeat,
        "left_out": REPEAT_MEANING[repeat],
        "scored": max((s.interactions for s in scores.values()), default=0),
        "half_life_days": half_life_ms / DAY_MS,
        "popularity": f"time-decayed ({half_life_ms / DAY_MS:g}-day half-life) interaction "
        "counts over everybody",
    }
    summaries = {name: score.summary(catalog) for name, score in scores.items()}
    if fmt == "json":
        return orjson.dumps({**measured, "models": summaries}, option=orjson.OPT_INDENT_2).decode()
    lines = [
        f"{rows:,} interactions ({measured['scored']:,} scored), {catalog:,} items, prequential,"
        f" k = {k}, repeat = {repeat} ({measured['left_out']}, for every model)",
        f"{'model':14}{'HitRate@' + str(k):>12}{'NDCG@' + str(k):>10}{'coverage':>10}"
        f"{'repeats':>10}{'seconds':>10}",
    ]
    for name, s in summaries.items():
        lines.append(f"{name:14}{s['hit_rate']:>12.4f}{s['ndcg']:>10.4f}{s['coverage']:>10.1%}"
                     f"{s['repeat_share']:>10.1%}{s['seconds']:>10.1f}")  # fmt: skip
    lines += [
        "repeats: share of top-k slots given to items the user already had; seconds: time "
        "each model spent recommending and learning",
        f"popularity: {measured['popularity']}",
    ]
    if {"hybrid", "cooccurrence"} <= set(scores):
        lines.append("cooccurrence ranks from the hybrid's recommender (they learn alike): "
                     "its seconds are ranking only")  # fmt: skip
    return "\n".join(lines)


def _interaction(row: dict, line: int) -> Interaction:
    try:
        ts = row["timestamp"]
        if isinstance(ts, str) and not ts.lstrip("-").isdigit():
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000
        tags = row.get("tags") or ()
        found = Interaction(
            str(row["user"]),
            str(row["item"]),
            int(float(ts)),
            float(row.get("weight") or 1.0),
            str(row.get("category") or ""),
            tuple(tags.split("|")) if isinstance(tags, str) else tuple(tags),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"line {line}: needs user, item, timestamp ({exc})") from None
    if not (math.isfinite(found.weight) and found.weight > 0):
        raise ValueError(f"line {line}: weight must be a positive number, not {found.weight}")
    return found
