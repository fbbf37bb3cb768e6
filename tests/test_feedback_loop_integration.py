"""Identity stitching and online clustering end to end: internal messages go round through
the real internal topic while the flow tails its inputs."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from offerflow.devstack.sample import generate
from offerflow.devstack.tally import profiles
from offerflow.kafka_io import produce
from tests.conftest import Run, tailing_flow, wait_for
from tests.test_profile_integration import pseudonym

pytestmark = pytest.mark.integration


def test_stitching_and_clusters_through_the_internal_topic(
    live_stack: None, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[segment]]\nname = "never"\nall = ["events < 0"]\n')
    run = Run(OFFERFLOW_TAIL="true", OFFERFLOW_SEGMENTS_FILE=str(rules))
    now = int(time.time() * 1000)
    samples = generate(2_000, seed=17, users=100, malformed_rate=0, now_ms=now)

    def event(eid: str, user: str, kind: str, **extra: object) -> tuple[bytes, bytes]:
        body = {"event_id": eid, "type": kind, "user_id": user, "ts": now - 1000, **extra}
        return user.encode(), orjson.dumps(body)

    records = [(s.key, s.value) for s in samples]
    records += [event(f"anon-{i}", "visitor-1", "page_view") for i in range(5)]
    # The login comes once the visitor's profile exists: the two are on different partitions,
    # so sent together the link could reach the visitor first, with nothing yet to hand over.
    login = event(
        "login",
        "customer-1",
        "identify",
        traits={"anonymous_id": "visitor-1", "email": "c1@example.com"},
    )
    later = [
        event(f"later-{i}", "visitor-1", "product_view", properties={"category": "shoes"})
        for i in range(3)
    ]
    known, anonymous = pseudonym("customer-1"), pseudonym("visitor-1")

    def settled() -> bool:
        docs = profiles(run.settings)
        doc = docs.get(known)
        return (
            doc is not None
            and doc["features"]["events"] == 9
            and anonymous not in docs
            and all((d["segment"] or "").startswith("cluster_") for d in docs.values())
            and len(docs) == len({s.user for s in samples}) + 1
        )

    try:
        with tailing_flow(run) as flow:
            produce(run.settings, run.settings.topic("events"), records)
            wait_for(lambda: anonymous in profiles(run.settings), 60)
            produce(run.settings, run.settings.topic("events"), [login, *later])
            wait_for(settled, 90)
            assert flow.poll() is None
        merged = profiles(run.settings)[known]
        features = merged["features"]
        assert merged["merged_ids"] == [anonymous]
        assert (features["count.page_view"], features["count.product_view"]) == (5, 3)
        assert features["count.identify"] == 1 and "trait.email_hash" in features
        assert b"c1@example.com" not in orjson.dumps(merged)
        clusters = {d["segment"] for d in profiles(run.settings).values()}
        assert len(clusters) >= 2, clusters  # users were not all lumped together
    finally:
        run.cleanup()
