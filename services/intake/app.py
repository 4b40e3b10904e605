"""Intake worker: `faust -A services.intake.app worker`.

The Faust shell only: settings, the app, its topics and tables, two agents. What one event does is
in handlers.py; the decisions are pure: accept.py (decode, validate, deduplicate), correlate.py.
"""

from __future__ import annotations

from referral_bus import topics
from referral_bus.agencies import load_agencies
from referral_bus.durable import DurableTable
from referral_bus.settings import IntakeSettings
from referral_bus.shell import Service
from services.intake.accept import Intake
from services.intake.correlate import Correlator, per_partition
from services.intake.handlers import IntakeHandlers
from services.intake.pending import Pending

settings = IntakeSettings()
service = Service("intake", settings)
app = service.app

# Each agency's own intake topic (its KafkaUser may write there and nowhere else): the topic says which
# agency sent a report. The shared topic is internal (operators' replays, tests); no agency writes to it.
registry = load_agencies(settings.agencies_path)
agency_topics = registry.intake_topics()  # contract name → agency id
# One agent reads them all, and the correlation verdicts that come back to a report's partition.
intake_topic = service.topic(topics.INTAKE, *sorted(agency_topics), topics.CORRELATION_VERDICTS)
agency_of = {topics.name(t): agency for t, agency in agency_topics.items()}  # broker name → agency id
same_topic = {topics.name(t): service.topic(t) for t in (topics.INTAKE, *agency_topics)}  # re-keying stays put
cases_topic = service.topic(topics.CASES)
# [agency_id, report_id] (JSON) → case_id of every report accepted (the dedup table).
seen = service.table("dedup", value_type=str)
# Correlation by content key: its own topic, so the content table is partitioned by content key.
correlation_topic = service.topic(topics.CORRELATION)
# content key → the correlation Entry that claimed it (see correlate.py).
content = service.table("content")
# agency|day|correlation partition → keys claimed (the per-agency claim limit, config/agencies.yaml).
claims = service.table("claims", value_type=int)
# case id → the encoded Case waiting for its correlation verdict (on the report's partition).
pending = service.table("pending", value_type=str)
partitions = service.kafka.topic_partitions
handlers = IntakeHandlers(
    service=service,
    intake=Intake(service.codec, seen, clock_skew_ms=settings.clock_skew_seconds * 1000),
    correlator=Correlator(
        content,
        window_ms=settings.correlation_window_hours * 3_600_000,
        claims=claims,
        claim_limit=lambda agency: per_partition(registry.claim_limit(agency), partitions),
    ),
    agency_of=agency_of,
    same_topic=same_topic,
    cases_topic=cases_topic,
    correlation_topic=correlation_topic,
    verdicts_topic=service.topic(topics.CORRELATION_VERDICTS),
    pending=Pending(DurableTable(pending)),
)


@app.agent(intake_topic)
async def intake_agent(stream):  # type: ignore[no-untyped-def]  # Faust agents take an untyped stream
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handlers.event)


@app.agent(correlation_topic)
async def correlation_agent(stream):  # type: ignore[no-untyped-def]  # Faust agents take an untyped stream
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handlers.correlation)
