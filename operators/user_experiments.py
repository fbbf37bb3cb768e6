"""The user-keyed half of experiments, called by the decision code in the profile step:
which experiments a screened decision is in, when the user counts as exposed, and which of
their later events move a metric.

- :func:`enroll`: the global holdout (if configured), then at most one experiment per layer
  that targets the decision's campaign, the user's segments and its channels, each with the
  user's deterministic variant (:meth:`state.experiments.Experiment.assign`). A decision
  enrolled in a ``holdout`` variant is withheld: an explicit "no offer" whose reason names it,
  and that *is* the exposure (the moment the message would have gone out). Other variants'
  exposure is the delivery (impression) of the decision.
- :func:`delivered`: a delivery of a decision carrying experiments enrolls the user in each.
- :func:`observed`: after exposure, purchases (conversion and revenue), clicks and opens
  (click) and unsubscribes or withdrawn marketing consent (unsubscribe) update the user's
  metrics; each change is an ``("experiment", (key, delta, ts))`` output for the totals step.

Examples
--------

>>> from state.campaign_file import parse_campaigns
>>> catalog = parse_campaigns('''
... [holdout]
... share = 0.1
... [[campaign]]
... id = "c"
... [[campaign.offer]]
... id = "o"
... [[experiment]]
... id = "e"
... campaign = "c"
... [[experiment.variant]]
... id = "a"
... [[experiment.variant]]
... id = "b"
... ''')
>>> e = enroll(catalog, "user-1", "c", (), ("email",), ts=0)
>>> e.keys, e.withheld
(('holdout|marketed', 'e|b'), None)
>>> e.record_fields(), e.policy_suffix
({'experiment_id': 'e', 'variant': 'b'}, '~e=b')

"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.event import Event, EventType, amount
from state.campaigns import Catalog
from state.experiments import HOLDOUT_ID, Experiment, Variant
from state.exposures import Exposures

Output = tuple[str, Any]

_CLICKS = (EventType.OFFER_CLICK, EventType.MESSAGE_OPEN)


@dataclass(frozen=True)
class Enrollment:
    """The experiments one decision is in, in layer order (the global holdout first)."""

    memberships: tuple[tuple[Experiment, Variant], ...] = ()
    channels: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """``"experiment|variant"`` of every membership: where the exposure counts."""
        return tuple(f"{e.id}|{v.id}" for e, v in self.memberships)

    @property
    def withheld(self) -> tuple[Experiment, Variant] | None:
        """The first membership in a holdout variant: the decision sends nothing."""
        return next(((e, v) for e, v in self.memberships if v.holdout), None)

    @property
    def variants(self) -> list[list[str]]:
        """``[experiment, variant]`` pairs that change the policy step's behaviour."""
        return [[e.id, v.id] for e, v in self.memberships if e.id != HOLDOUT_ID]

    @property
    def policy_suffix(self) -> str:
        """Appended to the policy key's segment, so each variant learns on its own."""
        pairs = ",".join(f"{e}={v}" for e, v in self.variants)
        return f"~{pairs}" if pairs else ""

    def record_fields(self) -> dict[str, str | None]:
        """The decision record's ``experiment_id`` and ``variant`` (comma-separated, in layer
        order, when the decision is in experiments of several layers)."""
        shown = self.variants
        if not shown:
            return {"experiment_id": None, "variant": None}
        return {
            "experiment_id": ",".join(e for e, _ in shown),
            "variant": ",".join(v for _, v in shown),
        }


def enroll(
    catalog: Catalog,
    user: str,
    campaign: str,
    segments: tuple[str, ...],
    channels: tuple[str, ...],
    ts: int,
) -> Enrollment:
    """The memberships of a decision of ``campaign`` on ``channels`` for ``user``; the
    channels are narrowed to those every enrolled experiment covers."""
    memberships: list[tuple[Experiment, Variant]] = []
    if catalog.holdout is not None:
        variant = catalog.holdout.assign(user)
        if variant is not None:
            memberships.append((catalog.holdout, variant))
    layers: set[str] = set()
    for experiment in catalog.by_layer():
        if experiment.layer in layers or not experiment.targets(campaign, segments, ts):
            continue
        covered = experiment.open_channels(channels)
        if not covered:
            continue
        variant = experiment.assign(user)
        if variant is None:
            continue
        layers.add(experiment.layer)
        memberships.append((experiment, variant))
        channels = covered
    return Enrollment(tuple(memberships), channels)


def covariates(features: Mapping[str, Any], context: Mapping[str, float]) -> tuple[float, ...]:
    """Pre-exposure covariates, one per metric (CUPED): purchases and revenue so far for
    conversion and revenue, the context's engagement and fatigue for click and unsubscribe.

    >>> covariates({"purchases": 2, "revenue": 30.5}, {"engagement": 1.2, "fatigue": 0.0})
    (2.0, 30.5, 1.2, 0.0)
    """
    return (
        float(features.get("purchases") or 0),
        float(features.get("revenue") or 0.0),
        float(context.get("engagement", 0.0)),
        float(context.get("fatigue", 0.0)),
    )


def exposed(exposures: Exposures, keys: tuple[str, ...], ts: int, x: tuple) -> list[Output]:
    """Exposure of the user to each of ``keys`` at ``ts``."""
    return [("experiment", (key, exposures.expose(key, ts, x), ts)) for key in keys]


def delivered(
    exposures: Exposures, keys: tuple[str, ...], covariates: tuple[float, ...], ts: int
) -> list[Output]:
    """A decision's first delivery (or click, if that arrives first) at ``ts`` exposes its
    user to the decision's experiments ``keys``, with the covariates taken at the decision
    (also when its reward window closed before the delivery arrived)."""
    return exposed(exposures, keys, ts, covariates)


def observed(exposures: Exposures, event: Event) -> list[Output]:
    """Metric changes an event makes for the experiments the user was exposed to (nothing
    to parse for users with no exposure: this runs on every event)."""
    if not exposures:
        return []
    kind = event.type
    changes = []
    if kind is EventType.PURCHASE:
        changes = exposures.observe(event.ts, "conversion", 1.0)
        value = amount(event.properties.get("value"))
        if value:
            changes += exposures.observe(event.ts, "revenue", value)
    elif kind in _CLICKS:
        changes = exposures.observe(event.ts, "click", 1.0)
    elif kind is EventType.UNSUBSCRIBE or (
        kind is EventType.CONSENT and event.consent.get("marketing") is False
    ):
        changes = exposures.observe(event.ts, "unsubscribe", 1.0)
    return [("experiment", (key, delta, event.ts)) for key, delta in changes]
