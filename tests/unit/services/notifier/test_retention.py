"""Retention of referral state: only closed referrals are forgotten."""

from __future__ import annotations

from services.notifier.acks import FINAL, OUTCOME_STATUS
from services.notifier.retention import closed, retention_ms


def test_every_answer_a_recipient_can_give_closes_the_referral() -> None:
    for status in {*OUTCOME_STATUS.values(), *FINAL}:
        assert closed({"status": status})


def test_a_referral_awaiting_its_answer_or_its_delivery_stays() -> None:
    for status in ("DELIVERED", "QUEUED", "PENDING", None):
        assert not closed({"status": status})
    assert not closed(None) and not closed("DELIVERED")


def test_retention_in_days() -> None:
    assert retention_ms(30) == 30 * 86_400_000
    assert retention_ms(0.5) == 43_200_000
