"""The offline comparison and the ope command on small runs (the figures quoted in the docs
come from `offerflow simulate --decisions 200000`)."""

from __future__ import annotations

import orjson

from offerflow.cli import main
from offerflow.lab.policy_sim import compare
from offerflow.lab.traits import TraitEffects
from operators.campaign_book import default_campaigns_text
from state.campaign_file import parse_campaigns


def test_per_segment_policy_learns_what_a_single_one_cannot() -> None:
    results, _population, tail = compare(12_000, delay=200, progress=False)
    value = {name: r.tail_expected / tail for name, r in results.items()}
    assert value["per_segment"] > 0.75 * value["oracle"]  # 2,000 per segment; 99% at 200k
    assert value["per_segment"] > value["single"] > 0
    assert value["per_segment"] > value["uniform_random"] * 1.4


def test_ope_command_reports_every_estimator(tmp_path, capsys) -> None:
    log = tmp_path / "log.jsonl"
    rows = [
        {"context": "s", "action": a, "propensity": 0.5, "reward": float(a == "x" and i % 2)}
        for i in range(200)
        for a in ("x", "y")
    ]
    log.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    assert main(["ope", str(log), "--target", "greedy", "--replay", "thompson", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    methods = {e["method"]: e for e in out["estimates"]}
    assert set(methods) == {"ipw", "snipw", "dm", "dr", "sndr", "replay:thompson"}
    assert abs(methods["ipw"]["value"] - 0.5) < 1e-9  # greedy picks x, which pays half the time
    assert main(["ope", str(log), "--target", "greedy", "--bootstrap", "50", "--json"]) == 0
    boot = {e["method"]: e for e in orjson.loads(capsys.readouterr().out)["estimates"]}
    assert set(boot) == {f"{m}:bootstrap" for m in ("ipw", "snipw", "dm", "dr", "sndr")}
    assert all(e["low"] <= e["value"] <= e["high"] for e in boot.values())


def test_a_contextual_policy_beats_per_segment_sampling_when_traits_matter() -> None:
    offers = [
        o.id for o in parse_campaigns(default_campaigns_text()).campaigns["spring_sale"].offers
    ]
    effects = TraitEffects.planted(offers, strength=1.5, seed=2)
    results, _population, _tail = compare(
        10_000, delay=200, seed=2, traits=effects, contextual=("lints",), only=("per_segment",),
        progress=False,
    )  # fmt: skip
    assert list(results) == ["per_segment", "lints", "oracle"]
    assert results["lints"].regret < 0.8 * results["per_segment"].regret


class FirstOffer:
    """An outside policy that always plays the first offer and records what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str, float]] = []

    def choose(self, segment: str, offers: list[str], seed: int) -> str:
        return offers[0]

    def learn(self, segment: str, offer: str, reward: float) -> None:
        self.heard.append((segment, offer, reward))


def test_outside_policies_get_the_same_requests_and_their_rewards_late() -> None:
    outside = FirstOffer()
    results, _population, _tail = compare(
        1_000, delay=100, others={"first": outside}, only=(), progress=False
    )
    assert list(results) == ["first", "oracle"]
    assert len(outside.heard) == 900  # the last 100 rewards were still on their way
    assert 0 < sum(r for _s, _o, r in outside.heard) <= results["first"].rewards
    assert results["first"].seconds > 0 and results["first"].regret > 0
