"""Head sampling (`parentbased_traceidratio`): a report's trace is whole or absent, decided once where it starts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    DEFAULT_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    TraceIdRatioBased,
    _get_from_env_or_default,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from referral_bus import http_spans, tracing
from referral_bus.lean_spans import LeanTracer, root_bound
from referral_bus.span_keys import ProcessSpanSensor
from services.notifier.deferred_trace import carried, resumed
from tests.support.span_contexts import SPAN_CONTEXTS

_PARENTS = SPAN_CONTEXTS
_RATES = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0]), st.floats(0.0, 1.0))


class _Fixed(IdGenerator):
    """The trace id drawn by the test for a root (ours and the SDK's decide on the same id); span ids at random."""

    def __init__(self, trace_id: int) -> None:
        self.trace_id, self.spans = trace_id, RandomIdGenerator()

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.spans.generate_span_id()


@settings(max_examples=500, deadline=None)
@example(None, 0.5, 2**63, SpanKind.INTERNAL)  # at the bound: not sampled
@example(None, 0.5, 2**63 - 1, SpanKind.INTERNAL)  # just below it: sampled
@example(None, 0.5, 2**64 + 5, SpanKind.INTERNAL)  # the high bits play no part
@given(st.one_of(st.none(), _PARENTS), _RATES, st.integers(1, 2**128 - 1), st.sampled_from(list(SpanKind)))
def test_the_ratio_samplers_decision_is_the_sdks(
    parent: SpanContext | None, rate: float, trace_id: int, kind: SpanKind
) -> None:
    provider = TracerProvider(sampler=ParentBasedTraceIdRatio(rate), id_generator=_Fixed(trace_id))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    lean = LeanTracer(provider, "faust")
    assert lean.own_decision  # decided without the sampler's calls
    context = None if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
    theirs = provider.get_tracer("faust").start_span("s", context=context, kind=kind, attributes={"a": 1})
    ours = lean.start_span("s", context=context, kind=kind, attributes={"a": 1})
    mine, sdk = ours.get_span_context(), theirs.get_span_context()
    assert ours.is_recording() == theirs.is_recording()
    assert (mine.trace_id, mine.trace_flags, dict(mine.trace_state)) == (
        sdk.trace_id,
        sdk.trace_flags,
        dict(sdk.trace_state),
    )
    theirs.end()
    ours.end()
    assert len(exporter.get_finished_spans()) in (0, 2)  # both recorded, or neither


@pytest.mark.parametrize(
    ("sampler", "bound"),
    [
        (DEFAULT_ON, 2**64),
        (ParentBasedTraceIdRatio(0.1), TraceIdRatioBased(0.1).bound),
        (ParentBased(TraceIdRatioBased(0.5)), 2**63),
        (ParentBased(TraceIdRatioBased(0.5), remote_parent_not_sampled=DEFAULT_ON), None),  # not the parent's flag
        (TraceIdRatioBased(0.5), None),  # not parent-based: a child is sampled apart from its report
    ],
)
def test_only_parent_based_samplers_following_the_parents_flag_are_decided_without_the_sdk(
    sampler: Any, bound: int | None
) -> None:
    assert root_bound(sampler) == bound


def test_otel_traces_sampler_arg_sets_the_ratio_decided_without_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    assert root_bound(_get_from_env_or_default()) == 2**62


# --- one report's way through the bus, in process: the spans each stage opens, the headers each send writes ---

_STREAM = SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(id="ns.referral-bus-notifier")))
Headers = list[tuple[str, bytes]]


