"""What the notifier's gauges report: pending referrals by priority and state, and open breakers (pure).

`undelivered`: taken by the notifier and not delivered (first attempt, failing, parked for a retry,
held by its recipient's breaker, refused or dead-lettered). `unacknowledged`: delivered and awaiting an
acknowledgement. Both count from routing (the referral's `created_at`, where its SLA clock starts), and
either is overdue once older than the referral's acknowledgement SLA. Every priority and state is
reported, zeros included, so an alert on a priority never finds the series missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.notifier.breaker import CircuitBreaker, State
from services.notifier.sla import AWAITING_ACK, NOT_DELIVERED, clock_start

PRIORITIES = ("P1", "P2", "P3", "P4")
UNDELIVERED = "undelivered"
UNACKNOWLEDGED = "unacknowledged"
STATES = (UNDELIVERED, UNACKNOWLEDGED)


@dataclass(frozen=True)
class PendingRow:
    """Referrals of one priority in one state (`undelivered` or `unacknowledged`) on this worker."""

    priority: str
    state: str
    count: int
    overdue: int
    oldest_age_s: float


@dataclass(frozen=True)
class BreakerRow:
    """One recipient's circuit breaker: open (not closed) or not, and since how many seconds."""

    recipient_id: str
    open: bool
    open_seconds: float


@dataclass(frozen=True)
class Waiting:
    """One pending referral: its priority, SLA and since when it waits (ms)."""

    priority: str
    state: str
    since_ms: int
    sla_seconds: int


def awaiting_ack(entry: Mapping[str, Any] | None) -> Waiting | None:
    """A `referral_state` entry as a pending referral (undelivered or unacknowledged), if it still awaits one."""
    if not entry or entry.get("status") not in AWAITING_ACK:
        return None
    state = UNDELIVERED if entry["status"] in NOT_DELIVERED else UNACKNOWLEDGED
    return Waiting(entry["priority"], state, clock_start(entry), int(entry["ack_sla_seconds"]))


def summarise(waiting: Iterable[Waiting], now_ms: int) -> list[PendingRow]:
    """One row per priority and state: how many, how many past their SLA, the oldest one's age (s)."""
    counts: dict[tuple[str, str], list[float]] = {(p, s): [0, 0, 0.0] for p in PRIORITIES for s in STATES}
    for w in waiting:
        row = counts.setdefault((w.priority, w.state), [0, 0, 0.0])
        age_s = max(0, now_ms - w.since_ms) / 1000
        row[0] += 1
        row[1] += 1 if w.sla_seconds > 0 and age_s > w.sla_seconds else 0
        row[2] = max(row[2], age_s)
    return [PendingRow(p, s, int(c), int(o), round(a, 3)) for (p, s), (c, o, a) in sorted(counts.items())]


class OpenSince:
    """When each recipient's breaker was first seen not closed since it was last seen closed.

    A breaker goes OPEN → HALF_OPEN (probe) → OPEN again on every failed probe; the recipient has been
    down since the first opening, which is what "open for long" means. Observed at each look (the
    gauges' tick), so it is accurate to one tick.
    """

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def rows(self, breakers: Iterable[tuple[str, CircuitBreaker]], now: float) -> list[BreakerRow]:
        """Each recipient's breaker: open (open or probing) or closed, and for how long it has not been closed."""
        rows = []
        for recipient_id, breaker in sorted(breakers, key=lambda item: item[0]):
            if breaker.state is State.CLOSED:
                self._since.pop(recipient_id, None)
                rows.append(BreakerRow(recipient_id, False, 0.0))
                continue
            since = self._since.setdefault(recipient_id, min(now, breaker.opened_at or now))
            rows.append(BreakerRow(recipient_id, True, round(max(0.0, now - since), 3)))
        return rows
