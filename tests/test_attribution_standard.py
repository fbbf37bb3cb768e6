"""The standard Markov split (total conversions and value by normalized removal effects)
of ``offerflow attribution paths`` against an absorbing-chain solve written here, apart from
the project's code, and the per-path split beside it."""

from __future__ import annotations

import itertools

import numpy as np
import orjson
import pytest

from offerflow.cli import main

STANDARD_PATHS = """path,total_conversions,total_conversion_value,total_null
email > web,12,1200,30
web,7,350,80
search > email > web,9,1100,14
search,3,90,60
social > search > web > web,4,400,22
social,0,0,75
email > email,2,50,40
"""


def _absorbing_standard(rows: list[tuple[list[str], float, float, float]]):
    """Standard Markov attribution by an independent first-order absorbing-chain solve:
    transition counts, absorption in conversion from start, removal effects, and the total
    conversions and value split by the normalized effects."""
    channels = sorted({c for path, *_ in rows for c in path})
    states = ["start", *channels]
    index = {s: i for i, s in enumerate(states)}
    counts = np.zeros((len(states), len(states) + 2))  # last two columns: conversion, null
    for path, conversions, _value, nulls in rows:
        walk = ["start", *path]
        for here, there in itertools.pairwise(walk):
            counts[index[here], index[there]] += conversions + nulls
        counts[index[walk[-1]], len(states)] += conversions
        counts[index[walk[-1]], len(states) + 1] += nulls
    probabilities = counts / counts.sum(axis=1, keepdims=True)

    def converting(removed: str | None) -> float:
        q = probabilities[:, : len(states)].copy()
        r = probabilities[:, len(states)].copy()
        if removed is not None:  # the removed channel leads to null: no way on, no conversion
            q[index[removed], :] = 0.0
            q[:, index[removed]] = 0.0
            r[index[removed]] = 0.0
        return float(np.linalg.solve(np.eye(len(states)) - q, r)[0])

    base = converting(None)
    effects = {c: 1 - converting(c) / base for c in channels}
    mass = sum(effects.values())
    conversions = sum(r[1] for r in rows)
    value = sum(r[2] for r in rows)
    return {c: (conversions * e / mass, value * e / mass) for c, e in effects.items()}


def test_attribution_paths_standard_markov_matches_an_independent_absorbing_chain_solve(
    tmp_path, capsys
) -> None:
    file = tmp_path / "paths.csv"
    file.write_text(STANDARD_PATHS)
    rows = []
    for line in STANDARD_PATHS.splitlines()[1:]:
        path, conversions, value, nulls = line.split(",")
        rows.append(([c.strip() for c in path.split(">")], float(conversions), float(value),
                     float(nulls)))  # fmt: skip
    want = _absorbing_standard(rows)
    assert main(["attribution", "paths", str(file), "--format", "json"]) == 0
    got = orjson.loads(capsys.readouterr().out)["channels"]["markov"]
    assert set(got) == set(want)
    for channel, (conversions, value) in want.items():
        assert abs(got[channel]["conversions"] - conversions) < 1e-9, channel
        assert abs(got[channel]["value"] - value) < 1e-9, channel
    # the per-path form credits each row's conversions to its own channels only: social is
    # on one converting row (4 conversions), so it can never get more than 4 there
    assert main(["attribution", "paths", str(file), "--format", "json"]) == 0
    markov_path = orjson.loads(capsys.readouterr().out)["channels"]["markov_path"]
    assert sum(v["conversions"] for v in markov_path.values()) == pytest.approx(37)
    assert markov_path["social"]["conversions"] <= 4
