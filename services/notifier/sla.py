"""Acknowledgement SLA: which delivered referrals are overdue, and the referral that escalates one.

Escalation is once per SLA period and per referral: the notifier keeps, in a changelogged Faust table
in the referral's own partition, the last period it escalated (written only after the escalation and
its ESCALATED receipt are acknowledged by the broker), so a restart or a rebalance does not repeat
one. An escalation referral is itself a referral awaiting the target's acknowledgement: if nobody
acknowledges it, it gets its own ESCALATED receipts (under its own referral id, with no target).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any

ESCALATION_NAMESPACE = uuid.UUID("6f1c0d8e-3b5a-4f0e-9a51-2d7c1e0b9f11")
AWAITING_ACK = frozenset({"DELIVERED", "RECEIVED"})  # receipt statuses of config/lifecycle.yaml `sla: true`
ESCALATION_RULE = "sla-escalation"  # in rule_ids of every escalation referral


def delivered_state(
    referral: Mapping[str, Any], value: bytes, partition: int, *, recipient_target: str | None, delivered_at: int
) -> dict[str, Any]:
    """The `referral_state` entry of a just-delivered referral: what the SLA timer and acks need.

    `value` is the referral record as consumed; it is kept (base64) only when there is an escalation
    target, to build the escalation from. The target is the referral's own, else its recipient's
    (`recipient_target`) unless the referral is itself an escalation, which never escalates further.
    `partition` is the consumed event's, i.e. the entry's changelog partition.
    """
    is_escalation = ESCALATION_RULE in referral["rule_ids"]
    target = referral.get("escalation_target") or (None if is_escalation else recipient_target)
    return {
        "case_id": referral["case_id"],
        "recipient_id": referral["recipient_id"],
        "priority": referral["priority"],
        "ack_sla_seconds": referral["ack_sla_seconds"],
        "escalation_target": target,
        "delivered_at": delivered_at,
        "status": "DELIVERED",
        "referral": base64.b64encode(value).decode("ascii") if target else None,
        "partition": partition,
    }


def periods_overdue(delivered_at_ms: int, sla_seconds: int, now_ms: int) -> int:
    """How many whole SLA periods have passed since delivery without an acknowledgement."""
    if sla_seconds <= 0:
        return 0
    return max(0, (now_ms - delivered_at_ms) // (sla_seconds * 1000))


def period_to_escalate(entry: Mapping[str, Any], escalated_period: int | None, now_ms: int) -> int | None:
    """The SLA period to escalate `entry` (a `referral_state` value) for now, or None.

    None when the referral is no longer awaiting an acknowledgement, is not overdue yet, or its
    current period was escalated already (`escalated_period`, the durable mark). Periods missed while
    no worker was running are not escalated one by one: only the current one is.
    """
    if entry.get("status") not in AWAITING_ACK:
        return None
    period = periods_overdue(entry["delivered_at"], entry["ack_sla_seconds"], now_ms)
    return period if period > (escalated_period or 0) else None


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
        "rule_ids": [*original["rule_ids"], ESCALATION_RULE],
        "escalation_target": None,
        "created_at": now_ms,
        "attempt": 0,
        "not_before": None,
        "last_error": None,
    }
