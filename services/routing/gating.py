"""The safeguards gate applied to a routing decision: refused recipients out, escalation targets checked.

Every recipient the rules, a fallback or the default chose passes `Gate.admit`; each escalation target
is replaced by the first permitted recipient on its chain (or none). What the gate refuses is recorded
on the decision (`refused`, notes); a decision left without recipients is held for the reporting agency.
"""

from __future__ import annotations

from referral_domain.safeguards import Facts, Gate
from services.routing.rules import Decision


def apply_gate(decision: Decision, facts: Facts, gate: Gate) -> Decision:
    """The decision with only admitted recipients, each with a permitted escalation target (in place)."""
    kept = []
    for c in decision.recipients:
        why = gate.admit(facts, c.recipient.id)
        if why is not None:
            path = "default" if decision.unmatched else "fallback" if c.fallback else "rules"
            decision.refused.append((path, why))
            decision.notes.append(f"refused: {why}")
            continue
        target, refused = gate.escalation(facts, c.recipient.escalation_target or decision.escalation_target)
        for r in refused:
            decision.notes.append(f"escalation of {c.recipient.id} refused: {r}")
        decision.refused.extend(("escalation", r) for r in refused)
        c.escalation = target
        kept.append(c)
    for missing in gate.safeguards.missing(facts, [c.recipient for c in kept]):
        decision.notes.append(f"safeguard {missing.safeguard_id} not met: {missing.reason}")
        decision.refused.append(("missing", missing))
    decision.recipients = kept
    decision.gated = True
    return decision
