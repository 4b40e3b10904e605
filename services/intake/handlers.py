"""Intake's handlers: one event → the outcome `Intake.handle` or `Correlator.handle` gives → sends."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import faust

from referral_bus import logging as rb_logging
from referral_bus import metrics, summary
from referral_bus.casekeys import CaseKeys
from referral_bus.clock import now_ms
from referral_bus.errors import RejectedMessage
from referral_bus.lograte import RepeatLimiter
from referral_bus.message import SourceMessage
from referral_bus.shell import Service, without_trace
from referral_bus.status import StatusTopics
from referral_bus.tracing import annotate, stage
from services.intake.accept import Accepted, Duplicate, Intake, Rekey, accepted_time
from services.intake.content import content_keys
from services.intake.correlate import Claim, Correlator, Decided, Forward, Restart
from services.intake.feedback import rejected
from services.intake.locality import Locality
from services.intake.pending import Pending

log = rb_logging.get_logger()

CLAIM_LIMITED = "correlation claim over the agency's daily limit"


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
    verdicts_topic: faust.TopicT
    pending: Pending  # accepted cases waiting for their correlation verdict (on the report's partition)
    statuses: StatusTopics | None = None  # the reporting agency's status topic (docs/lifecycle.md)
    keys: CaseKeys | None = None  # when enabled, personal fields leave intake sealed per case (casekeys.py)
    keys_topic: faust.TopicT | None = None
    # when set (INTAKE_LOCAL_CORRELATION), a report whose content keys this worker holds skips the hops
    locality: Locality | None = None
    producer_stamped: set[str] = field(default_factory=set)  # intake topics seen without the broker's stamp (warned)
    # the claim-limit warning: once per agency per <PREFIX>_LOG_REPEAT_INTERVAL_SECONDS, then a count (not per event)
    claim_warnings: RepeatLimiter = field(default_factory=RepeatLimiter)

    async def event(self, msg: SourceMessage) -> None:
        """One message of the intake agent's topics: a report, or a correlation verdict coming back."""
        if msg.topic == self.verdicts_topic.get_topic_name():
            await self.verdict(msg)
        else:
            await self.report(msg)

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
        service, intake = self.service, self.intake
        with stage("intake validate"):
            now = now_ms()
            at = accepted_time(msg.timestamp_ms, msg.broker_time, now)
            if not msg.broker_time and msg.topic not in self.producer_stamped:
                self.producer_stamped.add(msg.topic)
                log.warning(
                    "intake topic not stamped by the broker: a replayed report may be correlated differently; "
                    "set message.timestamp.type=LogAppendTime on it",
                    topic=msg.topic,
                )
            try:
                outcome = intake.handle(
                    msg.key, msg.value, now_ms=now, agency=self.agency_of.get(msg.topic), accepted_at=at
                )
            except RejectedMessage as exc:
                await self._rejected(msg, exc)
                raise
            if isinstance(outcome, Rekey):  # back to the topic it came from, so its agency stays proven
                target = self.same_topic[msg.topic]
                await service.send(target, outcome.key, msg.value or b"", without_trace(msg.headers))
                metrics.count("intake", "rekeyed")
                return
            if isinstance(outcome, Duplicate):
                annotate(case_id=outcome.case_id)  # span attribute + case_id on every log line of this event
                summary.event(log, "duplicate report", case_id=outcome.case_id)
                metrics.count("intake", "duplicate")
                return
            assert isinstance(outcome, Accepted)
            annotate(case_id=outcome.case_id, report_id=outcome.case["report"]["report_id"])
            again = self.pending.get(outcome.case_id) is not None  # accepted before, its case still waiting
            if await self._correlate(outcome.case, again):  # emitted now (not waiting for a verdict): seen from now on
                intake.remember(outcome)
            if again:
                summary.event(log, "duplicate report", case_id=outcome.case_id, correlating_again=True)
                metrics.count("intake", "duplicate")
                return
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

    async def _correlate(self, case: dict[str, Any], pending: bool) -> bool:
        """Emit a case with no content key now; decide here when this worker holds every content key.

        Otherwise keep it pending here (sealed) and send its first hop; when it is pending already (a replayed
        report), send its first hop again: the first verdict may have reached a worker that took the partition
        over without the pending case (from a worker frozen past its session), which drops it. `pending`: the
        case is pending here already. Returns whether the case was emitted now.
        """
        if self.locality is not None and (keys := content_keys(case["report"])):  # from the plain report
            places = self.locality.places([k.digest for k in keys])
            if places is not None:  # no await between the ownership test and the table writes
                refused = self.correlator.refused_claims
                step = self.correlator.decide_here(case, keys, places)
                self._claims_refused(refused, case["report"]["agency_id"])
                await self._decide_here(case, step, set(places.values()), pending)
                return True
        first_hop = self.correlator.start(case)  # content keys from the plain report
        if first_hop is not None and pending:  # the pending copy stays
            await self.service.send(self.correlation_topic, first_hop.key, first_hop.value)
            return False
        sealed = await self._sealed(case["case_id"], case, may_exist=False)
        if first_hop is None:  # no hash and no URL: nothing to correlate on, the case goes out now
            await self._emit_case(case["case_id"], sealed, may_exist=False)
            return True
        # the case waits here for its verdict; the hops carry only ids and content keys
        self.pending.keep(case["case_id"], self.service.codec.encode("Case", sealed))
        await self.service.send(self.correlation_topic, first_hop.key, first_hop.value)
        return False

    async def _decide_here(self, case: dict[str, Any], step: Decided, partitions: set[int], pending: bool) -> None:
        """A case correlated on this worker: emit it (its claims are written); drop a pending copy of a replay."""
        if pending:  # an earlier attempt took the hop path: its verdict is moot
            self.pending.release_after_sends(case["case_id"])
        await self._emit_case(step.case_id, step.case, may_exist=step.linked)
        assert self.locality is not None
        for partition in sorted(partitions):  # the keys' entries expire here too: their hops may never come
            self.locality.sweep(partition)
        self._emitted(step, case["report"]["report_id"])

    def _claim_here(self, claims: list[Forward]) -> list[Forward]:
        """Apply the claims for keys whose partitions this worker holds at once, as their claim events would.

        Returns the others, to send. No await between the ownership test and the writes.
        """
        held = self.locality.held([c.key.decode() for c in claims]) if self.locality and claims else {}
        rest = []
        for claim in claims:
            partition = held.get(claim.key.decode())
            step = self.correlator.handle(claim.value) if partition is not None else None
            if partition is not None and isinstance(step, Claim):
                refused = self.correlator.refused_claims
                self.correlator.claim(step.local, partition)
                self._claims_refused(refused, step.local[0][1].agency_id)
            else:
                rest.append(claim)
        if self.locality is not None:  # the keys' entries expire here too: their claim events never come
            for partition in sorted(set(held.values())):
                self.locality.sweep(partition)
        return rest

    def _claims_refused(self, before: int, agency_id: str) -> None:
        """Count the events whose claims were refused over the agency's daily limit (since `before`), and warn.

        Warned once per agency per repeat interval: the first refusal, then each interval that held
        some back, one line with their `count` (written with the agency's next refusal). The events
        summary's `claim_limited` counts every one.
        """
        if self.correlator.refused_claims > before:
            metrics.count("intake", "claim_limited")
            now = time.monotonic()
            if self.claim_warnings.admit((agency_id, CLAIM_LIMITED), now):  # its kinds: (agency, line)
                log.warning(CLAIM_LIMITED, agency_id=agency_id)
            for held in self.claim_warnings.due(now):
                log.warning(CLAIM_LIMITED, agency_id=held.logger, count=held.count, seconds=held.seconds)

    def _emitted(self, step: Decided, report_id: str) -> None:
        """The summary line and metric of an emitted case: linked to an existing case, or its own."""
        if step.linked:
            matched_on = step.case["linked_reports"][0]["matched_on"]
            summary.event(
                log, "report linked to case", case_id=step.case_id, report_id=report_id, matched_on=matched_on
            )
            metrics.count("intake", "linked")
        else:
            summary.event(log, "case emitted", case_id=step.case_id, report_id=report_id)

    async def correlation(self, msg: SourceMessage) -> None:
        """One correlation hop or claim; the last hop sends the verdict back to the report's partition."""
        service, correlator = self.service, self.correlator
        with stage("intake correlate"):
            step = correlator.handle(msg.value)
            if isinstance(step, Forward):
                await service.send(self.correlation_topic, step.key, step.value)
                return
            if isinstance(step, Claim):
                refused = correlator.refused_claims
                correlator.claim(step.local, msg.partition)
                self._claims_refused(refused, step.local[0][1].agency_id)
                return
            await service.send(self.verdicts_topic, step.key, step.value)

    async def verdict(self, msg: SourceMessage) -> None:
        """A verdict: emit the pending case (new, or linked to an existing one), then claim its keys."""
        service, correlator = self.service, self.correlator
        with stage("intake correlate"):
            verdict = correlator.verdict(msg.value)
            if isinstance(verdict, Restart):  # a hop from before the upgrade: keep the case here, hop again
                if await self._correlate(verdict.case, self.pending.get(verdict.case["case_id"]) is not None):
                    report = verdict.case["report"]
                    self.intake.remember_report(report["agency_id"], report["report_id"])
                return
            annotate(case_id=verdict.case_id, report_id=verdict.report_id)
            encoded = self.pending.get(verdict.case_id)
            if encoded is None:
                if self.intake.emitted(verdict.agency_id, verdict.report_id):  # a replayed verdict, a second round
                    log.info("correlation verdict for a case already emitted", case_id=verdict.case_id)
                else:  # its report was accepted by a worker that lost the partition: the report's replay decides
                    log.info("correlation verdict for a case not pending here", case_id=verdict.case_id)
                metrics.count("intake", "verdict_duplicate")
                return
            step = correlator.decide(service.codec.decode(encoded, "Case"), verdict)
            case = step.case
            if step.linked and self.keys is not None:  # sealed under the report's own case id: reseal for the case
                own = {**case, "case_id": verdict.case_id}
                case = {**await self.keys.open_case(own), "case_id": step.case_id}
            await self._emit_case(step.case_id, case, may_exist=True)  # its key was made with the report
            # Claims after the case. The producer keeps no order across topics, so a claim may land first: a
            # report linked in that moment is still routed on its own facts (as new, not as an update).
            for claim in self._claim_here(step.claims):
                await service.send(self.correlation_topic, claim.key, claim.value)
            self.pending.release_after_sends(verdict.case_id)
            self.intake.remember_report(verdict.agency_id, verdict.report_id)  # seen once its case is out
            self._emitted(step, verdict.report_id)
