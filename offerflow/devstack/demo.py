"""The end-to-end demo on the local stack, in three parts.

1. **Ingestion accounting**: mixed events (JSON and Avro, a share malformed, a few
   redeliveries) go to run-scoped topics; the flow runs as a real Bytewax process until the
   topic is drained; the dead-letter topic and the Redis profiles must account for every one.
2. **The full loop**: the flow tails its topics while the simulator's population asks for
   decisions and the reference channel senders deliver them and report impressions, clicks and
   purchases back. It ends with a table per campaign and experiment variant (the policy's
   click rate against uniform random and the oracle, and how the allocation moved to the best
   offers), an offline evaluation of the decisions log, the conversions' attribution under
   every model, and the shipped experiment's report: the per-segment bandit against uniform
   random and against no message at all (lift, intervals, verdicts).
3. **The API**: the same population's web placement asks the personalization API for
   decisions and reports impressions and clicks over HTTP; the flow must learn from every
   offer shown (:mod:`offerflow.devstack.demo_api`).

The dashboard (:mod:`offerflow.web.dashboard`) serves part 2 live from its start; its URL is printed
then, and the demo leaves it (and the idle flow) serving the results until Ctrl-C, unless
``serve=False`` (``--no-serve``).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from importlib import resources
from pathlib import Path

from config.settings import Settings
from models.attribution_models import MODELS
from offerflow import runner
from offerflow.devstack import stack
from offerflow.devstack.demo_api import run_api_part
from offerflow.devstack.sample import generate
from offerflow.devstack.tally import tally
from offerflow.kafka_io import produce
from offerflow.lab.simulator import LiveReport, Simulator
from offerflow.reports import attribution_report, experiment_report
from offerflow.web import dashboard
from operators.campaign_book import default_campaigns_text
from operators.redis_mirror import client_for


def run_demo(
    events: int,
    *,
    malformed_rate: float,
    users: int,
    seed: int,
    requests: int = 15_000,
    rate: float = 500.0,
    loop_users: int = 3_000,
    serve: bool = True,
) -> bool:
    """Run both parts and print what they did; return whether both checks held. With
    ``serve``, the dashboard keeps serving part 2's results until Ctrl-C."""
    run_id = time.strftime("demo-%Y%m%d-%H%M%S")
    accounted = run_accounting(
        run_id, events, malformed_rate=malformed_rate, users=users, seed=seed
    )
    looped = run_loop(
        run_id, requests=requests, rate=rate, users=loop_users, seed=seed, serve=serve
    )
    return accounted and looped


def run_accounting(
    run_id: str, events: int, *, malformed_rate: float, users: int, seed: int
) -> bool:
    """Part 1; returns whether every record was accounted for."""
    overrides = {
        "OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_REDIS_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_TAIL": "false",
    }
    settings = Settings.from_env({**os.environ, **overrides})
    print(f"== OfferFlow demo {run_id}, part 1: {events:,} events from {users:,} users")
    stack.up(settings, external_kafka="OFFERFLOW_KAFKA_BOOTSTRAP" in os.environ)

    samples = generate(
        events,
        seed=seed,
        users=users,
        malformed_rate=malformed_rate,
        now_ms=_now_ms(),
    )
    produce(
        settings,
        settings.topic("events"),
        ((s.key, s.value) for s in samples),
        total=len(samples),
        desc="producing events",
    )

    print("running the profile flow (one Bytewax process) until the topic is drained ...")
    started = time.monotonic()
    code = runner.run("profiles", env=overrides)
    elapsed = time.monotonic() - started
    if code != 0:
        print(f"the flow exited with code {code}")
        return False

    result = tally(settings)
    expected = Counter(s.expect for s in samples)
    expected_dead = {
        ("duplicate_event" if k == "duplicate" else k): v
        for k, v in expected.items()
        if k != "valid"
    }
    rows = [
        ("produced", len(samples), len(samples)),
        ("accepted (counted)", expected["valid"], result.events),
        ("dead-lettered", sum(expected_dead.values()), result.dead),
    ]
    rows += [
        (f"  {reason}", n, result.dead_letters.get(reason, 0))
        for reason, n in sorted(expected_dead.items())
    ]
    rows += [
        (f"  {reason} (unexpected)", 0, n)
        for reason, n in result.dead_letters.items()
        if reason not in expected_dead
    ]
    print(f"\n{'':34}{'expected':>10}{'observed':>10}")
    for label, want, got in rows:
        print(f"{label:34}{want:>10,}{got:>10,}{'' if want == got else '   <-- MISMATCH'}")
    print(f"\nusers with a profile in Redis: {result.users:,}")
    print(
        f"flow wall time: {elapsed:.2f} s including start-up "
        f"({len(samples) / elapsed:,.0f} events/s)"
    )
    print(
        f"topics: {settings.topic('events')}, {settings.topic('dlq')}; "
        f"Redis keys: {settings.redis_key('profile', '*')}"
    )
    ok = all(want == got for _, want, got in rows)
    print("every record accounted for: " + ("yes" if ok else "NO"))
    return ok


