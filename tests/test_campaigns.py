"""Campaign files: every error reported with its line, schedules, quiet hours, topic records."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from offerflow.campaign_admin import validate
from operators.campaign_book import CampaignBook, default_campaigns_text
from state.campaign_file import (
    campaign_from_record,
    campaign_records,
    experiment_from_record,
    parse_campaigns,
)
from state.campaigns import EXPERIMENT_KEY, CampaignErrors
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


def _quiet_minutes(campaign_text: str, day_before: str, from_utc: str = "12:00") -> int:
    """Minutes of real time in quiet hours in the 24 hours from ``from_utc`` (about local
    noon) on ``day_before``, counted minute by minute."""
    c = parse_campaigns(campaign_text).campaigns["night"]
    start = parse_time(f"{day_before}T{from_utc}:00Z")
    return sum(c.in_quiet_hours("push", start + m * 60_000) for m in range(24 * 60))


PARIS = """
[[campaign]]
id = "night"
timezone = "Europe/Paris"
quiet_hours = { push = ["22:00", "08:00"], sms = ["01:00", "04:00"] }
[[campaign.offer]]
id = "o"
"""


def test_quiet_hours_follow_the_local_clock_over_dst_nights() -> None:
    # 22:00-08:00 local is 10 hours of clock time: 9 real hours on the spring-forward night,
    # 11 on the fall-back night, 10 on any other
    assert _quiet_minutes(PARIS, "2026-03-27") == 600
    assert _quiet_minutes(PARIS, "2026-03-28") == 540  # 02:00 -> 03:00 on 29 March
    assert _quiet_minutes(PARIS, "2026-10-24") == 660  # 03:00 -> 02:00 on 25 October
    new_york = PARIS.replace("Europe/Paris", "America/New_York").replace("22:00", "21:00")
    assert _quiet_minutes(new_york, "2026-03-06", "17:00") == 660
    assert _quiet_minutes(new_york, "2026-03-07", "17:00") == 600  # 02:00 -> 03:00, 8 March
    assert _quiet_minutes(new_york, "2026-10-31", "17:00") == 720  # 02:00 -> 01:00, 1 Nov


def test_quiet_hours_edges_move_with_the_utc_offset() -> None:
    c = parse_campaigns(PARIS).campaigns["night"]
    quiet = c.in_quiet_hours
    # winter (UTC+1): quiet until 07:00 UTC; summer (UTC+2): until 06:00 UTC
    assert quiet("push", parse_time("2026-03-28T06:59:00Z"))
    assert not quiet("push", parse_time("2026-03-28T07:00:00Z"))
    assert quiet("push", parse_time("2026-03-29T05:59:00Z"))
    assert not quiet("push", parse_time("2026-03-29T06:00:00Z"))
    assert quiet("push", parse_time("2026-03-29T01:30:00Z"))  # 03:30, just after the gap
    # the repeated hour on 25 October is quiet both times; the evening start moves an hour
    assert quiet("push", parse_time("2026-10-25T00:30:00Z"))  # 02:30 CEST
    assert quiet("push", parse_time("2026-10-25T01:30:00Z"))  # 02:30 CET
    assert not quiet("push", parse_time("2026-10-24T19:59:00Z"))  # 21:59 CEST
    assert quiet("push", parse_time("2026-10-24T20:00:00Z"))  # 22:00 CEST
    assert not quiet("push", parse_time("2026-10-25T20:59:00Z"))  # 21:59 CET
    assert quiet("push", parse_time("2026-10-25T21:00:00Z"))  # 22:00 CET


def test_a_window_inside_the_night_spans_the_gap_and_the_repeat() -> None:
    c = parse_campaigns(PARIS).campaigns["night"]

    def sms_minutes(day: str) -> int:
        start = parse_time(f"{day}T00:00:00Z") - 3 * 3_600_000
        return sum(c.in_quiet_hours("sms", start + m * 60_000) for m in range(8 * 60))

    assert sms_minutes("2026-03-28") == 180  # 01:00-04:00, an ordinary night
    assert sms_minutes("2026-03-29") == 120  # 02:00-03:00 does not exist
    assert sms_minutes("2026-10-25") == 240  # 02:00-03:00 happens twice
