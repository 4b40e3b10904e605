"""Re-routing after a decline or a transfer: next permitted recipient, or the duty desk alerted (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.settings import SafeguardSettings, config_file
from referral_domain.directory import load_directory
from referral_domain.lifecycle import from_settings
from referral_domain.safeguards import Facts, Gate, load_safeguards
from services.routing.decisions import referral_id_for
from services.routing.reroute import (
    REROUTE_RULE,
    TRANSFER_RULE,
    UNCOVERED_RULE,
    NotSentOn,
    Rerouted,
    Uncovered,
    candidates,
    plan,
)
from tests.support.reports import valid_report

LC = from_settings()
GATE = Gate(
    load_safeguards(SafeguardSettings().safeguards_path, dev_insecure_transport=True),  # sample URLs are http://
    load_directory(config_file("recipients.yaml")),
)


def original(recipient_id: str, **report: Any) -> dict[str, Any]:
    return {
        "referral_id": referral_id_for("case-1", recipient_id),
        "case_id": "case-1",
        "recipient_id": recipient_id,
        "decision_id": "dec-1",
        "rule_ids": ["child-mandatory"],
        "reason": "rule child-mandatory",
        "priority": "P1",
        "ack_sla_seconds": 900,
        "escalation_target": None,
        "preservation_request": True,
        "created_at": 1,
        "attempt": 2,
        "not_before": 5,
        "last_error": "x",
        "case": {"case_id": "case-1", "report": valid_report(**report)},
    }


def request(recipient_id: str, kind: str, action: str = "DECLINED", **extra: Any) -> dict[str, Any]:
    return {
        "request_id": "q",
        "case_id": "case-1",
        "referral_id": referral_id_for("case-1", recipient_id),
        "recipient_id": recipient_id,
        "recipient_kind": kind,
        "action": action,
        "transfer_to": None,
        "reason_code": "not_our_jurisdiction",
        "excluded": [recipient_id],
        "active_kinds": [],
        "requested_at": 3,
        **extra,
    }


def test_a_declined_provincial_police_referral_goes_to_the_national_unit_with_the_same_sla() -> None:
    out = plan(request("vn-police-ha-noi", "police"), original("vn-police-ha-noi"), GATE, LC, now_ms=10)
    assert isinstance(out, Rerouted) and not out.transferred and out.kind == "police"
    r = out.referral
    assert r["recipient_id"] == "vn-police-cybercrime"
    assert r["referral_id"] == referral_id_for("case-1", "vn-police-cybercrime")
    assert (r["priority"], r["ack_sla_seconds"], r["created_at"], r["attempt"]) == ("P1", 900, 10, 0)
    assert (r["not_before"], r["last_error"]) == (None, None)
    assert r["rule_ids"] == ["child-mandatory", REROUTE_RULE]
    assert r["escalation_target"] == "vn-police-duty-desk"
    assert "vn-police-ha-noi declined" in r["reason"] and "not_our_jurisdiction" in r["reason"]


def test_recipients_that_hold_the_case_are_skipped() -> None:
    req = request("vn-police-ha-noi", "police", excluded=["vn-police-ha-noi", "vn-police-cybercrime"])
    out = plan(req, original("vn-police-ha-noi"), GATE, LC, now_ms=10)
    assert isinstance(out, Rerouted) and out.referral["recipient_id"] == "vn-police-duty-desk"


def test_candidates_are_national_same_kind_then_the_escalation_chain() -> None:
    facts_case = original("vn-child-protection-ha-noi")["case"]
    found = candidates(request("vn-child-protection-ha-noi", "child_protection"), Facts.from_case(facts_case), GATE, LC)
    assert found == ["vn-child-protection-national"]


def test_a_mandatory_kind_left_uncovered_alerts_the_duty_desk() -> None:
    req = request(
        "vn-child-protection-ha-noi",
        "child_protection",
        excluded=["vn-child-protection-ha-noi", "vn-child-protection-national"],
        active_kinds=["police"],
    )
    out = plan(req, original("vn-child-protection-ha-noi"), GATE, LC, now_ms=10)
    assert isinstance(out, Uncovered) and out.kind == "child_protection"
    assert out.alert is not None and out.alert["recipient_id"] == LC.spec.duty_desk
    assert out.alert["rule_ids"][-1] == UNCOVERED_RULE and "mandatory kind child_protection" in out.alert["reason"]


def test_the_alert_is_not_sent_to_a_duty_desk_that_holds_the_case_but_the_case_is_still_uncovered() -> None:
    req = request(
        "vn-police-ha-noi",
        "police",
        excluded=["vn-police-ha-noi", "vn-police-cybercrime", "vn-police-duty-desk"],
    )
    out = plan(req, original("vn-police-ha-noi"), GATE, LC, now_ms=10)
    assert isinstance(out, Uncovered) and out.alert is None and out.kind == "police"


def test_a_kind_still_covered_by_another_active_referral_is_not_uncovered() -> None:
    req = request(
        "vn-child-protection-ha-noi",
        "child_protection",
        excluded=["vn-child-protection-ha-noi", "vn-child-protection-national"],
        active_kinds=["child_protection", "police"],
    )
    assert isinstance(plan(req, original("vn-child-protection-ha-noi"), GATE, LC, now_ms=10), NotSentOn)


def test_an_adult_case_declined_by_a_non_mandatory_kind_with_nobody_left_is_not_sent_on() -> None:
    adult = {"victim__is_minor": False, "victim__age_band": "ADULT", "consent": "GIVEN"}
    req = request("vn-health-oscc-national", "health", excluded=["vn-health-oscc-national"])
    out = plan(req, original("vn-health-oscc-national", **adult), GATE, LC, now_ms=10)
    assert isinstance(out, NotSentOn) and out.kind == "health"


def test_a_transfer_goes_to_the_named_recipient() -> None:
    req = request("vn-police-ha-noi", "police", action="TRANSFERRED", transfer_to="vn-police-hue")
    out = plan(req, original("vn-police-ha-noi"), GATE, LC, now_ms=10)
    assert isinstance(out, Rerouted) and out.transferred
    assert out.referral["recipient_id"] == "vn-police-hue" and out.referral["rule_ids"][-1] == TRANSFER_RULE
    assert "vn-police-ha-noi transferred" in out.referral["reason"]


@pytest.mark.parametrize("consent", ["REFUSED", "NOT_ASKED"])
def test_the_gate_refuses_a_transfer_the_safeguards_forbid_and_the_case_goes_on_like_a_decline(consent: str) -> None:
    adult = {
        "victim__is_minor": False,
        "victim__age_band": "ADULT",
        "consent": consent,
        "consented_services": ["social_services"],
    }
    req = request(
        "vn-social-services-national",
        "social_services",
        action="TRANSFERRED",
        transfer_to="vn-police-hue",
        excluded=["vn-social-services-national"],
    )
    out = plan(req, original("vn-social-services-national", **adult), GATE, LC, now_ms=10)
    assert isinstance(out, NotSentOn)  # nobody else of the kind, and social services are not mandatory
    assert [(r.recipient_id, r.safeguard_id) for r in out.refused] == [
        ("vn-police-hue", "adult-without-consent-no-police")
    ]


RECIPIENTS = sorted(GATE.directory.recipients)
KIND_OF = {r.id: r.kind for r in GATE.directory.recipients.values()}


@settings(max_examples=200, deadline=None)
@given(
    declined=st.sampled_from(RECIPIENTS),
    holders=st.sets(st.sampled_from(RECIPIENTS), max_size=6),
    active=st.sets(st.sampled_from(sorted(set(KIND_OF.values()))), max_size=3),
    minor=st.booleans(),
    consent=st.sampled_from(["GIVEN", "REFUSED", "NOT_ASKED"]),
    transfer_to=st.none() | st.sampled_from(RECIPIENTS),
)
def test_whatever_the_request_the_new_recipient_is_admitted_and_never_holds_the_case(
    declined: str, holders: set[str], active: set[str], minor: bool, consent: str, transfer_to: str | None
) -> None:
    report: dict[str, Any] = (
        {}
        if minor
        else {"victim__is_minor": False, "victim__age_band": "ADULT", "consent": consent, "consented_services": []}
    )
    ref = original(declined, **report)
    req = request(
        declined,
        KIND_OF[declined],
        action="TRANSFERRED" if transfer_to else "DECLINED",
        transfer_to=transfer_to,
        excluded=sorted({declined, *holders}),
        active_kinds=sorted(active),
    )
    out = plan(req, ref, GATE, LC, now_ms=10)
    facts = Facts.from_case(ref["case"])
    if isinstance(out, Rerouted):
        rid = out.referral["recipient_id"]
        assert rid not in req["excluded"] and GATE.admit(facts, rid) is None
        assert out.kind == KIND_OF[rid] and out.transferred == (rid == transfer_to)
    elif isinstance(out, Uncovered):
        assert out.kind in GATE.safeguards.mandatory_kinds(facts) and out.kind not in active
        if out.alert is not None:
            assert out.alert["recipient_id"] == LC.spec.duty_desk and GATE.admit(facts, LC.spec.duty_desk) is None
    else:
        assert out.kind not in GATE.safeguards.mandatory_kinds(facts) or out.kind in active
