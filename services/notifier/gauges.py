"""The notifier's gauges: pending referrals by priority and state, and each recipient's breaker.

`refresh` (a timer of app.py) computes the pending rows from this worker's actively owned partitions
of `referral_state` (delivered, awaiting an acknowledgement) and `parked` (waiting for a retry);
/metrics reports the last result, so a scrape never walks the tables. Breakers are read at scrape time
(memory only). The logic is in pending.py.
"""

from __future__ import annotations

import base64
import time

from referral_bus import logging as rb_logging
from referral_bus import metrics
from referral_bus.clock import now_ms
from services.notifier.handlers import Notifier
from services.notifier.ownership import partition_of
from services.notifier.pending import (
    PRIORITIES,
    BreakerRow,
    OpenSince,
    PendingRow,
    Waiting,
    awaiting_ack,
    summarise,
    undelivered,
)

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
        self._parked: dict[str, Waiting] = {}  # referral id → its decoded parked entry (decoded once)
        self._open_since = OpenSince()

    def install(self) -> None:
        """Register both sources with the metrics module, and zero escalation series per recipient and priority."""
        metrics.register_gauges(lambda: self.rows, ("priority", "state"), PENDING)
        metrics.register_gauges(self.breakers, ("recipient_id",), BREAKERS)
        metrics.init_sla_breaches(self.notifier.directory.recipients, PRIORITIES)

    def breakers(self) -> list[BreakerRow]:
        """Each recipient's breaker now."""
        return self._open_since.rows(self.notifier.breakers.items(), time.time())

    def waiting(self, owned: frozenset[int]) -> list[Waiting]:
        """Pending referrals of the partitions this worker owns."""
        n, partitions = self.notifier, self.notifier.service.kafka.topic_partitions
        out = [
            w
            for e in list(n.tables.state.values())
            if e and partition_of(e, partitions) in owned and (w := awaiting_ack(e))
        ]
        seen = set()
        for rid, entry in list(n.tables.parked.items()):
            if entry is None or partition_of(entry, partitions) not in owned:
                continue
            seen.add(rid)
            w = self._parked.get(rid)
            if w is None:
                w = self._parked[rid] = undelivered(n.codec.decode(base64.b64decode(entry["value"]), "Referral"))
            out.append(w)
        for rid in set(self._parked) - seen:
            del self._parked[rid]
        return out

    def refresh(self) -> None:
        """Recompute the pending rows (kept as they were during a rebalance, when ownership is unknown)."""
        try:
            owned = self.notifier.owned()
            if owned is not None:
                self.rows = summarise(self.waiting(owned), now_ms())
        except Exception as exc:  # noqa: BLE001 - a timer must never stop the worker
            log.error("pending-referral gauges not refreshed", error=type(exc).__name__)
