"""What intake tells an agency about a rejected report: which report, which rule, never a personal value."""

from __future__ import annotations

import pytest

from referral_bus.codec import Codec
from referral_bus.errors import InvalidFieldError, RejectedMessage, UndecodableError
from services.intake.accept import Intake
from services.intake.feedback import rejected, report_id_of
from tests.support.reports import PII, key_of, now_ms, valid_report

CODEC = Codec()


def test_the_report_id_comes_from_the_report_when_it_decodes_else_from_the_agencys_key() -> None:
    report = valid_report(agency_id="ngo-a")
    assert report_id_of(CODEC, "ngo-a", b"whatever", CODEC.encode("CaseReport", report)) == report["report_id"]
    assert report_id_of(CODEC, "ngo-a", b"ngo-a/R-17", b"\x01garbage") == "R-17"
    assert report_id_of(CODEC, "ngo-a", b"ngo-b/R-17", b"\x01garbage") is None  # not this agency's key form
    assert report_id_of(CODEC, "ngo-a", None, b"\x01garbage") is None
    assert report_id_of(CODEC, "ngo-a", b"ngo-a/" + b"x" * 200, b"") is None


def test_an_invalid_report_is_reported_back_with_the_rule_and_field_but_no_value() -> None:
    report = valid_report(agency_id="ngo-a", victim__jurisdiction="XX-NOPE")
    value = CODEC.encode("CaseReport", report)
    with pytest.raises(RejectedMessage) as err:
        Intake(CODEC, {}, clock_skew_ms=300_000).handle(key_of(report), value, now_ms=now_ms(), agency="ngo-a")
    record = rejected(CODEC, "ngo-a", key_of(report), value, err.value, at=5, where="t/0/9")
    assert record is not None
    assert (record["event"], record["report_id"], record["case_id"]) == ("INTAKE_REJECTED", report["report_id"], None)
    assert record["reason_code"] == err.value.reason and record["detail"]
    assert all(v not in repr(record) for v in PII.values())
    again = rejected(CODEC, "ngo-a", key_of(report), value, err.value, at=6, where="t/0/10")
    assert again is not None and again["status_id"] != record["status_id"]  # a resend is a new event


@pytest.mark.parametrize("exc", [UndecodableError("not Avro"), InvalidFieldError("bad", field="category")])
def test_a_message_whose_report_cannot_be_told_is_not_reported(exc: RejectedMessage) -> None:
    assert rejected(CODEC, "ngo-a", None, b"\x01", exc, at=1, where="w") is None
