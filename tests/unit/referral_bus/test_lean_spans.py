"""Lean spans export as the SDK's own spans would: same request but for ids and times; sampling as the SDK's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from referral_bus import lean_spans
from referral_bus.lean_spans import LeanSpan, LeanTracer
from referral_bus.span_encoding import EncodedSpan, encode_request, encodes_with_us

TEXT = st.text(max_size=12)
SCALAR = st.one_of(TEXT, st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.none())
VALUE = st.one_of(SCALAR, st.lists(TEXT, max_size=3), st.tuples(TEXT, TEXT), st.lists(st.integers(-5, 2**40)))
ATTRIBUTES = st.dictionaries(st.text(min_size=1, max_size=12), VALUE, max_size=6)  # ours never have empty keys
SPAN = st.fixed_dictionaries(
    {
        "name": TEXT,
        "kind": st.sampled_from(list(SpanKind)),
        "attributes": ATTRIBUTES,
        "later": ATTRIBUTES,  # set after the start, as annotate() does on a process span
        "parent": st.sampled_from(["none", "remote", "local"]),
        "status": st.sampled_from(
            [None, Status(StatusCode.OK), Status(StatusCode.ERROR, "InvalidFieldError"), StatusCode.UNSET]
        ),
        "event": st.booleans(),
        "one_by_one": st.booleans(),  # the later attributes by `set_attribute`, as a stage's rule ids are
    }
)
REMOTE = SpanContext(
    0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, TraceFlags(1), TraceState([("v", "1")])
)
LOCAL = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1))


def _provider(**kwargs: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "referral-bus-probe"}), **kwargs)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _make(tracer: Any, spec: dict[str, Any]) -> None:
    parent = {"none": None, "remote": REMOTE, "local": LOCAL}[spec["parent"]]
    context = set_span_in_context(NonRecordingSpan(parent)) if parent else None
    span = tracer.start_span(spec["name"], context=context, kind=spec["kind"], attributes=spec["attributes"])
    _later(span, spec)
    if spec["event"]:
        span.add_event("e", {"n": 2, "l": ["a"]})
    if spec["status"] is not None:
        span.set_status(spec["status"])
    span.end()
    span.set_attribute("after.end", 1)  # ignored by both


def _later(span: Any, spec: dict[str, Any]) -> None:
    """The attributes set after the start: all at once or one by one."""
    if spec["one_by_one"]:
        for key, value in spec["later"].items():
            span.set_attribute(key, value)
    else:
        span.set_attributes(spec["later"])


def _without_ids_and_times(request: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span.span_id, span.start_time_unix_nano, span.end_time_unix_nano = b"", 0, 0
                for event in span.events:
                    event.time_unix_nano = 0
                if not span.parent_span_id:
                    span.trace_id = b""
    return request


@settings(max_examples=150, deadline=None)
@given(st.lists(SPAN, min_size=1, max_size=5))
def test_lean_spans_export_as_the_sdks_spans_would(specs: list[dict[str, Any]]) -> None:
    provider, exporter = _provider()
    sdk, lean = provider.get_tracer("faust"), LeanTracer(provider, "faust")
    for spec in specs:
        _make(sdk, spec)
    theirs = list(exporter.get_finished_spans())
    exporter.clear()
    for spec in specs:
        _make(lean, spec)
    ours = list(exporter.get_finished_spans())
    assert _without_ids_and_times(encode_spans(ours)) == _without_ids_and_times(encode_spans(theirs))
    assert ExportTraceServiceRequest.FromString(encode_request(ours)) == encode_spans(ours)  # our encoder too


def test_a_child_continues_its_parents_trace_and_a_root_starts_one() -> None:
    provider, exporter = _provider()
    lean = LeanTracer(provider, "faust")
    lean.start_span("child", context=set_span_in_context(NonRecordingSpan(REMOTE))).end()
    lean.start_span("root").end()
    child, root = exporter.get_finished_spans()
    assert child.context.trace_id == REMOTE.trace_id and child.parent == REMOTE
    assert child.context.trace_state == REMOTE.trace_state and child.context.trace_flags.sampled
    assert root.parent is None and root.context.trace_id not in (0, REMOTE.trace_id)


def test_the_providers_sampler_decides_and_an_unsampled_parent_is_followed() -> None:
    provider, exporter = _provider(sampler=ParentBased(TraceIdRatioBased(0.0)))
    lean = LeanTracer(provider, "faust")
    dropped = lean.start_span("root")
    unsampled = SpanContext(REMOTE.trace_id, REMOTE.span_id, True, TraceFlags(0))
    follower = lean.start_span("child", context=set_span_in_context(NonRecordingSpan(unsampled)))
    sampled_child = lean.start_span("child", context=set_span_in_context(NonRecordingSpan(REMOTE)))
    for span in (dropped, follower, sampled_child):
        span.end()
    assert not dropped.is_recording() and not dropped.get_span_context().trace_flags.sampled
    assert not follower.is_recording() and follower.get_span_context().trace_id == REMOTE.trace_id
    assert [s.name for s in exporter.get_finished_spans()] == ["child"]  # the sampled parent's child only


def test_an_exception_is_recorded_by_type_only() -> None:
    provider, exporter = _provider()
    with pytest.raises(ValueError), LeanTracer(provider, "faust").start_as_current_span("stage"):
        raise ValueError("victim@example.org")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [dict(e.attributes or {}) for e in span.events] == [{"exception.type": "ValueError"}]
    assert "victim" not in repr(span.to_json())


def test_a_processor_that_fails_never_reaches_the_caller() -> None:
    class Broken(SpanProcessor):
        def on_end(self, span: Any) -> None:
            raise RuntimeError("exporter queue gone")

    provider = TracerProvider()
    provider.add_span_processor(Broken())
    span = LeanTracer(provider, "faust").start_span("process")
    assert isinstance(span, LeanSpan)
    span.end()  # no exception
    assert not span.is_recording()


def test_a_value_length_limit_applies() -> None:
    from opentelemetry.sdk.trace import SpanLimits

    provider, exporter = _provider(span_limits=SpanLimits(max_span_attribute_length=4))
    span = LeanTracer(provider, "faust").start_span("s", attributes={"k": "abcdefgh", "n": 123456789})
    span.set_attribute("ids", ["abcdefgh", "ab"])
    span.end()
    (ended,) = exporter.get_finished_spans()
    assert dict(ended.attributes or {}) == {"k": "abcd", "n": 123456789, "ids": ("abcd", "ab")}


class _Batches(SpanExporter):
    """Keeps every batch the batch processor hands over."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.batches.append(list(spans))
        return SpanExportResult.SUCCESS


