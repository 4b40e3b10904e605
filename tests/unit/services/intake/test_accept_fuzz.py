"""Hostile input to the intake decoder and validator: only our RejectedMessage subclasses may escape.

Random bytes, truncated and bit-flipped valid reports, unknown schema fingerprints, records of the
wrong type, huge strings and arrays, deep unicode and wrong types straight into the validator.
Every input either becomes a case or raises a RejectedMessage (which the worker dead-letters with
its reason); nothing else, and no input takes long (hypothesis' deadline guards against a hang).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral_bus.codec import HEADER_SIZE, MAGIC, Codec
from referral_bus.errors import OversizedMessageError, RejectedMessage, UnknownSchemaError
from referral_bus.settings import KafkaSettings
from services.intake.accept import Intake
from services.intake.report import accepted_report
from tests.support.reports import valid_report

FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = int(time.time() * 1000)
CODEC = Codec(max_bytes=KafkaSettings().max_message_bytes)


NO_PERSONAL_DATA: dict[str, Any] = {
    **{f"victim__{f}": None for f in ("name", "contact", "account_handle")},
    **{f"offender__{f}": None for f in ("account_handle", "ip_address", "name")},
    **{f: None for f in ("hosting_country", "platform", "reporter_contact", "narrative")},
    **{"content_hashes": [], "content_urls": [], "preservation_requested": False},
}


def report(**overrides: Any) -> dict[str, Any]:
    """A valid report in Avro form, with no personal data, hashes or URLs."""
    base = valid_report(
        report_id="FZ-1",
        agency_id="fuzz-agency",
        source_system="fuzz",
        reported_at=NOW - 1000,
        received_at=NOW,
        **NO_PERSONAL_DATA,
    )
    base.update(overrides)
    return base


VALID = CODEC.encode("CaseReport", report())
KEY = b"fuzz-agency/FZ-1"


def survive(value: bytes, key: bytes | None = KEY) -> str:
    """Run intake on one input; return the outcome kind or the rejection reason; fail on anything else."""
    intake = Intake(CODEC, {}, clock_skew_ms=300_000)
    try:
        outcome = intake.handle(key, value, now_ms=NOW)
    except RejectedMessage as exc:
        assert exc.reason and str(exc), "a rejection needs a reason and a message"
        return exc.reason
    return type(outcome).__name__


def test_the_valid_report_is_accepted() -> None:
    assert survive(VALID) == "Accepted"


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    survive(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_body_behind_a_known_header(body: bytes) -> None:
    survive(VALID[:HEADER_SIZE] + body)


@FUZZ
@given(st.integers(min_value=0, max_value=len(VALID) - 1))
def test_truncated_valid_report(cut: int) -> None:
    assert survive(VALID[:cut]) != "Accepted"


@FUZZ
@given(st.lists(st.integers(min_value=0, max_value=len(VALID) * 8 - 1), min_size=1, max_size=8))
def test_bit_flipped_valid_report(bits: list[int]) -> None:
    data = bytearray(VALID)
    for b in bits:
        data[b // 8] ^= 1 << (b % 8)
    survive(bytes(data))


@FUZZ
@given(st.binary(min_size=8, max_size=8))
def test_unknown_fingerprints(fp: bytes) -> None:
    if fp == VALID[2:HEADER_SIZE] or fp in CODEC._writers:
        return
    assert survive(MAGIC + fp + VALID[HEADER_SIZE:]) == UnknownSchemaError.reason


def test_a_record_of_another_type_is_rejected() -> None:
    ack = CODEC.encode(
        "Acknowledgement",
        {k: v for k, v in _sample_ack().items()},
    )
    assert survive(ack) == "wrong_schema"


def _sample_ack() -> dict[str, Any]:
    schema = CODEC.schema("Acknowledgement").parsed
    out: dict[str, Any] = {}
    for f in schema["fields"]:
        t = f["type"]
        if isinstance(t, list):
            out[f["name"]] = None
        elif t == "long" or t == "int":
            out[f["name"]] = 1
        elif isinstance(t, dict) and t.get("type") == "enum":
            out[f["name"]] = t["symbols"][0]
        elif t == "boolean":
            out[f["name"]] = False
        else:
            out[f["name"]] = "x"
    return out


unicode_text = st.text(st.characters(codec="utf-8"), max_size=600)


@FUZZ
@given(
    narrative=st.one_of(st.none(), unicode_text),
    name=st.one_of(st.none(), unicode_text),
    jurisdiction=unicode_text,
    report_id=unicode_text,
    platform=st.one_of(st.none(), unicode_text),
    urls=st.lists(unicode_text, max_size=5),
)
def test_deep_unicode_in_every_string(
    narrative: str | None, name: str | None, jurisdiction: str, report_id: str, platform: str | None, urls: list[str]
) -> None:
    victim = {**report()["victim"], "jurisdiction": jurisdiction, "name": name}
    rec = report(narrative=narrative, victim=victim, report_id=report_id, platform=platform, content_urls=urls)
    survive(CODEC.encode("CaseReport", rec), key=None)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("narrative", "n" * 200_000, "invalid_field"),
        ("report_id", "r" * 100_000, "invalid_field"),
        ("content_urls", ["https://a.example.invalid/x"] * 5_000, "invalid_field"),
        ("consented_services", ["health"] * 10_000, "invalid_field"),
        ("content_hashes", [{"algorithm": "sha256", "value": "0" * 64}] * 2_000, "invalid_field"),
    ],
)
def test_huge_strings_and_arrays_are_rejected(field: str, value: Any, reason: str) -> None:
    assert survive(CODEC.encode("CaseReport", report(**{field: value}))) == reason


def test_oversized_message_is_rejected_by_the_configured_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_MAX_MESSAGE_BYTES", "4096")
    limit = KafkaSettings().max_message_bytes
    assert limit == 4096
    big = Codec(max_bytes=limit).encode("CaseReport", report(narrative="x" * 8000))
    intake = Intake(Codec(max_bytes=limit), {}, clock_skew_ms=0)
    with pytest.raises(OversizedMessageError) as info:
        intake.handle(KEY, big, now_ms=NOW)
    assert info.value.reason == "oversized"
    assert "x" * 20 not in str(info.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | unicode_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(unicode_text, children, max_size=4),
    max_leaves=30,
)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(report())), json_values, max_size=8))
def test_wrong_types_straight_into_the_validator(overrides: dict[str, Any]) -> None:
    """The validator alone (as a Confluent-framed or future decoder would feed it): wrong types are rejections."""
    raw = {**json.loads(json.dumps(report())), **overrides}
    try:
        accepted_report(raw, now_ms=NOW, clock_skew_ms=0)
    except RejectedMessage as exc:
        assert exc.reason in ("invalid_field", "unknown_jurisdiction")


@FUZZ
@given(json_values)
def test_not_even_a_mapping(raw: Any) -> None:
    try:
        accepted_report(raw if isinstance(raw, dict) else {"value": raw}, now_ms=NOW, clock_skew_ms=0)
    except RejectedMessage:
        pass


@FUZZ
@given(st.binary(max_size=256))
def test_codec_decode_of_every_contract(data: bytes) -> None:
    for name in ("CaseReport", "Case", "Referral", "Acknowledgement", "DeadLetter"):
        try:
            CODEC.decode(MAGIC + CODEC.schema(name).fingerprint + data, name)
        except RejectedMessage:
            pass
