"""Experiments: variants of a campaign's decisions, who gets which, and what is measured.

An experiment lives beside the campaigns, in the same file (``[[experiment]]`` tables and a
``[holdout]`` table) and on the same control topic (records keyed ``experiment:<id>`` and
``holdout``), so a campaign and the experiments on it change together (docs/experiments.md).

**Assignment is a pure function of the pseudonymous user id** (no state to lose or share
between workers):

- the **layer** hash ``unit("layer:<layer>", user)`` places the user in ``[0, 1)``; an
  experiment owns the range ``traffic = [from, to)`` of its layer, and ranges of one layer may
  not overlap, so a user is in at most one experiment per layer;
- the **variant** hash ``unit(<salt>, user)`` (an independent draw) falls in one variant's
  *band*: variant ``i`` owns ``[b_i, b_i + max_weight_i)`` with ``b_i`` the sum of the
  earlier bands, and takes the users in its first ``weight_i`` of it. The rest of the band is
  not enrolled. Raising a weight up to its ``max_weight`` therefore only *adds* users to that
  variant: nobody already assigned moves (``max_weight`` defaults to an equal share, and
  changing it, or the salt, reshuffles by design);
- the **global holdout** (``[holdout] share``) is a salt of its own: those users get no
  marketing at all, whatever the campaign, and are measured against everyone else as the
  built-in experiment ``holdout`` (variants ``holdout`` and ``marketed``).

Examples
--------

>>> from state.experiment_file import parse_experiment
>>> exp = parse_experiment({"id": "e", "campaign": "c", "variant": [
...     {"id": "a", "weight": 0.25}, {"id": "b", "weight": 0.25}]}, [], lambda k: 1)
>>> [v.max_weight for v in exp.variants], exp.control
([0.5, 0.5], 'a')
>>> shares = [exp.assign(f"user{i}") for i in range(10_000)]
>>> sorted({v.id for v in shares if v}), round(shares.count(None) / 10_000, 1)
(['a', 'b'], 0.5)
>>> bigger = parse_experiment({"id": "e", "campaign": "c", "variant": [
...     {"id": "a", "weight": 0.5}, {"id": "b", "weight": 0.25}]}, [], lambda k: 1)
>>> all(bigger.assign(f"user{i}").id == v.id for i, v in enumerate(shares) if v)  # no move
True

"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

#: Per-user metrics every experiment measures (after the user's first exposure):
#: purchased (0/1), revenue (sum of purchase values), clicked or opened a message (0/1),
#: unsubscribed or withdrew marketing consent (0/1).
METRICS = ("conversion", "revenue", "click", "unsubscribe")
#: Metrics where lower is better.
LOWER_IS_BETTER = frozenset({"unsubscribe"})
#: Id of the built-in global holdout experiment.
HOLDOUT_ID = "holdout"


def unit(salt: str, user: str) -> float:
    """A uniform draw in ``[0, 1)`` fixed by ``salt`` and ``user`` (64 bits of BLAKE2b).

    >>> unit("s", "u") == unit("s", "u") != unit("t", "u")
    True
    """
    digest = hashlib.blake2b(f"{salt}\x00{user}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment and what it changes in the campaign's decisions: its
    ``policy`` (and parameters), the ``offers`` it may choose from, the ``creative`` (fields
    merged into every offer's content per channel, ``"*"`` for all), or, for a ``holdout``
    variant, no message at all."""

    id: str
    weight: float
    max_weight: float
    holdout: bool = False
    policy: str | None = None
    policy_params: Mapping[str, float] | None = None
    offers: tuple[str, ...] = ()
    creative: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """An experiment: targeting, traffic, variants, metrics and the analysis settings."""

    id: str
    variants: tuple[Variant, ...]
    control: str
    name: str = ""
    campaign: str | None = None
    segments: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    layer: str = ""
    traffic: tuple[float, float] = (0.0, 1.0)
    salt: str = ""
    start_ms: int | None = None
    end_ms: int | None = None
    primary: str = "conversion"
    guardrails: tuple[str, ...] = ("unsubscribe",)
    alpha: float = 0.05
    power: float = 0.8
    mde: float = 0.1
    tau: float = 0.05
    version: str = ""

    def assign(self, user: str) -> Variant | None:
        """The variant of ``user``, or ``None`` if they are not enrolled (see the module)."""
        low, high = self.traffic
        if not low <= unit(f"layer:{self.layer}", user) < high:
            return None
        draw = unit(self.salt, user)
        start = 0.0
        for variant in self.variants:
            if start <= draw < start + variant.weight:
                return variant
            start += variant.max_weight
        return None

    def targets(self, campaign: str, segments: tuple[str, ...], ts: int) -> bool:
        """Whether a decision of ``campaign`` for a user in ``segments`` at ``ts`` is in
        scope (channels are narrowed separately: :meth:`open_channels`)."""
        return (
            (self.campaign is None or self.campaign == campaign)
            and (not self.segments or bool(set(self.segments) & set(segments)))
            and (self.start_ms is None or ts >= self.start_ms)
            and (self.end_ms is None or ts < self.end_ms)
        )

    def open_channels(self, channels: tuple[str, ...]) -> tuple[str, ...]:
        """The decision's channels this experiment covers."""
        return tuple(c for c in channels if not self.channels or c in self.channels)

    def variant(self, variant_id: str) -> Variant | None:
        return next((v for v in self.variants if v.id == variant_id), None)

    def definition(self) -> dict[str, Any]:
        """What the report needs to analyse the results (mirrored to Redis)."""
        return {
            "id": self.id,
            "name": self.name,
            "campaign": self.campaign,
            "control": self.control,
            "variants": {v.id: {"weight": v.weight, "holdout": v.holdout} for v in self.variants},
            "primary": self.primary,
            "guardrails": list(self.guardrails),
            "alpha": self.alpha,
            "power": self.power,
            "mde": self.mde,
            "tau": self.tau,
            "version": self.version,
        }


def holdout_experiment(share: float, salt: str = "offerflow-holdout") -> Experiment:
    """The global holdout as an experiment: ``holdout`` (no marketing) is its control.

    >>> h = holdout_experiment(0.1)
    >>> round(sum(h.assign(f"u{i}").id == "holdout" for i in range(10_000)) / 10_000, 2)
    0.1
    """
    return Experiment(
        id=HOLDOUT_ID,
        name="Global holdout: no marketing at all",
        variants=(
            Variant("holdout", share, share, holdout=True),
            Variant("marketed", 1 - share, 1 - share),
        ),
        control="holdout",
        layer=HOLDOUT_ID,
        salt=salt,
        primary="conversion",
        guardrails=(),
        version=f"{share}:{salt}",
    )


def apply_variant(campaign: Any, experiment: Experiment, variant: Variant) -> Any:
    """``campaign`` as ``variant`` runs it: policy, offers and creative replaced.

    The version names the variant, so the decision's ``model_version`` tells them apart.
    """
    offers = campaign.offers
    if variant.offers:
        offers = tuple(o for o in offers if o.id in variant.offers)
    if variant.creative:
        offers = tuple(
            replace(
                o,
                payload={
                    ch: {**o.payload.get(ch, {}), **variant.creative.get(ch, {})}
                    for ch in {*o.payload, *variant.creative}
                },
            )
            for o in offers
        )
    return replace(
        campaign,
        offers=offers,
        policy=variant.policy or campaign.policy,
        policy_params=variant.policy_params
        if variant.policy_params is not None
        else campaign.policy_params,
        version=f"{campaign.version}+{experiment.id}.{variant.id}",
    )
