"""The personalization API on a real uvicorn server on loopback, driven by a real HTTP client,
against the local broker and Redis, with the profile flow run over what it collected."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import orjson
import pytest

from config.settings import Settings
from offerflow import runner
from offerflow.api.app import start
from offerflow.api.keys import KeyRing, new_key
from offerflow.kafka_io import read_to_end
from operators.pseudonymize import Pseudonymizer
from tests.conftest import FLOW_TIMEOUT_S, KEY, Run

pytestmark = pytest.mark.integration


@dataclass
class Api:
    url: str
    keys: dict[str, str]  # name -> key

    def client(self, key: str | None = "all") -> httpx.Client:
        headers = {} if key is None else {"Authorization": f"Bearer {self.keys[key]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def serving(settings: Settings) -> Iterator[Api]:
    made = {
        "all": new_key("all", ["collect", "decide", "read", "privacy"]),
        "collector": new_key("collector", ["collect"]),
        "slow": new_key("slow", ["read"], rate=2),
    }
    running = start(settings, KeyRing.parse("".join(entry for _key, entry in made.values())))
    try:
        yield Api(running.url, {k: v[0] for k, v in made.items()})
    finally:
        running.stop()


@pytest.fixture
def api(run: Run) -> Iterator[Api]:
    with serving(run.settings) as running:
        yield running


def test_collected_events_reach_the_topic_and_the_flow(run: Run, api: Api) -> None:
    now = int(time.time() * 1000)
    users = [f"api-user-{i}" for i in range(20)]
    sent = 0
    with api.client("collector") as http:
        for batch in range(5):
            events = [
                {"event_id": f"e-{batch}-{i}", "type": "product_view", "user_id": u,
                 "ts": now, "properties": {"product_id": f"p{i % 3}"}}
                for i, u in enumerate(users)
            ]  # fmt: skip
            events.append({"event_id": f"bad-{batch}", "type": "teleport", "user_id": "x", "ts": 1})
            events.append(
                {"type": "track", "event": "Order Completed", "userId": users[batch],
                 "messageId": f"order-{batch}", "properties": {"revenue": 10.0 + batch}}
            )  # fmt: skip
            answer = http.post("/v1/events", json={"batch": events})
            assert answer.status_code == 207, answer.text
            body = answer.json()
            assert (body["accepted"], body["refused"], body["failed"]) == (21, 1, 0)
            refused = [e for e in body["events"] if e["status"] == "refused"]
            assert refused == [
                {"index": 20, "status": "refused", "reason": "unknown_event_type",
                 "detail": "'teleport' is not a known event type", "event_id": f"bad-{batch}"}
            ]  # fmt: skip
            sent += body["accepted"]
    on_topic = read_to_end(run.settings, run.settings.topic("events"))
    assert len(on_topic) == sent == 105  # every accepted event, and nothing else
    assert {m.key().decode() for m in on_topic} == set(users)  # keyed by the raw id, as apps do

    assert runner.run("profiles", timeout=FLOW_TIMEOUT_S, env=run.env) == 0
    with api.client("all") as http:
        doc = http.get(f"/v1/profiles/{users[2]}").json()
        assert doc["features"]["count.product_view"] == 5 and doc["features"]["purchases"] == 1
        assert doc["features"]["revenue"] == 12.0
        assert doc["user"] == Pseudonymizer(KEY.encode()).user(users[2]) != users[2]
        assert http.get("/v1/profiles/someone-else").status_code == 404
        mine = http.get(f"/v1/recommendations/{users[2]}?k=2").json()
        assert "fallback" not in mine and 0 < len(mine["products"]) <= 2
        new = http.get("/v1/recommendations/someone-else").json()  # no history: trending
        assert new["fallback"] == "popular" and set(new["products"]) <= {"p0", "p1", "p2"}
        assert new["products"]

        assert (
            http.put(f"/v1/users/{users[3]}/consent", json={"consent": {"email": True}}).status_code
            == 202
        )
        assert http.delete(f"/v1/users/{users[4]}").status_code == 202
    assert runner.run("profiles", timeout=FLOW_TIMEOUT_S, env=run.env) == 0
    with api.client("all") as http:
        consent = http.get(f"/v1/profiles/{users[3]}").json()["consent"]
        assert consent["email"]["granted"] is True
        assert http.get(f"/v1/profiles/{users[4]}").status_code == 404  # erased


#: (method, path, key, body, status, words in the message)
BAD = [
    ("POST", "/v1/events", None, b"{}", 401, "missing API key"),
    ("POST", "/v1/events", "wrong", b"{}", 401, "unknown or revoked"),
    ("GET", "/v1/profiles/u1", "collector", None, 403, "may not read"),
    ("POST", "/v1/events", "collector", b"{not json", 400, "not valid JSON"),
    ("POST", "/v1/events", "collector", b"[]", 422, "empty batch"),
    ("POST", "/v1/events", "collector", b'"just a string"', 422, "not_an_object"),
    ("POST", "/v1/events", "collector", b'{"event_id": 5, "type": "page_view"}', 422, "wrong_type"),
    ("POST", "/v1/events", "collector", orjson.dumps([{}] * 501), 413, "at most 500"),
    ("POST", "/v1/events", "collector", b"[" + b" " * 1_100_000 + b"]", 413, "larger than"),
    ("PUT", "/v1/users/u1/consent", "all", b'{"consent": {"email": "yes"}}', 422, "boolean"),
    ("PUT", "/v1/users/u1/consent", "all", b'{"consent": {}}', 422, "at least 1"),
    ("PUT", "/v1/users/u1/consent", "all", b"[]", 422, "must be an object"),
    ("DELETE", "/v1/users/" + "u" * 300, "all", None, 422, "1 to 256 characters"),
    ("GET", "/v1/profiles/" + "u" * 300, "all", None, 422, "1 to 256 characters"),
    ("GET", "/v1/recommendations/u1?k=0", "all", None, 422, "greater than or equal to 1"),
    ("GET", "/v1/recommendations/u1?k=ten", "all", None, 422, "valid integer"),
    ("GET", "/v1/attribution?model=magic", "all", None, 422, "unknown model"),
    ("GET", "/v1/attribution?model=markov&by=campaign", "all", None, 422, "by channel only"),
    ("GET", "/v1/attribution?by=weekday", "all", None, 422, "by"),
    ("GET", "/v1/experiments/no-such-test", "all", None, 404, "no experiment"),
    ("GET", "/v1/experiments/a;b", "all", None, 422, "letters, digits"),
    ("POST", "/v1/decide", "collector", b'{"user_id": "u1"}', 403, "may not decide"),
    ("POST", "/v1/decide", "all", b"{}", 422, "user_id: Field required"),
    (
        "POST",
        "/v1/decide",
        "all",
        b'{"user_id": 7}',
        422,
        "user_id: Input should be a valid string",
    ),
    ("POST", "/v1/decide", "all", b'{"user_id": "u1", "colour": 1}', 422, "colour: Extra inputs"),
    ("POST", "/v1/decide", "all", b'{"user_id": "u1", "campaign": "zz"}', 422, "unknown campaign"),
    ("POST", "/v1/decide", "all", b'{"user_id": "u1", "channel": "fax"}', 422, "unknown channel"),
    ("POST", "/v1/decide", "all", b'{"user_id": "u1", "offers": "a"}', 422, "offers: Input should"),
    ("POST", "/v1/decide", "all", b"[1]", 422, "must be an object"),
    ("GET", "/v1/decide?channel=web", "all", None, 422, "user_id: Field required"),
    ("GET", "/v1/nowhere", "all", None, 404, "Not Found"),
    ("PATCH", "/v1/events", "all", None, 405, "Method Not Allowed"),
]


def test_bad_requests_get_a_clear_4xx(api: Api) -> None:
    for method, path, key, body, status, words in BAD:
        headers = {"Authorization": "Bearer nobody.secret"} if key == "wrong" else {}
        with api.client(None if key in (None, "wrong") else key) as http:
            answer = http.request(method, path, content=body, headers=headers)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        assert words in answer.text, (method, path, answer.text)
        assert "error" in answer.json() or status in (207, 422)


def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    with api.client("slow") as http:
        codes = [http.get("/v1/attribution").status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and codes[2:] == [429, 429]
        limited = http.get("/v1/attribution")
        assert limited.headers["retry-after"] == "1" and "rate limit of 2" in limited.text


def test_redis_down_answers_fast_with_a_fallback(run: Run) -> None:
    dead = replace(run.settings, redis_url="redis://127.0.0.1:1/0")
    with serving(dead) as down, down.client("all") as http:
        started = time.perf_counter()
        profile = http.get("/v1/profiles/u1")
        reco = http.get("/v1/recommendations/u1")
        took = time.perf_counter() - started
        assert profile.status_code == 503 and profile.headers["retry-after"] == "1"
        assert reco.status_code == 200 and reco.json()["fallback"] == "redis_unavailable"
        assert took < 2.0
        decided = http.post("/v1/decide", json={"user_id": "u1", "channel": "web"})
        assert decided.status_code == 200 and decided.json()["offer_id"] is None
        assert decided.json()["fallback"] == "redis_unavailable"
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        metrics = http.get("/metrics").text
        assert 'offerflow_api_fallbacks_total{cause="redis",route="recommendations"}' in metrics


def test_keys_file_errors_stop_serve_with_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    keys = tmp_path / "keys.toml"
    keys.write_text('[[key]]\nid = "a"\nsha256 = "short"\nscopes = ["read"]\n')
    env = {**os.environ, "OFFERFLOW_ENV": "dev", "OFFERFLOW_API_KEYS_FILE": str(keys)}
    done = subprocess.run(
        [sys.executable, "-m", "offerflow", "serve", "--port", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "sha256 must be 64 lower-case hex digits" in done.stderr


def test_openapi_docs_load_in_a_real_browser(run: Run, api: Api) -> None:
    from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, _chromium_or_skip

    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("OFFERFLOW_SCREENSHOTS", ROOT / ".stack" / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{api.url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        page.screenshot(path=str(shots / "api-docs.png"), full_page=False)
        browser.close()
    assert not errors, errors
    routes = {p.replace("\u200b", "") for p in paths}
    assert {"/v1/decide", "/v1/events", "/v1/profiles/{user_id}"} <= routes, routes


def test_a_broker_that_does_not_acknowledge_gets_503_never_a_silent_drop(run: Run) -> None:
    # delivery times out quickly; the campaigns consumer gives up on the dead address too
    dead = replace(run.settings, kafka_bootstrap="127.0.0.1:1", api_delivery_timeout_ms=1500)
    with serving(dead) as down, down.client("all") as http:
        now = int(time.time() * 1000)
        events = [{"event_id": f"lost-{i}", "type": "page_view", "user_id": "u", "ts": now}
                  for i in range(3)]  # fmt: skip
        answer = http.post("/v1/events", json=events)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        body = answer.json()
        assert (body["accepted"], body["failed"]) == (0, 3)
        assert {e["status"] for e in body["events"]} == {"failed"}
        erased = http.delete("/v1/users/u")
        assert erased.status_code == 503 and "did not acknowledge" in erased.text


def test_browsers_may_call_from_the_allowed_origins_only(run: Run) -> None:
    shop = replace(run.settings, api_cors_origins="https://shop.example")
    with serving(shop) as api, api.client(None) as http:
        asked = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
        ok = http.options("/v1/events", headers={"Origin": "https://shop.example", **asked})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://shop.example"
        other = http.options("/v1/events", headers={"Origin": "https://evil.example", **asked})
        assert "access-control-allow-origin" not in other.headers
