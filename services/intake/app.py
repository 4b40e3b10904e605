"""Intake worker: `faust -A services.intake.app worker`."""

from __future__ import annotations

from referral_bus import logging as rb_logging
from referral_bus import metrics, topics
from referral_bus.deadletter import SourceMessage, now_ms
from referral_bus.settings import IntakeSettings
from referral_bus.tracing import annotate, stage_span
from referral_bus.worker import Service, without_trace
from services.intake.accept import Accepted, Duplicate, Intake, Rekey

settings = IntakeSettings()
service = Service("intake", settings)
app = service.app
log = rb_logging.get_logger()

intake_topic = service.topic(topics.INTAKE)
cases_topic = service.topic(topics.CASES)
seen = app.Table(
    "dedup",
    default=None,
    partitions=service.kafka.topic_partitions,
    key_type=str,
    value_type=str,
)
intake = Intake(service.codec, seen, clock_skew_ms=settings.clock_skew_seconds * 1000)


async def handle(msg: SourceMessage) -> None:
    """One report: accept, drop as duplicate, or rekey; rejections propagate to the dead-letter writer."""
    with stage_span("intake validate", **{"messaging.kafka.message.offset": msg.offset}):
        outcome = intake.handle(msg.key, msg.value, now_ms=now_ms())
        if isinstance(outcome, Rekey):
            await service.send(intake_topic, outcome.key, msg.value or b"", without_trace(msg.headers))
            metrics.count("intake", "rekeyed")
            return
        annotate(case_id=outcome.case_id)  # span attribute + case_id on every log line of this event
        if isinstance(outcome, Duplicate):
            log.info("duplicate report", case_id=outcome.case_id)
            metrics.count("intake", "duplicate")
            return
        assert isinstance(outcome, Accepted)
        annotate(report_id=outcome.case["report"]["report_id"])
        await service.send(cases_topic, outcome.case_id.encode(), service.codec.encode("Case", outcome.case))
        intake.remember(outcome)
        log.info("case accepted", case_id=outcome.case_id, report_id=outcome.case["report"]["report_id"])
        metrics.count("intake", "accepted")


@app.agent(intake_topic)
async def intake_agent(stream):  # type: ignore[no-untyped-def]
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handle)
