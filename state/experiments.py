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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from state.tables import CHANNELS, POLICIES, reporter, schedule, valid_id

#: Per-user metrics every experiment measures (after the user's first exposure):
#: purchased (0/1), revenue (sum of purchase values), clicked or opened a message (0/1),
#: unsubscribed or withdrew marketing consent (0/1).
METRICS = ("conversion", "revenue", "click", "unsubscribe")
#: Metrics where lower is better.
LOWER_IS_BETTER = frozenset({"unsubscribe"})
#: Id of the built-in global holdout experiment.
HOLDOUT_ID = "holdout"

_EXPERIMENT_KEYS = {
    "id",
    "name",
    "campaign",
    "segments",
    "channels",
    "layer",
    "traffic",
    "salt",
    "start",
    "end",
    "control",
    "primary",
    "guardrails",
    "alpha",
    "power",
    "mde",
    "tau",
    "variant",
}
_VARIANT_KEYS = {"id", "weight", "max_weight", "holdout", "policy", "policy_params", "offers"}
_VARIANT_KEYS |= {"creative"}


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


def parse_holdout(raw: Any, errors: list[str], line: int) -> Experiment | None:
    """The ``[holdout]`` table: ``share`` (0 to 0.5) and an optional ``salt``."""
    if not isinstance(raw, dict) or set(raw) - {"share", "salt"}:
        errors.append(f"line {line}: holdout: must be a table with share and optional salt")
        return None
    share = raw.get("share", 0.0)
    salt = raw.get("salt", "offerflow-holdout")
    if not _number(share) or not 0 <= share <= 0.5:
        errors.append(f"line {line}: holdout: share must be a number from 0 to 0.5")
        return None
    if not isinstance(salt, str) or not salt:
        errors.append(f"line {line}: holdout: salt must be a non-empty string")
        return None
    return holdout_experiment(float(share), salt) if share > 0 else None


