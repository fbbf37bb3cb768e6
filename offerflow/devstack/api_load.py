"""``scripts/bench_api``: the personalization API under load, with the flow, the broker and
Redis running beside it on the same machine.

On fresh run-scoped topics it starts the main flow (one process, tailing) and ``offerflow
serve``, introduces ``users`` app users through the API (consent and a page view each, so
decisions have profiles to screen), then runs Locust headless (FastHttpUser, Poisson arrivals
at the asked rate: see the Locust file) once per route: ``/v1/decide`` at each ``--decide-rates``,
``/v1/events`` in batches of ``batch`` at ``events_rate`` events/s, and profile reads. Per
route it reports requests/s achieved, p50/p95/p99 as Locust measured them (whole
milliseconds), the share the API answered within 10 ms by its own latency histogram, errors,
and the CPU each process used (the load generator's own included), and
counts the events on the topic against those the API accepted. Writes its table into
docs/BENCHMARKS.md (a marked section that ``scripts/bench`` keeps).

Run ``scripts/bench_api --help``.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from config.settings import Settings
from offerflow import runner
from offerflow.api.keys import SCOPES, new_key
from offerflow.devstack import bench_report, stack
from offerflow.flags import positive_float, positive_int
from offerflow.kafka_io import read_to_end

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=positive_float, default=30.0, help="seconds per route (30)"
    )
    parser.add_argument(
        "--decide-rates", default="1000", help="requests/s, comma-separated: a row each (1000)"
    )
    parser.add_argument(
        "--events-rate", type=positive_float, default=5000.0, help="events/s (5,000)"
    )
    parser.add_argument("--batch", type=positive_int, default=100, help="events per request (100)")
    parser.add_argument(
        "--read-rate", type=positive_float, default=1000.0, help="profile reads/s (1,000)"
    )
    parser.add_argument(
        "--users", type=positive_int, default=10_000, help="app users per decide run (10,000)"
    )
    parser.add_argument("--workers", type=positive_int, default=1, help="API processes (1)")
    parser.add_argument(
        "--routes", default="decide,events,profile", help="which routes (default: all three)"
    )
    parser.add_argument("--output", default="docs/BENCHMARKS.md", help="report to update")
    args = parser.parse_args(argv)
    try:
        args.decide_rates = [float(r) for r in args.decide_rates.split(",")]
    except ValueError:
        parser.error("--decide-rates: numbers separated by commas, like 250,500,1000")
    if min(args.decide_rates) <= 0:
        parser.error("--decide-rates must be positive")
    if not set(args.routes.split(",")) <= {"decide", "events", "profile"}:
        parser.error("--routes: a comma-separated list of decide, events, profile")
    rows = measure(args)
    section = report(rows, args)
    bench_report.replace_section(Path(args.output), section)
    print(section)
    return 0


def measure(args: argparse.Namespace) -> list[dict]:
    run_id = time.strftime("api-%Y%m%d-%H%M%S")
    key, entry = new_key("bench", SCOPES, rate=1_000_000)
    keys = Path(tempfile.mkdtemp()) / "keys.toml"
    keys.write_text(entry)
    env = {
        "OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_REDIS_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_TAIL": "true",
        "OFFERFLOW_API_KEYS_FILE": str(keys),
        "OFFERFLOW_API_PORT": "8079",
    }
    settings = Settings.from_env({**os.environ, **env})
    stack.fresh_broker(settings, say=print)
    stack.ensure_topics(settings)
    log = Path(settings.stack_dir) / f"{run_id}.log"
    flow = runner.start("profiles", env=env, log_path=str(log))
    server = subprocess.Popen(
        [sys.executable, "-m", "offerflow", "serve", "--workers", str(args.workers)],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://{settings.api_host}:8079"
    try:
        _ready(url)
        # each decide run gets users of its own, so caps reached in one do not cheapen the next
        accepted = _introduce(url, key, args.users * len(args.decide_rates))
        rows = []
        plan = [
            *(("decide", "/v1/decide", rate, 1) for rate in args.decide_rates),
            ("events", "/v1/events", args.events_rate / args.batch, args.batch),
            ("profile", "/v1/profiles/{user_id}", args.read_rate, 1),
        ]
        for run, (scenario, route, rate, batch) in enumerate(plan):
            if scenario not in args.routes.split(","):
                continue
            first = args.users * run if scenario == "decide" else 0
            pids = {
                "API": _tree(server.pid),
                "flow": [p.pid for p in flow],
                "broker": [stack.broker_pid(settings)],
            }
            before = _served(url, route)
            row = _locust(url, key, scenario, rate, batch, first, args, pids)
            after = _served(url, route)
            answered = after[1] - before[1]
            row["served"] = (after[0] - before[0]) / answered if answered else None
            rows.append({"route": route, "asked": rate * batch, "batch": batch, **row})
            if scenario == "events":
                accepted += (row["count"] - row["failures"]) * batch
        time.sleep(3)
        on_topic = len(read_to_end(settings, settings.topic("events"), 10))
        if args.workers == 1:  # the server's own count; Locust misses requests cut at its stop
            accepted = _accepted(url)
        rows.append({"route": "events on the topic", "accepted": accepted, "found": on_topic})
        return rows
    finally:
        server.terminate()
        server.wait(20)
        runner.stop(flow)
        stack.remove_run(settings)


def _ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the API at {url} did not become ready")


def _introduce(url: str, key: str, users: int) -> int:
    """Consent and a page view for every app user, through the API; waits until the flow
    has their profiles (decisions screen on them). Returns the events accepted."""
    now = int(time.time() * 1000)
    headers = {"Authorization": f"Bearer {key}"}
    accepted = 0
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        for start in range(0, users, 250):
            batch = []
            for i in range(start, min(users, start + 250)):
                user = f"bench-{i}"
                batch += [
                    {"event_id": f"seed-c{i}", "type": "consent", "user_id": user, "ts": now,
                     "consent": {"marketing": True}},
                    {"event_id": f"seed-v{i}", "type": "page_view", "user_id": user, "ts": now},
                ]  # fmt: skip
            accepted += http.post("/v1/events", json=batch).json()["accepted"]
        deadline = time.monotonic() + 120
        last = f"/v1/profiles/bench-{users - 1}"
        while http.get(last).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
    return accepted


def _locust(
    url: str, key: str, scenario: str, rate: float, batch: int, first: int,
    args: argparse.Namespace, pids: dict[str, list[int | None]],
) -> dict:  # fmt: skip
    clients = max(1, round(rate / 20))  # each Locust user asks 20 times a second at most
    out = Path(tempfile.mkdtemp()) / scenario
    env = {**os.environ, "BENCH_API_KEY": key, "BENCH_SCENARIO": scenario,
           "BENCH_RATE": str(rate / clients), "BENCH_USERS": str(args.users),
           "BENCH_BATCH": str(batch), "BENCH_FIRST_USER": str(first)}  # fmt: skip
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
               "-u", str(clients), "-r", str(clients), "-t", f"{args.duration:g}s",
               "--host", url, "--csv", str(out), "--only-summary",
               "--loglevel", "ERROR"]  # fmt: skip
    print(f"{scenario}: {rate * batch:,.0f}/s for {args.duration:g} s ...", flush=True)
    before = {name: _cpu(ps) for name, ps in pids.items()}
    started = time.monotonic()
    locust = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    generator = 0.0
    while locust.poll() is None:  # the generator's CPU, read until it exits
        generator = max(generator, runner.cpu_seconds(locust.pid))
        time.sleep(0.5)
    wall = time.monotonic() - started
    used = {f"{name} CPU": (_cpu(ps) - before[name]) / wall for name, ps in pids.items()}
    with open(f"{out}_stats.csv") as fh:
        total = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    with open(f"{out}_failures.csv") as fh:
        kinds = {r["Error"]: int(r["Occurrences"]) for r in csv.DictReader(fh)}
    return {
        "count": int(total["Request Count"]),
        "requests": float(total["Request Count"]) / args.duration,
        "failures": int(total["Failure Count"]),
        "why": "; ".join(f"{n:,} {error}" for error, n in kinds.items()),
        "p50": total["50%"], "p95": total["95%"], "p99": total["99%"],
        **used,
        "generator CPU": generator / wall,
    }  # fmt: skip


def _accepted(url: str) -> int:
    """Events the API answered as accepted, from its metrics."""
    for labels, value in _samples(url, "offerflow_api_events_total"):
        if labels["outcome"] == "accepted":
            return int(value)
    return 0


def _served(url: str, route: str) -> tuple[float, float]:
    """Requests to ``route`` the API answered within 10 ms by its own clock (its latency
    histogram, from arrival to answer), and all of them."""
    within = total = 0.0
    for labels, value in _samples(url, "offerflow_api_request_seconds_bucket"):
        if labels["route"] == route and labels["le"] == "0.01":
            within += value
        elif labels["route"] == route and labels["le"] == "+Inf":
            total += value
    return within, total


def _samples(url: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The API's samples of the metric ``name``: labels and value."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def _tree(pid: int) -> list[int | None]:
    """``pid`` and its children (uvicorn's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = children.read_text().split() if children.exists() else []
    return [pid, *(int(c) for c in found)]


def _cpu(pids: list[int | None]) -> float:
    return sum(runner.cpu_seconds(p) for p in pids if p is not None)


def report(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "## HTTP API under load",
        "",
        f"Produced by `scripts/bench_api --duration {args.duration:g} --decide-rates "
        f"{','.join(f'{r:g}' for r in args.decide_rates)} --events-rate {args.events_rate:g} "
        f"--batch {args.batch} "
        f"--read-rate {args.read_rate:g} --users {args.users} --workers {args.workers}` on "
        f"{time.strftime('%Y-%m-%d')}: `offerflow serve` ({args.workers} uvicorn process(es)) "
        "with the main flow (one process, tailing), the local broker and Redis on the same "
        f"{os.cpu_count()}-core machine, and Locust (FastHttpUser, Poisson arrivals) as the "
        "load generator, also on it. Latencies are Locust's, client side, in whole "
        "milliseconds; CPU is cores used over the route's run. Rates of `/v1/events` count "
        f"events ({args.batch} per request). In 10 ms is the share the API answered within "
        "10 ms by its own clock (its latency histogram, from a request's arrival to its "
        "answer)" + ("" if args.workers == 1 else ", as one worker of several counted") + ".",
        "",
        "| route | asked/s | achieved/s | requests/s | p50 | p95 | p99 | in 10 ms | errors "
        "| API CPU | flow CPU | broker CPU | Locust CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows[:-1]:
        lines.append(
            f"| `{r['route']}` | {r['asked']:,.0f} | {r['requests'] * r['batch']:,.0f} "
            f"| {r['requests']:,.0f} | {r['p50']} ms "
            f"| {r['p95']} ms | {r['p99']} ms | {_share(r['served'])} | {r['failures']:,} "
            f"| {r['API CPU']:.2f} "
            f"| {r['flow CPU']:.2f} | {r['broker CPU']:.2f} | {r['generator CPU']:.2f} |"
        )
    check = rows[-1]
    errors = [f"`{r['route']}`: {r['why']}" for r in rows[:-1] if r["failures"]]
    if errors:
        lines += ["", "Errors: " + "; ".join(errors) + "."]
    lines += [
        "",
        f"Events the API answered as accepted: {check['accepted']:,}"
        f"{' (its own count)' if args.workers == 1 else ' (Locust count: at least)'}; found on "
        f"the topic: {check['found']:,}.",
    ]
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


if __name__ == "__main__":
    raise SystemExit(main())
