"""Hostile input: events built to grow state without limit, and what they cost per event.

:func:`hostile_record` makes the mix the hostile-input test sends: for a handful of users, in
turn, an ``identify`` with 40 new traits, a ``consent`` with a new purpose, a ``page_view``
with a new channel, a new source, an overlong campaign id and 59 near-limit properties, a
``product_view`` of a new product in a new category, and a purchase that is over one bound or
another (or valid). ``scripts/bench_hostile`` runs the mix through the gate and the user step
in process, in slices of 1,000 events, and prints each slice's cost per event and the largest
profile state, so it shows whether the cost stays flat while an attacker keeps trying.

Run ``scripts/bench_hostile --help``.
"""

from __future__ import annotations

import argparse
import os
import time

import orjson

from config.settings import Settings
from flows.profiles import step_config
from offerflow.flags import positive_int
from operators.dead_letter import DeadLetter
from operators.ingest import Ingestor
from operators.profile_step import ProfileLogic
from operators.pseudonymize import Pseudonymizer


def hostile_record(i: int, now_ms: int, users: int = 5, total: int = 10_000) -> tuple[bytes, bytes]:
    """The ``i``-th record of the hostile mix (Kafka key and value)."""
    user = f"attacker-{(i // 5) % users}"
    body: dict = {"event_id": f"h{i}", "user_id": user, "ts": now_ms - total + i}
    kind = i % 5
    if kind == 0:
        body |= {"type": "identify", "traits": {f"t{i}_{j}": "v" * 100 for j in range(40)}}
    elif kind == 1:
        body |= {"type": "consent", "consent": {f"purpose-{i}": True}}
    elif kind == 2:
        body |= {
            "type": "page_view",
            "channel": f"ch-{i}",
            "campaign_id": "c" * 100 + str(i),
            "properties": {"utm_source": f"src-{i}", **{f"k{j}": "x" * 1000 for j in range(59)}},
        }
    elif kind == 3:
        body |= {
            "type": "product_view",
            "properties": {"product_id": f"p-{i}", "category": f"cat-{i}"},
        }
    else:
        body["type"] = "purchase"
        body["properties"] = [
            {f"k{j}": j for j in range(65)},  # too many fields
            {"note": "y" * 2_000},  # a string too long
            {"value": 1e308},  # out of range
            {"value": 10.0},  # valid
        ][(i // 5) % 4]
    return user.encode(), orjson.dumps(body)


def measure(events: int, users: int, slice_size: int = 1_000) -> list[tuple[float, int]]:
    """``(µs per event, largest profile state in bytes)`` for each slice of the mix."""
    settings = Settings.from_env({**os.environ, "OFFERFLOW_ENV": "dev"})
    gate = Ingestor(Pseudonymizer(settings.id_key), policy=settings.gate)
    config = step_config(settings)
    logics: dict[str, ProfileLogic] = {}
    now = int(time.time() * 1000)
    records = [hostile_record(i, now, users, events) for i in range(events)]
    rows = []
    for start in range(0, events, slice_size):
        began = time.perf_counter()
        for key, value in records[start : start + slice_size]:
            event = gate(key, value)
            if isinstance(event, DeadLetter):
                continue
            logic = logics.get(event.user_id)
            if logic is None:
                logic = logics[event.user_id] = ProfileLogic(config, None)
            logic.on_item(event)
        elapsed = time.perf_counter() - began
        largest = max(len(logic.snapshot()) for logic in logics.values())
        rows.append((elapsed / slice_size * 1e6, largest))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events (10,000)")
    parser.add_argument(
        "--users", type=positive_int, default=5, help="users the mix is spread over (5)"
    )
    args = parser.parse_args(argv)
    if args.events < 1_000:
        parser.error("--events must be at least 1000")
    rows = measure(args.events, args.users)
    print("slice   µs/event   largest profile state (bytes)")
    for n, (cost, largest) in enumerate(rows, start=1):
        print(f"{n:5}   {cost:8.1f}   {largest:,}")
    first, last = rows[0][0], rows[-1][0]
    print(f"last slice / first slice: {last / first:.2f}x the cost per event")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
