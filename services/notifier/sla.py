"""Acknowledgement SLA: which referrals are overdue, and the referral that escalates one.

The clock runs from routing: a referral is due `ack_sla_seconds` after its `created_at` (when routing
made it), whether it was delivered, is still failing, parked, held by its recipient's breaker, refused
or dead-lettered; period n is due n SLAs after routing. Entries written before the notifier kept
`created_at` count from `delivered_at`.

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
ROUTED = "ROUTED"  # taken by the notifier, not delivered yet: first attempt, failing, parked or breaker-held
GIVEN_UP = "FAILED"  # no more attempts: dead-lettered (retries exhausted, age limit, permanent error)
REFUSED = "REFUSED"  # the safeguards refused delivery to this recipient
NOT_DELIVERED = frozenset({ROUTED, GIVEN_UP, REFUSED})
# the SLA clock runs for these (config/lifecycle.yaml `sla: true`)
AWAITING_ACK = NOT_DELIVERED | {"DELIVERED", "RECEIVED"}
ESCALATION_RULE = "sla-escalation"  # in rule_ids of every escalation referral


_last_record: tuple[bytes, str] = (b"", "")  # the last referral record base64-encoded here, and its text


def record_text(value: bytes) -> str:
    """`base64.b64encode(value).decode("ascii")`, kept for the last bytes object.

    A delivery keeps the same record in up to three entries: ROUTED, DELIVERED and its lifecycle fields.
    """
    global _last_record
    last, text = _last_record
    if value is last and type(value) is bytes:  # immutable, and held here: the same object has the same bytes
        return text
    text = base64.b64encode(value).decode("ascii")
    _last_record = (value, text)
    return text


def _target(referral: Mapping[str, Any], recipient_target: str | None) -> str | None:
    """The escalation target: the referral's own, else its recipient's, never for an escalation itself."""
    is_escalation = ESCALATION_RULE in referral["rule_ids"]
    return referral.get("escalation_target") or (None if is_escalation else recipient_target)


def routed_state(
    referral: Mapping[str, Any],
    value: bytes,
    partition: int,
    *,
    recipient_target: str | None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """The `referral_state` entry of a referral the notifier has just taken, before any delivery attempt.

    Its SLA clock runs from `created_at`; `value` is kept (base64) when there is an escalation target;
    `traceparent` (where traced): its report's trace, which the SLA timer's escalation continues.
    """
    target = _target(referral, recipient_target)
    return {
        "case_id": referral["case_id"],
        "recipient_id": referral["recipient_id"],
        "priority": referral["priority"],
        "ack_sla_seconds": referral["ack_sla_seconds"],
        "escalation_target": target,
        "created_at": referral["created_at"],
        "delivered_at": None,
        "status": ROUTED,
        "referral": record_text(value) if target else None,
        "partition": partition,
        **({"traceparent": traceparent} if traceparent else {}),
    }


def after_delivery(current: Mapping[str, Any] | None, delivered: dict[str, Any]) -> dict[str, Any]:
    """The entry once delivered: `delivered` (from delivered_state), keeping an acknowledgement that came first."""
    if current is None:
        return delivered
    if current.get("status") in AWAITING_ACK:
        return {**delivered, "created_at": current.get("created_at", delivered["created_at"])}
    return {**current, "delivered_at": delivered["delivered_at"]}  # acknowledged before delivery was recorded


def not_delivered(current: Mapping[str, Any] | None, status: str) -> dict[str, Any] | None:
    """The entry after a delivery gave up (`GIVEN_UP`) or was refused (`REFUSED`); None: leave it as it is."""
    if current is None or current.get("status") not in NOT_DELIVERED or current.get("status") == status:
        return None
    return {**current, "status": status}


def delivered_state(
    referral: Mapping[str, Any],
    value: bytes,
    partition: int,
    *,
    recipient_target: str | None,
    delivered_at: int,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """The `referral_state` entry of a just-delivered referral: what the SLA timer and acks need.

    `value` is the referral record as consumed; it is kept (base64) only when there is an escalation
    target, to build the escalation from. The target is the referral's own, else its recipient's
    (`recipient_target`) unless the referral is itself an escalation, which never escalates further.
    `partition` is the consumed event's, i.e. the entry's changelog partition.
    """
    routed = routed_state(referral, value, partition, recipient_target=recipient_target, traceparent=traceparent)
    return {**routed, "delivered_at": delivered_at, "status": "DELIVERED"}


def periods_overdue(since_ms: int, sla_seconds: int, now_ms: int) -> int:
    """How many whole SLA periods have passed since `since_ms` (routing) without an acknowledgement."""
    if sla_seconds <= 0:
        return 0
    return max(0, (now_ms - since_ms) // (sla_seconds * 1000))


def clock_start(entry: Mapping[str, Any]) -> int:
    """When the entry's SLA clock started: routing (`created_at`), or delivery for entries older than that field."""
    start = entry.get("created_at")
    return int(start if start is not None else entry["delivered_at"])


def ack_clock(entry: Mapping[str, Any], acknowledged_at: int) -> dict[str, int]:
    """The receipt fields that time a recipient's action by the SLA clock: from routing, under the entry's own SLA.

    Empty for an entry with no clock start (never an error: the action itself is applied all the same).
    """
    if entry.get("created_at") is None and entry.get("delivered_at") is None:
        return {}
    since = max(0, int(acknowledged_at) - clock_start(entry))
    return {"since_routing_ms": since, "ack_sla_seconds": int(entry["ack_sla_seconds"])}


def next_due(entry: Mapping[str, Any] | None, escalated_period: int | None) -> int | None:
    """When the next SLA period after `escalated_period` falls due (ms), or None when nothing will escalate."""
    if not entry or entry.get("status") not in AWAITING_ACK or entry["ack_sla_seconds"] <= 0:
        return None
    return clock_start(entry) + ((escalated_period or 0) + 1) * int(entry["ack_sla_seconds"]) * 1000


def overdue_detail(entry: Mapping[str, Any]) -> str:
    """Why an entry escalates, in words for the ESCALATED receipt (no personal data)."""
    sla, status = entry["ack_sla_seconds"], entry.get("status")
    if status == "DELIVERED":
        return f"no acknowledgement within {sla}s of routing"
    why = {ROUTED: "still being retried", GIVEN_UP: "given up and dead-lettered", REFUSED: "refused by the safeguards"}
    return f"not delivered within {sla}s of routing ({why.get(str(status), str(status))})"


def period_to_escalate(entry: Mapping[str, Any], escalated_period: int | None, now_ms: int) -> int | None:
    """The SLA period to escalate `entry` (a `referral_state` value) for now, or None.

    None when the referral is no longer awaiting an acknowledgement, is not overdue yet, or its
    current period was escalated already (`escalated_period`, the durable mark). Periods missed while
    no worker was running are not escalated one by one: only the current one is. Delivered or not,
    the periods count from routing (`clock_start`).
    """
    if entry.get("status") not in AWAITING_ACK:
        return None
    period = periods_overdue(clock_start(entry), entry["ack_sla_seconds"], now_ms)
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
