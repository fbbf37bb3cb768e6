"""A flow process (``python -m flows.process``) exits 0 when a stop signal ends it, non-zero
when anything else does, and writes its counters for the summary of a bounded run. Small
in-memory flows, no broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import bytewax.operators as op
import orjson
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.testing import TestingSource

from flows.process import SUMMARY_FILE_VAR
from offerflow.runner import free_port


class _Endless(StatelessSourcePartition):
    def next_batch(self):
        time.sleep(0.01)
        return [1]


class _EndlessSource(DynamicSource):
    def build(self, step_id, worker_index, worker_count):
        return _Endless()


def endless_flow() -> Dataflow:
    flow = Dataflow("endless")
    op.inspect("seen", op.input("in", flow, _EndlessSource()), lambda *_: None)
    return flow


def _fail(x: int) -> int:
    raise ValueError(f"broken step on {x}")


def failing_flow() -> Dataflow:
    flow = Dataflow("failing")
    op.inspect("seen", op.map("fail", op.input("in", flow, TestingSource([1, 2])), _fail),
               lambda *_: None)  # fmt: skip
    return flow


def finite_flow() -> Dataflow:
    flow = Dataflow("finite")
    op.inspect("seen", op.input("in", flow, TestingSource([1, 2, 3])), lambda *_: None)
    return flow


def _start(flow: str, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.process", f"tests.test_process:{flow}", *extra],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_stop_signal_ends_the_process_with_code_0() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = _start("endless_flow()")
        time.sleep(3)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        assert "stopped by a signal" in err


def test_two_processes_both_stop_cleanly() -> None:
    addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(2))
    procs = [_start("endless_flow()", "-i", str(i), "-a", addresses) for i in range(2)]
    time.sleep(4)
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    codes = [proc.wait(60) for proc in procs]
    assert codes == [0, 0], [proc.stderr.read()[-1500:] for proc in procs]


def test_a_failing_step_still_fails_the_process() -> None:
    proc = _start("failing_flow()")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "broken step on 1" in err


def test_a_finished_run_writes_its_counters(tmp_path) -> None:
    summary = tmp_path / "process-0.json"
    proc = _start("finite_flow()", env={SUMMARY_FILE_VAR: str(summary)})
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    counters = orjson.loads(summary.read_bytes())
    assert set(counters) >= {"events_in", "dead_letters"}
