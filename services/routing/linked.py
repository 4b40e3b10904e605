"""Linked reports: a report joined to an existing case is routed on its own facts, with the case's history.

Routing keeps, per case, who already holds it (recipient → the referral that reached it) and the
case's priority and SLA (`CaseState`, in the `routed` table, ids and codes only). A linked report is
decided and gated on its own facts; every other holder of the case is added when the safeguards gate
admits it for those same facts (`add_holders`). Recipients that do not hold the case then get a
referral of their own, holders an UPDATE referral; both carry the linked report, their own referral
id (case, recipient and report) and a `link` telling which case the report joined. A linked report
more urgent than the case raises the case's priority and shortens its SLA.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from referral_bus.errors import ProcessingError
from referral_bus.ids import uuid5_text
from referral_bus.packed import unpacked
from referral_domain.safeguards import Facts, Gate
from services.routing.model import PRIORITY_RANK, Priority
from services.routing.rules import Chosen, Decision

_NS = uuid.UUID("0d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
PACKED = frozenset({"holders"})  # held as JSON text in the `routed` table's memory (referral_bus/packed.py)


def linked_referral_id(case_id: str, recipient_id: str, agency_id: str, report_id: str) -> str:
    """Idempotency key of a linked report's referral: one per case, recipient and linked report."""
    return "ref-" + uuid5_text(_NS, f"{case_id}/{recipient_id}/{agency_id}/{report_id}")


def linked_decision_id(case_id: str, rules_version: str, agency_id: str, report_id: str) -> str:
    """Id of the decision on a linked report (the case's first decision keeps its own)."""
    return "dec-" + uuid5_text(_NS, f"{case_id}@{rules_version}/{agency_id}/{report_id}")


@dataclass(frozen=True)
class CaseState:
    """What routing remembers of a case: who holds it (recipient → referral id), its priority and SLA."""

    holders: dict[str, str] = field(default_factory=dict)
    priority: Priority = "P4"
    ack_sla_seconds: int = 0

    def to_json(self) -> dict[str, Any]:
        """The table value (ids and codes only: no personal data)."""
        return {"holders": dict(sorted(self.holders.items())), "priority": self.priority, "sla": self.ack_sla_seconds}

    @classmethod
    def from_json(cls, raw: Any) -> CaseState:
        """From the table value; a malformed one is a processing error, never a silent reset."""
        try:
            held = unpacked(raw, "holders") if isinstance(raw, dict) else raw["holders"]
            if not isinstance(held, dict):
                raise TypeError
            holders = {str(k): str(v) for k, v in held.items()}
            priority = str(raw["priority"])
            sla = int(raw["sla"])
        except (KeyError, TypeError, ValueError):
            raise ProcessingError("routing case state lacks holders, priority or sla") from None
        if priority not in PRIORITY_RANK:
            raise ProcessingError("routing case state has an unknown priority")
        return cls(holders, priority, sla)  # type: ignore[arg-type]  # checked against PRIORITY_RANK above


@dataclass(frozen=True)
class LinkedReport:
    """The report a linked Case event adds, and what matched."""

    agency_id: str
    report_id: str
    matched_on: str

    @classmethod
    def of(cls, case: dict[str, Any]) -> LinkedReport | None:
        """The linked report of a Case event, or None for a case's first report."""
        if not case.get("is_update"):
            return None
        report = case["report"]
        links = [x for x in case.get("linked_reports") or [] if x.get("report_id") == report["report_id"]]
        matched_on = links[0]["matched_on"] if links else "unknown"
        return cls(report["agency_id"], report["report_id"], matched_on)


@dataclass(frozen=True, slots=True)  # one per referral (ack) on the hot path: no __dict__
class Planned:
    """One referral to make: recipient, its referral id, and (linked reports) whether it updates a holder."""

    recipient_id: str
    referral_id: str
    update_of: str | None = None


@dataclass
class Plan:
    """A gated decision turned into referrals, and the case state once they are out."""

    referrals: list[Planned]
    state: CaseState
    linked: LinkedReport | None = None
    raised_from: Priority | None = None
    decision_id: str | None = None  # None: the case's first decision id

    @property
    def updated(self) -> list[str]:
        """Recipients that get an update referral (they already held the case)."""
        return [p.recipient_id for p in self.referrals if p.update_of is not None]


HOLDER_REASON = "holds the case: update for a linked report"


def add_holders(decision: Decision, case: dict[str, Any], state: CaseState | None, facts: Facts, gate: Gate) -> None:
    """Add to a linked report's gated decision every other holder of the case that the gate admits (in place).

    A holder the gate refuses for the linked report's facts (e.g. police, for an adult who refused
    consent) gets nothing of it; the refusal is recorded on the decision under the path `holder`.
    Escalation targets go through the gate as for any recipient. A case's first report: nothing added.
    """
    if not decision.gated:
        raise ProcessingError("routing adds holders only to a decision the safeguards gate has seen")
    if LinkedReport.of(case) is None or state is None:
        return
    chosen = {c.recipient.id for c in decision.recipients}
    for rid in sorted(set(state.holders) - chosen):
        why = gate.admit(facts, rid)
        recipient = gate.directory.get(rid)
        if why is not None or recipient is None:
            if why is not None:
                decision.refused.append(("holder", why))
                decision.notes.append(f"holder refused: {why}")
            continue
        target, refused = gate.escalation(facts, recipient.escalation_target or decision.escalation_target)
        decision.refused.extend(("escalation", r) for r in refused)
        decision.recipients.append(Chosen(recipient, [], HOLDER_REASON, None, target))


def _more_urgent(a: Priority, b: Priority) -> Priority:
    return a if PRIORITY_RANK[a] <= PRIORITY_RANK[b] else b


def plan(
    decision: Decision, case: dict[str, Any], state: CaseState | None, first_id: Callable[[str, str], str]
) -> Plan:
    """Referrals for a gated decision: exactly its recipients, each new or an update of a holder's referral.

    `first_id(case_id, recipient_id)` is the referral id of a case's first report (decisions.py).
    A recipient holds the case when an earlier referral of another report reached it; a replay of this
    report finds its own referral there and makes the same referral again (same id, same kind).
    """
    if not decision.gated:
        raise ProcessingError("routing plans referrals only for a decision the safeguards gate has seen")
    link = LinkedReport.of(case)
    held = dict(state.holders) if state else {}
    out: list[Planned] = []
    for c in decision.recipients:
        rid = c.recipient.id
        if link is None:
            ref = first_id(decision.case_id, rid)
        else:
            ref = linked_referral_id(decision.case_id, rid, link.agency_id, link.report_id)
        earlier = held.get(rid)
        out.append(Planned(rid, ref, earlier if link is not None and earlier not in (None, ref) else None))
    priority, sla, raised = decision.priority, decision.ack_sla_seconds, None
    if state is not None:
        if PRIORITY_RANK[decision.priority] < PRIORITY_RANK[state.priority]:
            raised = state.priority
        priority = _more_urgent(decision.priority, state.priority)
        sla = min(decision.ack_sla_seconds, state.ack_sla_seconds or decision.ack_sla_seconds)
    for p in out:
        held.setdefault(p.recipient_id, p.referral_id)
    decision_id = (
        linked_decision_id(decision.case_id, decision.rules_version, link.agency_id, link.report_id) if link else None
    )
    return Plan(out, CaseState(held, priority, sla), link, raised if link else None, decision_id)
