"""A report's ids on its event's span and log lines: the case id always, the report id once accepted."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from opentelemetry.sdk.trace import TracerProvider

from services.intake.accept import case_id_for, dedup_key
from tests.support.reports import valid_report
from tests.unit.services.intake.test_handlers import Wire, report_msg, worker


def _ids_of(report: dict[str, Any], *, seen: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The span attributes and the log context after the report's event (`seen`: its dedup mark recovered)."""
    agency_id, report_id = report["agency_id"], report["report_id"]
    mark = [("dedup", dedup_key(agency_id, report_id), case_id_for(agency_id, report_id))] if seen else []
    at = worker(Wire(), {}, mark)

    async def handled() -> dict[str, Any]:
        structlog.contextvars.clear_contextvars()
        await at.handlers.event(report_msg(report))
        return structlog.contextvars.get_contextvars()  # the event's context (the task's copy)

    with TracerProvider().get_tracer("test").start_as_current_span("process") as span:
        context = asyncio.run(handled())
    attributes = dict(span.attributes or {})  # type: ignore[attr-defined]  # an SDK span
    return {k: v for k, v in attributes.items() if k.endswith("_id")}, context


def test_accepted_report_carries_case_and_report_id() -> None:
    report = valid_report()
    attributes, context = _ids_of(report, seen=False)
    case_id = case_id_for(report["agency_id"], report["report_id"])
    assert context == {"case_id": case_id, "report_id": report["report_id"]}
    assert attributes == {"referral_bus.case_id": case_id, "referral_bus.report_id": report["report_id"]}


def test_duplicate_carries_the_case_id_only() -> None:
    report = valid_report()
    attributes, context = _ids_of(report, seen=True)
    case_id = case_id_for(report["agency_id"], report["report_id"])
    assert context == {"case_id": case_id}
    assert attributes == {"referral_bus.case_id": case_id}
