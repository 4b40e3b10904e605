"""The notifier's gauges: pending referrals by priority and state, and each recipient's breaker.

`refresh` (a timer of app.py) computes the pending rows from the SLA timer's index of this worker's
actively owned partitions (every referral not delivered yet or not acknowledged yet, from
`referral_state`: see handlers.Notifier.due), so neither a tick nor a scrape walks the tables; /metrics
reports the last result. Breakers are read at scrape time (memory only). The logic is in pending.py.
"""

from __future__ import annotations

import time

from referral_bus import logging as rb_logging
from referral_bus import metrics
from referral_bus.clock import now_ms
from services.notifier.handlers import Notifier
from services.notifier.pending import PRIORITIES, BreakerRow, OpenSince, PendingRow, summarise

log = rb_logging.get_logger()

# (Prometheus name, PendingRow attribute, unit, description), labelled by priority and state.
PENDING: tuple[metrics.Gauge, ...] = (
    (
        "referral_bus_pending_referrals",
        "count",
        "1",
        "referrals not delivered yet or not acknowledged yet, by priority and state",
    ),
    (
        "referral_bus_pending_referrals_overdue",
        "overdue",
        "1",
        "pending referrals past their SLA, by priority and state",
    ),
    (
        "referral_bus_pending_referral_oldest_age",
        "oldest_age_s",
        "s",
        "age of the oldest pending referral, by priority and state",
    ),
)
# (Prometheus name, BreakerRow attribute, unit, description), labelled by recipient_id.
BREAKERS: tuple[metrics.Gauge, ...] = (
    ("referral_bus_breaker_open", "open", "1", "1 while the recipient's circuit breaker is open or half-open, else 0"),
    (
        "referral_bus_breaker_open_duration",
        "open_seconds",
        "s",
        "seconds since the recipient's circuit breaker opened (0 when closed)",
    ),
)


class Gauges:
    """The sources of the pending-referral and breaker gauges of one notifier worker."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.rows: list[PendingRow] = summarise([], 0)
        self._open_since = OpenSince()

    def install(self) -> None:
        """Register both sources with the metrics module, and zero escalation series per recipient and priority."""
        metrics.register_gauges(lambda: self.rows, ("priority", "state"), PENDING)
        metrics.register_gauges(self.breakers, ("recipient_id",), BREAKERS)
        metrics.init_sla_breaches(self.notifier.directory.recipients, PRIORITIES)

    def breakers(self) -> list[BreakerRow]:
        """Each recipient's breaker now."""
        return self._open_since.rows(self.notifier.breakers.items(), time.time())

    def refresh(self) -> None:
        """Recompute the pending rows (kept as they were while the index waits for a rebuild after a rebalance)."""
        try:
            due = self.notifier.due
            if self.notifier.owned() is not None and due.partitions is not None:
                self.rows = due.tally.rows(now_ms())
        except Exception as exc:  # noqa: BLE001 - a timer must never stop the worker
            log.error("pending-referral gauges not refreshed", error=type(exc).__name__)
