"""Intake worker: `faust -A services.intake.app worker`.

The Faust shell only: settings, the app, its topics and tables, two agents. What one event does is
in handlers.py; the decisions are pure: accept.py (decode, validate, deduplicate), correlate.py.
"""

from __future__ import annotations

from referral_bus import topics
from referral_bus.durable import DurableTable
from referral_bus.expiry import Expiry
from referral_bus.lograte import RepeatLimiter
from referral_bus.shell import Service
from referral_bus.status import StatusTopics
from referral_domain.agencies import load_agencies
from services.intake.accept import Intake
from services.intake.correlate import Correlator, per_partition
from services.intake.handlers import IntakeHandlers
from services.intake.locality import Locality
from services.intake.pending import Pending
from services.intake.quotas import ClaimQuotas
from services.intake.settings import IntakeSettings

settings = IntakeSettings()
service = Service("intake", settings, encodes=("Case", "ReportStatus"))
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
seen = service.table("dedup", value_type=str, expiry=Expiry(settings.dedup_expiry_ms))  # window + replay grace
# Correlation by content key: its own topic, so the content table is partitioned by content key.
correlation_topic = service.topic(topics.CORRELATION)
# content key → the correlation Entry that claimed it, with its agency's claim count that day (correlate.py);
# the counts (the per-agency claim limit, config/agencies.yaml) are rebuilt from the entries (quotas.py).
_window_ms = int(settings.correlation_window_hours * 3_600_000)
quotas = ClaimQuotas()
content = service.table("content", expiry=Expiry(settings.content_expiry_ms), derived=quotas)  # window + replay grace
# case id → the encoded (sealed) Case waiting for its correlation verdict (on the report's partition).
pending = service.table("pending", value_type=str)
partitions = service.kafka.topic_partitions
handlers = IntakeHandlers(
    service=service,
    intake=Intake(service.codec, seen, clock_skew_ms=settings.clock_skew_seconds * 1000),
    correlator=Correlator(
        content,
        window_ms=_window_ms,
        quotas=quotas,
        claim_limit=lambda agency: per_partition(registry.claim_limit(agency), partitions),
    ),
    agency_of=agency_of,
    same_topic=same_topic,
    cases_topic=cases_topic,
    correlation_topic=correlation_topic,
    verdicts_topic=service.topic(topics.CORRELATION_VERDICTS),
    pending=Pending(DurableTable(pending)),
    statuses=StatusTopics(service, registry),  # what became of each report, for its agency (docs/lifecycle.md)
    keys=service.case_keys(),  # personal fields sealed per case when the secret case-key-kek is set
    keys_topic=service.topic(topics.CASEKEYS),
    claim_warnings=RepeatLimiter(settings.log_repeat_interval_seconds),  # the claim-limit warning, once per interval
    # a report whose content keys' partitions this worker holds is correlated here, without the hops
    locality=Locality(
        app,
        correlation_topic.get_topic_name(),
        (content.changelog_topic.get_topic_name(),),
        sweep=lambda partition: service.sweep((content,), partition),
    )
    if settings.local_correlation
    else None,
)


# Each agent hands every event to its handler through run_guarded (dead-letters any failure) and sweeps
# the expired entries of the event's partition.
intake_agent = service.agent(intake_topic, handlers.event, name=f"{__name__}.intake_agent", expire=(seen,))
correlation_agent = service.agent(
    correlation_topic, handlers.correlation, name=f"{__name__}.correlation_agent", expire=(content,)
)
