"""The dashboard's numbers without a broker: campaign funnels and segment sizes from the user
step, posterior intervals, p-values over time, the query layer over Redis, the CLI report on
the same layer, and the dashboard's token guard (a real server on a free port)."""

from __future__ import annotations

import io
import os
import pickle
import urllib.error
import urllib.request

import orjson
import pytest
from rich.console import Console
from scipy import stats

from config.settings import ConfigError, Settings
from flows.statistics import _moves
from models import experiment_stats as st
from models.bandits import Bandit
from offerflow import cli
from offerflow.reports import pages as reports
from offerflow.reports.analytics import Analytics
from offerflow.reports.series import credible, p_value_history, rates
from offerflow.web import dashboard
from operators.profile_step import ProfileLogic
from operators.redis_mirror import client_for
from schemas.event import EventType
from state.campaign_file import parse_campaigns
from state.campaign_stats import CampaignStats
from state.policy import PolicyState
from state.segment_sizes import SegmentSize
from tests.test_decision_step import T0
from tests.test_experiments import CAMPAIGN, consented
from tests.test_profile_step import Clock, ev, step


def test_feedback_on_a_decision_reaches_its_campaign_funnel() -> None:
    h = consented(CAMPAIGN)
    h.send("r1", EventType.DECISION_REQUEST, T0 + 1, channel="web")
    (d,) = h.decisions
    did = d["decision_id"]
    h.send("i1", EventType.OFFER_IMPRESSION, T0 + 2, decision_id=did, channel="web")
    h.send("k1", EventType.OFFER_CLICK, T0 + 3, decision_id=did, channel="web")
    h.send("p1", EventType.PURCHASE, T0 + 4, decision_id=did, properties={"value": 30.0})
    h.send("k2", EventType.OFFER_CLICK, T0 + 5, decision_id="not-ours", channel="web")
    assert [(c, f["stage"]) for c, f in h.funnel] == [
        ("promo", "impression"),
        ("promo", "click"),
        ("promo", "conversion"),  # after the click closed the window: still its campaign's
    ]
    stats_ = CampaignStats("promo", bucket_ms=60_000)
    stats_.decision(d)
    for _campaign, item in h.funnel:
        stats_.feedback(item)
    doc = stats_.document()
    assert doc["totals"] == {
        "decisions": 1,
        "no_offers": 0,
        "impressions": 1,
        "opens": 0,
        "clicks": 1,
        "conversions": 1,
        "revenue": 30.0,
    }
    assert doc["channels"]["web"]["clicks"] == 1
    bucket = (T0 + 1) - (T0 + 1) % 60_000
    assert doc["allocation"] == [[bucket, {d["segment"] or "*": {d["offer_id"]: 1}}]]


def test_campaign_stats_survive_a_snapshot_with_a_live_document() -> None:
    stats_ = CampaignStats("c", bucket_ms=1000)
    record = {"offer_id": "a", "segment": "s", "channel": "web", "ts": 500, "reason": None}
    stats_.decision(record)
    restored = pickle.loads(pickle.dumps(stats_))
    restored.decision({**record, "ts": 1500})
    doc = restored.document()
    assert doc["totals"]["decisions"] == 2
    assert doc["allocation"] == [[0, {"s": {"a": 1}}], [1000, {"s": {"a": 1}}]]


def test_erasure_leaves_every_segment_and_the_sizes_follow() -> None:
    logic = ProfileLogic(step(Clock()), None)
    out, _ = logic.on_item(ev("1", EventType.PAGE_VIEW))
    out2, _ = logic.on_item(ev("2", EventType.ERASE, T0 + 60_000))
    changes = [p for tag, p in out + out2 if tag == "segment"]
    joined, left = changes
    assert joined["added"] and left["removed"] == joined["added"] and left["segments"] == []
    sizes: dict[str, SegmentSize] = {}
    for change in changes:
        for segment, delta, ts in _moves(change):
            sizes.setdefault(segment, SegmentSize(segment, 60_000)).add(delta, ts)
    for size in sizes.values():
        doc = size.document()
        assert (doc["size"], doc["joined"], doc["left"]) == (0, 1, 1)
        assert [p[1] for p in doc["history"]][-1] == 0


