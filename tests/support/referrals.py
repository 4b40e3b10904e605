"""Referral documents for the notifier's pure SLA logic (no broker): the fields its clock reads."""

from __future__ import annotations

from typing import Any


def sla_referral(**changes: Any) -> dict[str, Any]:
    """Referral r1 of case-1 to `desk`, P1 with a 60 s acknowledgement SLA, no escalation target; `changes` applied."""
    return {
        "referral_id": "r1",
        "case_id": "case-1",
        "recipient_id": "desk",
        "priority": "P1",
        "ack_sla_seconds": 60,
        "rule_ids": ["rule"],
        "escalation_target": None,
        "created_at": 1_000,
    } | changes
