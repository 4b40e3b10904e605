"""Codec.encode_embedding: a record with an embedded record's bytes given is byte-identical to `encode`."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.codec import HEADER_SIZE, MAGIC, Codec, Embedding
from referral_bus.errors import InvalidFieldError
from tests.support.reports import valid_report

CODEC = Codec(schema_registry=None)
texts = st.text(max_size=40)


def case_of(case_id: str, accepted_at: int, is_update: bool, links: list[tuple[str, str]], note: str) -> dict[str, Any]:
    report = valid_report(escalation_reason=note or None)
    return {
        "case_id": case_id,
        "accepted_at": accepted_at,
        "report": report,
        "is_update": is_update,
        "linked_reports": [{"agency_id": a, "report_id": r, "matched_on": "hash"} for a, r in links],
        "victim_jurisdiction_as_sent": "VN-57",
    }


def referral_of(
    case: dict[str, Any], priority: str, attempt: int, link: bool, escalation: str | None
) -> dict[str, Any]:
    return {
        "referral_id": "ref-1",
        "case_id": case["case_id"],
        "recipient_id": "police-x",
        "decision_id": "dec-1",
        "rule_ids": ["r1", "r2"],
        "reason": "rule r1",
        "priority": priority,
        "ack_sla_seconds": 3600,
        "escalation_target": escalation,
        "preservation_request": True,
        "created_at": 7,
        "attempt": attempt,
        "not_before": None,
        "last_error": None,
        "case": case,
        "link": (
            {
                "case_id": case["case_id"],
                "agency_id": "a",
                "report_id": "b",
                "matched_on": "url",
                "update": True,
                "update_of": "ref-0",
                "raised_from": None,
            }
            if link
            else None
        ),
    }


@settings(max_examples=60, deadline=None)
@given(
    case_id=texts,
    accepted_at=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    is_update=st.booleans(),
    links=st.lists(st.tuples(texts, texts), max_size=3),
    note=texts,
    priority=st.sampled_from(["P1", "P2", "P3", "P4"]),
    attempt=st.integers(min_value=0, max_value=2**31 - 1),
    link=st.booleans(),
    escalation=st.none() | texts,
)
def test_embedding_the_case_bytes_gives_the_bytes_encode_gives(
    case_id: str,
    accepted_at: int,
    is_update: bool,
    links: list[tuple[str, str]],
    note: str,
    priority: str,
    attempt: int,
    link: bool,
    escalation: str | None,
) -> None:
    case = case_of(case_id, accepted_at, is_update, links, note)
    data = CODEC.encode("Case", case)
    body = CODEC.current_body(data, "Case")
    assert body == data[HEADER_SIZE:]
    referral = referral_of(CODEC.decode(data, "Case"), priority, attempt, link, escalation)
    spliced = CODEC.encode_embedding("Referral", referral, "case", body)
    assert spliced == CODEC.encode("Referral", referral)
    assert CODEC.decode(spliced, "Referral")["case"] == CODEC.decode(data, "Case")


def test_referral_embeds_the_current_case() -> None:
    assert Embedding.of(CODEC._contracts, "Referral", "case").usable


def test_a_case_written_by_an_earlier_version_has_no_current_body() -> None:
    earlier = CODEC._contracts.history["Case"][-1]
    case = case_of("case-1", 1, False, [], "")
    buf = io.BytesIO()
    schemaless_writer(buf, earlier.parsed, case)
    data = MAGIC + earlier.fingerprint + buf.getvalue()
    assert CODEC.decode(data, "Case")["case_id"] == "case-1"
    assert CODEC.current_body(data, "Case") is None


def test_a_field_that_is_not_an_embedded_record_falls_back_to_encode() -> None:
    case = case_of("case-1", 1, False, [], "")
    referral = referral_of(case, "P2", 0, False, None)
    assert not Embedding.of(CODEC._contracts, "Referral", "reason").usable
    assert not Embedding.of(CODEC._contracts, "Referral", "nope").usable
    assert CODEC.encode_embedding("Referral", referral, "reason", b"") == CODEC.encode("Referral", referral)


def test_a_record_that_breaks_the_schema_is_refused_like_encode() -> None:
    case = case_of("case-1", 1, False, [], "")
    data = CODEC.encode("Case", case)
    referral = referral_of(case, "P9", 0, False, None)  # not a Priority
    with pytest.raises(InvalidFieldError):
        CODEC.encode_embedding("Referral", referral, "case", data[HEADER_SIZE:])


def test_a_long_out_of_range_is_refused_like_encode() -> None:
    case = case_of("case-1", 1, False, [], "")
    data = CODEC.encode("Case", case)
    referral = {**referral_of(case, "P2", 0, False, None), "created_at": 2**63}
    with pytest.raises(InvalidFieldError, match="OverflowError"):
        CODEC.encode_embedding("Referral", referral, "case", data[HEADER_SIZE:])
