"""Per-recipient circuit breaker: stop hammering a recipient that keeps failing, probe it later."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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
        self._saved = self._fields()

    def _fields(self) -> tuple[str, int, float, float]:
        return (self.state.value, self.failures, self.opened_at, self.probe_started)

    def unsaved(self) -> bool:
        """True when the state changed since the last `snapshot` (or restore)."""
        return self._fields() != self._saved

    def snapshot(self, now: float) -> dict[str, Any]:
        """The state to keep durably (wall-clock `now` orders snapshots); marks it saved."""
        self._saved = self._fields()
        state, failures, opened_at, probe_started = self._saved
        return {"state": state, "failures": failures, "opened_at": opened_at, "probe_started": probe_started, "at": now}

    def restore(self, snap: dict[str, Any]) -> None:
        """Take the state from a snapshot (a restarted worker remembers an open breaker)."""
        self.state = State(snap["state"])
        self.failures = int(snap["failures"])
        self.opened_at = float(snap["opened_at"])
        self.probe_started = float(snap["probe_started"])
        self._saved = self._fields()

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


Saved = Callable[[str], list[dict[str, Any]]]


def snapshot_key(recipient_id: str, partition: int) -> str:
    """Table key of a breaker snapshot written while handling an event of `partition`.

    Faust writes a table entry to the changelog partition of the current event, and a recipient's
    breaker changes while handling events of any partition: naming the partition in the key keeps each
    key on one changelog partition, so its latest value is the one restored.
    """
    return f"{recipient_id}|p{partition}"


class Breakers:
    """One breaker per recipient, created on first use from the latest saved snapshot, if any."""

    def __init__(self, threshold: int, reset_seconds: float, saved: Saved | None = None) -> None:
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self.saved = saved
        self._by_recipient: dict[str, CircuitBreaker] = {}

    def get(self, recipient_id: str) -> CircuitBreaker:
        """The recipient's breaker."""
        breaker = self._by_recipient.get(recipient_id)
        if breaker is None:
            breaker = self._by_recipient[recipient_id] = CircuitBreaker(self.threshold, self.reset_seconds)
            snaps = self.saved(recipient_id) if self.saved else []
            if snaps:
                breaker.restore(max(snaps, key=lambda snap: float(snap["at"])))
        return breaker

    def items(self) -> list[tuple[str, CircuitBreaker]]:
        """(recipient id, breaker) of every recipient seen so far (for the breaker gauges)."""
        return list(self._by_recipient.items())
