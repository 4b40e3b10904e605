"""Per-recipient circuit breaker: stop hammering a recipient that keeps failing, probe it later."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.Enum):
    """Breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


PAUSED = "PAUSED"
RESUMED = "RESUMED"


@dataclass(frozen=True)
class Admission:
    """Whether an attempt may go out now; when not, the earliest time worth trying again (seconds)."""

    allowed: bool
    probe: bool = False
    retry_at: float | None = None


class CircuitBreaker:
    """CLOSED → (threshold consecutive failures) → OPEN → (reset time) → HALF_OPEN: one probe.

    A successful probe closes it (RESUMED); a failed one opens it again (PAUSED). Times are plain
    seconds from any monotonic clock the caller passes in, so the class is pure and testable.
    """

    def __init__(self, threshold: int, reset_seconds: float) -> None:
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self.state = State.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probe_started = 0.0

    def admit(self, now: float) -> Admission:
        """Whether an attempt may go out at `now` (opens the half-open probe when the reset time has passed)."""
        if self.state is State.CLOSED:
            return Admission(True)
        if self.state is State.OPEN:
            reopen = self.opened_at + self.reset_seconds
            if now < reopen:
                return Admission(False, retry_at=reopen)
            self.state = State.HALF_OPEN
            self.probe_started = now
            return Admission(True, probe=True)
        # HALF_OPEN: one probe at a time; a probe whose answer never came is replaced after reset time
        if now >= self.probe_started + self.reset_seconds:
            self.probe_started = now
            return Admission(True, probe=True)
        return Admission(False, retry_at=self.probe_started + self.reset_seconds)

    def success(self) -> str | None:
        """Record a delivered attempt; RESUMED when that closed an open breaker."""
        was = self.state
        self.state = State.CLOSED
        self.failures = 0
        return RESUMED if was is not State.CLOSED else None

    def failure(self, now: float) -> str | None:
        """Record a failed (retryable) attempt; PAUSED when that opened the breaker."""
        if self.state is State.HALF_OPEN:
            self.state = State.OPEN
            self.opened_at = now
            return PAUSED
        self.failures += 1
        if self.state is State.CLOSED and self.failures >= self.threshold:
            self.state = State.OPEN
            self.opened_at = now
            return PAUSED
        return None


class Breakers:
    """One breaker per recipient, created on first use."""

    def __init__(self, threshold: int, reset_seconds: float) -> None:
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self._by_recipient: dict[str, CircuitBreaker] = {}

    def get(self, recipient_id: str) -> CircuitBreaker:
        """The recipient's breaker."""
        breaker = self._by_recipient.get(recipient_id)
        if breaker is None:
            breaker = self._by_recipient[recipient_id] = CircuitBreaker(self.threshold, self.reset_seconds)
        return breaker

    def items(self) -> list[tuple[str, CircuitBreaker]]:
        """(recipient id, breaker) of every recipient seen so far (for the breaker gauges)."""
        return list(self._by_recipient.items())
