"""Key placement: flows.placement.worker_of against Bytewax's own routing, and the model keys'
spread."""

from __future__ import annotations

import ast
import os
import subprocess

import bytewax.operators as op
import pytest
from bytewax.connectors.stdio import StdOutSink
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource

from flows.ops import PROCESS_ID_VAR
from flows.placement import MODEL_KEYS, siphash13, worker_of
from offerflow import runner

#: Keys of every shape the flows use: model names, pseudonyms, campaign|segment pairs.
KEYS = [
    *MODEL_KEYS.values(),
    "reco",
    "a",
    "u_3f9c2a61d0e84b7f",
    "spring_sale|high_value",
    "welcome~exp=treatment",
    "",
    "é",
    "exactly8",
    "a key of more than sixteen bytes",
]


def routing_flow() -> Dataflow:
    """Each key through one stateful step, which prints the key and its process id."""
    flow = Dataflow("routing_probe")
    keyed = op.key_on("key", op.input("keys", flow, TestingSource(KEYS)), lambda k: k)
    seen = op.stateful_map("where", keyed, lambda _s, _k: (None, os.environ[PROCESS_ID_VAR]))
    op.output("out", seen, StdOutSink())
    return flow


def test_siphash13_is_rusts_default_hasher() -> None:
    # What Rust 1.95's DefaultHasher::new() gives: write(b"") and String::hash (bytes + 0xff)
    assert siphash13(b"") == 0xD1FBA762150C532C
    assert siphash13(b"reco\xff") == 0xDA1D0D35B3FB6684
    assert siphash13("é".encode() + b"\xff") == 0xD6E909F7D92E03B3
    assert siphash13(b"a key of more than sixteen bytes\xff") == 0xE57665070E0752FB


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_the_recommender_has_a_worker_to_itself(workers: int) -> None:
    reco = worker_of(MODEL_KEYS["reco"], workers)
    others = {worker_of(MODEL_KEYS[m], workers) for m in ("predict", "kmeans", "markov")}
    assert reco not in others
    assert len(others) >= (1 if workers == 2 else 2)


def test_worker_of_predicts_where_bytewax_runs_each_key() -> None:
    """Three real Bytewax processes (one worker each): every key runs where worker_of says."""
    lines = runner.commands("tests.test_placement:routing_flow()", processes=3)
    procs = [
        subprocess.Popen(
            cmd,
            env={**os.environ, PROCESS_ID_VAR: str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for i, cmd in enumerate(lines)
    ]
    seen = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        for line in out.splitlines():  # StdOutSink's (key, value) reprs, among Bytewax's notes
            if line.startswith("("):
                key, process = ast.literal_eval(line)
                seen[key] = int(process)
    assert seen == {key: worker_of(key, 3) for key in KEYS}