def parse_experiment(
    raw: dict[str, Any], errors: list[str], line_of: Callable[[str], int]
) -> Experiment | None:
    """One ``[[experiment]]`` table; appends every problem to ``errors`` and returns ``None``
    if there was any. References to campaigns and offers are checked by :func:`check`."""
    eid = raw.get("id")
    before = len(errors)
    _name, err = reporter(raw, "experiment", errors, line_of)
    if not valid_id(eid) or eid == HOLDOUT_ID:
        err("id", f"required: letters, digits, '_', '.', '-' (not {HOLDOUT_ID!r})")
    for key in sorted(set(raw) - _EXPERIMENT_KEYS):
        err(key, "unknown key")
    kwargs: dict[str, Any] = {}
    for key in ("name", "campaign", "layer", "salt"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            err(key, "must be a string")
        elif value is not None:
            kwargs[key] = value
    for key in ("segments", "channels"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            err(key, "must be a list of names")
        elif key == "channels" and set(value) - set(CHANNELS):
            err(key, f"unknown channels {sorted(set(value) - set(CHANNELS))}")
        else:
            kwargs[key] = tuple(value)
    traffic = raw.get("traffic", [0.0, 1.0])
    if (
        not isinstance(traffic, list)
        or len(traffic) != 2
        or not all(_number(t) for t in traffic)
        or not 0 <= traffic[0] < traffic[1] <= 1
    ):
        err("traffic", "must be [from, to] with 0 <= from < to <= 1 (a range of the layer)")
    else:
        kwargs["traffic"] = (float(traffic[0]), float(traffic[1]))
    kwargs.update(schedule(raw, err))
    for key, low, high in (("alpha", 0, 0.5), ("power", 0.5, 1), ("mde", 0, 10), ("tau", 0, 10)):
        value = raw.get(key)
        if value is not None and (not _number(value) or not low < value < high):
            err(key, f"must be a number between {low} and {high}")
        elif value is not None:
            kwargs[key] = float(value)
    primary = raw.get("primary", "conversion")
    if primary not in METRICS:
        err("primary", f"{primary!r} is not one of {', '.join(METRICS)}")
    guardrails = raw.get("guardrails", ["unsubscribe"])
    if not isinstance(guardrails, list) or set(guardrails) - set(METRICS):
        err("guardrails", f"must be a list of metrics ({', '.join(METRICS)})")
        guardrails = []
    variants = _variants(raw.get("variant"), err, POLICIES, CHANNELS)
    control = raw.get("control", variants[0].id if variants else None)
    if variants and control not in {v.id for v in variants}:
        err("control", f"{control!r} is not one of the variants")
    if len(errors) > before:
        return None
    version = hashlib.blake2b(
        orjson.dumps(raw, default=str, option=orjson.OPT_SORT_KEYS), digest_size=4
    ).hexdigest()
    return Experiment(
        id=eid,
        variants=variants,
        control=control,
        primary=primary,
        guardrails=tuple(guardrails),
        version=version,
        **{"layer": eid, "salt": eid, **kwargs},
    )


def check(experiment: Experiment, campaigns: Mapping[str, Any], others: Mapping[str, Experiment]):
    """Problems with ``experiment`` given the campaigns and the other experiments: unknown
    campaign or offers, traffic overlapping another experiment of the same layer."""
    problems = []
    campaign = campaigns.get(experiment.campaign) if experiment.campaign else None
    if experiment.campaign and campaign is None:
        problems.append(f"campaign {experiment.campaign!r} does not exist")
    for variant in experiment.variants:
        if variant.offers and experiment.campaign is None:
            problems.append(f"variant {variant.id!r}: offers need the experiment's campaign")
        elif variant.offers and campaign is not None:
            unknown = set(variant.offers) - {o.id for o in campaign.offers}
            if unknown:
                problems.append(f"variant {variant.id!r}: offers {sorted(unknown)} not in campaign")
    for other in others.values():
        if other.id == experiment.id or other.layer != experiment.layer:
            continue
        (a, b), (c, d) = experiment.traffic, other.traffic
        if a < d and c < b:
            problems.append(
                f"traffic {list(experiment.traffic)} overlaps experiment {other.id!r} "
                f"{list(other.traffic)} in layer {experiment.layer!r}"
            )
    return problems


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


def _variants(value: Any, err, policies, channels) -> tuple[Variant, ...]:
    if not isinstance(value, list) or len(value) < 2:
        err("variant", "an experiment needs at least two [[experiment.variant]]")
        return ()
    out: list[Variant] = []
    seen: set[str] = set()
    for raw in value:
        vid = raw.get("id") if isinstance(raw, dict) else None
        if not valid_id(vid) or vid in seen:
            err("variant", f"each variant needs a unique id (got {vid!r})")
            continue
        seen.add(vid)
        unknown = set(raw) - _VARIANT_KEYS
        if unknown:
            err("variant", f"{vid}: unknown keys {sorted(unknown)}")
        band = raw.get("max_weight", 1 / len(value))
        weight = raw.get("weight", band)
        if not _number(band) or not 0 < band <= 1:
            err("variant", f"{vid}: max_weight must be in (0, 1]")
            continue
        if not _number(weight) or not 0 <= weight <= band + 1e-12:
            err("variant", f"{vid}: weight must be in [0, max_weight={band:g}]")
            continue
        policy = raw.get("policy")
        if policy is not None and policy not in policies:
            err("variant", f"{vid}: policy {policy!r} is not one of {', '.join(policies)}")
        params = raw.get("policy_params")
        if params is not None and (
            not isinstance(params, dict) or not all(_number(v) for v in params.values())
        ):
            err("variant", f"{vid}: policy_params must be a table of numbers")
        offers = raw.get("offers", [])
        if not isinstance(offers, list) or not all(isinstance(o, str) for o in offers):
            err("variant", f"{vid}: offers must be a list of offer ids")
            offers = []
        creative = raw.get("creative", {})
        if not isinstance(creative, dict) or not all(
            k in (*channels, "*") and isinstance(v, dict) for k, v in creative.items()
        ):
            err("variant", f"{vid}: creative must be tables per channel (or '*')")
            creative = {}
        holdout = raw.get("holdout", False)
        if not isinstance(holdout, bool):
            err("variant", f"{vid}: holdout must be true or false")
        out.append(
            Variant(
                vid,
                float(weight),
                float(band),
                holdout=holdout is True,
                policy=policy,
                policy_params=params,
                offers=tuple(offers),
                creative={c: {str(k): str(v) for k, v in f.items()} for c, f in creative.items()},
            )
        )
    if sum(v.max_weight for v in out) > 1 + 1e-9:
        err("variant", "the variants' max_weight add up to more than 1")
    return tuple(out)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
