"""The webhook call's client span writes into the request the headers the SDK's propagators would write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from referral_bus import http_spans
from referral_bus.lean_spans import LeanTracer

_PARENTS = st.one_of(
    st.none(),
    st.builds(
        SpanContext,
        st.integers(1, 2**128 - 1),
        st.integers(1, 2**64 - 1),
        st.booleans(),
        st.builds(TraceFlags, st.sampled_from([0, 1, 3])),
        st.sampled_from([None, TraceState([("v", "1")])]),
    ),
)
_BAGGAGE = st.dictionaries(st.sampled_from(["k", "tenant"]), st.sampled_from(["v", "x y"]), max_size=2)
_GIVEN = st.dictionaries(
    st.sampled_from(["Content-Type", "traceparent", "tracestate", "baggage", "X-Signature"]),
    st.sampled_from(["application/json", "00-old", "a=b", "sig"]),
    max_size=4,
)


@pytest.fixture(autouse=True)
def _no_tracer() -> Iterator[None]:
    yield
    http_spans._tracer = None


@settings(max_examples=300, deadline=None)
@given(_PARENTS, _BAGGAGE, _GIVEN, st.booleans(), st.booleans())
def test_the_request_gets_the_headers_the_sdks_propagators_write(
    parent: SpanContext | None, items: dict[str, str], given_headers: dict[str, str], sampled_off: bool, other: bool
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF) if sampled_off else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = LeanTracer(provider, "referral_bus.http")
    http_spans.install(tracer)
    context = otel_context.Context()
    if parent is not None:
        context = trace.set_span_in_context(NonRecordingSpan(parent), context)
    for key, value in items.items():
        context = baggage.set_baggage(key, value, context)
    if other:  # an entry of another library's, neither a span nor baggage
        context = otel_context.set_value("another library's", 1, context)
    token = otel_context.attach(context)
    try:
        headers = dict(given_headers)
        started: list[Any] = []
        real_start = tracer.start_child

        def start_child(*args: Any, **kwargs: Any) -> Any:
            started.append(real_start(*args, **kwargs))
            return started[-1]

        tracer.start_child = start_child  # type: ignore[method-assign]  # to see the span the call opened
        with http_spans.client_span("POST", "http://hooks.example.org/in", headers) as call:
            call.answered(200)
    finally:
        otel_context.detach(token)
    expected = dict(given_headers)
    propagate.inject(expected, context=trace.set_span_in_context(started[0], context))
    assert list(headers.items()) == list(expected.items())


@pytest.mark.parametrize(
    "method", ["POST", ["PUT"]]
)  # a list: a caller's wrong type, cleaned (a tuple) as the SDK does
@pytest.mark.parametrize("url", ["http://hooks.example.org/in", "https://u:p@[::1]:8443/a?token=x"])
def test_the_client_span_is_the_one_start_span_makes(method: Any, url: str) -> None:
    provider = TracerProvider()
    tracer = LeanTracer(provider, "referral_bus.http")
    http_spans.install(tracer)
    parent = SpanContext(7, 9, True, TraceFlags(1))
    attributes = {"http.request.method": method, **http_spans.url_attributes(url)}
    with trace.use_span(NonRecordingSpan(parent)):
        expected: Any = tracer.start_span(method, kind=trace.SpanKind.CLIENT, attributes=attributes)
        with http_spans.client_span(method, url, {}) as call:
            span: Any = call.span
    sdk = provider.get_tracer("sdk").start_span("sdk", attributes=attributes)
    assert list(span._attributes.items()) == list(expected._attributes.items()) == list(sdk.attributes.items())
    assert (span._name, span._kind, span._parent, span._context.trace_id) == (method, trace.SpanKind.CLIENT, parent, 7)
