"""Exponential backoff with full jitter, and the retry policy's decisions."""

from __future__ import annotations

import random

import pytest

from services.notifier.backoff import GiveUp, Retry, RetryPolicy, backoff_delay


def test_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    top = [backoff_delay(n, base=1.0, cap=20.0, rand=lambda: 1.0) for n in range(1, 8)]
    assert top == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert backoff_delay(3, base=1.0, cap=60.0, rand=lambda: 0.0) == 0.0
    rng = random.Random(7)
    samples = [backoff_delay(4, base=0.5, cap=60.0, rand=rng.random) for _ in range(2000)]
    assert all(0.0 <= s <= 4.0 for s in samples)
    assert min(samples) < 0.2 and max(samples) > 3.8  # spread over the whole range, not clustered


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert backoff_delay(10_000, base=1.0, cap=300.0, rand=lambda: 1.0) == 300.0


def test_attempt_starts_at_one() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, base=1.0, cap=1.0)


def test_policy_retries_until_max_attempts_then_gives_up() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=1.0, cap_seconds=10.0)
    first = policy.after_failure(1, retryable=True, now_ms=1_000, rand=lambda: 0.5)
    assert first == Retry(1_500)
    assert policy.after_failure(2, retryable=True, now_ms=1_000, rand=lambda: 1.0) == Retry(3_000)
    last = policy.after_failure(3, retryable=True, now_ms=1_000)
    assert isinstance(last, GiveUp) and "3 attempt" in last.reason


def test_non_retryable_gives_up_at_once() -> None:
    policy = RetryPolicy(max_attempts=10, base_seconds=1.0, cap_seconds=10.0)
    assert isinstance(policy.after_failure(1, retryable=False, now_ms=0), GiveUp)
