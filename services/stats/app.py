"""Stats worker: `faust -A services.stats.app worker`.

The Faust shell only: handlers.py hands each event to the pure `Aggregator` (members in changelogged
tables, written while the event is handled, so the changelog partition is the event's own, and
acknowledged with the event: `DurableTable`); a timer reads the tables, applies disclosure control
and publishes `WeeklyStatistics` to referrals.stats.v1 (`Publisher`); /dashboard shows what it sent.
"""

from __future__ import annotations

import sys

from faust.web import Request, Response, View

from referral_bus import topics
from referral_bus.clock import now_ms
from referral_bus.durable import DurableTable
from referral_bus.errors import StatsError
from referral_bus.kafka import tables_recovered
from referral_bus.settings import StatsSettings
from referral_bus.shell import Service
from services.stats.aggregate import Aggregator
from services.stats.dashboard import render
from services.stats.dimensions import load_kinds
from services.stats.handlers import Publisher, StatsHandler
from services.stats.publish import Policy

settings = StatsSettings()
service = Service("stats", settings)
app = service.app
try:
    kinds = load_kinds(settings.config_path, settings.directory_path)
except StatsError as exc:
    sys.stderr.write(f"stats: cannot start: {exc}\n")
    raise SystemExit(78) from None
policy = Policy(settings.k, settings.min_province_total, settings.publish_after_hours)

cases_topic = service.topic(topics.CASES)
decisions_topic = service.topic(topics.DECISIONS)
receipts_topic = service.topic(topics.RECEIPTS)
stats_topic = service.topic(topics.STATS)
partitions = service.kafka.topic_partitions
members = service.table("members", value_type=int)
facts = service.table("facts")
aggregator = Aggregator(DurableTable(members), DurableTable(facts), kinds, home_country=settings.home_country)

handler = StatsHandler(service, aggregator, keys=service.case_keys())
publisher = Publisher(service, stats_topic, policy, kinds)


@app.agent(cases_topic)
async def cases_agent(stream):  # type: ignore[no-untyped-def]
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handler.case)


@app.agent(decisions_topic)
async def decisions_agent(stream):  # type: ignore[no-untyped-def]
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handler.decision)


@app.agent(receipts_topic)
async def receipts_agent(stream):  # type: ignore[no-untyped-def]
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handler.receipt)


@app.agent(service.deadletter_topic)
async def deadletter_agent(stream):  # type: ignore[no-untyped-def]
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handler.dead_letter)


def holds_everything() -> str | None:
    """None when this worker holds every partition, recovered; otherwise why it cannot publish."""
    if not tables_recovered(app):
        return "tables recovering"
    mine = {tp.partition for tp in app.consumer.assignment() if tp.topic == cases_topic.get_topic_name()}
    return None if len(mine) == partitions else "does not hold every partition (run one stats replica)"


@app.timer(interval=settings.publish_interval_seconds)  # type: ignore[untyped-decorator]
async def publish() -> None:
    """Publish the weeks whose figures changed; reads the tables only (never writes them)."""
    if holds_everything() is not None:
        return
    await publisher.publish_changed(members.items(), now_ms())


@app.page("/dashboard")
class Dashboard(View):
    """The statistics dashboard, from the records this worker published (suppressed figures only)."""

    async def get(self, request: Request) -> Response:
        """The same page as `referral-bus stats report`."""
        body = render(publisher.latest())
        return self.bytes(body.encode(), headers={"Content-Type": "text/html; charset=utf-8"})


service.add_readiness(lambda: None if kinds else "statistics settings not loaded")
