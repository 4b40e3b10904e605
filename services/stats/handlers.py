"""The stats worker's handlers: one event decoded and handed to the pure `Aggregator`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import faust

from referral_bus import logging as rb_logging
from referral_bus import metrics
from referral_bus.casekeys import CaseKeys
from referral_bus.message import SourceMessage
from referral_bus.shell import Service
from services.stats.aggregate import Aggregator
from services.stats.dimensions import Kinds
from services.stats.figures import Figures, collect
from services.stats.publish import Policy, weekly_statistics
from services.stats.weeks import closed

log = rb_logging.get_logger()


@dataclass
class StatsHandler:
    """Handlers of the four consumed topics, built once by app.py; every table write is the aggregator's."""

    service: Service
    aggregator: Aggregator
    keys: CaseKeys | None = None  # opens a sealed case's platform (erased: UNKNOWN, the counts stay)

    async def case(self, msg: SourceMessage) -> None:
        """One case or linked report."""
        case = self.service.codec.decode(msg.value or b"", "Case")
        if self.keys is not None:
            case = await self.keys.open_case(case)
        self.aggregator.case(case, msg.partition)
        metrics.count("stats", "case")

    async def decision(self, msg: SourceMessage) -> None:
        """One routing decision."""
        self.aggregator.decision(self.service.codec.decode(msg.value or b"", "RoutingDecision"), msg.partition)

    async def receipt(self, msg: SourceMessage) -> None:
        """One delivery receipt."""
        self.aggregator.receipt(self.service.codec.decode(msg.value or b"", "DeliveryReceipt"), msg.partition)

    async def dead_letter(self, msg: SourceMessage) -> None:
        """One dead letter (data quality)."""
        self.aggregator.dead_letter(self.service.codec.decode(msg.value or b"", "DeadLetter"), msg.partition)


def digest(fig: Figures) -> str:
    """A fingerprint of one week's true figures: unchanged weeks are not published again."""
    state = repr((sorted((k, sorted(v.items())) for k, v in fig.counts.items()), sorted(fig.ack_ms.items())))
    return hashlib.sha256(state.encode()).hexdigest()


@dataclass
class Publisher:
    """Sends WeeklyStatistics for the weeks whose figures changed; keeps the last ones for the live page."""

    service: Service
    topic: faust.TopicT
    policy: Policy
    kinds: Kinds
    published: dict[str, dict[str, Any]] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)

    async def publish_changed(self, members: Iterable[tuple[str, int]], now_ms: int) -> None:
        """Recompute every closed week from the members, suppress, and send the changed ones (key: the week)."""
        for week, fig in sorted(collect(list(members)).items()):
            if not closed(week, now_ms, self.policy.publish_after_hours):
                continue
            fingerprint = digest(fig)
            if self.digests.get(week) == fingerprint:
                continue
            record = weekly_statistics(fig, self.policy, self.kinds, generated_at=now_ms)
            codec = self.service.codec
            await self.service.send(self.topic, week.encode(), codec.encode("WeeklyStatistics", record))
            self.published[week], self.digests[week] = record, fingerprint
            log.info("weekly statistics published", week=week)

    def latest(self) -> list[dict[str, Any]]:
        """The records sent so far, one per week, in week order."""
        return [self.published[w] for w in sorted(self.published)]
