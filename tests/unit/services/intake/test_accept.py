"""Intake's verdict for each kind of bad input: a stable reason code and a message without PII values."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.codec import MAGIC, Codec
from referral_bus.deadletter import dead_letter
from referral_bus.errors import RejectedMessage
from referral_bus.message import SourceMessage
from referral_domain import jurisdictions
from services.intake.accept import Accepted, Duplicate, Intake, Rekey, case_id_for, dedup_key
from services.intake.errors import AgencyMismatchError
from tests.support.jurisdictions import FORMER
from tests.support.reports import PII, encode_v1, key_of, now_ms, valid_report


def make_intake(max_bytes: int | None = None) -> Intake:
    return Intake(Codec(max_bytes=max_bytes), {}, clock_skew_ms=300_000)


def verdict(intake: Intake, value: bytes, key: bytes | None = None) -> RejectedMessage:
    with pytest.raises(RejectedMessage) as info:
        intake.handle(key, value, now_ms=now_ms())
    return info.value


def assert_no_pii(text: str) -> None:
    for name, value in PII.items():
        assert value not in text, f"{name} leaked into {text!r}"


def encode(report: dict[str, Any]) -> bytes:
    return Codec().encode("CaseReport", report)


# --- accepted, duplicate, rekey --------------------------------------------------------------------------


def test_valid_report_is_accepted_then_duplicate_once_remembered() -> None:
    intake = make_intake()
    report = valid_report()
    out = intake.handle(key_of(report), encode(report), now_ms=now_ms())
    assert isinstance(out, Accepted)
    assert out.case["report"]["victim"]["jurisdiction"] == "VN-HN"
    assert out.case["linked_reports"] == []
    # not remembered until the case is on the broker: a replay before that is accepted again (same id)
    again = intake.handle(key_of(report), encode(report), now_ms=now_ms())
    assert isinstance(again, Accepted) and again.case_id == out.case_id
    intake.remember(out)
    dup = intake.handle(key_of(report), encode(report), now_ms=now_ms())
    assert isinstance(dup, Duplicate) and dup.case_id == out.case_id


def test_report_under_another_key_is_rekeyed_to_its_report_key() -> None:
    report = valid_report()
    out = make_intake().handle(b"whatever", encode(report), now_ms=now_ms())
    assert isinstance(out, Rekey) and out.key == key_of(report)


def test_case_encodes_with_the_case_contract() -> None:
    report = valid_report(received_at=None)
    out = make_intake().handle(key_of(report), encode(report), now_ms=now_ms())
    assert isinstance(out, Accepted)
    assert out.case["report"]["received_at"] is not None
    codec = Codec()
    assert codec.decode(codec.encode("Case", out.case), "Case")["case_id"] == out.case_id


# --- each reason code -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"", b"hello", b"\xc3\x01", b'{"report_id": "x"}', MAGIC + b"\x00" * 3],
    ids=["empty", "text", "magic-only", "json", "short-header"],
)
def test_undecodable_bytes(value: bytes) -> None:
    exc = verdict(make_intake(), value)
    assert exc.reason == "undecodable"


def test_truncated_body_is_undecodable() -> None:
    data = encode(valid_report())
    for cut in (11, len(data) // 2, len(data) - 1):
        exc = verdict(make_intake(), data[:cut])
        assert exc.reason == "undecodable", cut
        assert_no_pii(str(exc))


def test_trailing_bytes_are_undecodable() -> None:
    exc = verdict(make_intake(), encode(valid_report()) + b"\x00")
    assert exc.reason == "undecodable"
    assert "trailing" in str(exc)


def test_unknown_fingerprint() -> None:
    data = encode(valid_report())
    exc = verdict(make_intake(), MAGIC + b"\x01\x02\x03\x04\x05\x06\x07\x08" + data[10:])
    assert exc.reason == "unknown_schema"
    assert "0102030405060708" in str(exc)


def test_other_record_type_is_wrong_schema() -> None:
    ack = Codec().encode(
        "Acknowledgement",
        {"referral_id": "r", "recipient_id": "x", "outcome": "ACCEPTED", "reason": None, "acknowledged_at": 1},
    )
    exc = verdict(make_intake(), ack)
    assert exc.reason == "wrong_schema"
    assert "Acknowledgement" in str(exc)


def test_oversized() -> None:
    report = valid_report(narrative="x" * 5000)
    exc = verdict(make_intake(max_bytes=2048), encode(report))
    assert exc.reason == "oversized"
    assert "2048" in str(exc)


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("age-vs-minor", {"victim__age_band": "UNDER_13", "victim__is_minor": False}, "victim"),
    ("adult-minor", {"victim__age_band": "ADULT", "victim__is_minor": True}, "victim"),
    ("sha256-length", {"content_hashes": [{"algorithm": "sha256", "value": "abc"}]}, "content_hashes.0"),
    ("sha256-alphabet", {"content_hashes": [{"algorithm": "sha256", "value": "zz" * 32}]}, "content_hashes.0"),
    ("md5-length", {"content_hashes": [{"algorithm": "md5", "value": "ab" * 20}]}, "content_hashes.0"),
    ("url-relative", {"content_urls": ["/p/1001"]}, "content_urls"),
    ("url-scheme", {"content_urls": ["ftp://files.example.invalid/x"]}, "content_urls"),
    ("reported-future", {"reported_at": now_ms() + 3_600_000}, "reported_at"),
    ("received-future", {"received_at": now_ms() + 3_600_000}, "received_at"),
    ("reported-zero", {"reported_at": 0}, "reported_at"),
    ("consent-child-for-adult", {"victim__age_band": "ADULT", "victim__is_minor": False}, "report"),
    ("consented-service", {"consented_services": ["astrologer"]}, "consented_services"),
    ("report-id-pattern", {"report_id": "has space"}, "report_id"),
    ("report-id-empty", {"report_id": ""}, "report_id"),
    ("victim-name-too-long", {"victim__name": PII["victim_name"] * 40}, "victim.name"),
    ("narrative-too-long", {"narrative": PII["narrative"] * 1000}, "narrative"),
    ("handle-too-long", {"offender__account_handle": PII["offender_handle"] * 40}, "offender.account_handle"),
    ("ip-too-long", {"offender__ip_address": PII["offender_ip"] * 10}, "offender.ip_address"),
]


@pytest.mark.parametrize(("overrides", "field"), [(o, f) for _, o, f in INVALID], ids=[i for i, _, _ in INVALID])
def test_invalid_field_names_the_field_without_its_value(overrides: dict[str, Any], field: str) -> None:
    exc = verdict(make_intake(), encode(valid_report(**overrides)))
    assert exc.reason == "invalid_field"
    assert exc.field is not None and exc.field.startswith(field), (exc.field, str(exc))
    assert str(exc).startswith(exc.field)
    assert_no_pii(str(exc))


def test_several_invalid_fields_are_counted() -> None:
    report = valid_report(content_urls=["not a url"], report_id="bad id", victim__name=PII["victim_name"] * 40)
    exc = verdict(make_intake(), encode(report))
    assert exc.reason == "invalid_field"
    assert "more)" in str(exc)
    assert_no_pii(str(exc))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"victim__jurisdiction": "VN-99"}, "victim.jurisdiction"),
        ({"victim__jurisdiction": "VN-60"}, "victim.jurisdiction"),  # never a Vietnamese province code
        ({"victim__jurisdiction": "XX"}, "victim.jurisdiction"),
        ({"offender__country": "ZZ"}, "offender.country"),
        ({"hosting_country": "QQ"}, "hosting_country"),
    ],
)
def test_unknown_jurisdiction(overrides: dict[str, Any], field: str) -> None:
    exc = verdict(make_intake(), encode(valid_report(**overrides)))
    assert exc.reason == "unknown_jurisdiction"
    assert exc.field == field
    assert_no_pii(str(exc))


def test_jurisdiction_is_normalised_before_checking() -> None:
    report = valid_report(victim__jurisdiction=" vn-hn ")
    out = make_intake().handle(key_of(report), encode(report), now_ms=now_ms())
    assert isinstance(out, Accepted)
    assert out.case["report"]["victim"]["jurisdiction"] == "VN-HN"
    assert out.case["victim_jurisdiction_as_sent"] is None


def test_schema_level_mismatch_in_a_v1_writer_is_still_readable() -> None:
    """A report written with CaseReport v1 goes through the whole intake (read into the current v3)."""
    report = valid_report()
    out = make_intake().handle(key_of(report), encode_v1(report), now_ms=now_ms())
    assert isinstance(out, Accepted)
    assert out.case["report"]["consented_services"] == []


def test_dead_letter_record_keeps_the_original_but_its_message_holds_no_pii() -> None:
    report = valid_report(victim__age_band="ADULT", victim__is_minor=True)
    value = encode(report)
    exc = verdict(make_intake(), value)
    source = SourceMessage("t.referrals.intake.v1", 2, 41, key_of(report), value, (("traceparent", b"00-x"),))
    record = dead_letter(source, "intake", exc)
    assert record["reason"] == "invalid_field"
    assert record["original_value"] == value
    assert (record["source_partition"], record["source_offset"]) == (2, 41)
    for text in (record["message"], record["field"] or ""):
        assert_no_pii(text)
    assert Codec().decode(Codec().encode("DeadLetter", record), "DeadLetter")["original_value"] == value


def test_every_valid_report_variant_is_accepted() -> None:
    base = valid_report()
    variants = [
        {},
        {"victim__age_band": "ADULT", "victim__is_minor": False, "consent": "GIVEN"},
        {"victim__jurisdiction": "FR"},
        {"content_hashes": [], "content_urls": []},
        {"content_hashes": [{"algorithm": "photodna", "value": "opaque+base64/=="}]},
        {"offender__country": None, "hosting_country": None, "narrative": None},
    ]
    for v in variants:
        report = copy.deepcopy(base)
        report.update(valid_report(**v))
        out = make_intake().handle(key_of(report), encode(report), now_ms=now_ms())
        assert isinstance(out, Accepted), v


# --- identity from the transport: the topic's agency, keys that cannot collide ----------------------

IDS = st.text(alphabet="ab/:.-", min_size=1, max_size=6)


@given(IDS, IDS, IDS, IDS)
def test_different_agency_report_pairs_never_share_a_dedup_key_or_case_id(a1: str, r1: str, a2: str, r2: str) -> None:
    if (a1, r1) == (a2, r2):
        assert dedup_key(a1, r1) == dedup_key(a2, r2)
        return
    assert dedup_key(a1, r1) != dedup_key(a2, r2)
    assert case_id_for(a1, r1) != case_id_for(a2, r2)


def test_the_slash_ambiguity_is_gone() -> None:
    assert dedup_key("a/b", "c") != dedup_key("a", "b/c")
    assert case_id_for("a/b", "c") != case_id_for("a", "b/c")


def test_a_report_on_its_own_agencys_topic_is_accepted() -> None:
    report = valid_report()
    out = make_intake().handle(key_of(report), encode(report), now_ms=now_ms(), agency=report["agency_id"])
    assert isinstance(out, Accepted)


def test_a_report_naming_another_agency_is_refused_before_anything_else() -> None:
    report = valid_report(agency_id="vn-hotline-111")
    intake = make_intake()
    with pytest.raises(AgencyMismatchError) as caught:
        intake.handle(key_of(report), encode(report), now_ms=now_ms(), agency="ngo-safe-online")
    assert caught.value.reason == "agency_mismatch" and caught.value.field == "agency_id"
    assert "vn-hotline-111" not in str(caught.value) and "ngo-safe-online" not in str(caught.value)
    with pytest.raises(AgencyMismatchError):  # under any key: no re-keying of a foreign report
        intake.handle(b"whatever", encode(report), now_ms=now_ms(), agency="ngo-safe-online")
    # the genuine report of that id is still accepted afterwards: the refusal left no dedup mark
    genuine = make_intake().handle(key_of(report), encode(report), now_ms=now_ms(), agency="vn-hotline-111")
    assert isinstance(genuine, Accepted)


def test_a_misskeyed_report_on_its_own_topic_is_rekeyed() -> None:
    report = valid_report()
    out = make_intake().handle(b"other", encode(report), now_ms=now_ms(), agency=report["agency_id"])
    assert isinstance(out, Rekey) and out.key == key_of(report)
# --- former Vietnamese province codes (before 1 July 2025) ------------------------------------------------


@pytest.mark.parametrize("code", sorted(FORMER))
def test_intake_accepts_every_former_code_routes_by_its_unit_and_keeps_it(code: str) -> None:
    report: dict[str, Any] = valid_report(victim__jurisdiction=code.lower())
    out = make_intake().handle(key_of(report), encode(report), now_ms=now_ms())
    assert isinstance(out, Accepted)
    assert out.case["report"]["victim"]["jurisdiction"] == FORMER[code]
    current = code in jurisdictions.vn_units()
    assert out.case["victim_jurisdiction_as_sent"] == (None if current else code)


def test_a_case_sent_with_a_former_code_goes_where_its_unit_goes() -> None:
    """Bình Dương (VN-57) is now part of Hồ Chí Minh (VN-SG): routing picks VN-SG's local recipients."""
    from referral_bus.settings import config_file
    from services.routing.rules import CaseView, load_rules

    ruleset = load_rules(config_file("recipients.yaml"), config_file("rules.yaml"))

    def recipients(code: str) -> set[str]:
        report = valid_report(victim__jurisdiction=code)
        out = make_intake().handle(key_of(report), encode(report), now_ms=now_ms())
        assert isinstance(out, Accepted)
        return {c.recipient.id for c in ruleset.decide(CaseView.from_case(out.case)).recipients}

    via_former = recipients("VN-57")
    assert via_former == recipients("VN-SG")
    assert any(r.endswith("ho-chi-minh") for r in via_former), via_former


def test_a_former_code_on_the_agencys_own_topic_keeps_identity_and_the_code_sent() -> None:
    """Both at once: the topic's agency is checked, the key and case id stay structured, the code is kept."""
    report = valid_report(victim__jurisdiction="VN-57")
    intake = make_intake()
    assert isinstance(intake.handle(b"other", encode(report), now_ms=now_ms(), agency=report["agency_id"]), Rekey)
    out = intake.handle(key_of(report), encode(report), now_ms=now_ms(), agency=report["agency_id"])
    assert isinstance(out, Accepted)
    assert out.dedup == dedup_key(report["agency_id"], report["report_id"])
    assert out.case_id == case_id_for(report["agency_id"], report["report_id"])
    assert out.case["report"]["victim"]["jurisdiction"] == "VN-SG"
    assert out.case["victim_jurisdiction_as_sent"] == "VN-57"
    with pytest.raises(AgencyMismatchError):
        make_intake().handle(key_of(report), encode(report), now_ms=now_ms(), agency="ngo-safe-online")
