"""The campaign file and the campaigns topic's records: TOML (or one table as JSON) into
:class:`~state.campaigns.Catalog`, :class:`~state.campaigns.Campaign` and experiments.

Parsing collects *every* error rather than stopping at the first, each with the line it
concerns, so ``offerflow campaigns validate`` can list them all.

Examples
--------

>>> catalog = parse_campaigns('''
... [[campaign]]
... id = "welcome"
... channels = ["email", "web"]
... timezone = "Europe/Paris"
... quiet_hours = { email = ["22:00", "08:00"] }
... caps = [{ channel = "email", max = 1, window = "1d" }]
... [[campaign.offer]]
... id = "ten_off"
... payload = { email = { subject = "10% off" } }
... [[campaign.offer]]
... id = "free_shipping"
... ''')
>>> c = catalog.campaigns["welcome"]
>>> c.policy, [o.id for o in c.offers], c.caps[0].window_ms
('thompson', ['ten_off', 'free_shipping'], 86400000)
>>> from state.tables import parse_time
>>> c.in_quiet_hours("email", parse_time("2026-01-05T22:30:00Z"))  # 23:30 in Paris
True
>>> c.in_quiet_hours("web", parse_time("2026-01-05T22:30:00Z"))
False
>>> parse_campaigns('[[campaign]]\\nid = "x"\\nchannels = ["fax"]')
Traceback (most recent call last):
...
state.campaigns.CampaignErrors: line 3: campaign 'x': channels: unknown channel 'fax' ...

"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from models.taste import REPEATS
from schemas.units import parse_duration
from state.campaigns import (
    COMBINES,
    EXPERIMENT_KEY,
    HOLDOUT_KEY,
    REWARDS,
    TRIGGERS,
    Campaign,
    CampaignErrors,
    Cap,
    Catalog,
    Offer,
    Trigger,
)
from state.drift_config import parse_drift
from state.experiment_file import check, parse_experiment, parse_holdout
from state.experiments import Experiment
from state.segments import Segment, _condition
from state.tables import CHANNELS, POLICIES, TableLines, parse_tables, reporter, schedule, valid_id

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

_CAMPAIGN_KEYS = {
    "id",
    "name",
    "priority",
    "channels",
    "segments",
    "consent",
    "rule",
    "policy",
    "policy_params",
    "response_model",
    "drift",
    "per_segment",
    "reward",
    "reward_window",
    "reward_cap",
    "combine",
    "ttl",
    "start",
    "end",
    "timezone",
    "quiet_hours",
    "budget",
    "caps",
    "trigger",
    "offer",
    "exclude_products",
    "repeat",
}


def parse_campaigns(text: str) -> Catalog:
    """Parse a campaign file; :class:`CampaignErrors` lists every problem with its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignErrors([f"not valid TOML: {exc}"]) from None
    lines = TableLines(text)
    errors: list[str] = []
    campaigns = parse_tables(data.get("campaign", []), "campaign", text, errors, _campaign)
    global_caps = _caps(data.get("caps", []), "file", errors, lambda _k: lines.key(0, "caps"))
    experiments = parse_tables(
        data.get("experiment", []), "experiment", text, errors, parse_experiment
    )
    for experiment in experiments.values():
        for problem in check(experiment, campaigns, experiments):
            where = TableLines(text, "experiment").id_line(experiment.id)
            errors.append(f"line {where}: experiment {experiment.id!r}: {problem}")
    holdout = None
    if "holdout" in data:
        holdout = parse_holdout(data["holdout"], errors, TableLines(text, "holdout").block(0))
    unknown = set(data) - {"campaign", "caps", "experiment", "holdout"}
    if unknown:
        errors.append(f"line 1: unknown top-level keys {sorted(unknown)}")
    if errors:
        raise CampaignErrors(errors)
    return Catalog(campaigns, tuple(global_caps), experiments, holdout)


def campaign_from_record(campaign_id: str, value: bytes) -> Campaign:
    """A campaign from the campaigns topic (a JSON object); :class:`CampaignErrors` if bad."""
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise CampaignErrors([f"campaign {campaign_id!r}: not JSON: {exc}"]) from None
    if not isinstance(raw, dict):
        raise CampaignErrors([f"campaign {campaign_id!r}: not a JSON object"])
    raw.setdefault("id", campaign_id)
    errors: list[str] = []
    campaign = _campaign(raw, errors, lambda _key: 0)
    if campaign is not None and campaign.id != campaign_id:
        errors.append(f"campaign {campaign.id!r}: record key is {campaign_id!r}")
    if errors or campaign is None:
        raise CampaignErrors([e.removeprefix("line 0: ") for e in errors])
    return campaign


