"""The experiments half of the main dataflow, after the user-keyed profile step.

Steps: exposures and per-user metric changes from the profile step, keyed
``experiment|variant`` → running sums per variant → Redis: ``<prefix>:experiment:<id>:<variant>``
(exposures, users, per-metric sums, their history in event-time buckets) and
``<prefix>:experiment_def:<id>`` (the definition the report analyses them with).
``offerflow experiments report`` reads both.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Stream

from config.settings import Settings
from flows.wiring import keyed_outputs
from operators.campaign_book import CampaignBook
from operators.experiment_totals import TotalsStep
from operators.redis_mirror import RedisMirrorSink
from state.experiments import HOLDOUT_ID, Experiment


def measure(changes: Stream, book: CampaignBook, settings: Settings) -> None:
    """Wire the experiment totals after the profile step's ``changes``."""
    deltas = op.filter_map(
        "experiment_deltas", changes, lambda kv: kv[1][1] if kv[1][0] == "experiment" else None
    )
    keyed = op.key_on("key_by_variant", deltas, lambda item: item[0])

    def definition(experiment_id: str) -> Experiment | None:
        catalog = book.current()
        if experiment_id == HOLDOUT_ID:
            return catalog.holdout
        return catalog.experiments.get(experiment_id)

    totals = keyed_outputs(
        "experiment_totals", keyed, TotalsStep(definition, settings.history_bucket_ms)
    )
    documents = op.map("experiment_documents", totals, lambda kv: _keyed(settings, kv[1]))
    op.output(
        "redis_experiments",
        documents,
        RedisMirrorSink(settings.redis_url, ttl_s=settings.analytics_ttl_s),
    )


def _keyed(settings: Settings, tagged: tuple[str, dict]) -> tuple[str, dict]:
    kind, doc = tagged
    if kind == "definition":
        return settings.redis_key("experiment_def", doc["id"]), doc
    return settings.redis_key("experiment", doc["experiment"], doc["variant"]), doc
