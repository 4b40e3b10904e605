"""The notifier's decisions, one test per branch: park, duplicate, breaker admission, retry or give up."""

from __future__ import annotations

from typing import Any

from services.notifier.backoff import RetryPolicy
from services.notifier.breaker import Admission
from services.notifier.decide import (
    Abandon,
    Attempt,
    Defer,
    Duplicate,
    Expire,
    Park,
    Proceed,
    Requeue,
    on_admission,
    on_arrival,
    on_failure,
)

NOW_MS = 1_800_000_000_000
POLICY = RetryPolicy(max_attempts=3, base_seconds=1.0, cap_seconds=60.0, max_age_seconds=3600.0)


def referral(**extra: Any) -> dict[str, Any]:
    return {"referral_id": "r-1", "case_id": "c-1", "created_at": NOW_MS, "attempt": 0, **extra}


# --- arrival ------------------------------------------------------------------------------------------


def test_a_retry_not_due_yet_is_parked_until_its_time() -> None:
    out = on_arrival(referral(not_before=NOW_MS + 5000), from_retry=True, delivered=False, now_ms=NOW_MS)
    assert out == Park(NOW_MS + 5000)


def test_a_retry_not_due_but_delivered_meanwhile_is_a_duplicate_and_leaves_the_parked_table() -> None:
    out = on_arrival(referral(not_before=NOW_MS + 5000), from_retry=True, delivered=True, now_ms=NOW_MS)
    assert out == Duplicate(unpark=True)


def test_a_due_retry_proceeds_and_leaves_the_parked_table() -> None:
    out = on_arrival(referral(not_before=NOW_MS), from_retry=True, delivered=False, now_ms=NOW_MS)
    assert out == Proceed(unpark=True)


def test_a_first_attempt_is_never_parked_even_with_a_future_not_before() -> None:
    out = on_arrival(referral(not_before=NOW_MS + 5000), from_retry=False, delivered=False, now_ms=NOW_MS)
    assert out == Proceed(unpark=False)


def test_a_first_attempt_of_a_delivered_referral_is_a_duplicate() -> None:
    assert on_arrival(referral(), from_retry=False, delivered=True, now_ms=NOW_MS) == Duplicate(unpark=False)


# --- breaker admission ------------------------------------------------------------------------------------


def test_an_admitted_attempt_goes_out() -> None:
    assert on_admission(referral(), Admission(True), POLICY, now_s=NOW_MS / 1000, jitter=0.5) == Attempt()


def test_a_paused_recipient_defers_to_the_breakers_retry_time_plus_jitter() -> None:
    retry_at = NOW_MS / 1000 + 30
    out = on_admission(referral(), Admission(False, retry_at=retry_at), POLICY, now_s=NOW_MS / 1000, jitter=0.25)
    assert isinstance(out, Defer)
    assert out.not_before == int((retry_at + 0.25) * 1000)
    assert "paused by its circuit breaker" in out.detail


def test_a_paused_recipient_without_a_retry_time_defers_from_now() -> None:
    out = on_admission(referral(), Admission(False), POLICY, now_s=NOW_MS / 1000, jitter=0.0)
    assert isinstance(out, Defer)
    assert out.not_before == NOW_MS


def test_a_deferral_past_the_age_limit_expires_naming_the_last_error() -> None:
    old = referral(created_at=NOW_MS - 3_600_000, last_error="HTTP 503")
    out = on_admission(old, Admission(False, retry_at=NOW_MS / 1000 + 30), POLICY, now_s=NOW_MS / 1000, jitter=0.0)
    assert out == Expire("not delivered within 3600s of routing; last error: HTTP 503")


def test_a_deferral_past_the_age_limit_with_no_error_says_the_recipient_was_paused() -> None:
    old = referral(created_at=NOW_MS - 3_600_000)
    out = on_admission(old, Admission(False, retry_at=NOW_MS / 1000 + 30), POLICY, now_s=NOW_MS / 1000, jitter=0.0)
    assert isinstance(out, Expire)
    assert out.message.endswith("last error: recipient paused")


# --- after a failed attempt ---------------------------------------------------------------------------------


def failure(ref: dict[str, Any], *, retryable: bool = True, paused: bool = False) -> Any:
    return on_failure(
        ref,
        "HTTP 503",
        retryable=retryable,
        paused=paused,
        policy=POLICY,
        reset_seconds=30.0,
        now_ms=NOW_MS,
        rand=lambda: 0.5,
    )


def test_a_retryable_failure_under_the_attempt_limit_is_requeued_with_backoff() -> None:
    plan = failure(referral(attempt=0))
    assert plan.paused_detail is None
    assert plan.then == Requeue(not_before=NOW_MS + 500, detail=plan.then.detail, attempt=1)
    assert plan.then.detail.startswith("attempt 1 of 3 failed: HTTP 503; next attempt after ")


def test_the_last_allowed_attempt_failing_abandons_with_a_failed_receipt_and_dead_letter() -> None:
    plan = failure(referral(attempt=2))
    assert plan.then == Abandon(
        attempt=3,
        detail="gave up after 3 attempt(s): HTTP 503",
        message="gave up after 3 attempt(s); last error: HTTP 503",
    )


def test_a_refusal_is_abandoned_at_once() -> None:
    plan = failure(referral(attempt=0), retryable=False)
    assert isinstance(plan.then, Abandon)
    assert plan.then.message == "the recipient refused the referral (not retryable); last error: HTTP 503"


def test_a_retry_that_would_fall_past_the_age_limit_expires() -> None:
    plan = failure(referral(attempt=0, created_at=NOW_MS - 3_600_000))
    assert plan.then == Expire("not delivered within 3600s of routing; last error: HTTP 503")


def test_a_failure_that_opened_the_breaker_says_so_first() -> None:
    plan = failure(referral(attempt=0), paused=True)
    assert plan.paused_detail == "recipient paused after repeated failures; probe in 30s"
    assert isinstance(plan.then, Requeue)
