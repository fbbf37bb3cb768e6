"""The ``[[experiment]]`` and ``[holdout]`` tables of a campaign file (and their records on the
campaigns topic): parsed into :class:`~state.experiments.Experiment`, every problem collected
with its line, and checked against the campaigns they name."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from state.experiments import HOLDOUT_ID, METRICS, Experiment, Variant, holdout_experiment
from state.tables import CHANNELS, POLICIES, reporter, schedule, valid_id

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