def experiment_from_record(record_key: str, value: bytes) -> Experiment | None:
    """An experiment (key ``experiment:<id>``) or the global holdout (key ``holdout``; ``None``
    when its share is 0) from the campaigns topic; :class:`CampaignErrors` if bad. References
    to campaigns are not checked here: records of one file may arrive in any order."""
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise CampaignErrors([f"{record_key}: not JSON: {exc}"]) from None
    errors: list[str] = []
    if record_key == HOLDOUT_KEY:
        experiment = parse_holdout(raw, errors, 0)
    else:
        if not isinstance(raw, dict):
            raise CampaignErrors([f"{record_key}: not a JSON object"])
        raw.setdefault("id", record_key.removeprefix(EXPERIMENT_KEY))
        experiment = parse_experiment(raw, errors, lambda _key: 0)
        if experiment is not None and EXPERIMENT_KEY + experiment.id != record_key:
            errors.append(f"experiment {experiment.id!r}: record key is {record_key!r}")
    if errors:
        raise CampaignErrors([e.removeprefix("line 0: ") for e in errors])
    return experiment


def campaign_records(text: str) -> list[tuple[str, bytes]]:
    """(key, JSON) records for the campaigns topic, one per campaign, experiment (key
    ``experiment:<id>``) and the holdout (key ``holdout``) of a validated file."""
    parse_campaigns(text)  # every error first
    raw = tomllib.loads(text)
    records = [(c["id"], orjson.dumps(c, default=str)) for c in raw.get("campaign", [])]
    records += [
        (EXPERIMENT_KEY + e["id"], orjson.dumps(e, default=str)) for e in raw.get("experiment", [])
    ]
    if "holdout" in raw:
        records.append((HOLDOUT_KEY, orjson.dumps(raw["holdout"])))
    return records


def _campaign(raw: dict[str, Any], errors: list[str], line_of) -> Campaign | None:
    cid = raw.get("id")
    before = len(errors)
    name, err = reporter(raw, "campaign", errors, line_of)
    if not valid_id(cid):
        err("id", "required: letters, digits, '_', '.', '-' (at most 64)")
    for key in sorted(set(raw) - _CAMPAIGN_KEYS):
        err(key, "unknown key")
    channels = _channels(raw.get("channels", list(CHANNELS)), "channels", err)
    kwargs: dict[str, Any] = {"channels": channels}
    for key, kind, default in (
        ("name", str, ""),
        ("priority", int, 0),
        ("per_segment", bool, True),
    ):
        value = raw.get(key, default)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            err(key, f"must be {kind.__name__}")
        kwargs[key] = value
    for key in ("segments", "consent"):
        value = raw.get(key, [] if key == "segments" else ["marketing"])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            err(key, "must be a list of names")
            value = []
        kwargs[key] = tuple(value)
    rule = raw.get("rule")
    if rule is not None:
        try:
            conditions = rule if isinstance(rule, list) else [rule]
            kwargs["rule"] = Segment("rule", all=tuple(_condition(name, c) for c in conditions))
        except ValueError as exc:
            err("rule", str(exc))
    for key, choices, default in (
        ("policy", POLICIES, "thompson"),
        ("reward", REWARDS, "click"),
        ("combine", COMBINES, "first"),
        ("response_model", ("auto", "off"), "auto"),
    ):
        value = raw.get(key, default)
        if value not in choices:
            err(key, f"{value!r} is not one of {', '.join(choices)}")
        kwargs[key] = value
    params = raw.get("policy_params", {})
    if not isinstance(params, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in params.values()
    ):
        err("policy_params", "must be a table of numbers")
        params = {}
    kwargs["policy_params"] = params
    kwargs["drift"] = parse_drift(raw.get("drift", {}), err)
    for key, target, default in (
        ("reward_window", "reward_window_ms", "1d"),
        ("ttl", "ttl_ms", "1d"),
    ):
        try:
            kwargs[target] = parse_duration(raw.get(key, default))
        except ValueError as exc:
            err(key, str(exc))
    cap = raw.get("reward_cap", 100.0)
    if not isinstance(cap, int | float) or isinstance(cap, bool) or cap <= 0:
        err("reward_cap", "must be a positive number")
    else:
        kwargs["reward_cap"] = float(cap)
    kwargs.update(schedule(raw, err))
    if kwargs.get("start_ms") and kwargs.get("end_ms") and kwargs["end_ms"] <= kwargs["start_ms"]:
        err("end", "must be after start")
    tz = raw.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
        kwargs["timezone"] = str(tz)
    except (ZoneInfoNotFoundError, ValueError):
        err("timezone", f"unknown time zone {tz!r}")
    kwargs["quiet_hours"] = _quiet_hours(raw.get("quiet_hours", {}), err)
    budget = raw.get("budget", {})
    if not isinstance(budget, dict) or set(budget) - {"max_sends", "max_conversions"}:
        err("budget", "must be a table with max_sends and/or max_conversions")
        budget = {}
    for key in ("max_sends", "max_conversions"):
        value = budget.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            err("budget", f"{key} must be a whole number >= 0")
        elif value is not None:
            kwargs[key] = value
    excluded = raw.get("exclude_products", [])
    if not isinstance(excluded, list) or not all(isinstance(p, str) for p in excluded):
        err("exclude_products", "must be a list of product ids")
    else:
        kwargs["exclude_products"] = tuple(excluded)
    if raw.get("repeat") not in (None, *REPEATS):
        err("repeat", f"{raw['repeat']!r} is not one of {', '.join(REPEATS)}")
    else:
        kwargs["repeat"] = raw.get("repeat")
    kwargs["caps"] = tuple(_caps(raw.get("caps", []), name, errors, line_of))
    kwargs["triggers"] = tuple(_triggers(raw.get("trigger", []), channels, err))
    kwargs["offers"] = tuple(_offers(raw.get("offer", []), channels, err))
    if len(errors) > before:
        return None
    version = hashlib.blake2b(
        orjson.dumps(raw, default=str, option=orjson.OPT_SORT_KEYS), digest_size=4
    )
    return Campaign(id=cid, version=version.hexdigest(), **kwargs)


