"""Per-process operations wiring of a running flow: the Prometheus endpoint and the Redis
operations report (:mod:`operators.ops_report`).

The process index comes from ``OFFERFLOW_PROCESS_ID``, which :mod:`flows.runner` sets for
each process it starts (``-i``); a process started another way is process 0 unless it sets
the variable. Process ``i`` serves ``/metrics`` on ``OFFERFLOW_METRICS_PORT + i``.
"""

from __future__ import annotations

import os
import socket

from flows.config import Settings
from operators.ops_report import OpsReporter, serve_metrics
from operators.redis_mirror import client_for

#: Set by :mod:`flows.runner` for each process it starts.
PROCESS_ID_VAR = "OFFERFLOW_PROCESS_ID"


def process_id() -> int:
    """This Bytewax process's index."""
    return int(os.environ.get(PROCESS_ID_VAR, "0") or 0)


def start(settings: Settings) -> OpsReporter:
    """Start this process's metrics endpoint (unless ``OFFERFLOW_METRICS_PORT=0``) and its
    operations report thread; returns the reporter."""
    index = process_id()
    if settings.metrics_port:
        serve_metrics(settings.metrics_host, settings.metrics_port + index)
    reporter = OpsReporter(
        client_for(settings.redis_url),
        settings.redis_key("ops", socket.gethostname(), str(index)),
        process=index,
        interval_s=settings.ops_interval_s,
        recovery_dir=settings.recovery_dir,
    )
    reporter.start()
    return reporter
