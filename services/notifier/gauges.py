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
from referral_bus.metrics import BreakerRow, PendingRow
from services.notifier.handlers import Notifier
from services.notifier.pending import PRIORITIES, OpenSince, summarise

log = rb_logging.get_logger()


class Gauges:
    """The sources of the pending-referral and breaker gauges of one notifier worker."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.rows: list[PendingRow] = summarise([], 0)
        self._open_since = OpenSince()

    def install(self) -> None:
        """Register both sources with the metrics module, and zero escalation series per recipient and priority."""
        metrics.register_pending_source(lambda: self.rows)
        metrics.register_breaker_source(self.breakers)
        metrics.init_sla_breaches(self.notifier.directory.recipients, PRIORITIES)

    def breakers(self) -> list[BreakerRow]:
        """Each recipient's breaker now."""
        return self._open_since.rows(self.notifier.breakers.items(), time.time())

    def refresh(self) -> None:
        """Recompute the pending rows (kept as they were while the index waits for a rebuild after a rebalance)."""
        try:
            due = self.notifier.due
            if self.notifier.owned() is not None and due.partitions is not None:
                self.rows = summarise(due.payloads(), now_ms())
        except Exception as exc:  # noqa: BLE001 - a timer must never stop the worker
            log.error("pending-referral gauges not refreshed", error=type(exc).__name__)
