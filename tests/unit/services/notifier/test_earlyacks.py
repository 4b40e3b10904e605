"""services/notifier/earlyacks.py: acknowledgements kept before their referral, bounded, never silently dropped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.errors import AcknowledgementError
from referral_bus.message import SourceMessage
from services.notifier.earlyacks import MAX_PER_REFERRAL, expired, expiry_error, keep, messages


def _msg(offset: int = 7, value: bytes | None = b"\xc3\x01ack") -> SourceMessage:
    return SourceMessage(
        topic="referrals.acks.partner-x.v1",
        partition=4,
        offset=offset,
        key=b"case-1",
        value=value,
        headers=(("referral-bus-replay-count", b"1"), ("empty", None)),
    )


def test_kept_messages_come_back_exactly_as_read_in_order() -> None:
    first = keep(None, _msg(7), "r1", now_ms=1_000, held=0, limit=10)
    assert first["partition"] == 4 and first["kept_at"] == 1_000 and first["referral_id"] == "r1"
    both = keep(first, _msg(9, None), "r1", now_ms=5_000, held=10, limit=10)  # a second ack: not a new referral
    assert both["kept_at"] == 1_000
    assert messages(both) == [_msg(7), _msg(9, None)]


def test_past_the_limit_the_ack_is_refused_with_its_id_for_the_dead_letter() -> None:
    with pytest.raises(AcknowledgementError, match="NOTIFIER_EARLY_ACK_LIMIT") as caught:
        keep(None, _msg(), "r1", now_ms=0, held=10, limit=10)
    assert caught.value.referral_id == "r1" and caught.value.reason == "invalid_ack"
    entry = None
    for i in range(MAX_PER_REFERRAL):
        entry = keep(entry, _msg(i), "r1", now_ms=0, held=0, limit=10)
    with pytest.raises(AcknowledgementError, match="more than"):
        keep(entry, _msg(), "r1", now_ms=0, held=0, limit=10)


def test_expiry() -> None:
    entry = keep(None, _msg(), "r1", now_ms=1_000, held=0, limit=1)
    assert not expired(entry, 11_000, 10)
    assert expired(entry, 11_001, 10)
    err = expiry_error("r1", 10)
    assert err.referral_id == "r1" and "NOTIFIER_EARLY_ACK_TTL_SECONDS" in str(err)


@given(st.lists(st.tuples(st.integers(0, 2**40), st.one_of(st.none(), st.binary(max_size=64))), max_size=8))
def test_round_trip_of_any_bytes(items: list[tuple[int, bytes | None]]) -> None:
    entry = None
    for offset, value in items:
        entry = keep(entry, _msg(offset, value), "r", now_ms=0, held=0, limit=1)
    assert entry is None or messages(entry) == [_msg(o, v) for o, v in items]
