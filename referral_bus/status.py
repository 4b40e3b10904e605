"""Feedback to reporting agencies: `ReportStatus` events on each agency's own status topic.

Intake, routing and the notifier each say what they did with a report (docs/lifecycle.md). An event
carries ids, recipient KINDS and codes only, never a recipient's details or a personal value. The
status id is deterministic per step, so a replayed event repeats the same id and readers can drop it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import faust

from referral_bus import metrics
from referral_bus.ids import uuid5_text
from referral_bus.shell import Service

_NS = uuid.UUID("9e4d2b6a-1f3c-4b7e-8d05-7a2c9e1f4b33")
MAX_DETAIL_CHARS = 500


class StatusTopicNames(Protocol):
    """What StatusTopics needs of the agency registry (referral_domain.agencies.Registry)."""

    def status_topics(self) -> dict[str, str]:
        """Contract name of each agency's status topic → the agency id."""


def status_record(
    agency_id: str,
    report_id: str,
    event: str,
    at: int,
    *,
    case_id: str | None = None,
    kinds: Iterable[str] = (),
    step: str = "",
    reason_code: str | None = None,
    field: str | None = None,
    detail: str | None = None,
    outcome_code: str | None = None,
) -> dict[str, Any]:
    """A ReportStatus record; `step` tells apart two events of one kind (e.g. the referral id)."""
    return {
        "status_id": uuid5_text(_NS, f"{agency_id}/{report_id}/{case_id}/{event}/{step}"),
        "agency_id": agency_id,
        "report_id": report_id,
        "case_id": case_id,
        "event": event,
        "at": at,
        "recipient_kinds": sorted(set(kinds)),
        "reason_code": reason_code,
        "field": field,
        "detail": detail[:MAX_DETAIL_CHARS] if detail else None,
        "outcome_code": outcome_code,
    }


def agency_and_report(case: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The reporting agency and its report id of a decoded Case."""
    report = case.get("report") or {}
    return report.get("agency_id"), report.get("report_id")


class StatusTopics:
    """Every registered agency's status topic, declared on a service (so the worker creates them)."""

    def __init__(self, service: Service, registry: StatusTopicNames) -> None:
        self.service = service
        self.topics: dict[str, faust.TopicT] = {
            agency: service.topic(name) for name, agency in sorted(registry.status_topics().items())
        }

    async def emit(self, record: dict[str, Any]) -> None:
        """Produce one status event keyed by report id; an agency not in the registry has no topic (counted)."""
        topic = self.topics.get(record["agency_id"])
        if topic is None:
            metrics.count(self.service.name, "status_no_agency_topic")
            return
        value = self.service.codec.encode("ReportStatus", record)
        await self.service.send(topic, record["report_id"].encode(), value)

    async def emit_for(self, case: Mapping[str, Any], event: str, at: int, **fields: Any) -> None:
        """The status event `event` of the report a decoded Case came from."""
        agency_id, report_id = agency_and_report(case)
        if agency_id and report_id:
            await self.emit(status_record(agency_id, report_id, event, at, case_id=case.get("case_id"), **fields))
