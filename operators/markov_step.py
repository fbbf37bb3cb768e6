"""The data-driven attribution step: one Markov chain for the whole flow, learning every
ended path and crediting converting ones.

Bytewax ``stateful_map`` mapper keyed by a single key (``"markov"``): removal effects are a
property of everyone's journeys together, so the chain cannot be split by user. It is a
documented hot key, but a light one: it sees one message per conversion or ended path, not
per event, and recomputes its removal effects only every ``refresh`` paths
(:class:`~models.markov_chain.MarkovAttribution`).

Each input is a path payload from :mod:`operators.user_attribution`; outputs are
``("attribution", record)`` for a conversion under the ``markov_path`` model (its own path
learned first, so it is never credited by a chain that has not seen it) and
``("chain", document)`` with the chain's removal effects for Redis.

Examples
--------

>>> from state.journey import Touch
>>> step = MarkovStep(order=1, refresh=1)
>>> conversion = {"conversion_id": "e9", "user_id": "u", "ts": 50, "value_cents": 1000,
...               "currency": "EUR"}
>>> chain, out = step(None, {"conversion": None, "touches": [Touch(1, "sms")]})
>>> chain, out = step(chain, {"conversion": conversion, "touches": [Touch(5, "email")]})
>>> [(c["channel"], c["value"]) for c in out[0][1]["credits"]], out[1][1]["removal_effects"]
([('email', 10.0)], {'email': 1.0, 'sms': 0.0})

"""

from __future__ import annotations

from typing import Any

from models.attribution_models import MARKOV_PATH
from models.markov_chain import MarkovAttribution
from operators.user_attribution import Conversion

Output = tuple[str, Any]


class MarkovStep:
    """Mapper for ``op.stateful_map``: ``(chain | None, path) -> (chain, outputs)``.

    Parameters
    ----------
    order
        Markov chain order.
    refresh
        Paths between recomputations of the removal effects.

    """

    def __init__(self, order: int = 1, refresh: int = 1) -> None:
        self.order = order
        self.refresh = refresh

    def __call__(
        self, chain: MarkovAttribution | None, path: dict[str, Any]
    ) -> tuple[MarkovAttribution, list[Output]]:
        chain = chain or MarkovAttribution(order=self.order, refresh=self.refresh)
        touches = path["touches"]
        channels = [t.channel for t in touches]
        if path["conversion"] is None:
            chain.learn(channels, nulls=1)
            return chain, [("chain", chain.document())]
        conversion = Conversion(**path["conversion"])
        chain.learn(channels, conversions=1, value=conversion.value_cents / 100)
        record = conversion.record(MARKOV_PATH, touches, chain.weights(channels))
        return chain, [("attribution", record), ("chain", chain.document())]


def run_paths(
    step: MarkovStep, chain: MarkovAttribution | None, outputs: list[Output]
) -> tuple[MarkovAttribution | None, list[Output]]:
    """In process (tests, benchmarks), what the flow's wiring does: feed the ``("path", ...)``
    outputs of a user step through ``step``; returns the chain and every output, the
    step's appended."""
    out = list(outputs)
    for tag, payload in outputs:
        if tag == "path":
            chain, more = step(chain, payload)
            out += more
    return chain, out
