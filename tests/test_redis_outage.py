"""Redis down while the flow runs: the flow keeps processing (segment changes keep flowing to
Kafka) and, once Redis is back, every profile is written, without any new event arriving."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis

from offerflow.devstack.sample import generate
from offerflow.devstack.stack import redis_answers, redis_command
from offerflow.kafka_io import produce, read_to_end
from offerflow.runner import free_port
from tests.conftest import Run, tailing_flow, wait_for

pytestmark = pytest.mark.integration


def test_flow_survives_a_redis_outage_and_catches_up(live_stack: None) -> None:
    port = free_port()
    run = Run(OFFERFLOW_REDIS_URL=f"redis://127.0.0.1:{port}/0", OFFERFLOW_TAIL="true")
    samples = generate(5_000, seed=13, users=300, malformed_rate=0, now_ms=int(time.time() * 1000))
    users = len({s.user for s in samples})
    produce(run.settings, run.settings.topic("events"), ((s.key, s.value) for s in samples))
    server = None
    try:
        with tailing_flow(run) as flow:
            # Redis is down: the flow must still process everything (seen on the segments topic).
            wait_for(
                lambda: len(read_to_end(run.settings, run.settings.topic("segments"))) >= users, 60
            )
            assert flow.poll() is None, "the flow died while Redis was down"
            exe = shutil.which("redis-server") or "redis-server"
            server = subprocess.Popen(redis_command(exe, port), stdout=subprocess.DEVNULL)
            client = redis.Redis(port=port)
            wait_for(lambda: redis_answers(run.settings.redis_url), 10)
            pattern = run.settings.redis_key("profile", "*")
            caught_up = wait_for(lambda: len(list(client.scan_iter(match=pattern))) == users, 60)
            print(f"Redis caught up {users} profiles {caught_up:.1f} s after it came back")
            assert flow.poll() is None
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        run.cleanup_topics()
