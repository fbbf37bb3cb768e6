"""Campaign files: every error reported with its line, schedules, quiet hours, topic records."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from flows.campaign_admin import validate
from operators.campaign_book import CampaignBook, default_campaigns_text
from state.campaigns import (
    EXPERIMENT_KEY,
    CampaignErrors,
    campaign_from_record,
    campaign_records,
    experiment_from_record,
    parse_campaigns,
)
from state.tables import parse_time

BAD = """\
[[campaign]]
id = "x"
channels = ["email", "fax"]
policy = "magic"
reward_window = "soon"
budget = { max_sends = -1 }
caps = [{ channel = "email", max = 2, window = "1d" }, { channel = "pigeon", max = 1 }]
[[campaign.offer]]
id = "o"
[[campaign]]
id = "y"
"""


def test_every_error_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    report = validate(str(path))
    errors = [line for line in report if not line.startswith(" ")]
    assert [e.split(":")[1] for e in errors] == ["3", "4", "5", "6", "7", "10"]
    assert "unknown channel 'fax'" in errors[0] and "'magic'" in errors[1]
    assert "soon" in errors[2] and "max_sends" in errors[3] and "pigeon" in errors[4]
    assert "campaign 'y': offer: a campaign needs at least one" in errors[5]
    assert report[1] == '       3 | channels = ["email", "fax"]'  # the line itself follows


def test_toml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[[campaign]]\nid = "x"\nchannels = [\n')
    report = validate(str(path))
    assert report and "not valid TOML" in report[0]


def test_shipped_file_is_valid_and_round_trips_through_topic_records() -> None:
    text = default_campaigns_text()
    catalog = parse_campaigns(text)
    records = campaign_records(text)
    for key, value in records:
        if key.startswith(EXPERIMENT_KEY):
            assert experiment_from_record(key, value) == catalog.experiments[key.split(":")[1]]
        else:
            assert campaign_from_record(key, value) == catalog.campaigns[key]
    assert {k for k, _ in records} >= {"spring_sale", "experiment:spring_policy"}


def test_schedule_and_quiet_hours_wrap_midnight_in_the_campaign_time_zone() -> None:
    c = parse_campaigns(
        """
[[campaign]]
id = "night"
start = "2026-01-01T00:00:00Z"
end = "2026-02-01T00:00:00Z"
timezone = "America/New_York"
quiet_hours = { "*" = ["21:00", "08:00"] }
[[campaign.offer]]
id = "o"
"""
    ).campaigns["night"]
    assert not c.active(parse_time("2025-12-31T23:59:59Z"))
    assert c.active(parse_time("2026-01-15T12:00:00Z"))
    assert not c.active(parse_time("2026-02-01T00:00:00Z"))
    assert c.in_quiet_hours("sms", parse_time("2026-01-15T03:00:00Z"))  # 22:00 in New York
    assert c.in_quiet_hours("sms", parse_time("2026-01-15T12:59:00Z"))  # 07:59
    assert not c.in_quiet_hours("sms", parse_time("2026-01-15T13:00:00Z"))  # 08:00


def test_topic_records_update_and_delete_and_bad_ones_keep_the_old_version() -> None:
    book = CampaignBook(text=default_campaigns_text())
    assert set(book.current().campaigns) == {"spring_sale", "cart_recovery"}
    record = {"id": "flash", "priority": 99, "offer": [{"id": "o"}]}
    book.apply(b"flash", orjson.dumps(record))
    assert book.current().by_priority()[0].id == "flash"
    book.apply(b"flash", orjson.dumps({**record, "policy": "nope"}))  # refused
    assert book.current().campaigns["flash"].policy == "thompson"
    book.apply(b"spring_sale", None)
    assert set(book.current().campaigns) == {"flash", "cart_recovery"}


def test_a_record_whose_id_differs_from_its_key_is_refused() -> None:
    with pytest.raises(CampaignErrors, match="record key"):
        campaign_from_record("a", orjson.dumps({"id": "b", "offer": [{"id": "o"}]}))
