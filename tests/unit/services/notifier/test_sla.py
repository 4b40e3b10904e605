"""SLA periods, escalation referrals and the `referrals pending` computation."""

from __future__ import annotations

from typing import Any

from referral_cli.commands.referrals import pending
from services.notifier.sla import escalation_id, escalation_referral, period_to_escalate, periods_overdue


def test_periods_overdue() -> None:
    assert periods_overdue(0, 60, 59_999) == 0
    assert periods_overdue(0, 60, 60_000) == 1
    assert periods_overdue(0, 60, 185_000) == 3
    assert periods_overdue(0, 0, 10**9) == 0


def test_each_period_is_escalated_once_against_the_durable_mark() -> None:
    entry = {"status": "DELIVERED", "delivered_at": 0, "ack_sla_seconds": 2}
    assert period_to_escalate(entry, None, 1_999) is None  # not overdue yet
    assert period_to_escalate(entry, None, 2_000) == 1
    assert period_to_escalate(entry, 1, 3_999) is None  # period 1 is marked: never again
    assert period_to_escalate(entry, 1, 4_000) == 2
    assert period_to_escalate(entry, 2, 4_500) is None
    # a late tick (a loaded machine, a restart) escalates only the current period, never an older one
    assert period_to_escalate(entry, 1, 9_000) == 4
    assert period_to_escalate(entry, 4, 9_000) is None
    # acknowledged, rejected, completed: nothing to chase
    for status in ("ACKNOWLEDGED", "REJECTED", "COMPLETED", "REVOKED"):
        assert period_to_escalate({**entry, "status": status}, None, 10**9) is None


def test_escalation_is_deterministic_per_period() -> None:
    assert escalation_id("r1", 1) == escalation_id("r1", 1)
    assert escalation_id("r1", 1) != escalation_id("r1", 2) != escalation_id("r2", 1)
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
    esc = escalation_referral(original, "duty", 2, 1234)
    assert esc["recipient_id"] == "duty" and esc["referral_id"] == escalation_id("r1", 2)
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
