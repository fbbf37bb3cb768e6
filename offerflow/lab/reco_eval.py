"""``offerflow recommend evaluate FILE``: prequential (test-then-train) evaluation of
recommenders over an interaction log.

Interactions are replayed in time order. For each one, every model first recommends ``k``
items to the user (the test), then learns the interaction (the train). Reported per model:

- **HitRate@k**: the share of interactions whose item was in the user's top ``k``;
- **NDCG@k**: the same, discounted by rank (``1 / log2(rank + 2)``);
- **coverage**: the share of the catalog that appeared in any top ``k``.

Models:

- ``hybrid``: :class:`models.recommender.Recommender` as the flow runs it (without the
  diversity rule unless ``per_category`` is given: the evaluation measures the ranking);
- ``cooccurrence``: its collaborative part alone;
- ``funk_mf``: River's online matrix factorization (``river.reco.FunkMF``), ranking every
  item;
- ``popularity``: time-decayed popularity, the baseline.

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
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from tqdm import tqdm

from models.recommender import Recommender

MODELS = ("hybrid", "cooccurrence", "funk_mf", "popularity")


@dataclass(frozen=True)
class Interaction:
    """One line of the log."""

    user: str
    item: str
    ts: int
    weight: float = 1.0
    category: str = ""
    tags: tuple[str, ...] = ()


@dataclass
class Score:
    """A model's running prequential figures."""

    interactions: int = 0
    hits: int = 0
    ndcg: float = 0.0
    shown: set[str] = field(default_factory=set)

    def add(self, recommended: list[str], item: str) -> None:
        self.interactions += 1
        self.shown.update(recommended)
        if item in recommended:
            self.hits += 1
            self.ndcg += 1 / math.log2(recommended.index(item) + 2)

    def summary(self, catalog: int) -> dict[str, float]:
        n = max(self.interactions, 1)
        return {
            "hit_rate": self.hits / n,
            "ndcg": self.ndcg / n,
            "coverage": len(self.shown) / max(catalog, 1),
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
) -> dict[str, Score]:
    """Prequential HitRate@k, NDCG@k and coverage of each model over ``interactions``;
    ``per_category`` applies the flow's diversity rule (default: off, to measure ranking)."""
    runners = {name: _model(name, per_category or k) for name in models}
    scores = {name: Score() for name in runners}
    for row in tqdm(
        interactions, total=total, unit=" interactions", disable=None if progress else True
    ):
        for name, model in runners.items():
            scores[name].add(model.recommend(row.user, k, row.ts), row.item)
            model.learn(row)
    return scores


class _Ours:
    def __init__(self, weights: tuple[float, float, float, float], per_category: int) -> None:
        self.reco = Recommender(weights=weights, per_category=per_category, exclude_purchased=False)

    def recommend(self, user: str, k: int, ts: int) -> list[str]:
        return self.reco.recommend(user, k, now=ts)

    def learn(self, row: Interaction) -> None:
        if row.item not in self.reco.items and (row.category or row.tags):
            self.reco.register(row.item, category=row.category, tags=row.tags)
        self.reco.learn(row.user, row.item, row.weight, row.ts)


class _FunkMF:
    """River's online matrix factorization, ranking every item seen so far."""

    def __init__(self) -> None:
        from river import optim, reco

        self.model = reco.FunkMF(n_factors=16, optimizer=optim.SGD(0.05), seed=0)
        self.items: list[str] = []
        self.known: set[str] = set()

    def recommend(self, user: str, k: int, ts: int) -> list[str]:
        return list(self.model.rank(user, self.items))[:k] if self.items else []

    def learn(self, row: Interaction) -> None:
        if row.item not in self.known:
            self.known.add(row.item)
            self.items.append(row.item)
        self.model.learn_one(row.user, row.item, row.weight)


def _model(name: str, per_category: int):
    if name == "funk_mf":
        return _FunkMF()
    weights = {
        "hybrid": (1.0, 1.0, 0.3, 0.1),
        "cooccurrence": (1.0, 0.0, 0.0, 0.0),
        "popularity": (0.0, 0.0, 0.0, 1.0),
    }.get(name)
    if weights is None:
        raise ValueError(f"unknown model {name!r} (one of {', '.join(MODELS)})")
    return _Ours(weights, per_category)


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
