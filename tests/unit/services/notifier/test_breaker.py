"""The per-recipient circuit breaker, with an explicit clock."""

from __future__ import annotations

from services.notifier.breaker import PAUSED, RESUMED, Breakers, CircuitBreaker, State


def test_opens_after_threshold_consecutive_failures() -> None:
    b = CircuitBreaker(threshold=3, reset_seconds=10)
    assert b.failure(0) is None and b.failure(1) is None
    assert b.admit(1).allowed
    assert b.failure(2) == PAUSED
    assert b.state is State.OPEN
    denied = b.admit(5)
    assert not denied.allowed and denied.retry_at == 12


def test_a_success_resets_the_count() -> None:
    b = CircuitBreaker(threshold=2, reset_seconds=10)
    b.failure(0)
    assert b.success() is None
    assert b.failure(1) is None  # one failure after a success: still closed
    assert b.state is State.CLOSED


def test_one_probe_after_reset_then_resume() -> None:
    b = CircuitBreaker(threshold=1, reset_seconds=10)
    assert b.failure(0) == PAUSED
    probe = b.admit(10)
    assert probe.allowed and probe.probe
    other = b.admit(11)  # only one probe at a time
    assert not other.allowed and other.retry_at == 20
    assert b.success() == RESUMED
    assert b.admit(11).allowed and b.state is State.CLOSED


def test_failed_probe_pauses_again_for_a_full_period() -> None:
    b = CircuitBreaker(threshold=1, reset_seconds=10)
    b.failure(0)
    assert b.admit(10).probe
    assert b.failure(10.5) == PAUSED
    assert not b.admit(15).allowed
    assert b.admit(20.5).probe


def test_a_probe_that_never_answered_is_replaced() -> None:
    b = CircuitBreaker(threshold=1, reset_seconds=10)
    b.failure(0)
    assert b.admit(10).probe
    assert not b.admit(19).allowed
    assert b.admit(20).probe


def test_breakers_are_per_recipient() -> None:
    breakers = Breakers(threshold=1, reset_seconds=5)
    breakers.get("a").failure(0)
    assert not breakers.get("a").admit(1).allowed
    assert breakers.get("b").admit(1).allowed
    assert breakers.get("a") is breakers.get("a")
