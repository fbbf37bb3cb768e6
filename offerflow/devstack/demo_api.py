"""Part 3 of the demo: the web placement asks the personalization API.

After part 2, with the flow still tailing, the demo starts ``offerflow serve``'s application
in process and lets part 2's population ask ``/v1/decide`` for the web placement, as a page
rendering would; each offer shown is reported back through ``/v1/events`` (an impression, and
a click with the persona's click probability). It checks that the flow learns from every one
of them, as it does from its own decisions: each API decision shown must close its reward
window in the bandit (clicked ones at once, the others when the window ends).
"""

from __future__ import annotations

import logging
import random
import statistics
import time

import httpx
import orjson

from config.settings import Settings
from offerflow.api import app as api_app
from offerflow.api.keys import SCOPES, KeyRing, new_key
from offerflow.lab.simulator import Simulator
from operators.redis_mirror import client_for


def run_api_part(settings: Settings, simulator: Simulator, requests: int, timeout_s: float) -> bool:
    """Ask ``requests`` decisions over HTTP for random users of ``simulator``; return whether
    the flow learned from every one shown."""
    print(f"\n== part 3: the web placement asks the API: {requests:,} decisions over HTTP")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    key, entry = new_key("demo", SCOPES)
    running = api_app.start(settings, KeyRing.parse(entry))
    learned_before = _quiet(settings)
    rng = random.Random(7)
    latencies, shown, clicks, fallbacks = [], 0, 0, 0
    try:
        with httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {key}"}) as http:
            for i in range(requests):
                user = rng.choice(simulator.users)
                started = time.perf_counter()
                answer = http.post("/v1/decide", json={"user_id": user, "channel": "web"}).json()
                latencies.append((time.perf_counter() - started) * 1000)
                fallbacks += answer["fallback"] is not None
                if answer["offer_id"] is None:
                    continue
                shown += 1
                feedback = [_feedback(user, answer, "offer_impression", i)]
                persona = simulator.persona[user]
                p = simulator.population.probability(persona, answer["offer_id"], "web")
                if rng.random() < p:
                    clicks += 1
                    feedback.append(_feedback(user, answer, "offer_click", i))
                http.post("/v1/events", json=feedback).raise_for_status()
        deadline = time.monotonic() + timeout_s
        while _settled(settings) - learned_before < shown and time.monotonic() < deadline:
            time.sleep(0.5)
        learned = _settled(settings) - learned_before
    finally:
        running.stop()
    q = statistics.quantiles(latencies, n=100)
    print(
        f"answered {requests:,} (p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, one at a time from "
        f"this process), {shown:,} offers shown, {clicks:,} clicked, {fallbacks:,} fallbacks"
    )
    ok = learned == shown
    print(f"every API decision shown was learned by the bandit: {'yes' if ok else 'NO'} "
          f"({learned:,}/{shown:,})")  # fmt: skip
    return ok


def _feedback(user: str, answer: dict, kind: str, i: int) -> dict:
    return {
        "event_id": f"api-demo-{kind}-{i}",
        "type": kind,
        "user_id": user,
        "ts": int(time.time() * 1000),
        "decision_id": answer["decision_id"],
        "campaign_id": answer["campaign_id"],
        "channel": "web",
    }


def _quiet(settings: Settings, window_s: float = 6.0, most_s: float = 60.0) -> int:
    """The bandits' learned count once part 2's last reward windows (5 s) have closed: the
    count stays the same for ``window_s``."""
    count, since, deadline = _settled(settings), time.monotonic(), time.monotonic() + most_s
    while time.monotonic() - since < window_s and time.monotonic() < deadline:
        time.sleep(0.5)
        now = _settled(settings)
        if now != count:
            count, since = now, time.monotonic()
    return count


def _settled(settings: Settings) -> int:
    """Reward windows the bandits have learned from, over every policy document."""
    client = client_for(settings.redis_url)
    keys = list(client.scan_iter(match=settings.redis_key("policy", "*")))
    return sum(orjson.loads(d)["rewards"] for d in client.mget(keys) if d) if keys else 0
