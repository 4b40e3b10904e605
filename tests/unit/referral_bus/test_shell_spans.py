"""The shell's process span: opened around each event's handler (its delivery included), ended and detached after."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from referral_bus import tracing
from referral_bus.inflight import Pending
from referral_bus.lean_spans import LeanTracer
from referral_bus.message import source_message
from referral_bus.shell import Service
from referral_bus.span_keys import ProcessSpanSensor

PARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
KEY = b"case-6f1c1f8e-7d5e-4a57-9a1e-2f0b8f1c0a11"


def _service(traced: bool) -> tuple[Any, InMemorySpanExporter]:
    """A Service with only what `_handle_event` reads; its process spans end in an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    service: Any = Service.__new__(Service)
    service.name = "notifier"
    service.app = SimpleNamespace(conf=SimpleNamespace(id="ns.referral-bus-notifier"))
    service.codec = SimpleNamespace(schema_registry=None)
    service._process_spans = ProcessSpanSensor(tracer=LeanTracer(provider, "faust")) if traced else None
    service.dead_lettered = []

    async def dead_letter(source: Any, exc: BaseException, **ids: Any) -> None:
        service.dead_lettered.append(type(exc).__name__)
        tracing.mark_outcome("delivery_failed", error=True)

    service.dead_letter = dead_letter
    return service, exporter


def _event(offset: int) -> tuple[Any, Any]:
    headers = [("content-type", b"avro"), ("traceparent", PARENT)]
    message = SimpleNamespace(tp=TP("ns.referrals.referrals.v1", 2), offset=offset, headers=headers, key=KEY)
    source = source_message(message.tp.topic, 2, offset, KEY, b"v", tuple(headers), None, False)
    return source, SimpleNamespace(message=message)


def test_the_process_span_covers_the_handler_and_its_delivery_stage_folds_onto_it() -> None:
    service, exporter = _service(traced=True)
    seen: list[Any] = []

    async def handler(source: Any) -> None:
        await asyncio.sleep(0)  # the delivery waits: the span stays current in this task
        with tracing.stage("notifier deliver", recipient_id="vn-police-hn") as span:
            seen.append((span, trace.get_current_span()))

    source, event = _event(41)
    asyncio.run(service._handle_event(source, handler, Pending(), event))
    (only,) = exporter.get_finished_spans()
    assert seen == [(seen[0][0], seen[0][0])] and seen[0][0].get_span_context() == only.get_span_context()
    assert only.name == "ns.referrals.referrals.v1 process" and only.kind is SpanKind.CONSUMER
    assert only.parent is not None and only.parent.span_id == 0x00F067AA0BA902B7 and only.parent.is_remote
    attributes = dict(only.attributes or {})
    assert attributes["referral_bus.stage"] == "notifier deliver"
    assert attributes["referral_bus.recipient_id"] == "vn-police-hn"
    assert attributes["referral_bus.case_id"] == KEY.decode()
    assert attributes["messaging.kafka.message.offset"] == 41
    assert attributes["messaging.consumer.group.name"] == "ns.referral-bus-notifier"
    assert "messaging.kafka.message.key" not in attributes
    assert not trace.get_current_span().is_recording()


def test_a_failed_event_ends_its_span_in_error_and_leaves_no_context_behind() -> None:
    service, exporter = _service(traced=True)

    async def handler(source: Any) -> None:
        raise ValueError("victim@example.org")

    async def two_events() -> Any:
        for offset in (1, 2):
            source, event = _event(offset)
            await service._handle_event(source, handler, Pending(), event)
        return trace.get_current_span()

    after = asyncio.run(two_events())
    assert not after.is_recording() and service.dead_lettered == ["ValueError", "ValueError"]
    spans = exporter.get_finished_spans()
    assert [s.attributes["messaging.kafka.message.offset"] for s in spans if s.attributes] == [1, 2]
    assert all(s.status.status_code is StatusCode.ERROR and s.parent is not None for s in spans)
    assert "victim" not in "".join(s.to_json() for s in spans)


def test_a_cancelled_handler_still_ends_its_span() -> None:
    service, exporter = _service(traced=True)

    async def handler(source: Any) -> None:
        raise asyncio.CancelledError

    source, event = _event(7)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(service._handle_event(source, handler, Pending(), event))
    assert len(exporter.get_finished_spans()) == 1


def test_with_tracing_off_no_span_is_opened() -> None:
    service, exporter = _service(traced=False)
    seen: list[Any] = []

    async def handler(source: Any) -> None:
        seen.append(trace.get_current_span())

    source, event = _event(3)
    asyncio.run(service._handle_event(source, handler, Pending(), event))
    assert seen == [trace.INVALID_SPAN] and exporter.get_finished_spans() == ()
