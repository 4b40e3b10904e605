"""The `referral_state` entry of a delivered referral and what an acknowledgement does to it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from referral_bus.errors import AcknowledgementError
from services.notifier.acks import apply_ack
from services.notifier.deliver import iso_utc
from services.notifier.sla import ESCALATION_RULE, delivered_state, escalation_referral

REFERRAL: dict[str, Any] = {
    "referral_id": "r-1",
    "case_id": "case-1",
    "recipient_id": "hotline",
    "priority": "HIGH",
    "ack_sla_seconds": 3600,
    "rule_ids": ["csam-to-hotline"],
    "escalation_target": None,
    "created_at": 500,
}


def test_delivered_state_keeps_the_record_only_when_there_is_a_target() -> None:
    st = delivered_state(REFERRAL, b"\x00avro", 2, recipient_target="police", delivered_at=1_000)
    assert st == {
        "case_id": "case-1",
        "recipient_id": "hotline",
        "priority": "HIGH",
        "ack_sla_seconds": 3600,
        "escalation_target": "police",
        "created_at": 500,
        "delivered_at": 1_000,
        "status": "DELIVERED",
        "referral": base64.b64encode(b"\x00avro").decode("ascii"),
        "partition": 2,
    }
    none = delivered_state(REFERRAL, b"\x00avro", 2, recipient_target=None, delivered_at=1_000)
    assert none["escalation_target"] is None and none["referral"] is None


def test_the_referral_own_target_wins_and_escalations_do_not_escalate_further() -> None:
    own = delivered_state({**REFERRAL, "escalation_target": "ngo"}, b"v", 0, recipient_target="police", delivered_at=0)
    assert own["escalation_target"] == "ngo"
    escalation = escalation_referral({**REFERRAL, "attempt": 0}, "police", 1, 5_000)
    assert ESCALATION_RULE in escalation["rule_ids"]
    st = delivered_state(escalation, b"v", 0, recipient_target="supervisor", delivered_at=0)
    assert st["escalation_target"] is None and st["referral"] is None


def _ack(outcome: str, recipient_id: str = "hotline", at: int = 2_000) -> dict[str, Any]:
    return {
        "referral_id": "r-1",
        "recipient_id": recipient_id,
        "outcome": outcome,
        "reason": None,
        "acknowledged_at": at,
    }


def test_apply_ack_moves_the_state_and_drops_the_kept_record() -> None:
    st = delivered_state(REFERRAL, b"v", 1, recipient_target="police", delivered_at=1_000)
    accepted = apply_ack(st, _ack("ACCEPTED"))
    assert accepted == {**st, "status": "ACKNOWLEDGED", "acked_at": 2_000, "referral": None}
    assert apply_ack(accepted, _ack("ACCEPTED", at=3_000)) is None  # duplicate
    completed = apply_ack(accepted, _ack("COMPLETED", at=4_000))
    assert completed is not None and completed["status"] == "COMPLETED"
    assert apply_ack(completed, _ack("REJECTED")) is None  # final


def test_apply_ack_refuses_what_no_delivered_referral_here_can_take() -> None:
    with pytest.raises(AcknowledgementError) as unknown:
        apply_ack(None, _ack("ACCEPTED"))
    assert unknown.value.referral_id == "r-1" and "case_id" in str(unknown.value)
    st = delivered_state(REFERRAL, b"v", 1, recipient_target=None, delivered_at=1_000)
    with pytest.raises(AcknowledgementError) as other:
        apply_ack(st, _ack("ACCEPTED", recipient_id="police"))
    assert other.value.referral_id == "r-1" and other.value.case_id == "case-1"
    with pytest.raises(AcknowledgementError):
        apply_ack(st, _ack("MAYBE"))


def test_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(1_700_000_000_999) == "2023-11-14T22:13:20Z"
