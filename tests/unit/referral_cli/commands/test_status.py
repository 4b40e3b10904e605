"""`referral-bus status`: a report's steps from its agency's status topic, in order, each once."""

from __future__ import annotations

import pytest

from referral_bus.errors import ReferralBusError
from referral_bus.status import status_record
from referral_cli.commands.status import line, parse_target, timeline


def test_targets() -> None:
    assert parse_target("R-1") == (None, "R-1")
    assert parse_target("ngo-a/R-1") == ("ngo-a", "R-1")
    for bad in ("/R-1", "ngo-a/"):
        with pytest.raises(ReferralBusError, match="AGENCY/REPORT_ID"):
            parse_target(bad)


def test_timeline_orders_filters_and_drops_replays() -> None:
    routed = status_record("ngo-a", "R-1", "ROUTED", 20, case_id="c", kinds=["police", "child_protection"])
    accepted = status_record("ngo-a", "R-1", "INTAKE_ACCEPTED", 10, case_id="c")
    other = status_record("ngo-b", "R-1", "INTAKE_ACCEPTED", 5)
    events = timeline([routed, accepted, other, routed, status_record("ngo-a", "R-2", "HELD", 1)], "R-1", "ngo-a")
    assert [e["event"] for e in events] == ["INTAKE_ACCEPTED", "ROUTED"]
    assert len(timeline([routed, accepted, other], "R-1")) == 3


def test_lines_say_kinds_codes_and_intake_errors() -> None:
    done = status_record("a", "R", "COMPLETED", 0, kinds=["police"], outcome_code="support_provided")
    assert line(done).endswith("kinds: police  outcome: support_provided")
    declined = status_record("a", "R", "DECLINED", 0, kinds=["police"], reason_code="no_capacity")
    assert "reason: no_capacity" in line(declined)
    bad = status_record("a", "R", "INTAKE_REJECTED", 0, reason_code="invalid_field", field="victim", detail="missing")
    assert line(bad).endswith("invalid_field (field victim): missing")
