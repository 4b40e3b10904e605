"""The gate applied to a routing decision: refused recipients out and recorded, an escalation target replaced
by the first permitted one on its chain, a decision with nobody left held."""

from __future__ import annotations

from pathlib import Path

from referral_domain.safeguards import Facts, Gate, load_safeguards
from services.routing.conditions import CaseView
from services.routing.decisions import decision_record, referral_records
from services.routing.gating import apply_gate
from services.routing.rules import load_rules
from tests.support.safeguards import DIRECTORY, RULES, SAFEGUARDS, files, with_changes


def _case(consent: str, services: tuple[str, ...], minor: bool = False) -> CaseView:
    age = "AGE_13_15" if minor else "ADULT"
    return CaseView("c-1", "r-1", "OTHER", "HIGH", minor, age, consent, services, "VN-HN", None, None, None, False)


def _facts(c: CaseView) -> Facts:
    return Facts(
        c.victim_minor, c.consent, c.age_band, c.category, c.severity, frozenset(c.consented_services), "VN-HN"
    )


def test_refused_recipients_are_recorded_and_a_permitted_escalation_takes_the_place(tmp_path: Path) -> None:
    # the rules forget the refusal (police for everyone), and health escalates to the duty desk, then child protection
    rules = RULES.replace("when: {victim_minor: false, consent: [GIVEN]}", "when: {victim_minor: false}")
    rules = rules.replace("exclude_kinds: [police, international_partner]", "exclude_kinds: [international_partner]")
    directory = with_changes(
        with_changes(DIRECTORY, "health-national", escalation_target="police-duty"),
        "police-duty",
        escalation_target="cp-national",
    )
    ruleset = load_rules(*files(tmp_path, rules, directory))
    case = _case("REFUSED", ("health", "child_protection"))
    decision = apply_gate(ruleset.decide(case), _facts(case), Gate(load_safeguards(SAFEGUARDS), ruleset.directory))
    assert {c.recipient.id for c in decision.recipients} == {"health-national", "cp-national"}
    health = next(c for c in decision.recipients if c.recipient.id == "health-national")
    assert health.escalation == "cp-national"  # the duty desk refused; the next on the chain takes its place
    refused = {(path, r.recipient_id, r.safeguard_id) for path, r in decision.refused}
    assert ("rules", "police-hn", "adult-without-consent-no-police") in refused
    assert ("escalation", "police-duty", "adult-without-consent-no-police") in refused
    record = decision_record(decision, now_ms=1, held_for="agency-1")
    assert not record["held"] and record["held_for"] is None
    assert {r["recipient_id"] for r in record["refused"]} >= {"police-hn", "police-duty"}
    referrals = referral_records(decision, record, {"case_id": "c-1"}, now_ms=1)
    assert {r["recipient_id"]: r["escalation_target"] for r in referrals}["health-national"] == "cp-national"
    assert "police-hn" not in {r["recipient_id"] for r in referrals}


def test_nobody_left_means_held_for_the_reporting_agency(tmp_path: Path) -> None:
    ruleset = load_rules(*files(tmp_path))
    case = _case("NOT_ASKED", ())
    decision = apply_gate(ruleset.decide(case), _facts(case), Gate(load_safeguards(SAFEGUARDS), ruleset.directory))
    record = decision_record(decision, now_ms=1, held_for="agency-1")
    assert decision.unmatched and record["held"] and record["held_for"] == "agency-1" and record["recipients"] == []
    assert referral_records(decision, record, {"case_id": "c-1"}, now_ms=1) == []
