"""Per-process operations wiring of a running flow: the Prometheus endpoint and the Redis
operations report (:mod:`operators.ops_report`).

The process index comes from ``OFFERFLOW_PROCESS_ID``, which :mod:`offerflow.runner` sets for
each process it starts (``-i``); a process started another way is process 0 unless it sets
the variable. Process ``i`` serves ``/metrics`` on ``OFFERFLOW_METRICS_PORT + i``.
"""

from __future__ import annotations

import os
import signal
import socket

from config.settings import Settings
from operators.input_lag import InputLag
from operators.ops_report import OpsReporter, serve_metrics
from operators.redis_mirror import client_for

#: Set by :mod:`offerflow.runner` for each process it starts.
PROCESS_ID_VAR = "OFFERFLOW_PROCESS_ID"


def process_id() -> int:
    """This Bytewax process's index."""
    return int(os.environ.get(PROCESS_ID_VAR, "0") or 0)


def start(settings: Settings) -> OpsReporter:
    """Start this process's metrics endpoint (unless ``OFFERFLOW_METRICS_PORT=0``) and its
    operations report thread; returns the reporter."""
    index = process_id()
    if settings.metrics_port:
        lag = InputLag(settings.kafka())
        serve_metrics(settings.metrics_host, settings.metrics_port + index, scraped=[lag])
    reporter = OpsReporter(
        client_for(settings.redis_url),
        settings.redis_key("ops", socket.gethostname(), str(index)),
        process=index,
        interval_s=settings.ops_interval_s,
        recovery_dir=settings.recovery_dir,
    )
    reporter.start()
    return reporter


def honour_sigint() -> None:
    """Make SIGINT raise ``KeyboardInterrupt`` again if it was inherited ignored.

    A program started in the background by a non-interactive shell (``cmd &`` in a script, as
    CI runners and nohup-style launchers do) inherits SIGINT ignored, and Python then leaves
    it ignored: Ctrl-C, :func:`stop` and Bytewax's own shutdown on SIGINT would do nothing,
    and a demo or a flow would run until killed. OfferFlow stops on SIGINT by design.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
