"""The notifier's per-delivery cuts give exactly what the code they replaced gave (issue 17, helper notif2)."""

from __future__ import annotations

import re
import uuid
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.deliver import receipt, uuid4_text

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
