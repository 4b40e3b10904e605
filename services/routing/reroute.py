"""Sending a case on after a decline or a transfer (pure): who gets it next, or who is alerted.

The notifier asks (a `RerouteRequest` on referrals.reroute.v1); routing answers here, since it owns the
rules and the safeguards gate. Candidates, in order: for a transfer the recipient named, then (like a
decline) the sources of config/lifecycle.yaml `reroute.on_decline` — a recipient of the same kind acting
for the victim's whole country, then the declined recipient's escalation chain. A candidate must pass
the gate and must not already hold the case (`excluded`). When none is left and the declined kind is
one the safeguards make mandatory for the case and no other active referral covers it, the duty desk
(`duty_desk`) gets an alert referral: the case is never silently left uncovered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from referral_domain import jurisdictions
from referral_domain.lifecycle import Lifecycle
from referral_domain.safeguards import Facts, Gate, Refusal
from services.routing.decisions import referral_id_for

REROUTE_RULE = "lifecycle-reroute"
TRANSFER_RULE = "lifecycle-transfer"
UNCOVERED_RULE = "lifecycle-uncovered"


@dataclass(frozen=True)
class Rerouted:
    """The case goes to `referral["recipient_id"]`."""

    referral: dict[str, Any]
    kind: str
    transferred: bool  # to the recipient the transferring one named
    refused: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True)
class Uncovered:
    """No permitted recipient: a mandatory kind is left uncovered; `alert` is the duty desk's referral, if admitted."""

    kind: str
    alert: dict[str, Any] | None
    refused: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True)
class NotSentOn:
    """No permitted recipient, and the kind is not mandatory for this case (or still covered by another referral)."""

    kind: str
    refused: list[Refusal] = field(default_factory=list)


Plan = Rerouted | Uncovered | NotSentOn


def candidates(request: dict[str, Any], facts: Facts, gate: Gate, lifecycle: Lifecycle) -> list[str]:
    """Recipient ids to try, in order, without repeats (not yet checked by the gate or against `excluded`)."""
    out: list[str] = []
    if request["action"] == "TRANSFERRED" and request.get("transfer_to"):
        out.append(request["transfer_to"])
    declined = gate.directory.get(request["recipient_id"])
    for source in lifecycle.spec.reroute.on_decline:
        if source == "national_same_kind":
            country = jurisdictions.country_of(facts.victim_jurisdiction) if facts.victim_jurisdiction else ""
            out += sorted(r.id for r in gate.directory.at(request["recipient_kind"], country)) if country else []
        elif declined is not None:
            out += gate.chain(declined.escalation_target)
    return list(dict.fromkeys(out))


def plan(request: dict[str, Any], original: dict[str, Any], gate: Gate, lifecycle: Lifecycle, *, now_ms: int) -> Plan:
    """What to do with one re-route request; `original` is the declined/transferred Referral (decoded)."""
    facts = Facts.from_case(original["case"])
    excluded = {*request.get("excluded", []), request["recipient_id"]}
    refused: list[Refusal] = []
    transfer_to = request.get("transfer_to") if request["action"] == "TRANSFERRED" else None
    for rid in candidates(request, facts, gate, lifecycle):
        if rid in excluded:
            continue
        why = gate.admit(facts, rid)
        if why is not None:
            refused.append(why)
            continue
        recipient = gate.directory.get(rid)
        assert recipient is not None  # admitted, so in the directory
        transferred = rid == transfer_to
        rule = TRANSFER_RULE if transferred else REROUTE_RULE
        verb = "transferred" if transferred else "re-routed"
        why_text = f"{verb}: {request['recipient_id']} {request['action'].lower()} referral {request['referral_id']}"
        if request.get("reason_code"):
            why_text += f" ({request['reason_code']})"
        escalation, _ = gate.escalation(facts, recipient.escalation_target)
        referral = new_referral(original, rid, why_text, rule, escalation, now_ms)
        return Rerouted(referral, recipient.kind, transferred, refused)
    kind = request["recipient_kind"]
    if kind in gate.safeguards.mandatory_kinds(facts) and kind not in request.get("active_kinds", []):
        desk = lifecycle.spec.duty_desk
        alert = None
        if desk not in excluded and gate.admit(facts, desk) is None:
            why_text = (
                f"uncovered: {request['recipient_id']} {request['action'].lower()} referral {request['referral_id']} "
                f"and no permitted recipient of mandatory kind {kind} is left; duty desk alerted"
            )
            alert = new_referral(original, desk, why_text, UNCOVERED_RULE, None, now_ms)
        return Uncovered(kind, alert, refused)
    return NotSentOn(kind, refused)


def new_referral(
    original: dict[str, Any], recipient_id: str, reason: str, rule: str, escalation: str | None, now_ms: int
) -> dict[str, Any]:
    """A referral of the same case to `recipient_id`: same priority, SLA and decision; the notifier redacts it."""
    return {
        **original,
        "referral_id": referral_id_for(original["case_id"], recipient_id),
        "recipient_id": recipient_id,
        "reason": reason,
        "rule_ids": [*original["rule_ids"], rule],
        "escalation_target": escalation,
        "created_at": now_ms,
        "attempt": 0,
        "not_before": None,
        "last_error": None,
    }
