"""Counting for the statistics: each case, report, referral and acknowledgement once, whatever the order
and however often an event is replayed; weeks in Viet Nam time; publishing picks the right rows."""

from __future__ import annotations

import itertools
import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from referral_bus.errors import ReferralBusError
from services.stats.aggregate import Aggregator
from services.stats.dimensions import NATIONAL, Kinds, partner_countries, province_unit
from services.stats.figures import collect
from services.stats.publish import Policy, p90, weekly_statistics
from services.stats.weeks import week_of, weeks_between
from tests.support.stats import aggregate, generate

KINDS = Kinds(
    {"vn-hotline-111": "hotline", "platform-examplesocial": "platform", "ngo-safe-space-dn": "ngo"},
    {
        "vn-police-cybercrime": "police",
        "vn-child-hotline-111": "hotline",
        "vn-child-protection-national": "child_protection",
        "vn-social-services-national": "social_services",
    },
)


def run(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    members: dict[str, int] = {}
    agg = Aggregator(members, {}, KINDS)
    for kind, value in events:
        getattr(agg, kind)(value, 0)
    return {w: (dict(f.counts), f.ack_ms) for w, f in collect(members.items()).items()}


def events_of(n: int, seed: int = 3) -> list[tuple[str, dict[str, Any]]]:
    data = generate(n, weeks=2, seed=seed)
    return (
        [("case", c) for c in data.cases]
        + [("decision", d) for d in data.decisions]
        + [("receipt", r) for r in data.receipts]
        + [("dead_letter", d) for d in data.dead_letters]
    )


def test_replays_and_any_order_give_the_same_counts() -> None:
    events = events_of(300)
    once = run(events)
    rnd = random.Random(5)
    shuffled = events + rnd.sample(events, 200)  # replayed duplicates ...
    rnd.shuffle(shuffled)  # ... and receipts before decisions before cases
    assert run(shuffled) == once


def test_counts_equal_the_generator_s_independent_counts() -> None:
    data = generate(400, weeks=3, seed=11)
    members = aggregate(data, KINDS, partition=1)
    for w, fig in collect(members.items()).items():
        exp = data.expected[w]
        assert fig.margin("cases", 0, 1) == exp["cases"]
        assert fig.margin("cases", 2) == exp["age"]
        assert fig.metric("referrals") == exp["referrals"]
        assert fig.metric("acked") == exp.get("acknowledged", {})
        assert fig.metric("escalations") == exp.get("escalations", {})
        assert sum(fig.metric("linked").values()) == sum(exp.get("linked", {}).values())


def test_a_receipt_before_its_decision_and_case_waits_for_them() -> None:
    events = events_of(60)
    receipts = [e for e in events if e[0] == "receipt"]
    assert run(receipts) == {}  # nothing to attribute them to yet
    assert run(receipts + [e for e in events if e[0] != "receipt"]) == run(events)


def test_week_is_iso_week_in_viet_nam_time() -> None:
    sunday_late_utc = int(datetime(2026, 11, 29, 18, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    assert week_of(sunday_late_utc) == "2026-W49"  # already Monday 01:00 in Hà Nội
    assert week_of(sunday_late_utc - 2 * 3_600_000) == "2026-W48"
    assert weeks_between("2026-W52", "2027-W02") == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    with pytest.raises(ReferralBusError, match="YYYY-Www"):
        weeks_between("2026-48", "2026-W50")
    with pytest.raises(ReferralBusError, match="before"):
        weeks_between("2026-W50", "2026-W48")


def test_dimensions() -> None:
    assert province_unit("vn-hn") == "VN-HN" and province_unit("VN") == NATIONAL and province_unit("TH-10") == NATIONAL
    report = {"victim": {"jurisdiction": "VN-SG"}, "offender": {"country": "PH"}, "hosting_country": "US"}
    assert partner_countries(report, "VN") == ["PH", "US"]


def test_p90_is_nearest_rank() -> None:
    assert p90(list(range(1, 11))) == 9.0 and p90([5]) == 5.0
    assert [p90(list(range(1, n + 1))) for n in (19, 20, 21)] == [18.0, 18.0, 19.0]


def test_reports_total_is_hidden_when_linked_reports_are_few() -> None:
    data = generate(200, weeks=1, seed=2)
    members: dict[str, int] = {}
    agg = Aggregator(members, {}, KINDS)
    for c in data.cases:
        agg.case(c, 0)
    [fig] = collect(members.items()).values()
    linked = sum(fig.metric("linked").values())
    record = weekly_statistics(fig, Policy(k=linked + 1), KINDS, generated_at=0)
    assert record["reports_total"] is None  # else reports − cases would give the linked count below k
    assert linked >= 5
    record = weekly_statistics(fig, Policy(k=5), KINDS, generated_at=0)
    assert record["reports_total"] == len(data.cases)


@pytest.mark.parametrize("n", [1, 2])
def test_applying_the_same_event_twice_writes_nothing_new(n: int) -> None:
    events = events_of(20, seed=n)
    members: dict[str, int] = {}
    agg = Aggregator(members, {}, KINDS)
    for kind, value in events:
        getattr(agg, kind)(value, 0)
    before = dict(members)
    for kind, value in itertools.islice(events, 0, None, 3):
        getattr(agg, kind)(value, 0)
    assert members == before


def test_a_week_is_published_only_once_it_has_ended_and_the_delay_passed() -> None:
    from services.stats.weeks import closed, week_end_ms

    end = week_end_ms("2026-W48")  # Monday 30 November 2026, 00:00 in Hà Nội = Sunday 17:00 UTC
    assert end == int(datetime(2026, 11, 29, 17, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    assert not closed("2026-W48", end - 1, 0) and closed("2026-W48", end, 0)
    assert not closed("2026-W48", end + 23 * 3_600_000, 24) and closed("2026-W48", end + 24 * 3_600_000, 24)


def test_dead_letters_count_by_reason_and_by_the_agency_the_transport_proved() -> None:
    """Reasons newer than this code count as they are; an agency's own topic names the agency, not the claim."""
    data = generate(40, weeks=2, seed=13)
    members = aggregate(data, KINDS, partition=0)
    for w, fig in collect(members.items()).items():
        exp = data.expected[w]
        assert fig.metric("dl_reason") == exp.get("dl_reason", {}), w
        assert fig.metric("dl_agency") == exp.get("dl_agency", {}), w
    reasons = {r for w in data.expected.values() for (r,) in w.get("dl_reason", {})}
    assert {"agency_mismatch", "safeguard_refused", "recipient_mismatch", "a_reason_added_later"} <= reasons


def test_a_mismatched_report_counts_under_its_topic_s_agency() -> None:
    letter = {
        "stage": "intake",
        "reason": "agency_mismatch",
        "source_topic": "t1.referrals.intake.ngo-safe-space-dn.v1",
        "source_partition": 0,
        "source_offset": 7,
        "original_key": b"vn-hotline-111/R1",  # the claim
        "failed_at": int(datetime(2026, 9, 8, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).timestamp() * 1000),
    }
    members: dict[str, int] = {}
    Aggregator(members, {}, KINDS).dead_letter(letter, 0)
    (fig,) = collect(members.items()).values()
    assert fig.metric("dl_agency") == {("ngo-safe-space-dn",): 1}
    assert fig.metric("dl_reason") == {("agency_mismatch",): 1}
    correlation = {
        **letter,
        "source_topic": "referrals.correlation.v1",
        "original_key": b"sha256/abc",
        "source_offset": 8,
    }
    Aggregator(members, {}, KINDS).dead_letter(correlation, 0)
    (fig,) = collect(members.items()).values()
    assert fig.metric("dl_agency") == {("ngo-safe-space-dn",): 1, ("unlisted",): 1}  # a content key names nobody


def test_refused_and_other_receipts_are_not_figures_and_do_not_fail() -> None:
    events = events_of(60)
    before = run(events)
    case_id, recipient = next((d["case_id"], d["recipients"][0]["recipient_id"]) for k, d in events if k == "decision")
    extra = [
        (
            "receipt",
            {
                "status": s,
                "referral_id": f"x-{s}",
                "case_id": case_id,
                "recipient_id": recipient,
                "latency_ms": None,
                "attempt": 1,
            },
        )
        for s in ("REFUSED", "DELIVERED", "QUEUED", "UNKNOWN", "PAUSED")
    ]
    assert run(events + extra) == before
