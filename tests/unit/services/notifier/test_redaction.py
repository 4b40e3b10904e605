"""Data profiles: PII withheld unless allowed, driven by the schemas' pii annotations."""

from __future__ import annotations

import json

import pytest

from referral_bus.contracts import contracts, pii_paths
from services.notifier.redaction import case_pii_paths, load_profiles, redact
from tests.support.notifier import CONVENTION_MINIMAL_ALLOWED, NEED_TO_KNOW_ALLOWED, PII, case


def _text(doc: object) -> str:
    return json.dumps(doc, ensure_ascii=False)


def test_every_pii_field_of_the_test_case_is_annotated() -> None:
    assert {f"report.{k}" for k in PII} == set(case_pii_paths())


def test_full_keeps_everything() -> None:
    c = case()
    assert redact(c, load_profiles()["full"]) == c


def test_need_to_know_keeps_only_the_allowed_pii() -> None:
    text = _text(redact(case(), load_profiles()["need_to_know"]))
    assert {k for k, v in PII.items() if v in text} == NEED_TO_KNOW_ALLOWED
    assert "VN-HN" in text  # non-PII facts stay


def test_convention_minimal_has_no_personal_data_and_what_a_contact_point_needs() -> None:
    c = case()
    out = redact(c, load_profiles()["convention_minimal"])
    text = _text(out)
    assert {k for k, v in PII.items() if v in text} == CONVENTION_MINIMAL_ALLOWED
    assert "VN-HN" not in text and "AGE_16_17" not in text
    report = out["report"]
    for field in (
        "category",
        "severity",
        "content_hashes",
        "content_urls",
        "platform",
        "hosting_country",
        "preservation_requested",
    ):
        assert report[field] == c["report"][field]
    assert report["victim"] == {"is_minor": True}


def test_redaction_does_not_touch_the_input() -> None:
    c = case()
    before = _text(c)
    redact(c, load_profiles()["convention_minimal"])
    assert _text(c) == before


def test_a_new_pii_field_is_withheld_without_code_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mark a field `"pii": true` in the schema: restricted profiles stop receiving it, nothing else changes."""
    import copy

    from services.notifier import redaction

    schema = copy.deepcopy(contracts().current["Case"].expanded)
    report = next(f for f in schema["fields"] if f["name"] == "report")
    next(f for f in report["type"]["fields"] if f["name"] == "hosting_country")["pii"] = True
    paths = tuple(pii_paths(schema))
    assert "report.hosting_country" in paths
    monkeypatch.setattr(redaction, "case_pii_paths", lambda: paths)
    c = case()
    assert "hosting_country" not in redact(c, load_profiles()["need_to_know"])["report"]
    assert redact(c, load_profiles()["full"])["report"]["hosting_country"] == "US"


def test_withheld_fields_are_absent_never_invented() -> None:
    """A convention_minimal document says nothing about consent or age rather than something false."""
    c = case()
    c["report"]["consent"] = "REFUSED"
    doc = redact(c, load_profiles()["convention_minimal"])
    report = doc["report"]
    assert "consent" not in report and "age_band" not in report.get("victim", {})
    assert "escalation_reason" not in report and "source_system" not in report
    assert {k for k, v in PII.items() if v in json.dumps(doc)} == CONVENTION_MINIMAL_ALLOWED
    assert report["category"] == c["report"]["category"]
