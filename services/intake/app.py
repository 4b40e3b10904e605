"""Intake worker: `faust -A services.intake.app worker`."""

from __future__ import annotations

from referral_bus import logging as rb_logging
from referral_bus import metrics, topics
from referral_bus.deadletter import SourceMessage, now_ms
from referral_bus.settings import IntakeSettings
from referral_bus.tracing import annotate, stage_span
from referral_bus.worker import Service, without_trace
from services.intake.accept import Accepted, Duplicate, Intake, Rekey
from services.intake.correlate import Claim, Correlator, Forward

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
# Correlation by content key: its own topic, so the content table is partitioned by content key.
correlation_topic = service.topic(topics.CORRELATION)
content = app.Table(
    "content",
    default=None,
    partitions=service.kafka.topic_partitions,
    key_type=str,
)
correlator = Correlator(content, window_ms=settings.correlation_window_hours * 3_600_000)


async def handle(msg: SourceMessage) -> None:
    """One report: accept, drop as duplicate, or rekey; rejections propagate to the dead-letter writer."""
    with stage_span("intake validate", **{"messaging.kafka.message.offset": msg.offset}):
        await service.codec.prefetch(msg.value, encodes=("Case",))  # registry look-ups off the loop (if any)
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
        first_hop = correlator.start(outcome.case)
        if first_hop is None:  # no hash and no URL: nothing to correlate on, the case goes out now
            await service.send(cases_topic, outcome.case_id.encode(), service.codec.encode("Case", outcome.case))
        else:  # the correlation agent emits the case (or links it to an existing one)
            await service.send(correlation_topic, first_hop.key, first_hop.value)
        intake.hold(outcome)
        service.after_sent(lambda: intake.remember(outcome), lambda: intake.release(outcome))
        log.info("case accepted", case_id=outcome.case_id, report_id=outcome.case["report"]["report_id"])
        metrics.count("intake", "accepted")


@app.agent(intake_topic)
async def intake_agent(stream):  # type: ignore[no-untyped-def]
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handle)


async def correlate(msg: SourceMessage) -> None:
    """One correlation hop or claim; the decision emits a new case or an update linking the report."""
    with stage_span("intake correlate", **{"messaging.kafka.message.offset": msg.offset}):
        step = correlator.handle(msg.value)
        if isinstance(step, Forward):
            await service.send(correlation_topic, step.key, step.value)
            return
        if isinstance(step, Claim):
            correlator.claim(step.local)
            return
        report_id = step.case["report"]["report_id"]
        annotate(case_id=step.case_id, report_id=report_id)
        await service.send(cases_topic, step.case_id.encode(), service.codec.encode("Case", step.case))
        for claim in step.claims:  # acknowledged before this partition's own claim and offset move on
            await service.send(correlation_topic, claim.key, claim.value)
        taken = correlator.hold(step.local)
        service.after_sent(lambda: correlator.commit(taken), lambda: correlator.release(taken))
        if step.linked:
            matched_on = step.case["linked_reports"][0]["matched_on"]
            log.info("report linked to case", case_id=step.case_id, report_id=report_id, matched_on=matched_on)
            metrics.count("intake", "linked")
        else:
            log.info("case emitted", case_id=step.case_id, report_id=report_id)


@app.agent(correlation_topic)
async def correlation_agent(stream):  # type: ignore[no-untyped-def]
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, correlate)