def _batched(ours: bool) -> tuple[TracerProvider, _Batches]:
    exporter = _Batches()
    if ours:
        encodes_with_us(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": "referral-bus-probe"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    return provider, exporter


def _readable(span: Any) -> ReadableSpan:
    """The ReadableSpan `LeanSpan.end` hands over where it does not write the span itself."""
    tracer = span._tracer
    return ReadableSpan(
        name=span._name,
        context=span._context,
        parent=span._parent,
        resource=tracer.resource,
        attributes=span._attributes,
        events=span._events,
        links=span._links,
        kind=span._kind,
        status=span._status,
        start_time=span._start_time,
        end_time=span._end_time,
        instrumentation_scope=tracer.scope,
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(SPAN, st.sampled_from(["faust", "referral_bus.kafka"])), min_size=1, max_size=6))
def test_spans_written_when_they_end_make_the_request_their_readable_spans_make(specs: list[Any]) -> None:
    provider, exporter = _batched(ours=True)
    tracers = {name: LeanTracer(provider, name) for name in ("faust", "referral_bus.kafka")}
    made: list[Any] = []
    for spec, scope in specs:
        parent = {"none": None, "remote": REMOTE, "local": LOCAL}[spec["parent"]]
        context = set_span_in_context(NonRecordingSpan(parent)) if parent else None
        span = tracers[scope].start_span(
            spec["name"], context=context, kind=spec["kind"], attributes=spec["attributes"]
        )
        _later(span, spec)
        if spec["event"]:
            span.add_event("e", {"n": 2})
        if spec["status"] is not None:
            span.set_status(spec["status"])
        span.end()
        made.append(span)
    provider.force_flush()
    (batch,) = exporter.batches
    provider.shutdown()
    assert [type(s) is EncodedSpan for s in batch] == [not s._events for s in made]  # oldest first
    readable = [_readable(s) for s in made]
    assert encode_request(batch) == encode_request(readable)
    assert ExportTraceServiceRequest.FromString(encode_request(batch)) == encode_spans(readable)


def test_any_other_exporter_or_a_second_processor_gets_readable_spans() -> None:
    provider, theirs = _batched(ours=False)
    LeanTracer(provider, "faust").start_span("process").end()
    provider.force_flush()
    assert [type(s) for s in theirs.batches[0]] == [ReadableSpan]

    provider, ours = _batched(ours=True)
    lean = LeanTracer(provider, "faust")
    lean.start_span("written").end()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))  # added after the tracer was made
    lean.start_span("readable").end()
    provider.force_flush()
    assert [type(s) for s in ours.batches[0]] == [EncodedSpan, ReadableSpan]
    assert [s.name for s in memory.get_finished_spans()] == ["readable"]
    provider.shutdown()


def test_a_span_that_cannot_be_written_never_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    provider, exporter = _batched(ours=True)
    lean = LeanTracer(provider, "faust")

    def broken(*args: Any) -> bytes:
        raise TypeError("unexpected value")

    monkeypatch.setattr(lean_spans, "span_message", broken)
    span = lean.start_span("process")
    span.end()  # no exception; only this span is lost
    lean_spans_ok = lean.start_span("next")
    monkeypatch.undo()
    lean_spans_ok.end()
    provider.force_flush()
    assert [type(s) for s in exporter.batches[0]] == [EncodedSpan]
    provider.shutdown()


def test_a_span_recorded_but_not_sampled_is_not_queued() -> None:
    class RecordOnly(Sampler):
        def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
            return SamplingResult(Decision.RECORD_ONLY)

        def get_description(self) -> str:
            return "record only"

    exporter = _Batches()
    encodes_with_us(exporter)
    provider = TracerProvider(sampler=RecordOnly())
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    lean = LeanTracer(provider, "faust")
    span = lean.start_span("recorded")
    assert span.is_recording() and lean.written_to() is not None
    span.end()
    provider.force_flush()
    provider.shutdown()
    assert exporter.batches == []  # as BatchSpanProcessor.on_end: only sampled spans are exported


def test_a_spans_links_and_events_export_as_the_sdks() -> None:
    """Kept in order, none dropped (a span has no event or link list until it gets one)."""
    provider, exporter = _provider()
    for tracer in (provider.get_tracer("faust"), LeanTracer(provider, "faust")):
        span = tracer.start_span("linked")
        span.add_link(LOCAL, {"k": 1})
        span.add_event("e", {"n": 2})
        span.add_link(REMOTE)
        span.add_event("f")
        span.end()
    theirs, ours = exporter.get_finished_spans()
    assert _without_ids_and_times(encode_spans([ours])) == _without_ids_and_times(encode_spans([theirs]))
    assert [link.context for link in ours.links] == [LOCAL, REMOTE] and len(ours.events) == 2