def test_posteriors_and_their_credible_intervals() -> None:
    thompson = Bandit("thompson", {})
    for reward in (1.0, 1.0, 1.0, 0.0):
        thompson.update("a", reward)
    assert thompson.posterior("a") == (4.0, 2.0)  # Beta(1 + 3 successes, 1 + 1 failure)
    greedy = Bandit("epsilon_greedy", {})
    for reward in (1.0, 0.0, 0.0, 0.0):
        greedy.update("b", reward)
    assert greedy.posterior("b") == pytest.approx((2.0, 4.0))  # uniform prior on mean 1/4
    low, high = credible(4.0, 2.0)
    assert (low, high) == pytest.approx(tuple(stats.beta.ppf([0.025, 0.975], 4, 2)), abs=1e-6)
    campaign = parse_campaigns('[[campaign]]\nid = "c"\n[[campaign.offer]]\nid = "a"').campaigns
    state = PolicyState(campaign["c"])
    state.learn({"decision_id": "d", "offer": "a", "channel": "web", "reward": 1.0,
                 "context": {}})  # fmt: skip
    arm = state.document("s")["arms"]["a"]
    assert (arm["alpha"], arm["beta"], arm["pulls"]) == (2.0, 1.0, 1)


def test_p_value_history_is_the_running_minimum_of_the_msprt_p_value() -> None:
    definition = {"control": "a", "primary": "conversion", "tau": 0.05, "alpha": 0.05}
    control = [(0, 500, 40), (10, 1500, 120), (20, 3000, 230)]
    treated = [(0, 500, 60), (20, 3000, 330)]  # no point at 10: carried forward

    def doc(points):
        return {"history": [[t, [n, {"conversion": [s, s]}]] for t, n, s in points]}

    got = p_value_history(definition, {"a": doc(control), "b": doc(treated)})["b"]
    expected, lowest = [], 1.0
    for (t, n, s), (n_b, s_b) in zip(control, [(500, 60), (500, 60), (3000, 330)], strict=True):
        p = st.msprt(st.Sample(n, s, s), st.Sample(n_b, s_b, s_b), 0.05, 0.05).p_value
        lowest = min(lowest, p)
        expected.append((t, lowest))
    assert list(zip(got["times"], got["p_value"], strict=True)) == expected
    assert got["p_value"] == sorted(got["p_value"], reverse=True)


def test_rates_are_per_second_differences_with_every_reason() -> None:
    history = [
        [0, 0, 0, {}],
        [1000, 10, 30, {"empty": 1}],
        [3000, 50, 30, {"empty": 1, "too_large": 4}],
    ]
    r = rates(history)
    assert r["times"] == [1000, 3000] and r["in_per_s"] == [10.0, 20.0]
    assert r["out_per_s"] == [30.0, 0.0]
    assert r["dead_per_s"] == {"empty": [1.0, 0.0], "too_large": [0.0, 2.0]}


def _seed(settings: Settings) -> None:
    client = client_for(settings.redis_url)
    funnel = CampaignStats("promo", bucket_ms=1000)
    for i, offer in enumerate(["a", "a", "b", "a"]):
        funnel.decision(
            {"offer_id": offer, "segment": "new", "channel": "web", "ts": i * 600, "reason": None}
        )
    for stage in ("impression", "impression", "impression", "impression", "click"):
        funnel.feedback({"stage": stage, "channel": "web", "ts": 100, "revenue": 0.0})
    funnel.set_budget(10, None)
    campaign = parse_campaigns('[[campaign]]\nid = "promo"\n[[campaign.offer]]\nid = "a"')
    policy = PolicyState(campaign.campaigns["promo"])
    for reward in (1.0, 0.0, 1.0):
        policy.learn({"decision_id": "d", "offer": "a", "channel": "web", "reward": reward,
                      "context": {}})  # fmt: skip
    size = SegmentSize("new", 1000)
    size.add(1, 0)
    size.add(1, 1500)
    docs = {
        settings.redis_key("campaign", "promo"): funnel.document(),
        settings.redis_key("budget", "promo"): {"sends": 4, "conversions": 0},
        settings.redis_key("policy", "promo", "new"): policy.document("new"),
        settings.redis_key("segment_size", "new"): size.document(),
        settings.redis_key("profile", "u1"): {"segments": ["new"], "features": {"events": 4}},
        settings.redis_key("profile", "u2"): {"segments": ["new"], "features": {"events": 2}},
    }
    for key, doc in docs.items():
        client.set(key, orjson.dumps(doc))


def test_the_query_layer_computes_the_dashboard_numbers(namespace: Settings) -> None:
    _seed(namespace)
    analytics = Analytics(namespace)
    (c,) = analytics.page("campaigns")["campaigns"]
    assert (c["decisions"], c["impressions"], c["clicks"], c["ctr"]) == (4, 4, 1, 0.25)
    assert c["budget"]["burn"] == {"sends": {"used": 4, "limit": 10, "share": 0.4}}
    alloc = c["allocation"]["new"]
    assert alloc["times"] == [0, 1000] and alloc["decisions"] == [2, 2]
    assert alloc["offers"] == {"a": [1.0, 0.5], "b": [0.0, 0.5]}
    (arm,) = c["posteriors"]
    assert arm["low"] < arm["mean"] < arm["high"] and arm["pulls"] == 3
    assert (arm["low"], arm["high"]) == credible(3.0, 2.0)
    seg = analytics.page("segments")
    assert seg["segments"] == [
        {"segment": "new", "size": 2, "joined": 2, "left": 0, "times": [0, 1000], "sizes": [1, 2]}
    ]
    (summary,) = seg["summaries"]
    assert summary["sampled"] == 2 and summary["means"]["events"] == 3.0
    with pytest.raises(KeyError):
        analytics.page("nope")
    analytics.close()


