"""The notifier's decisions for one referral, as outcomes: park, duplicate, breaker admission, retry or give up.

Pure: the clock, the jitter and the breaker's answers are passed in; handlers.py turns each outcome
into table writes, sends and receipts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.notifier.backoff import Retry, RetryPolicy
from services.notifier.breaker import Admission
from services.notifier.deliver import iso_utc


class Park(Retry):
    """A retry not due yet: keep it in the `parked` table until `not_before`; the partition moves on."""


@dataclass(frozen=True)
class Arrival:
    """A referral to handle now (`unpark`: drop its parked entry first)."""

    unpark: bool


class Duplicate(Arrival):
    """Delivered already: nothing to send."""


class Proceed(Arrival):
    """Go on to the recipient's breaker."""


@dataclass(frozen=True)
class Attempt:
    """The breaker lets an attempt go out now."""


@dataclass(frozen=True)
class ToRetryTopic:
    """To the retry topic for `not_before`, then a receipt saying `detail`."""

    not_before: int
    detail: str


class Defer(ToRetryTopic):
    """The breaker holds the recipient: not attempted; QUEUED receipt."""


@dataclass(frozen=True)
class Requeue(ToRetryTopic):
    """Failed attempt number `attempt`, to be tried again: FAILED receipt."""

    attempt: int


@dataclass(frozen=True)
class DeadLetter:
    """Give the referral up: dead-letter it with `message`."""

    message: str


class Expire(DeadLetter):
    """Past the retry-age limit: nothing sent."""


@dataclass(frozen=True)
class Abandon(DeadLetter):
    """No more attempts after attempt number `attempt`: a FAILED receipt with `detail` first."""

    attempt: int
    detail: str


@dataclass(frozen=True)
class AfterFailure:
    """What a failed attempt leads to: a PAUSED receipt first when it opened the breaker, then `then`."""

    paused_detail: str | None
    then: Requeue | Abandon | Expire


def on_arrival(
    referral: Mapping[str, Any], *, from_retry: bool, delivered: bool, now_ms: int
) -> Park | Duplicate | Proceed:
    """A referral read from the referrals topic (`from_retry` False) or the retry topic."""
    if from_retry:
        not_before = referral.get("not_before")
        if not delivered and not_before is not None and not_before > now_ms:
            return Park(not_before)
    return Duplicate(unpark=from_retry) if delivered else Proceed(unpark=from_retry)


def _expired(
    referral: Mapping[str, Any], policy: RetryPolicy, not_before: int, last_error: str | None
) -> Expire | None:
    give_up = policy.past_deadline(referral["created_at"], not_before)
    if give_up is None:
        return None
    return Expire(f"{give_up.reason}; last error: {last_error or 'recipient paused'}")


def on_admission(
    referral: Mapping[str, Any], admission: Admission, policy: RetryPolicy, *, now_s: float, jitter: float
) -> Attempt | Defer | Expire:
    """The breaker's `admission` for this referral; `jitter` in [0, 1) seconds spreads the deferred ones."""
    if admission.allowed:
        return Attempt()
    not_before = int(((admission.retry_at or now_s) + jitter) * 1000)
    expired = _expired(referral, policy, not_before, referral.get("last_error"))
    if expired is not None:
        return expired
    detail = f"recipient paused by its circuit breaker; not attempted, next try after {iso_utc(not_before)}"
    return Defer(not_before, detail)


def on_failure(
    referral: Mapping[str, Any],
    error: str,
    *,
    retryable: bool,
    paused: bool,
    policy: RetryPolicy,
    reset_seconds: float,
    now_ms: int,
    rand: Callable[[], float],
) -> AfterFailure:
    """A failed attempt with `error`; `paused` when recording it opened the recipient's breaker."""
    attempt = referral.get("attempt", 0) + 1
    paused_detail = f"recipient paused after repeated failures; probe in {reset_seconds:g}s" if paused else None
    step = policy.after_failure(attempt, retryable=retryable, now_ms=now_ms, rand=rand)
    if isinstance(step, Retry):
        expired = _expired(referral, policy, step.not_before, error)
        if expired is not None:
            return AfterFailure(paused_detail, expired)
        detail = (
            f"attempt {attempt} of {policy.max_attempts} failed: {error}; next attempt after {iso_utc(step.not_before)}"
        )
        return AfterFailure(paused_detail, Requeue(step.not_before, detail, attempt))
    return AfterFailure(
        paused_detail, Abandon(f"{step.reason}; last error: {error}", attempt, f"{step.reason}: {error}")
    )
