"""The dev tooling's benchmarks (``scripts/bench*``) refuse a bad flag like every other
command: exit code 2 and one line naming it, before any work starts, never a traceback."""

from __future__ import annotations

import importlib

import pytest

CASES = [
    ("step_cost", ["--repeat", "0"], "--repeat: '0' must be above 0"),
    ("step_cost", ["--events", "many"], "--events: 'many' is not a whole number"),
    ("policy_cost", ["--calls", "-3"], "--calls: '-3' must be above 0"),
    ("policy_cost", ["--kinds", "greedyish"], "unknown kind 'greedyish'"),
    ("policy_compare", ["--delay", "-1"], "--delay: '-1' must be 0 or above"),
    ("policy_compare", ["--strength", "nan"], "--strength: 'nan' must be a finite number"),
    ("policy_compare", ["--seeds", "a,b"], "--seeds must list whole numbers"),
    ("api_load", ["--batch", "0"], "--batch: '0' must be above 0"),
    ("api_load", ["--duration", "inf"], "--duration: 'inf' must be a finite number above 0"),
    ("api_load", ["--decide-rates", "250,-1"], "--decide-rates must be positive"),
    ("cdnow_check", ["--stride", "0"], "--stride: '0' must be above 0"),
    ("hostile", ["--users", "0"], "--users: '0' must be above 0"),
    ("hostile", ["--events", "10"], "--events must be at least 1000"),
]


@pytest.mark.parametrize(("module", "argv", "message"), CASES, ids=[" ".join(c[1]) for c in CASES])
def test_a_bad_flag_is_one_line_and_exit_code_2(
    module: str, argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    main = importlib.import_module(f"offerflow.devstack.{module}").main
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if not line.startswith(("usage:", " "))]) == 1