@pytest.fixture
def sampled_half(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    """Our tracers over a provider sampling half of the roots, its spans kept in memory."""
    provider = TracerProvider(sampler=ParentBasedTraceIdRatio(0.5))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", LeanTracer(provider, tracing.TRACER_NAME))
    monkeypatch.setattr(http_spans, "_tracer", LeanTracer(provider, "referral_bus.http"))
    monkeypatch.setattr(http_spans, "_lean", LeanTracer)
    yield exporter, provider


def _event(sensor: ProcessSpanSensor, topic: str, headers: Headers, work: Callable[[], Headers | None]) -> Headers:
    """One event consumed with `headers` (its process span current while `work` runs); what `work` sent."""
    tp = TP(topic, 0)
    event = SimpleNamespace(message=SimpleNamespace(headers=headers, key=b"agency-key"))
    state = sensor.on_stream_event_in(tp, 0, _STREAM, event)  # stand-ins: the sensor reads these attributes
    try:
        return work() or []
    finally:
        sensor.on_stream_event_out(tp, 0, _STREAM, event, state)


def _report(kafka: LeanTracer, sensor: ProcessSpanSensor, from_cli: bool) -> tuple[list[str], int]:
    """Every hop of a report delivered on its retry, then dead-lettered: traceparents seen, spans expected."""
    seen: list[str] = []

    def sent(topic: str) -> Headers:
        pairs, _ = tracing.trace_headers(kafka, topic)  # what instrument_sends writes on the record
        seen.extend(v.decode() for k, v in pairs if k == "traceparent")
        return pairs

    def stage(name: str, then: str) -> Callable[[], Headers]:
        def work() -> Headers:
            with tracing.stage(name, case_id="case-1"):
                return sent(then)

        return work

    if from_cli:
        with tracing.stage_span("referral-bus produce", report_id="R-1"):
            cases = sent("cases")
    else:
        cases = []  # an agency's own producer, no traceparent: intake's process span starts the trace
    routed = _event(sensor, "cases", cases, stage("intake validate", "routed"))
    referrals = _event(sensor, "routed", routed, stage("routing decide", "referrals"))

    def deliver() -> Headers:
        with tracing.stage("notifier deliver", recipient_id="rcp-1"):
            webhook: dict[str, str] = {}
            with http_spans.client_span("POST", "http://127.0.0.1:9/hook", webhook):
                seen.append(webhook["traceparent"])  # the recipient's request
            return sent("retries")  # it failed: to the retry topic

    retries = _event(sensor, "referrals", referrals, deliver)
    parked: list[str | None] = []

    def park() -> None:
        parked.append(carried())  # not due yet: parked, its trace kept with it

    _event(sensor, "retries", retries, park)
    with resumed(parked[0]):  # the release timer, no span of its own current
        released = sent("retries")

    def given_up() -> Headers:
        with tracing.send_span("deadletter"):
            return sent("deadletter")

    _event(sensor, "retries", released, given_up)
    return seen, (1 if from_cli else 0) + 7  # root, 5 process spans, the POST, the dead letter's send


@pytest.mark.parametrize("from_cli", [True, False], ids=["produce's root", "intake's root"])
def test_a_reports_trace_is_whole_or_absent_and_decided_once_where_it_starts(
    sampled_half: tuple[InMemorySpanExporter, TracerProvider], from_cli: bool
) -> None:
    exporter, provider = sampled_half
    kafka, sensor = LeanTracer(provider, "referral_bus.kafka"), ProcessSpanSensor(tracer=LeanTracer(provider, "faust"))
    reports = [_report(kafka, sensor, from_cli) for _ in range(40)]
    spans: dict[int, int] = {}
    for span in exporter.get_finished_spans():
        assert span.context is not None
        spans[span.context.trace_id] = spans.get(span.context.trace_id, 0) + 1
    decided = set()
    for seen, expected in reports:
        ids = {(v.split("-")[1], v.split("-")[3]) for v in seen}
        assert len(ids) == 1, seen  # one trace, one decision, at every hop (the recipient's request too)
        ((trace_hex, flags),) = ids
        trace_id = int(trace_hex, 16)
        sampled = TraceIdRatioBased(0.5).should_sample(None, trace_id, "s").decision is Decision.RECORD_AND_SAMPLE
        assert int(flags, 16) & 1 == sampled  # the sampled flag: the SDK's ratio decision on the report's trace id
        assert spans.pop(trace_id, 0) == (expected if sampled else 0)  # whole, or absent
        decided.add(sampled)
    assert not spans  # no span outside a report's trace: no stage or timer started a root of its own
    assert decided == {True, False}  # 40 reports at 0.5: both kinds (the odds against: 2 in 10^12)


def test_a_stage_of_a_report_not_sampled_opens_nothing_and_keeps_its_decision(
    sampled_half: tuple[InMemorySpanExporter, TracerProvider],
) -> None:
    exporter, _ = sampled_half
    parent = NonRecordingSpan(SpanContext(0xAB, 0xCD, True, TraceFlags(0)))
    with trace.use_span(parent), tracing.stage("routing decide", case_id="case-1") as span:
        assert span is parent  # no span of its own (a parent-based sampler would drop it)
        assert carried() == f"00-{0xAB:032x}-{0xCD:016x}-00"
    assert exporter.get_finished_spans() == ()
