"""``offerflow campaigns``: check a campaign file, and change running flows' campaigns through
the campaigns topic (compacted, keyed by campaign id; an empty value deletes)."""

from __future__ import annotations

import re
from pathlib import Path

from config.settings import Settings
from offerflow.kafka_io import produce
from state.campaign_file import campaign_records, parse_campaigns
from state.campaigns import CampaignErrors

_LINE = re.compile(r"^line (\d+): ")


def validate(path: str, text: str | None = None) -> list[str]:
    """Every error in the file (``text``, read from ``path`` unless given), each
    ``FILE:LINE: message`` followed by the line itself; empty when the file is valid."""
    text = Path(path).read_text() if text is None else text
    try:
        parse_campaigns(text)
    except CampaignErrors as exc:
        lines = text.splitlines()
        report = []
        for error in exc.errors:
            match = _LINE.match(error) or re.search(r"at line (\d+)", error)
            number = int(match.group(1)) if match else 0
            report.append(f"{path}:{number}: {_LINE.sub('', error)}")
            if 0 < number <= len(lines):
                report.append(f"    {number:4d} | {lines[number - 1]}")
        return report
    return []


def summary(text: str) -> list[str]:
    """One line per campaign and experiment of a valid campaign file's text."""
    catalog = parse_campaigns(text)
    lines = [
        f"{c.id}: priority {c.priority}, {len(c.offers)} offers, channels {','.join(c.channels)}, "
        f"policy {c.policy}, reward {c.reward}"
        + (f", triggers {','.join(t.kind for t in c.triggers)}" if c.triggers else "")
        for c in catalog.by_priority()
    ]
    lines += [
        f"experiment {e.id} on {e.campaign or 'every campaign'}: variants "
        + ", ".join(f"{v.id} {v.weight:.0%}" for v in e.variants)
        + f"; control {e.control}, primary {e.primary}, layer {e.layer} "
        f"{list(e.traffic)}"
        for e in catalog.by_layer()
    ]
    if catalog.holdout is not None:
        lines.append(f"global holdout: {catalog.holdout.variants[0].weight:.1%} of users")
    return lines


def publish(settings: Settings, text: str) -> int:
    """Send every campaign, experiment and holdout of a (valid) campaign file's text to the
    campaigns topic; returns how many records."""
    records = campaign_records(text)
    produce(settings, settings.topic("campaigns"), [(k.encode(), v) for k, v in records])
    return len(records)


def delete(settings: Settings, campaign_id: str) -> None:
    """Delete a campaign from running flows (a tombstone on the campaigns topic)."""
    produce(settings, settings.topic("campaigns"), [(campaign_id.encode(), None)])