def run_loop(
    run_id: str, *, requests: int, rate: float, users: int, seed: int, serve: bool = True
) -> bool:
    """Part 2; returns whether every request got its decision, its conversions were
    attributed and its exposures counted."""
    overrides = {
        "OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}-loop",
        "OFFERFLOW_REDIS_PREFIX": f"offerflow-{run_id}-loop",
        "OFFERFLOW_TAIL": "true",
        "OFFERFLOW_SEGMENTS_FILE": str(resources.files("state") / "persona_segments.toml"),
        # Journeys end unconverted after 10 s without a touch (default 7 days), so the Markov
        # model sees non-converting paths within the demo's minute.
        "OFFERFLOW_ATTRIBUTION_INACTIVITY": "10s",
        # Dashboard time series in 2-s buckets of event time: the loop lasts about a minute.
        "OFFERFLOW_HISTORY_BUCKET": "2s",
    }
    outbox = os.path.join(Settings.from_env().stack_dir, "outbox", run_id)
    os.makedirs(outbox, exist_ok=True)
    # The shipped campaigns wait 30 min to 1 day for a response; the demo lasts a minute, so
    # its copy closes reward windows after 5 s (a silent recipient then counts as a 0).
    campaigns = os.path.join(outbox, "campaigns.toml")
    text = re.sub(r'reward_window = "[^"]*"', 'reward_window = "5s"', default_campaigns_text())
    Path(campaigns).write_text(text)
    overrides["OFFERFLOW_CAMPAIGNS_FILE"] = campaigns
    settings = Settings.from_env({**os.environ, **overrides})
    stack.ensure_topics(settings)
    print(
        f"\n== part 2: the full loop: {users:,} users, {requests:,} decision requests at "
        f"{rate:,.0f}/s, the flow tailing, reference senders delivering"
    )
    flow_log = os.path.join(outbox, "flow.log")
    board = _dashboard(settings)
    print(f"dashboard (live): {board.login_url}", flush=True)
    procs = runner.start("profiles", env=overrides, log_path=flow_log)
    try:
        ok = _loop(settings, requests, rate, users, seed, outbox, flow_log)
        if serve:
            _serve_until_interrupted(board)
    finally:
        runner.stop(procs)
        board.stop()
    return ok


def _dashboard(settings: Settings) -> dashboard.Running:
    """The dashboard on the configured port, or any free one if that port is taken."""
    try:
        return dashboard.start(settings)
    except OSError:
        return dashboard.start(settings, port=0)


def _serve_until_interrupted(board: dashboard.Running) -> None:
    print(
        f"\ndashboard serving the demo's results at {board.login_url} until Ctrl-C",
        flush=True,
    )
    try:
        while board.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping the dashboard and the flow")


