"""Ack endpoint logic: bearer tokens, body parsing, lifecycle transitions."""

from __future__ import annotations

import pytest

from referral_bus.errors import AcknowledgementError, RecipientMismatchError
from services.notifier.acks import authenticate, bearer, check_recipient, parse_body, transition

TOKENS = {"police": "tok-police-1", "hotline": "tok-hotline-2"}


def test_bearer_header() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    for bad in (None, "", "Basic abc", "Bearer", "Bearer "):
        assert bearer(bad) is None


def test_authenticate_finds_the_recipient_or_nobody() -> None:
    assert authenticate("tok-police-1", TOKENS) == "police"
    assert authenticate("tok-hotline-2", TOKENS) == "hotline"
    for bad in (None, "", "tok-police", "tok-police-1x", "TOK-POLICE-1"):
        assert authenticate(bad, TOKENS) is None
    assert authenticate("", {"empty": ""}) is None


def test_parse_body() -> None:
    ok = parse_body(b'{"outcome": "ACCEPTED"}')
    assert ok.outcome == "ACCEPTED" and ok.reason is None and ok.case_id is None
    rej = parse_body(b'{"outcome": "REJECTED", "reason": "outside our area", "case_id": "case-1"}')
    assert rej.reason == "outside our area" and rej.case_id == "case-1"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", None),
        (b"[]", None),
        (b'{"outcome": "MAYBE"}', "outcome"),
        (b'{"outcome": "REJECTED"}', "reason"),
        (b'{"outcome": "ACCEPTED", "reason": 5}', "reason"),
        (b'{"outcome": "ACCEPTED", "extra": 1}', "extra"),
        (b'{"outcome": "ACCEPTED", "case_id": ""}', "case_id"),
        (b"\xff\xfe", None),
    ],
)
def test_parse_body_rejects(raw: bytes, field: str | None) -> None:
    with pytest.raises(AcknowledgementError) as info:
        parse_body(raw)
    assert info.value.field == field


def test_transitions() -> None:
    assert transition("DELIVERED", {"outcome": "ACCEPTED"}) == "ACKNOWLEDGED"
    assert transition("DELIVERED", {"outcome": "REJECTED"}) == "REJECTED"
    assert transition("ACKNOWLEDGED", {"outcome": "COMPLETED"}) == "COMPLETED"
    assert transition("ACKNOWLEDGED", {"outcome": "ACCEPTED"}) is None  # duplicate
    assert transition("REJECTED", {"outcome": "ACCEPTED"}) is None  # final
    assert transition("COMPLETED", {"outcome": "REJECTED"}) is None
    with pytest.raises(AcknowledgementError):
        transition("DELIVERED", {"outcome": "UNKNOWN"})


def test_an_ack_on_a_recipients_own_topic_must_name_that_recipient() -> None:
    ack = {"referral_id": "ref-1", "recipient_id": "intl-th-24-7", "outcome": "ACCEPTED"}
    check_recipient(ack, "intl-th-24-7")
    check_recipient(ack, None)  # the shared topic: only the authenticated HTTP endpoint writes there
    with pytest.raises(RecipientMismatchError) as caught:
        check_recipient({**ack, "recipient_id": "vn-police-ha-noi"}, "intl-th-24-7")
    assert caught.value.reason == "recipient_mismatch" and caught.value.referral_id == "ref-1"
    assert "vn-police-ha-noi" not in str(caught.value)
