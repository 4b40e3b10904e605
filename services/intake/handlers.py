"""Intake's handlers: one event → the outcome `Intake.handle` or `Correlator.handle` gives → sends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from referral_bus import logging as rb_logging
from referral_bus import metrics, summary
from referral_bus.casekeys import CaseKeys
from referral_bus.clock import now_ms
from referral_bus.errors import RejectedMessage
from referral_bus.message import SourceMessage
from referral_bus.shell import Service, without_trace
from referral_bus.status import StatusTopics
from referral_bus.tracing import annotate, stage_span
from services.intake.accept import Accepted, Duplicate, Intake, Rekey, case_id_for
from services.intake.correlate import Claim, Correlator, Forward
from services.intake.feedback import rejected

log = rb_logging.get_logger()


@dataclass
class IntakeHandlers:
    """The intake topic's and the correlation topic's handlers, built once by app.py."""

    service: Service
    intake: Intake
    correlator: Correlator
    agency_of: dict[str, str]  # broker topic name → the agency whose own intake topic it is
    same_topic: dict[str, faust.TopicT]  # broker topic name → that topic, for re-keying in place
    cases_topic: faust.TopicT
    correlation_topic: faust.TopicT
    statuses: StatusTopics | None = None  # the reporting agency's status topic (docs/lifecycle.md)
    keys: CaseKeys | None = None  # when enabled, personal fields leave intake sealed per case (casekeys.py)
    keys_topic: faust.TopicT | None = None

    async def _sealed(self, case_id: str, case: dict[str, Any], *, may_exist: bool) -> dict[str, Any]:
        """The case with its personal fields sealed with its key (produced to the key table first when new)."""
        if self.keys is None or not self.keys.enabled or self.keys_topic is None:
            return case
        key, wrapped = await self.keys.key_for(case_id, may_exist=may_exist)
        if wrapped is not None:
            await self.service.send(self.keys_topic, case_id.encode(), wrapped)
        return self.keys.seal(case, key)

    async def _emit_case(self, case_id: str, case: dict[str, Any], *, may_exist: bool) -> None:
        """The case to the cases topic, sealed."""
        case = await self._sealed(case_id, case, may_exist=may_exist)
        await self.service.send(self.cases_topic, case_id.encode(), self.service.codec.encode("Case", case))

    async def report(self, msg: SourceMessage) -> None:
        """One report: accept, drop as duplicate, or rekey; rejections propagate to the dead-letter writer."""
        service, intake, correlator = self.service, self.intake, self.correlator
        with stage_span("intake validate", **{"messaging.kafka.message.offset": msg.offset}):
            await service.codec.prefetch(msg.value, encodes=("Case",))  # registry look-ups off the loop (if any)
            try:
                outcome = intake.handle(msg.key, msg.value, now_ms=now_ms(), agency=self.agency_of.get(msg.topic))
            except RejectedMessage as exc:
                await self._rejected(msg, exc)
                raise
            if isinstance(outcome, Rekey):  # back to the topic it came from, so its agency stays proven
                target = self.same_topic[msg.topic]
                await service.send(target, outcome.key, msg.value or b"", without_trace(msg.headers))
                metrics.count("intake", "rekeyed")
                return
            annotate(case_id=outcome.case_id)  # span attribute + case_id on every log line of this event
            if isinstance(outcome, Duplicate):
                summary.event(log, "duplicate report", case_id=outcome.case_id)
                metrics.count("intake", "duplicate")
                return
            assert isinstance(outcome, Accepted)
            annotate(report_id=outcome.case["report"]["report_id"])
            # sealed before it leaves, also on the correlation topic; content keys from the plain report
            case = await self._sealed(outcome.case_id, outcome.case, may_exist=False)
            first_hop = correlator.start(case, report=outcome.case["report"])
            if first_hop is None:  # no hash and no URL: nothing to correlate on, the case goes out now
                await self._emit_case(outcome.case_id, case, may_exist=False)
            else:  # the correlation agent emits the case (or links it to an existing one)
                await service.send(self.correlation_topic, first_hop.key, first_hop.value)
            intake.remember(outcome)
            if self.statuses is not None:
                await self.statuses.emit_for(outcome.case, "INTAKE_ACCEPTED", now_ms(), step=outcome.case_id)
            summary.event(log, "case accepted", case_id=outcome.case_id, report_id=outcome.case["report"]["report_id"])
            metrics.count("intake", "accepted")

    async def _rejected(self, msg: SourceMessage, exc: RejectedMessage) -> None:
        """Tell the agency whose own topic carried a rejected report why (before it is dead-lettered)."""
        agency = self.agency_of.get(msg.topic)
        if self.statuses is None or agency is None:
            return
        where = f"{msg.topic}/{msg.partition}/{msg.offset}"
        record = rejected(self.service.codec, agency, msg.key, msg.value, exc, at=now_ms(), where=where)
        if record is not None:
            await self.statuses.emit(record)

    async def correlation(self, msg: SourceMessage) -> None:
        """One correlation hop or claim; the decision emits a new case or an update linking the report."""
        service, correlator = self.service, self.correlator
        with stage_span("intake correlate", **{"messaging.kafka.message.offset": msg.offset}):
            step = correlator.handle(msg.value)
            if isinstance(step, Forward):
                await service.send(self.correlation_topic, step.key, step.value)
                return
            if isinstance(step, Claim):
                correlator.claim(step.local)
                return
            report_id = step.case["report"]["report_id"]
            annotate(case_id=step.case_id, report_id=report_id)
            case = step.case
            if step.linked and self.keys is not None:  # sealed under the report's own case id: reseal for the case
                report = case["report"]
                own = {**case, "case_id": case_id_for(report["agency_id"], report["report_id"])}
                case = {**await self.keys.open_case(own), "case_id": step.case_id}
            await self._emit_case(step.case_id, case, may_exist=True)  # its key was made with the report
            for claim in step.claims:  # acknowledged before this partition's own claim and offset move on
                await service.send(self.correlation_topic, claim.key, claim.value)
            correlator.claim_after_sends(step.local)
            if step.linked:
                matched_on = step.case["linked_reports"][0]["matched_on"]
                summary.event(
                    log, "report linked to case", case_id=step.case_id, report_id=report_id, matched_on=matched_on
                )
                metrics.count("intake", "linked")
            else:
                summary.event(log, "case emitted", case_id=step.case_id, report_id=report_id)
