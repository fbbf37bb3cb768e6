"""The dashboard in headless Chromium (Debian's ``chromium``, driven by Playwright) against a
live demo run: ``offerflow demo`` runs both parts, prints the dashboard's URL and keeps
serving; every page must load without a console error and draw only non-empty charts, the
token must be enforced, and each page's screenshot is saved (``OFFERFLOW_SCREENSHOTS``,
default ``.stack/screenshots``). Ctrl-C (SIGINT) then ends the demo, whose checks must hold.
A drift detection is drawn as a marker on its segment's arm-allocation chart.
"""

from __future__ import annotations

import os
import queue
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from offerflow.reports.analytics import PAGES
from offerflow.web import dashboard
from operators.redis_mirror import client_for
from state.campaign_file import parse_campaigns
from state.campaign_stats import CampaignStats
from state.policy import PolicyState
from tests.test_dashboard import _settings_with_token

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: The flags this machine's closed network needs (no background requests to the internet).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent


def _chromium_or_skip() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail("chromium is missing: scripts/test installs it (apt-get install chromium)")
    pytest.skip("chromium is not installed (scripts/test installs it when run as root)")


def _lines(stream, out: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        out.put(line)
    out.put(None)


def test_every_dashboard_page_against_a_live_demo(live_stack: None) -> None:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    token = secrets.token_urlsafe(16)
    shots = Path(os.environ.get("OFFERFLOW_SCREENSHOTS", ROOT / ".stack" / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OFFERFLOW_ENV": "dev",
        "OFFERFLOW_DASHBOARD_TOKEN": token,
        "OFFERFLOW_DASHBOARD_PORT": "0",
        "OFFERFLOW_METRICS_PORT": "0",
    }
    offerflow = Path(sys.executable).with_name("offerflow")
    args = ["--events", "2000", "--users", "300", "--requests", "1500", "--rate", "250"]
    demo = subprocess.Popen(
        [str(offerflow), "demo", *args, "--loop-users", "400"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(demo.stdout, lines), daemon=True).start()
    output: list[str] = []
    try:
        url = None
        deadline = time.monotonic() + 480
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=5)
            except queue.Empty:
                continue
            if line is None:
                break
            output.append(line)
            found = re.search(r"serving the demo's results at (\S+)/campaigns\?token=", line)
            url = found.group(1) if found else None
        assert url, "the demo never served its dashboard:\n" + "".join(output[-40:])

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                stranger = browser.new_page()
                assert stranger.goto(f"{url}/campaigns").status == 401
                assert stranger.goto(f"{url}/campaigns?token=wrong-{token}").status == 401
                assert stranger.goto(f"{url}/api/operations").status == 401

                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                assert page.goto(f"{url}/campaigns?token={token}").status == 200
                for name in PAGES:
                    assert page.goto(f"{url}/{name}").status == 200  # the cookie, no token
                    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
                    page.wait_for_timeout(500)
                    points = page.eval_on_selector_all(
                        ".chart", "els => els.map(e => [e.id, Number(e.dataset.points)])"
                    )
                    assert points, f"{name}: no charts"
                    empty = [chart for chart, n in points if n <= 0]
                    assert not empty, f"{name}: empty charts {empty}"
                    assert page.locator(".js-plotly-plot").count() == len(points)
                    page.screenshot(path=str(shots / f"dashboard-{name}.png"), full_page=True)
                assert not errors, errors
            finally:
                browser.close()
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()  # never leave a demo and its flow running after the test
            raise
        while (line := lines.get(timeout=5)) is not None:
            output.append(line)
    text = "".join(output)
    assert code == 0, text[-3000:]
    for check in (
        "every record accounted for: yes",
        "every request decided: yes",
        "every conversion attributed: yes",
        "every experiment exposure counted: yes",
    ):
        assert check in text


def test_a_drift_detection_is_marked_on_its_segments_allocation_chart(namespace: Settings) -> None:
    """A policy key learns an offer whose click rate collapses halfway; its real detection,
    stored in Redis as the flow stores it, is drawn as a marker in Chromium."""
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    campaign = parse_campaigns(
        '[[campaign]]\nid = "promo"\ndrift = { response = "shrink" }\n'
        '[[campaign.offer]]\nid = "a"\n[[campaign.offer]]\nid = "b"'
    ).campaigns["promo"]
    policy, funnel = PolicyState(campaign), CampaignStats("promo", bucket_ms=60_000)
    rng = random.Random(4)
    t0 = int(time.time() * 1000) - 6_000_000
    for i in range(6_000):
        request = {
            "decision_id": f"d{i}", "user": f"u{i}", "ts": t0 + i * 1000, "segment": "new",
            "trigger": "request", "channels": ["web"], "offers": ["a", "b"], "context": {},
        }  # fmt: skip
        decision = policy.decide(campaign, request)
        funnel.decision(decision)
        offer = decision["offer_id"]
        rate = 0.05 if offer == "b" else (0.25 if i < 3_000 else 0.02)
        reward = {**request, "offer": offer, "channel": "web", "reward": float(rng.random() < rate)}
        policy.learn(reward, campaign.drift)
    detected = [d for d in policy.detections if d["stream"] == "reward"]
    assert detected and detected[0]["offer_id"] == "a"
    client = client_for(namespace.redis_url)
    client.set(namespace.redis_key("campaign", "promo"), orjson.dumps(funnel.document()))
    client.set(namespace.redis_key("policy", "promo", "new"), orjson.dumps(policy.document("new")))
    token = "drift-marker-token-4f3e2d1c"
    board = dashboard.start(_settings_with_token(namespace, token), port=0)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                assert page.goto(f"{board.url}/campaigns?token={token}").status == 200
                page.wait_for_selector("body[data-ready=true]", timeout=20_000)
                chart = "#c-promo-alloc-new"
                drawn = page.eval_on_selector(
                    chart,
                    "el => ({marks: Number(el.dataset.drifts), shapes: el.layout.shapes.length,"
                    " labels: el.layout.annotations.map(a => a.text),"
                    " lines: el.querySelectorAll('.shapelayer path').length})",
                )
                assert drawn["marks"] == drawn["shapes"] == len(policy.detections) >= 1
                assert drawn["lines"] >= 1  # drawn in the page, not only in the layout
                assert "drift a (shrink)" in drawn["labels"]
                shots = Path(
                    os.environ.get("OFFERFLOW_SCREENSHOTS", ROOT / ".stack" / "screenshots")
                )
                shots.mkdir(parents=True, exist_ok=True)
                page.locator(chart).screenshot(path=str(shots / "dashboard-drift.png"))
                assert not errors, errors
            finally:
                browser.close()
    finally:
        board.stop()
