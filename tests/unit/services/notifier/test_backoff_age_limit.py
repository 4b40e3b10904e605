"""The retry policy's age limit: what ends referrals held back by an open circuit breaker."""

from __future__ import annotations

from services.notifier.backoff import GiveUp, RetryPolicy


def test_no_limit_by_default() -> None:
    assert RetryPolicy(3, 1.0, 10.0).past_deadline(0, 10**12) is None


def test_retry_within_the_limit_goes_ahead() -> None:
    policy = RetryPolicy(3, 1.0, 10.0, max_age_seconds=60)
    assert policy.past_deadline(1_000, 61_000) is None


def test_retry_past_the_limit_gives_up_with_a_reason() -> None:
    policy = RetryPolicy(3, 1.0, 10.0, max_age_seconds=60)
    step = policy.past_deadline(1_000, 61_001)
    assert isinstance(step, GiveUp)
    assert "60s" in step.reason