def test_the_cli_report_shows_the_same_numbers(
    namespace: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _seed(namespace)
    monkeypatch.setenv("OFFERFLOW_ENV", "dev")
    monkeypatch.setenv("OFFERFLOW_REDIS_PREFIX", namespace.redis_prefix)
    assert cli.main(["report", "campaigns", "--json"]) == 0
    printed = orjson.loads(capsys.readouterr().out)
    direct = Analytics(namespace).page("campaigns")
    printed.pop("generated_ms"), direct.pop("generated_ms")
    assert printed == direct
    console = Console(file=io.StringIO(), width=200, record=True)
    reports.print_page("campaigns", direct, console)
    text = console.export_text()
    assert "promo" in text and "25.00%" in text and "sends 40.0%" in text


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


def _settings_with_token(namespace: Settings, token: str) -> Settings:
    return Settings.from_env(
        {
            **os.environ,
            "OFFERFLOW_ENV": "dev",
            "OFFERFLOW_REDIS_PREFIX": namespace.redis_prefix,
            "OFFERFLOW_DASHBOARD_TOKEN": token,
        }
    )


def test_the_dashboard_requires_its_token(namespace: Settings) -> None:
    _seed(namespace)
    token = "s3cret-token-0f9e8d7c6b"
    board = dashboard.start(_settings_with_token(namespace, token), port=0)
    try:
        assert board.url.startswith("http://127.0.0.1:")
        assert _get(f"{board.url}/campaigns")[0] == 401
        assert _get(f"{board.url}/api/campaigns?token=wrong")[0] == 401
        assert _get(f"{board.url}/static/plotly.min.js")[0] == 401
        # the token in the address is swapped for a cookie, and the address loses it
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(f"{board.url}/campaigns?token={token}&x=1", timeout=10)
            raise AssertionError("no redirect")
        except urllib.error.HTTPError as err:
            status, headers = err.code, dict(err.headers)
        assert status == 303 and headers["location"] == "/campaigns?x=1"
        cookie = headers["set-cookie"].split(";")[0]
        assert "httponly" in headers["set-cookie"].lower() and token not in headers["location"]
        status, headers, body = _get(f"{board.url}/campaigns", {"Cookie": cookie})
        assert status == 200 and b'data-page="campaigns"' in body
        status, _, body = _get(f"{board.url}/api/campaigns", {"Cookie": cookie})
        assert status == 200 and orjson.loads(body)["campaigns"][0]["campaign"] == "promo"
        bearer = {"Authorization": f"Bearer {token}"}
        assert _get(f"{board.url}/static/plotly.min.js", bearer)[0] == 200
        assert _get(f"{board.url}/api/nope", bearer)[0] == 404
    finally:
        board.stop()


def test_the_dashboard_sends_security_headers_on_every_answer(namespace: Settings) -> None:
    board = dashboard.start(_settings_with_token(namespace, "t" * 8 + "0123456789ab"), port=0)
    try:
        bearer = {"Authorization": "Bearer " + "t" * 8 + "0123456789ab"}
        for url, headers, expected in (
            (f"{board.url}/campaigns", bearer, 200),
            (f"{board.url}/api/campaigns", {}, 401),
            (f"{board.url}/static/dashboard.js", bearer, 200),
        ):
            status, got, _ = _get(url, headers)
            assert status == expected, url
            got = {k.lower(): v for k, v in got.items()}
            assert "frame-ancestors 'none'" in got["content-security-policy"]
            assert "script-src 'self'" in got["content-security-policy"]
            assert got["x-frame-options"] == "DENY" and got["x-content-type-options"] == "nosniff"
            assert got["cache-control"] == "no-store"
    finally:
        board.stop()


def test_the_dashboard_refuses_short_tokens_and_warns_on_open_binds(
    namespace: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError, match="at least 20"):
        dashboard.start(_settings_with_token(namespace, "short-token"), port=0)
    board = dashboard.start(
        _settings_with_token(namespace, "x" * 4 + "9" * 20), host="0.0.0.0", port=0
    )
    board.stop()
    assert any("beyond this machine" in r.getMessage() for r in caplog.records)
    assert dashboard.is_loopback("127.0.0.1") and dashboard.is_loopback("::1")
    assert not dashboard.is_loopback("0.0.0.0") and not dashboard.is_loopback("10.0.0.5")
