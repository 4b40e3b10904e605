"""Stats worker: `faust -A services.stats.app worker`.

The Faust shell only: handlers.py hands each event to the pure `Aggregator` (members in changelogged
tables, written while the event is handled, so the changelog partition is the event's own, and
acknowledged with the event: `DurableTable`); a timer reads the tables, applies disclosure control
and publishes `WeeklyStatistics` to referrals.stats.v1 (`Publisher`); /dashboard shows what it sent.
"""

from __future__ import annotations

from faust.web import Request, Response, View

from referral_bus import topics
from referral_bus.clock import now_ms
from referral_bus.durable import DurableTable
from referral_bus.kafka import tables_recovered
from referral_bus.shell import Service, load_or_exit
from services.stats.aggregate import PACKED, Aggregator
from services.stats.dashboard import render
from services.stats.dimensions import load_kinds
from services.stats.handlers import Publisher, StatsHandler
from services.stats.publish import Policy
from services.stats.settings import StatsSettings

settings = StatsSettings()
service = Service("stats", settings, encodes=("WeeklyStatistics",))
app = service.app
kinds = load_or_exit(
    "stats", "the statistics settings", lambda: load_kinds(settings.config_path, settings.directory_path)
)
policy = Policy(settings.k, settings.min_province_total, settings.publish_after_hours)

cases_topic = service.topic(topics.CASES)
decisions_topic = service.topic(topics.DECISIONS)
receipts_topic = service.topic(topics.RECEIPTS)
stats_topic = service.topic(topics.STATS)
partitions = service.kafka.topic_partitions
members = service.table("members", value_type=int)
facts = service.table("facts", packed=PACKED)  # events waiting for their case held as text: rows the GC never walks
aggregator = Aggregator(DurableTable(members), DurableTable(facts), kinds, home_country=settings.home_country)

handler = StatsHandler(service, aggregator, keys=service.case_keys())
publisher = Publisher(service, stats_topic, policy, kinds)


# One agent per topic, each handing every event to its handler through run_guarded (dead-letters any failure).
cases_agent = service.agent(cases_topic, handler.case, name=f"{__name__}.cases_agent")
decisions_agent = service.agent(decisions_topic, handler.decision, name=f"{__name__}.decisions_agent")
receipts_agent = service.agent(receipts_topic, handler.receipt, name=f"{__name__}.receipts_agent")
deadletter_agent = service.agent(service.deadletter_topic, handler.dead_letter, name=f"{__name__}.deadletter_agent")


def holds_everything() -> str | None:
    """None when this worker holds every partition, recovered; otherwise why it cannot publish."""
    if not tables_recovered(app):
        return "tables recovering"
    mine = {tp.partition for tp in app.consumer.assignment() if tp.topic == cases_topic.get_topic_name()}
    return None if len(mine) == partitions else "does not hold every partition (run one stats replica)"


@app.timer(interval=settings.publish_interval_seconds)  # type: ignore[untyped-decorator]  # Faust's timer is untyped
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
