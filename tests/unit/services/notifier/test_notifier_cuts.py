"""The notifier's per-delivery cuts give exactly what the code they replaced gave (issue 17, helpers notif2, hand)."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.deliver import receipt, uuid4_text
from services.notifier.lifecycle import lifecycle_fields
from services.notifier.sla import delivered_state, record_text, routed_state

_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@given(st.binary(min_size=16, max_size=16))
def test_uuid4_text_is_str_of_uuid4_for_the_same_random_bytes(random16: bytes) -> None:
    assert uuid4_text(random16) == str(uuid.UUID(bytes=random16, version=4))


def test_uuid4_text_uses_16_fresh_random_bytes_as_uuid4_does() -> None:
    with mock.patch("os.urandom", return_value=bytes(range(16))) as urandom:
        got, expected = uuid4_text(), str(uuid.uuid4())
    assert urandom.call_args_list == [mock.call(16), mock.call(16)]
    assert got == expected


def test_receipt_ids_are_version_4_uuids_and_differ() -> None:
    referral = {"referral_id": "r", "case_id": "c", "recipient_id": "x"}
    ids = {receipt(referral, "DELIVERED", channel="webhook")["receipt_id"] for _ in range(200)}
    assert len(ids) == 200
    assert all(_UUID4.match(i) and uuid.UUID(i).version == 4 for i in ids)


@given(st.lists(st.tuples(st.binary(max_size=64), st.integers(0, 3)), max_size=12))
def test_record_text_is_the_base64_of_every_value_even_when_the_same_object_comes_again(
    calls: list[tuple[bytes, int]],
) -> None:
    previous: Any = b""
    for data, how in calls:  # a new object, the previous object again, equal bytes in a new object, a bytearray
        value: Any = [data, previous, bytes(bytearray(data)), bytearray(data)][how]
        assert record_text(value) == base64.b64encode(value).decode("ascii")
        previous = value


def test_a_mutable_record_changed_in_place_is_encoded_again() -> None:
    value = bytearray(b"first")
    assert record_text(value) == base64.b64encode(b"first").decode()  # type: ignore[arg-type]  # the point
    value[:] = b"second"
    assert record_text(value) == base64.b64encode(b"second").decode()  # type: ignore[arg-type]  # the point


def test_a_delivery_keeps_the_record_once_encoded_in_each_of_its_entries() -> None:
    value = b"\xc3\x01" + bytes(range(200))
    referral = {
        "referral_id": "r",
        "case_id": "c",
        "recipient_id": "x",
        "priority": "P2",
        "ack_sla_seconds": 60,
        "escalation_target": "duty",
        "created_at": 1,
        "rule_ids": [],
        "case": {"report": {"agency_id": "a", "report_id": "p"}},
    }
    text = base64.b64encode(value).decode("ascii")
    with mock.patch("base64.b64encode", wraps=base64.b64encode) as b64:
        routed = routed_state(referral, value, 0, recipient_target=None)
        delivered = delivered_state(referral, value, 0, recipient_target=None, delivered_at=2)
        fields = lifecycle_fields(referral, value, "police", 2)
    assert routed["referral"] == delivered["referral"] == fields["referral"] == text
    assert b64.call_count <= 1  # the same bytes object: encoded once (or not at all, if it was the last one here)
