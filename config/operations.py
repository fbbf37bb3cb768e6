"""Settings of operations: recovery, metrics, the dashboard, the local stack and logging."""

from __future__ import annotations

from config.values import at_least, duration, text
from config.variable import Variable

OPERATIONS = "Operations"
#: ``OFFERFLOW_SNAPSHOT_S``'s default, also the process runner's when a caller gives none.
SNAPSHOT_S = 30

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "RECOVERY_DIR",
        "",
        "Bytewax recovery directory. `offerflow run` uses `./offerflow-recovery` when it is "
        "empty (`--no-recovery` turns recovery off); the demo, tests and benchmarks choose "
        "their own.",
        OPERATIONS,
        text,
    ),
    Variable(
        "SNAPSHOT_S",
        str(SNAPSHOT_S),
        "Whole seconds between recovery snapshots. After each one Bytewax clears old snapshots "
        "with a query over every key's, so short intervals slow a flow that holds many users "
        "(at 630,000 users, 10 s cost a quarter of its speed); a restart replays at most one "
        "interval of input.",
        OPERATIONS,
        at_least(1),
    ),
    Variable(
        "HISTORY_BUCKET",
        "5m",
        "Event time per point of the dashboard's time series (arm allocation, segment sizes, "
        "experiment p-values); each series keeps its newest 500 points.",
        OPERATIONS,
        duration,
    ),
    Variable(
        "METRICS_PORT",
        "9464",
        "Prometheus endpoint of each flow process (`/metrics` on 127.0.0.1, port + process "
        "index); 0 turns it off.",
        OPERATIONS,
        at_least(0),
    ),
    Variable(
        "METRICS_HOST",
        "127.0.0.1",
        "Address the flow's Prometheus endpoint binds to.",
        OPERATIONS,
        text,
    ),
    Variable(
        "OPS_INTERVAL_S",
        "2",
        "Seconds between each flow process's operations report to Redis (counters, input "
        "positions, last snapshot) for the dashboard.",
        OPERATIONS,
    ),
    Variable(
        "DASHBOARD_TOKEN",
        "",
        "Token the dashboard requires (`?token=` once, then a cookie, or a Bearer header), "
        "at least 20 characters; empty: a random one is made at start and printed with the URL.",
        OPERATIONS,
        text,
    ),
    Variable(
        "DASHBOARD_HOST", "127.0.0.1", "Address `offerflow dashboard` binds to.", OPERATIONS, text
    ),
    Variable(
        "DASHBOARD_PORT",
        "8050",
        "Port of `offerflow dashboard` (0: any free port).",
        OPERATIONS,
        at_least(0),
    ),
    Variable(
        "STACK_DIR", ".stack", "Where `scripts/stack` keeps logs and pid files.", OPERATIONS, text
    ),
    Variable("LOG_LEVEL", "INFO", "Log level of the `offerflow` commands.", OPERATIONS),
)