def _loop(
    settings: Settings,
    requests: int,
    rate: float,
    users: int,
    seed: int,
    outbox: str,
    flow_log: str,
) -> bool:
    """Part 2's traffic, waits and report, while the flow and the dashboard run."""
    # About 1% of the loop's records are malformed, as real apps send some: dead letters for
    # the operations view (part 1 accounts for every reason exactly).
    bad = generate(max(20, requests // 100), seed=seed, malformed_rate=1.0, now_ms=_now_ms())
    produce(settings, settings.topic("events"), ((s.key, s.value) for s in bad), total=len(bad))
    simulator = Simulator(settings, users=users, seed=seed, outbox_dir=outbox)
    report = simulator.run(requests, rate)
    print(f"waiting for the flow to attribute the run's {report.purchases:,} conversions ...")
    attribution = _await_attribution(settings, report.purchases, timeout_s=120)
    counted = _await_exposures(settings, report, timeout_s=60)
    print(f"flow output: {flow_log}")
    _print_loop(report, settings, outbox)
    log_path = os.path.join(outbox, "decisions.jsonl")
    report.write_log(log_path)
    truth = sum(d.uniform for d in report.delivered) / max(1, len(report.delivered))
    _print_ope(log_path, truth)
    print("\nattribution of the run's conversions (live totals, `offerflow attribution report`):")
    print(attribution_report.render(attribution), end="")
    print("\nexperiments (live sums, `offerflow experiments report`):")
    print(
        experiment_report.render(experiment_report.live(settings, client_for(settings.redis_url)))
    )
    print(f"every experiment exposure counted: {'yes' if counted else 'NO'}")
    api = run_api_part(settings, simulator, requests=max(50, requests // 20), timeout_s=60)
    ok = report.decisions >= requests
    print(f"every request decided: {'yes' if ok else 'NO'} ({report.decisions:,}/{requests:,})")
    credited = attribution.conversions == report.purchases
    print(
        f"every conversion attributed: {'yes' if credited else 'NO'} "
        f"({attribution.conversions:,.0f}/{report.purchases:,})"
    )
    return ok and credited and counted and api


def _now_ms() -> int:
    return int(time.time() * 1000)


def _await_exposures(settings: Settings, report: LiveReport, timeout_s: float) -> bool:
    """Whether the flow's experiment sums reach the users and exposures the simulator saw
    (delivered decisions and withheld messages) within ``timeout_s``."""
    client = client_for(settings.redis_url)
    deadline = time.monotonic() + timeout_s
    while True:
        counts = experiment_report.variant_counts(settings, client, report.exposed)
        want = {k: (len(users), report.exposures[k]) for k, users in report.exposed.items()}
        if counts == want:
            return True
        if time.monotonic() > deadline:
            print(f"experiment sums {counts} != simulated {want}")
            return False
        time.sleep(0.2)


def _await_attribution(
    settings: Settings, purchases: int, timeout_s: float
) -> attribution_report.Report:
    """The flow's attribution totals once every model has credited ``purchases``
    conversions (or when ``timeout_s`` runs out)."""
    client = client_for(settings.redis_url)
    deadline = time.monotonic() + timeout_s
    while True:
        report = attribution_report.live(settings, client)
        done = report.conversions >= purchases and all(m in report.channels for m in MODELS)
        if done or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


def _print_loop(report: LiveReport, settings: Settings, outbox: str) -> None:
    offers = report.decisions - sum(report.no_offer.values())
    print(
        f"\n{report.decisions:,} decisions in {report.seconds:.1f} s: {offers:,} offers, "
        f"{sum(report.no_offer.values()):,} explicit no-offer"
    )
    for reason, n in report.no_offer.most_common(6):
        print(f"  no offer, {reason}: {n:,}")
    if report.with_products:
        print(
            f"{report.with_products:,} decisions carried recommended products; "
            f"{report.favourite_products / report.with_products:.0%} of them include one of "
            "the user's planted favourites (5 of 240 products each)"
        )
    sent = {k: v for k, v in sorted(report.sender_counts.items())}
    print(f"senders: {sent}")
    print(f"outboxes: {outbox}/email.jsonl; in-app inboxes: {settings.redis_key('inbox', '*')}")
    header = (
        f"\n{'campaign/variant':22}{'delivered':>10}{'clicks':>8}{'CTR':>8}{'policy':>9}"
        f"{'random':>8}{'oracle':>8}{'best offer share':>20}"
    )
    print(header + "\n" + "-" * (len(header) - 1))
    for row in report.campaign_table():
        print(
            f"{row['campaign']:22}{row['delivered']:>10,}{row['clicks']:>8,}"
            f"{row['ctr_realized']:>8.2%}{row['ctr_learned']:>9.2%}{row['ctr_uniform']:>8.2%}"
            f"{row['ctr_oracle']:>8.2%}"
            f"{row['best_share_first_fifth']:>10.0%} -> {row['best_share_last_fifth']:.0%}"
        )
    print(
        "CTR: realized; policy/random/oracle: expected click rate of the policy's choices, of "
        "a uniformly random offer and of the best offer, on the same requests. Best offer "
        "share: first fifth of deliveries -> last fifth."
    )


def _print_ope(log_path: str, uniform_truth: float) -> None:
    from models import ope
    from models.ope_log import read_log

    log = read_log(log_path)
    if not log:
        return
    print(f"\noffline evaluation of {len(log):,} logged decisions ({log_path}):")
    mean = sum(r.reward for r in log) / len(log)
    print(f"  logged policy (realized): {mean:.4f}")
    for name, target in (("uniform", ope.uniform), ("greedy", ope.greedy(log))):
        for est in (ope.ipw(log, target), ope.snipw(log, target), ope.doubly_robust(log, target)):
            print(f"  {name:8}{est.method:>6}: {est.value:.4f}  [{est.low:.4f}, {est.high:.4f}]")
        if name == "uniform":  # the simulator knows what uniform random would really earn
            print(f"  {name:8}{'true':>6}: {uniform_truth:.4f}  (expected, hidden click rates)")
