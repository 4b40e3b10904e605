"""Acknowledgement SLA: which delivered referrals are overdue, and the referral that escalates one."""

from __future__ import annotations

import uuid
from typing import Any

ESCALATION_NAMESPACE = uuid.UUID("6f1c0d8e-3b5a-4f0e-9a51-2d7c1e0b9f11")
AWAITING_ACK = frozenset({"DELIVERED"})


def periods_overdue(delivered_at_ms: int, sla_seconds: int, now_ms: int) -> int:
    """How many whole SLA periods have passed since delivery without an acknowledgement."""
    if sla_seconds <= 0:
        return 0
    return max(0, (now_ms - delivered_at_ms) // (sla_seconds * 1000))


def escalation_id(referral_id: str, period: int) -> str:
    """Deterministic id of the escalation for one SLA period: a re-sent escalation is a duplicate, not a new one."""
    return str(uuid.uuid5(ESCALATION_NAMESPACE, f"{referral_id}/escalation/{period}"))


def escalation_referral(original: dict[str, Any], target: str, period: int, now_ms: int) -> dict[str, Any]:
    """A referral of the same case to the escalation target (redacted later to the target's own profile)."""
    return {
        **original,
        "referral_id": escalation_id(original["referral_id"], period),
        "recipient_id": target,
        "reason": (
            f"escalation: {original['recipient_id']} did not acknowledge referral {original['referral_id']} "
            f"within {original['ack_sla_seconds']}s (period {period})"
        ),
        "rule_ids": [*original["rule_ids"], "sla-escalation"],
        "escalation_target": None,
        "created_at": now_ms,
        "attempt": 0,
        "not_before": None,
        "last_error": None,
    }
