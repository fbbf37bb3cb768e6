"""The operations report keeps reporting: a recovery file that vanishes while it looks (SQLite
removes its -wal and -shm files as it checkpoints) or a failed sample never stops it. A CI run
once lost a process's reports for good to that race, and a test waiting on them timed out."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from operators import ops_report
from operators.ops_report import OpsReporter, last_snapshot_ms


class _Store:
    """Where the reporter writes: the last value per key (Redis semantics are not the point)."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def set(self, key: str, value: bytes, ex: int) -> None:
        self.values[key] = value


def test_a_recovery_file_that_vanishes_is_skipped(tmp_path, monkeypatch) -> None:
    (tmp_path / "part-0.sqlite3").write_bytes(b"")
    gone = tmp_path / "part-0.sqlite3-shm"  # listed, then removed before its stat
    real_glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: [*real_glob(self, pattern), gone])
    assert last_snapshot_ms(str(tmp_path)) == pytest.approx(time.time() * 1000, abs=60_000)


def test_a_failed_sample_does_not_stop_the_reports(monkeypatch) -> None:
    calls = {"n": 0}
    real = ops_report.document

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise FileNotFoundError("part-6.sqlite3-shm")
        return real(**kwargs)

    monkeypatch.setattr(ops_report, "document", flaky)
    store = _Store()
    reporter = OpsReporter(store, "ops:test", process=0, interval_s=0.05)
    reporter.start()
    try:
        deadline = time.monotonic() + 10
        while "ops:test" not in store.values and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        reporter.stop()
    assert calls["n"] >= 2 and "ops:test" in store.values
