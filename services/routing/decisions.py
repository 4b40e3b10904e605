"""Turning a routing Decision into the Avro RoutingDecision and Referral records."""

from __future__ import annotations

import uuid
from typing import Any

from referral_bus.ids import uuid5_text
from services.routing.linked import Plan
from services.routing.rules import Decision

_NS = uuid.UUID("0b9d7c2e-52c4-4d3e-8a8e-7f6a4b1f3c21")


def referral_id_for(case_id: str, recipient_id: str) -> str:
    """Deterministic idempotency key: one case and one recipient always give the same referral id."""
    return "ref-" + uuid5_text(_NS, f"{case_id}/{recipient_id}")


def decision_record(
    decision: Decision, *, now_ms: int, held_for: str | None = None, plan: Plan | None = None
) -> dict[str, Any]:
    """The RoutingDecision event; `held_for` is the reporting agency when no referral goes out.

    With the `plan` of a linked report: its own decision id, the recipients updated and a raised priority.
    """
    if plan and plan.decision_id:
        decision_id = plan.decision_id
    else:  # the case's first decision
        decision_id = "dec-" + uuid5_text(_NS, f"{decision.case_id}@{decision.rules_version}")
    return {
        "decision_id": decision_id,
        "case_id": decision.case_id,
        "report_id": decision.report_id,
        "decided_at": now_ms,
        "rules_version": decision.rules_version,
        "matched_rules": decision.matched_rules,
        "recipients": [
            {"recipient_id": c.recipient.id, "rule_ids": c.rule_ids, "reason": c.reason, "fallback": c.fallback}
            for c in decision.recipients
        ],
        "priority": decision.priority,
        "ack_sla_seconds": decision.ack_sla_seconds,
        "preservation_request": decision.preservation_request,
        "unmatched": decision.unmatched,
        "held": not decision.recipients,
        "held_for": held_for if not decision.recipients else None,
        "refused": [
            {"recipient_id": r.recipient_id, "safeguard_id": r.safeguard_id, "path": path, "reason": r.reason}
            for path, r in decision.refused
        ],
        "linked_report": bool(plan and plan.linked),
        "updated_recipients": plan.updated if plan else [],
        "raised_from": plan.raised_from if plan else None,
    }


def _link(plan: Plan | None, case_id: str, update_of: str | None) -> dict[str, Any] | None:
    """The Referral's `link` for a linked report's referral (None for a case's first report)."""
    if plan is None or plan.linked is None:
        return None
    return {
        "case_id": case_id,
        "agency_id": plan.linked.agency_id,
        "report_id": plan.linked.report_id,
        "matched_on": plan.linked.matched_on,
        "update": update_of is not None,
        "update_of": update_of,
        "raised_from": plan.raised_from,
    }


def referral_records(
    decision: Decision, record: dict[str, Any], case: dict[str, Any], *, now_ms: int, plan: Plan | None = None
) -> list[dict[str, Any]]:
    """One Referral per chosen recipient, each carrying the full case (the notifier redacts it).

    With a `plan` (linked.py) each referral takes the plan's id and, for a linked report, its `link`.
    """
    planned = {p.recipient_id: p for p in plan.referrals} if plan else {}
    out = []
    for c in decision.recipients:
        p = planned.get(c.recipient.id)
        out.append(
            {
                "referral_id": p.referral_id if p else referral_id_for(decision.case_id, c.recipient.id),
                "case_id": decision.case_id,
                "recipient_id": c.recipient.id,
                "decision_id": record["decision_id"],
                "rule_ids": c.rule_ids,
                "reason": c.reason,
                "priority": decision.priority,
                "ack_sla_seconds": decision.ack_sla_seconds,
                "escalation_target": (
                    c.escalation if decision.gated else c.recipient.escalation_target or decision.escalation_target
                ),
                "preservation_request": decision.preservation_request,
                "created_at": now_ms,
                "attempt": 0,
                "not_before": None,
                "last_error": None,
                "case": case,
                "link": _link(plan, decision.case_id, p.update_of if p else None),
            }
        )
    return out