def _channels(value: Any, key: str, err) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        err(key, "must be a non-empty list of channels")
        return ()
    for channel in value:
        if channel not in CHANNELS:
            err(key, f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    return tuple(c for c in value if c in CHANNELS)


def _quiet_hours(value: Any, err) -> dict[str, tuple[int, int]]:
    if not isinstance(value, dict):
        err("quiet_hours", "must be a table: channel = [from, to]")
        return {}
    out = {}
    for channel, window in value.items():
        if channel not in (*CHANNELS, "*"):
            err("quiet_hours", f"unknown channel {channel!r}")
            continue
        clocks = [_CLOCK.match(w) if isinstance(w, str) else None for w in window or []]
        if len(clocks) != 2 or not all(clocks):
            err("quiet_hours", f'{channel}: expected ["HH:MM", "HH:MM"], got {window!r}')
            continue
        start, end = (int(m.group(1)) * 60 + int(m.group(2)) for m in clocks if m)
        out[channel] = (start, end)
    return out


def _caps(value: Any, name: str, errors: list[str], line_of) -> Iterable[Cap]:
    if not isinstance(value, list):
        errors.append(f"line {line_of('caps')}: campaign {name!r}: caps: must be a list")
        return
    for raw in value:
        try:
            if not isinstance(raw, dict) or set(raw) - {"channel", "max", "window"}:
                raise ValueError("each cap is { channel, max, window }")
            channel = raw.get("channel", "*")
            if channel not in (*CHANNELS, "*"):
                raise ValueError(f"unknown channel {channel!r}")
            limit = raw.get("max")
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise ValueError("max must be a whole number >= 0")
            yield Cap(channel, limit, parse_duration(raw.get("window", "1d")))
        except ValueError as exc:
            errors.append(f"line {line_of('caps')}: campaign {name!r}: caps: {exc}")


def _triggers(value: Any, channels: tuple[str, ...], err) -> Iterable[Trigger]:
    if not isinstance(value, list):
        err("trigger", "must be a list of tables")
        return
    for raw in value:
        if not isinstance(raw, dict) or raw.get("type") not in TRIGGERS:
            err("trigger", f"type must be one of {', '.join(TRIGGERS)}")
            continue
        channel = raw.get("channel")
        if channel is not None and channel not in channels:
            err("trigger", f"channel {channel!r} is not one of the campaign's channels")
            continue
        try:
            yield Trigger(raw["type"], parse_duration(raw.get("after", "1h")), channel)
        except ValueError as exc:
            err("trigger", str(exc))


def _offers(value: Any, channels: tuple[str, ...], err) -> Iterable[Offer]:
    if not isinstance(value, list) or not value:
        err("offer", "a campaign needs at least one [[campaign.offer]]")
        return
    seen: set[str] = set()
    for raw in value:
        oid = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(oid, str) or not oid or oid in seen:
            err("offer", f"each offer needs a unique id (got {oid!r})")
            continue
        seen.add(oid)
        unknown = set(raw) - {"id", "channels", "payload"}
        if unknown:
            err("offer", f"{oid}: unknown keys {sorted(unknown)}")
        if "channels" not in raw and not channels:
            continue  # the campaign's channels are already reported as wrong
        allowed = _channels(raw.get("channels", list(channels)), "offer", err)
        if set(allowed) - set(channels):
            err(
                "offer",
                f"{oid}: channels outside the campaign's: {sorted(set(allowed) - set(channels))}",
            )
        payload = raw.get("payload", {})
        if not isinstance(payload, dict) or not all(
            k in (*CHANNELS, "*") and isinstance(v, dict) for k, v in payload.items()
        ):
            err("offer", f"{oid}: payload must be tables per channel (or '*')")
            continue
        content = {
            ch: {str(k): str(v) for k, v in fields.items()} for ch, fields in payload.items()
        }
        yield Offer(oid, allowed, content)
