"""One flow process: Bytewax's own command line (``python -m bytewax.run``), where a stop
signal is a clean exit.

Bytewax 0.21 stops a process on SIGINT by raising ``KeyboardInterrupt`` inside whatever step
runs, and the process then exits with a traceback and code 1 (or dies by the signal), so a
supervisor cannot tell an operator's stop from a crash. Here SIGINT and SIGTERM both stop the
dataflow that way, and the process exits 0 when the interrupt is what ended it; any other
error keeps its traceback and a non-zero code. Nothing is lost by stopping: output is
at-least-once and a restart resumes from the last recovery snapshot.

``offerflow run`` starts ``python -m flows.process <bytewax.run arguments>``. With
``OFFERFLOW_SUMMARY_FILE`` set, the process writes its counters there as JSON when it ends
(events accepted, dead letters by reason), for the summary of a bounded run.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys

import orjson
from bytewax.errors import BytewaxRuntimeError

from flows.ops import honour_sigint, process_id
from operators.ops_report import document

#: Where a process writes its final counters (set by ``offerflow run`` for bounded runs).
SUMMARY_FILE_VAR = "OFFERFLOW_SUMMARY_FILE"


def main(argv: list[str]) -> int:
    """Run ``bytewax.run`` with ``argv``; 0 when a stop signal ended it."""
    honour_sigint()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.argv = ["bytewax.run", *argv]
    try:
        runpy.run_module("bytewax.run", run_name="__main__", alter_sys=True)
    except KeyboardInterrupt:
        return _stopped()
    except BytewaxRuntimeError as exc:
        if not _interrupted(exc):
            raise
        return _stopped()
    finally:
        _write_summary()
    return 0


def _write_summary() -> None:
    path = os.environ.get(SUMMARY_FILE_VAR)
    if path:
        counters = document(process=process_id(), history=[])["counters"]
        with open(path, "wb") as fh:
            fh.write(orjson.dumps(counters))


def _interrupted(exc: BaseException | None) -> bool:
    """Whether a stop signal is somewhere in the exception's chain of causes."""
    seen = 0
    while exc is not None and seen < 32:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _stopped() -> int:
    print("flow process stopped by a signal", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
