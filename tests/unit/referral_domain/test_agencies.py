"""The agency registry: each agency's own intake topic, recipients' ack topics; bad registries refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_bus import topics
from referral_bus.errors import RulesError
from referral_bus.settings import REPO_ROOT
from referral_domain.agencies import load_agencies


def test_the_shipped_registry_gives_each_agency_its_own_topic() -> None:
    registry = load_agencies(REPO_ROOT / "config" / "agencies.yaml")
    intake = registry.intake_topics()
    assert len(intake) == len(registry.agencies) and topics.INTAKE not in intake
    for name, agency in intake.items():
        assert name == f"referrals.intake.{agency}.v1"
    assert registry.ack_topics()["referrals.acks.intl-th-24-7.v1"] == "intl-th-24-7"


def test_a_registry_with_shared_logins_or_bad_ids_is_refused_naming_every_problem(tmp_path: Path) -> None:
    f = tmp_path / "agencies.yaml"
    f.write_text(
        "version: 1\nagencies:\n"
        "  - {id: a, name: A, principals: [login-a]}\n"
        "  - {id: b, name: B, principals: [login-a]}\n"
        "  - {id: c/d, name: C, principals: [login-c]}\n"
        "  - {id: a, name: A again, principals: [login-e], extra: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesError) as caught:
        load_agencies(f)
    text = str(caught.value)
    assert "login-a already belongs to agency a" in text and f"{f}:5" in text
    assert "agency c/d" in text and "unknown key" in text


def test_correlation_claim_limit_is_data_per_agency_with_a_default(tmp_path: Path) -> None:
    f = tmp_path / "agencies.yaml"
    f.write_text(
        "version: 1\ncorrelation_claims_per_day: 30\nagencies:\n"
        "  - {id: a, name: A, principals: [login-a]}\n"
        "  - {id: b, name: B, principals: [login-b], correlation_claims_per_day: 0}\n",
        encoding="utf-8",
    )
    registry = load_agencies(f)
    assert (registry.claim_limit("a"), registry.claim_limit("b"), registry.claim_limit("unknown")) == (30, 0, 30)
    shipped = load_agencies(REPO_ROOT / "config" / "agencies.yaml")
    assert shipped.claim_limit("vn-hotline-111") == shipped.claims_per_day > 0
    f.write_text("version: 1\ncorrelation_claims_per_day: -1\nagencies: []\n", encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_agencies(f)
    assert any("correlation_claims_per_day" in p for p in caught.value.problems)
