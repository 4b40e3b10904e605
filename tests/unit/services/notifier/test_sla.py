"""SLA periods, escalation referrals and the `referrals pending` computation."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from referral_cli.commands.referrals import pending
from services.notifier import sla
from tests.support.referrals import sla_referral


def test_periods_overdue() -> None:
    assert sla.periods_overdue(0, 60, 59_999) == 0
    assert sla.periods_overdue(0, 60, 60_000) == 1
    assert sla.periods_overdue(0, 60, 185_000) == 3
    assert sla.periods_overdue(0, 0, 10**9) == 0


def test_each_period_is_escalated_once_against_the_durable_mark() -> None:
    entry = {"status": "DELIVERED", "delivered_at": 0, "ack_sla_seconds": 2}
    assert sla.period_to_escalate(entry, None, 1_999) is None  # not overdue yet
    assert sla.period_to_escalate(entry, None, 2_000) == 1
    assert sla.period_to_escalate(entry, 1, 3_999) is None  # period 1 is marked: never again
    assert sla.period_to_escalate(entry, 1, 4_000) == 2
    assert sla.period_to_escalate(entry, 2, 4_500) is None
    # a late tick (a loaded machine, a restart) escalates only the current period, never an older one
    assert sla.period_to_escalate(entry, 1, 9_000) == 4
    assert sla.period_to_escalate(entry, 4, 9_000) is None
    # acknowledged, rejected, completed: nothing to chase
    for status in ("ACKNOWLEDGED", "REJECTED", "COMPLETED", "REVOKED"):
        assert sla.period_to_escalate({**entry, "status": status}, None, 10**9) is None


def test_escalation_is_deterministic_per_period() -> None:
    assert sla.escalation_id("r1", 1) == sla.escalation_id("r1", 1)
    assert sla.escalation_id("r1", 1) != sla.escalation_id("r1", 2) != sla.escalation_id("r2", 1)
    original = {
        "referral_id": "r1",
        "recipient_id": "slow-desk",
        "ack_sla_seconds": 900,
        "rule_ids": ["imminent-danger"],
        "escalation_target": "duty",
        "attempt": 3,
        "not_before": 5,
        "last_error": "x",
        "case": {"case_id": "c1"},
    }
    esc = sla.escalation_referral(original, "duty", 2, 1234)
    assert esc["recipient_id"] == "duty" and esc["referral_id"] == sla.escalation_id("r1", 2)
    assert esc["escalation_target"] is None and esc["attempt"] == 0 and esc["not_before"] is None
    assert "r1" in esc["reason"] and "slow-desk" in esc["reason"]
    assert esc["case"] is original["case"] and esc["created_at"] == 1234


def _receipt(rid: str, status: str, at: int = 0) -> dict[str, Any]:
    return {"referral_id": rid, "case_id": "c-" + rid, "recipient_id": "x", "status": status, "at": at}


def test_pending_lists_delivered_unacknowledged_p1_first() -> None:
    receipts = [
        _receipt("a", "DELIVERED", 1),
        _receipt("b", "FAILED", 1),
        _receipt("b", "DELIVERED", 2),
        _receipt("c", "DELIVERED", 3),
        _receipt("c", "ACKNOWLEDGED", 4),
        _receipt("d", "DELIVERED", 5),
        _receipt("d", "ESCALATED", 6),
        _receipt("e", "FAILED", 1),
        _receipt("f", "DELIVERED", 1),
        _receipt("f", "REJECTED", 2),
    ]
    refs = {
        "a": {"priority": "P3", "ack_sla_seconds": 60},
        "b": {"priority": "P1", "ack_sla_seconds": 60},
        "d": {"priority": "P1", "ack_sla_seconds": 60},
    }
    rows = pending(receipts, refs)
    assert [p.referral_id for p in rows] == ["b", "d", "a"]
    assert rows[1].escalations == 1 and rows[0].overdue


# --- the clock from routing ----------------------------------------------------------------------------

REFERRAL = sla_referral(rule_ids=["imminent-danger"], created_at=10_000)
STATUSES = ("ROUTED", "FAILED", "REFUSED", "DELIVERED", "ACKNOWLEDGED", "REJECTED", "COMPLETED", "REVOKED")
AWAITING = {"ROUTED", "FAILED", "REFUSED", "DELIVERED"}


def test_routed_state_starts_the_clock_at_routing_and_keeps_the_record_for_a_target() -> None:
    st = sla.routed_state(REFERRAL, b"\x00v", 3, recipient_target="duty")
    assert st["status"] == sla.ROUTED and st["created_at"] == 10_000 and st["delivered_at"] is None
    assert st["escalation_target"] == "duty" and st["referral"] and st["partition"] == 3
    assert sla.routed_state(REFERRAL, b"v", 3, recipient_target=None)["referral"] is None
    escalation = sla.escalation_referral({**REFERRAL, "attempt": 0}, "duty", 1, 99)
    assert sla.routed_state(escalation, b"v", 0, recipient_target="boss")["escalation_target"] is None
    assert sla.next_due(st, None) == 10_000 + 60_000  # due one SLA after routing, not after any delivery


def test_every_state_that_awaits_an_ack_escalates_from_routing_and_no_other() -> None:
    entry = sla.routed_state(REFERRAL, b"v", 0, recipient_target="duty")
    for status in STATUSES:
        e = {**entry, "status": status, "delivered_at": 50_000 if status == "DELIVERED" else None}
        if status in AWAITING:
            assert sla.period_to_escalate(e, None, 69_999) is None
            assert sla.period_to_escalate(e, None, 70_000) == 1  # 60 s after routing, however late delivered
            assert sla.next_due(e, None) == 70_000 and sla.next_due(e, 1) == 130_000
            assert "60s of routing" in sla.overdue_detail(e)
        else:
            assert sla.period_to_escalate(e, None, 10**12) is None and sla.next_due(e, None) is None
    assert sla.next_due(None, None) is None
    assert sla.next_due({**entry, "ack_sla_seconds": 0}, None) is None  # no SLA: never due


def test_overdue_detail_says_why_without_personal_data() -> None:
    entry = sla.routed_state(REFERRAL, b"v", 0, recipient_target=None)
    assert "no acknowledgement" in sla.overdue_detail({**entry, "status": "DELIVERED"})
    assert "still being retried" in sla.overdue_detail(entry)
    assert "dead-lettered" in sla.overdue_detail({**entry, "status": sla.GIVEN_UP})
    assert "refused by the safeguards" in sla.overdue_detail({**entry, "status": sla.REFUSED})
    assert "not delivered" in sla.overdue_detail({**entry, "status": "SOMETHING_NEW"})


def test_entries_from_before_created_at_count_from_delivery() -> None:
    old = {"status": "DELIVERED", "delivered_at": 5_000, "ack_sla_seconds": 2}
    assert sla.clock_start(old) == 5_000 and sla.next_due(old, None) == 7_000


def test_delivery_replaces_an_undelivered_state_but_never_an_acknowledgement() -> None:
    routed = sla.routed_state(REFERRAL, b"v", 1, recipient_target="duty")
    delivered = sla.delivered_state(
        {**REFERRAL, "created_at": 11_111}, b"v", 1, recipient_target="duty", delivered_at=9
    )
    assert sla.after_delivery(None, delivered) == delivered
    for status in ("ROUTED", "FAILED", "REFUSED", "DELIVERED"):
        after = sla.after_delivery({**routed, "status": status}, delivered)
        assert after["status"] == "DELIVERED" and after["created_at"] == 10_000 and after["delivered_at"] == 9
    acked = {**routed, "status": "ACKNOWLEDGED", "acked_at": 5, "referral": None}
    assert sla.after_delivery(acked, delivered) == {**acked, "delivered_at": 9}


def test_given_up_or_refused_only_changes_an_undelivered_state() -> None:
    routed = sla.routed_state(REFERRAL, b"v", 1, recipient_target=None)
    assert sla.not_delivered(None, sla.GIVEN_UP) is None
    assert sla.not_delivered(routed, sla.GIVEN_UP) == {**routed, "status": sla.GIVEN_UP}
    assert sla.not_delivered(routed, sla.REFUSED) == {**routed, "status": sla.REFUSED}
    assert sla.not_delivered({**routed, "status": sla.GIVEN_UP}, sla.GIVEN_UP) is None  # unchanged: no write
    assert sla.not_delivered({**routed, "status": sla.GIVEN_UP}, sla.REFUSED) == {**routed, "status": sla.REFUSED}
    for status in ("DELIVERED", "ACKNOWLEDGED", "COMPLETED", "REJECTED"):
        assert sla.not_delivered({**routed, "status": status}, sla.GIVEN_UP) is None


@given(
    created=st.integers(0, 10**12),
    sla_s=st.integers(1, 10**6),
    status=st.sampled_from(sorted(AWAITING)),
    delivered_after=st.one_of(st.none(), st.integers(0, 10**9)),
    ticks=st.lists(st.integers(0, 10**10), max_size=30),
)
def test_escalations_follow_routing_time_once_per_period_whatever_the_tick_order(
    created: int, sla_s: int, status: str, delivered_after: int | None, ticks: list[int]
) -> None:
    """Ticks at any times (sorted: time only moves on): each escalates at most one period, never twice,
    never before one SLA after routing, and exactly when the index said it was due."""
    entry = {
        "status": status,
        "created_at": created,
        "delivered_at": None if delivered_after is None else created + delivered_after,
        "ack_sla_seconds": sla_s,
    }
    escalated: int | None = None
    seen: list[int] = []
    for offset in sorted(ticks):
        now = created + offset
        due = sla.next_due(entry, escalated)
        period = sla.period_to_escalate(entry, escalated, now)
        assert due is not None
        assert (period is not None) == (now >= due)  # the index and the check agree
        if period is not None:
            assert now >= created + period * sla_s * 1000 and now < created + (period + 1) * sla_s * 1000
            seen.append(period)
            escalated = period
    assert seen == sorted(set(seen))
    assert all(p >= 1 for p in seen)


@given(
    statuses=st.lists(st.sampled_from(STATUSES), min_size=1, max_size=8),
    created=st.integers(0, 10**12),
)
def test_an_acknowledgement_at_any_point_stops_the_clock(statuses: list[str], created: int) -> None:
    entry: dict[str, Any] = {"created_at": created, "delivered_at": None, "ack_sla_seconds": 5}
    for status in statuses:
        entry["status"] = status
        stopped = status not in AWAITING
        assert (sla.next_due(entry, None) is None) == stopped
        assert (sla.period_to_escalate(entry, None, created + 10**9) is None) == stopped


@given(created=st.integers(0, 10**12), delivered=st.integers(0, 10**9), acked=st.integers(-(10**9), 10**9))
def test_an_action_is_timed_from_routing_under_the_entry_s_own_sla(created: int, delivered: int, acked: int) -> None:
    entry = {"created_at": created, "delivered_at": created + delivered, "ack_sla_seconds": 900}
    assert sla.ack_clock(entry, created + acked) == {"since_routing_ms": max(0, acked), "ack_sla_seconds": 900}
    older = {**entry, "created_at": None}  # an entry from before created_at: from delivery, like the timer
    assert sla.ack_clock(older, created + delivered + 5) == {"since_routing_ms": 5, "ack_sla_seconds": 900}
    assert sla.ack_clock({**entry, "created_at": None, "delivered_at": None}, created) == {}
