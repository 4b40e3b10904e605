"""Retry policy: exponential backoff with full jitter, and when to give up."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before attempt `attempt + 1`: uniform in [0, min(cap, base * 2**(attempt - 1))].

    "Full jitter" (AWS architecture blog): spreads the retries of many referrals that failed together
    so a recovering recipient is not hit by a synchronised wave.
    """
    if attempt < 1:
        raise ValueError("attempt counts failed attempts and starts at 1")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 60))
    return ceiling * rand()


@dataclass(frozen=True)
class Retry:
    """Try again no earlier than `not_before` (epoch milliseconds)."""

    not_before: int


@dataclass(frozen=True)
class GiveUp:
    """Stop: dead-letter the referral with this reason."""

    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a referral gets and how long to wait between them."""

    max_attempts: int
    base_seconds: float
    cap_seconds: float
    max_age_seconds: float = 0.0  # 0 = no age limit

    def past_deadline(self, created_at_ms: int, not_before_ms: int) -> GiveUp | None:
        """GiveUp when the next try would come later than `max_age_seconds` after routing made the referral.

        Bounds the time a referral can wait while its recipient stays paused by the circuit breaker:
        breaker deferrals are not attempts (the recipient is not hammered), so without this bound a
        recipient that never comes back would keep its referrals cycling through the retry topic.
        """
        if self.max_age_seconds <= 0 or not_before_ms <= created_at_ms + self.max_age_seconds * 1000:
            return None
        return GiveUp(f"not delivered within {self.max_age_seconds:g}s of routing")

    def after_failure(
        self, attempts_made: int, *, retryable: bool, now_ms: int, rand: Callable[[], float] = random.random
    ) -> Retry | GiveUp:
        """What to do once attempt number `attempts_made` failed."""
        if not retryable:
            return GiveUp("the recipient refused the referral (not retryable)")
        if attempts_made >= self.max_attempts:
            return GiveUp(f"gave up after {attempts_made} attempt(s)")
        delay = backoff_delay(attempts_made, base=self.base_seconds, cap=self.cap_seconds, rand=rand)
        return Retry(now_ms + int(delay * 1000))
