"""A process span's parent read, and the default sampler decided, without the SDK's calls: as the SDK would."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from faust.contrib.opentelemetry import OpenTelemetrySensor
from faust.types import TP
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_ON,
    ParentBased,
    TraceIdRatioBased,
    _get_from_env_or_default,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from referral_bus import span_parent, tracing
from referral_bus.lean_spans import LeanTracer, is_parent_based_on
from referral_bus.span_keys import HeaderGetter, ProcessSpanSensor
from referral_bus.tracing import KEY_ATTRIBUTE
from tests.support.span_contexts import SPAN_CONTEXTS

HEX = "0123456789abcdef"


def _mostly(plain: st.SearchStrategy[str], *others: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`plain` three times in four, else one of `others`: the plain header is common, each flaw in it too."""
    return st.integers(0, 3).flatmap(lambda n: plain if n else st.one_of(*others))


_ID32 = _mostly(
    st.text(HEX, min_size=32, max_size=32),
    st.just("0" * 32),
    st.text(HEX + "ABCDEF", min_size=32, max_size=32),
    st.text(HEX, min_size=31, max_size=33),
)
_ID16 = _mostly(
    st.text(HEX, min_size=16, max_size=16),
    st.just("0" * 16),
    st.text(HEX + "XF", min_size=16, max_size=16),
    st.text(HEX, min_size=15, max_size=17),
)
_VERSION = _mostly(st.just("00"), st.text(HEX, min_size=2, max_size=2), st.sampled_from(["ff", "FF", "0A", "1", "000"]))
_FLAGS = _mostly(st.text(HEX, min_size=2, max_size=2), st.sampled_from(["0A", "1", "001", "0x", "-1"]))
_EXTRA = _mostly(st.just(""), st.sampled_from(["-", "-extra", "-01", " ", "\t", "\n", "  \t", "x", "\x00"]))
_LEAD = _mostly(st.just(""), st.sampled_from([" ", "\t", "\n", "-"]))


@st.composite
def _traceparent(draw: st.DrawFn) -> Any:
    """Well-formed, nearly well-formed and malformed `traceparent` values, as bytes mostly (as from Kafka)."""
    shaped = f"{draw(_LEAD)}{draw(_VERSION)}-{draw(_ID32)}-{draw(_ID16)}-{draw(_FLAGS)}{draw(_EXTRA)}"
    text = draw(_mostly(st.just(shaped), st.text(max_size=60)))
    encoded = text.encode("utf-8")
    return draw(st.sampled_from([encoded] * 6 + [text, None, encoded + b"\xff", b"\xff" + encoded]))


_TRACESTATE = st.sampled_from([b"", b"v=1", b"a=b,c=d", b"bad state", b"=", "k=v", None])
_BAGGAGE = st.sampled_from([b"", b"k=v", b"a=1,b=2;p", b"bad", b"k=%20x", "u=1", None])


@st.composite
def _headers(draw: st.DrawFn) -> Any:
    """Record headers: any order, repeats, trace state and baggage present or not; a list, a mapping or None."""
    pairs = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("traceparent"), _traceparent()),
                st.tuples(st.just("tracestate"), _TRACESTATE),
                st.tuples(st.just("baggage"), _BAGGAGE),
                st.tuples(st.sampled_from(["content-type", "x", "Traceparent"]), st.binary(max_size=4)),
            ),
            max_size=5,
        )
    )
    shape = draw(st.sampled_from(["list", "list", "tuple", "mapping", "none"]))
    return {"list": pairs, "tuple": tuple(pairs), "mapping": dict(pairs), "none": None}[shape]


def _seen(context: Context) -> tuple[Any, ...]:
    """What a span started in `context` depends on: the parent's ids, flags, remote bit, trace state; the baggage."""
    parent = trace.get_current_span(context)
    found = parent.get_span_context()
    return (type(parent), tuple(found), dict(found.trace_state), dict(baggage.get_all(context)), len(context))


@pytest.fixture(autouse=True)
def _default_propagators() -> Iterator[None]:
    """Every test starts and ends with the SDK's default global propagator."""
    before = propagate.get_global_textmap()
    yield
    propagate.set_global_textmap(before)


_PLAIN = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
_OTHER = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


@settings(max_examples=600, deadline=None)
@given(_headers())
@example([("traceparent", _PLAIN), ("traceparent", _OTHER)])  # the first one counts
@example([("traceparent", None), ("traceparent", _OTHER)])  # the first with a value
@example([("traceparent", _PLAIN), ("tracestate", b"v=1")])
@example([("baggage", b"k=v"), ("traceparent", _PLAIN)])
@example({"traceparent": _PLAIN.upper()})
def test_the_parent_is_the_one_the_sdks_propagators_extract(headers: Any) -> None:
    getter = HeaderGetter()
    assert span_parent.is_default(propagate.get_global_textmap())
    assert _seen(span_parent.extract(headers, getter)) == _seen(propagate.extract(headers, getter=getter))


@settings(max_examples=200, deadline=None)
@given(
    st.text(HEX, min_size=32, max_size=32), st.text(HEX, min_size=16, max_size=16), st.text(HEX, min_size=2, max_size=2)
)
def test_a_plain_traceparent_is_read_without_the_sdks_propagators(trace_hex: str, span_hex: str, flags: str) -> None:
    def refused(*_: Any, **__: Any) -> Context:
        raise AssertionError("the SDK's extract was called for a plain traceparent")

    headers = [("content-type", b"avro"), ("traceparent", f"00-{trace_hex}-{span_hex}-{flags}".encode())]
    expected = _seen(propagate.extract(headers, getter=HeaderGetter()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(propagate.get_global_textmap(), "extract", refused)
        assert _seen(span_parent.extract(headers, HeaderGetter())) == expected


class _Custom(TraceContextTextMapPropagator):
    """Another propagator (a subclass: not the default class), as OTEL_PROPAGATORS or set_global_textmap make."""

    def extract(self, carrier: Any, context: Context | None = None, getter: Getter[Any] | None = None) -> Context:
        return baggage.set_baggage("from", "custom", Context())


@pytest.mark.parametrize(
    "textmap",
    [
        CompositePropagator([TraceContextTextMapPropagator()]),
        CompositePropagator([_Custom()]),
        CompositePropagator([propagate.get_global_textmap()._propagators[1], TraceContextTextMapPropagator()]),  # type: ignore[attr-defined]  # the default composite's own pair, reversed
        _Custom(),
    ],
)
def test_any_other_propagator_configuration_is_the_sdks_own(textmap: Any) -> None:
    headers = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("baggage", b"k=v")]
    propagate.set_global_textmap(textmap)
    assert not span_parent.is_default(textmap)
    assert _seen(span_parent.extract(headers, HeaderGetter())) == _seen(textmap.extract(headers, getter=HeaderGetter()))


def _environ(monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None) -> None:
    """`variable` set to `value`, or unset where it is None."""
    if value is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, value)


@pytest.mark.parametrize(
    ("value", "default"),
    [
        (None, True),
        ("tracecontext,baggage", True),
        ("tracecontext, baggage", True),
        ("tracecontext", False),
        ("baggage,tracecontext", False),
        ("none", False),
    ],
)
def test_otel_propagators_other_than_the_default_pair_take_the_sdks_path(
    value: str | None, default: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _environ(monkeypatch, "OTEL_PROPAGATORS", value)
    assert span_parent.is_default(propagate._load_propagators()) is default


_REMOTE_OR_LOCAL = SPAN_CONTEXTS
_ATTRIBUTES = st.one_of(st.none(), st.dictionaries(st.sampled_from(["a", "b", "messaging.system"]), st.integers(0, 9)))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.none(), _REMOTE_OR_LOCAL), _ATTRIBUTES, st.sampled_from(list(SpanKind)))
def test_the_default_samplers_decision_is_the_sdks(parent: SpanContext | None, attributes: Any, kind: SpanKind) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # OTEL_TRACES_SAMPLER unset: parentbased_always_on
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    lean = LeanTracer(provider, "faust")
    assert lean.own_decision
    context = None if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
    theirs = provider.get_tracer("faust").start_span("s", context=context, kind=kind, attributes=attributes)
    ours = lean.start_span("s", context=context, kind=kind, attributes=attributes)
    mine, sdk = ours.get_span_context(), theirs.get_span_context()
    assert ours.is_recording() == theirs.is_recording()
    assert (mine.trace_flags, dict(mine.trace_state), mine.is_remote) == (
        sdk.trace_flags,
        dict(sdk.trace_state),
        sdk.is_remote,
    )
    if parent is not None and parent.is_valid:
        assert mine.trace_id == sdk.trace_id == parent.trace_id
    theirs.end()
    ours.end()
    finished = exporter.get_finished_spans()
    assert len(finished) in (0, 2)  # both recorded, or neither
    if finished:
        sdk_span, lean_span = finished
        assert (dict(lean_span.attributes or {}), lean_span.parent) == (
            dict(sdk_span.attributes or {}),
            sdk_span.parent,
        )


@pytest.mark.parametrize(
    ("sampler", "default"),
    [
        (DEFAULT_ON, True),
        (ParentBased(ALWAYS_ON), True),
        (ParentBased(ALWAYS_OFF), False),
        (ParentBased(ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON), False),
        (ParentBased(TraceIdRatioBased(0.5)), False),  # decided without the SDK too: test_sampled_traces
        (ALWAYS_ON, False),
    ],
)
def test_only_the_default_sampler_samples_every_root(sampler: Any, default: bool) -> None:
    assert is_parent_based_on(sampler) is default


@pytest.mark.parametrize(
    ("name", "default"),
    [
        (None, True),
        ("parentbased_always_on", True),
        ("always_on", False),
        ("parentbased_traceidratio", True),  # no OTEL_TRACES_SAMPLER_ARG: the SDK's rate 1.0, every root
        ("parentbased_always_off", False),
        ("no-such-sampler", True),
    ],  # the SDK falls back to its default
)
def test_otel_traces_sampler_other_than_the_default_samples_every_root_only_where_it_is_the_default(
    name: str | None, default: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _environ(monkeypatch, "OTEL_TRACES_SAMPLER", name)
    assert is_parent_based_on(_get_from_env_or_default()) is default


_STREAM = SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(id="ns.referral-bus-routing")))


@settings(max_examples=300, deadline=None)
@given(_headers(), st.integers(0, 2**40))
def test_our_process_span_is_fausts_but_the_key_for_any_headers(headers: Any, offset: int) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ours = ProcessSpanSensor(tracer=LeanTracer(provider, "faust"))
    faust = OpenTelemetrySensor(tracer=LeanTracer(provider, "faust"))
    tp = TP("ns.referrals.cases.v1", 2)
    event = SimpleNamespace(message=SimpleNamespace(headers=headers, key=b"agency-key"))
    for sensor in (faust, ours):
        state = sensor.on_stream_event_in(tp, offset, _STREAM, event)  # type: ignore[arg-type]  # stand-ins: sensors read these attributes only
        assert state is not None
        sensor.on_stream_event_out(tp, offset, _STREAM, event, state)  # type: ignore[arg-type]  # as above
    if not exporter.get_finished_spans():
        return  # an unsampled parent: neither recorded
    theirs, mine = exporter.get_finished_spans()
    expected = dict(theirs.attributes or {})
    expected.pop(KEY_ATTRIBUTE)
    assert (mine.name, mine.kind, mine.parent, dict(mine.attributes or {})) == (
        theirs.name,
        theirs.kind,
        theirs.parent,
        expected,
    )
    assert (mine.context.trace_flags, mine.context.trace_state) == (
        theirs.context.trace_flags,
        theirs.context.trace_state,
    )
    assert mine.context.trace_id == theirs.context.trace_id or theirs.parent is None


@pytest.mark.parametrize("parent_sampled", [True, False])
def test_another_sampler_is_shown_the_records_parent(parent_sampled: bool) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.0)))  # follows a parent, drops a root
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sensor = ProcessSpanSensor(tracer=LeanTracer(provider, "faust"))
    flags = b"01" if parent_sampled else b"00"
    headers = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-" + flags)]
    tp = TP("ns.referrals.cases.v1", 2)
    for given_headers in (headers, []):  # with the record's parent, then a root
        event = SimpleNamespace(message=SimpleNamespace(headers=given_headers, key=None))
        state = sensor.on_stream_event_in(tp, 1, _STREAM, event)
        sensor.on_stream_event_out(tp, 1, _STREAM, event, state)
    assert [s.parent.span_id for s in exporter.get_finished_spans() if s.parent] == [0x00F067AA0BA902B7] * (
        parent_sampled
    )
    assert len(exporter.get_finished_spans()) == parent_sampled  # the root: dropped


@settings(max_examples=300, deadline=None)
@given(_headers())
def test_a_plain_parent_is_the_one_extract_reads(headers: Any) -> None:
    found = span_parent.plain_parent(headers)
    if found is not span_parent.OTHER:
        assert _seen(span_parent.extract(headers, HeaderGetter())) == _seen(
            Context() if found is None else trace.set_span_in_context(NonRecordingSpan(found), Context())
        )


_JUNK = st.one_of(
    st.none(),
    st.integers(),
    st.binary(max_size=8),
    st.lists(
        st.one_of(
            st.none(),
            st.integers(),
            st.binary(max_size=3),
            st.tuples(st.text(max_size=3)),
            st.tuples(st.sampled_from(["traceparent", "baggage"]), st.integers(), st.none()),
            st.tuples(st.sampled_from(["traceparent", "tracestate"]), st.integers()),
        ),
        max_size=4,
    ),
)


@settings(max_examples=200, deadline=None)
@given(_JUNK)
def test_bad_headers_never_break_the_event(headers: Any) -> None:
    sensor = ProcessSpanSensor(tracer=LeanTracer(TracerProvider(), "faust"))
    tp = TP("ns.referrals.cases.v1", 0)
    event = SimpleNamespace(message=SimpleNamespace(headers=headers, key=None))
    state = sensor.on_stream_event_in(tp, 1, _STREAM, event)  # type: ignore[arg-type]  # stand-ins, as above
    sensor.on_stream_event_out(tp, 1, _STREAM, event, state)  # type: ignore[arg-type]  # as above
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing left attached


_BAGGAGE_ITEMS = st.dictionaries(
    st.sampled_from(["k", "tenant", "a b"]), st.sampled_from(["v", "1", "x y", ""]), max_size=2
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.none(), _REMOTE_OR_LOCAL), _BAGGAGE_ITEMS)
def test_the_headers_written_are_the_sdks(found: SpanContext | None, items: dict[str, str]) -> None:
    context = Context() if found is None else trace.set_span_in_context(NonRecordingSpan(found), Context())
    for key, value in items.items():
        context = baggage.set_baggage(key, value, context)
    theirs: dict[str, str] = {}
    propagate.inject(theirs, context=context)
    assert span_parent.inject(context) == theirs
    assert span_parent.propagator().fields == frozenset(propagate.get_global_textmap().fields)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.none(), _REMOTE_OR_LOCAL), _BAGGAGE_ITEMS, st.booleans())
def test_a_traceparent_alone_is_the_one_header_the_sdk_writes(
    found: SpanContext | None, items: dict[str, str], other_entry: bool
) -> None:
    context = Context() if found is None else trace.set_span_in_context(NonRecordingSpan(found), Context())
    if other_entry:  # a context entry that is neither the span nor baggage
        context = otel_context.set_value("referral_bus.test", 1, context)
    for key, value in items.items():
        context = baggage.set_baggage(key, value, context)
    theirs: dict[str, str] = {}
    propagate.inject(theirs, context=context)
    written = span_parent.traceparent(context)
    if written is not None:
        assert theirs == {"traceparent": written.decode()}
    if found is not None and found.is_valid and not found.trace_state and not items:
        assert written is not None  # plain: always the fast way


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), _REMOTE_OR_LOCAL), _BAGGAGE_ITEMS)
def test_a_records_trace_headers_are_what_the_sdk_writes(found: SpanContext | None, items: dict[str, str]) -> None:
    provider = TracerProvider()
    context = Context() if found is None else trace.set_span_in_context(NonRecordingSpan(found), Context())
    for key, value in items.items():
        context = baggage.set_baggage(key, value, context)
    token = otel_context.attach(context)
    try:
        pairs, names = tracing.trace_headers(LeanTracer(provider, "kafka"), "ns.topic")
        current = trace.get_current_span().get_span_context()
    finally:
        otel_context.detach(token)
    if found is None or not found.is_valid:
        return  # a root send span of its own (its ids are new): tests/unit/referral_bus/test_trace_headers.py
    theirs: dict[str, str] = {}
    propagate.inject(theirs, context=context)
    assert pairs == [(k, v.encode()) for k, v in theirs.items()]
    assert names == frozenset(propagate.get_global_textmap().fields).union(theirs)
    assert current == found


_PLAIN = st.builds(  # valid ids and no trace state: built, not filtered (a filter kept 1 in 12 and could fail health)
    SpanContext,
    st.integers(1, 2**128 - 1),
    st.integers(1, 2**64 - 1),
    st.booleans(),
    st.builds(TraceFlags, st.integers(0, 255)),
)


@settings(max_examples=100, deadline=None)
@given(_PLAIN)
def test_a_plain_context_is_written_without_the_sdks_propagators(found: SpanContext) -> None:
    def refused(*_: Any, **__: Any) -> None:
        raise AssertionError("the SDK's inject was called for a plain context")

    context = trace.set_span_in_context(NonRecordingSpan(found), Context())
    theirs: dict[str, str] = {}
    propagate.inject(theirs, context=context)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(propagate.get_global_textmap(), "inject", refused)
        assert span_parent.inject(context) == theirs


def test_another_propagator_writes_its_own_headers() -> None:
    class Named(TraceContextTextMapPropagator):
        def inject(self, carrier: Any, context: Context | None = None, setter: Any = None) -> None:
            carrier["x-trace"] = "mine"

        @property
        def fields(self) -> set[str]:
            return {"x-trace"}

    context = trace.set_span_in_context(NonRecordingSpan(SpanContext(1, 2, False, TraceFlags(1))), Context())
    propagate.set_global_textmap(Named())
    assert span_parent.inject(context) == {"x-trace": "mine"}
    assert span_parent.propagator().fields == {"x-trace"}


_ID_EDGES = (0, 1, 2**64 - 1, 2**64, 2**128 - 1, 2**128)  # invalid, valid, and one past each id's range


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.sampled_from(_ID_EDGES), st.integers(0, 2**129)),
    st.one_of(st.sampled_from(_ID_EDGES), st.integers(0, 2**65)),
    st.booleans(),
    st.integers(0, 255),
    st.sampled_from([None, TraceState(), TraceState([("v", "1")])]),
)
def test_a_span_context_we_make_is_the_one_the_api_makes(
    trace_id: int, span_id: int, remote: bool, flags: int, state: TraceState | None
) -> None:
    ours = span_parent.span_context(trace_id, span_id, remote, flags, state)
    theirs = SpanContext(trace_id, span_id, remote, TraceFlags(flags), state)
    assert type(ours) is SpanContext and tuple(ours) == tuple(theirs)  # its validity too
    assert (ours.trace_flags.sampled, ours.is_valid, dict(ours.trace_state)) == (
        theirs.trace_flags.sampled,
        theirs.is_valid,
        dict(theirs.trace_state),
    )


_PLAIN_HEADER = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # `_PLAIN` names a strategy here
_ODD_TOPIC: Any = TP(frozenset(["ns.referrals.cases.v1"]), 2)  # type: ignore[arg-type]  # the SDK's cleaning: its str()


@pytest.mark.parametrize("tp", [TP("ns.referrals.cases.v1", 2), _ODD_TOPIC], ids=["text topic", "a topic not text"])
@pytest.mark.parametrize("limit", [None, 8], ids=["no length limit", "a length limit"])
def test_a_process_spans_attributes_are_the_sdks_in_order(tp: Any, limit: int | None) -> None:
    """Kept as the sensor made them only where the SDK's cleaning would keep them as they are."""
    from opentelemetry.sdk.trace import SpanLimits

    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=limit))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    event = SimpleNamespace(message=SimpleNamespace(headers=[("traceparent", _PLAIN_HEADER)], key=b"agency-key"))
    sensor = ProcessSpanSensor(tracer=LeanTracer(provider, "faust"))
    for offset in (7, 8):  # the partition's attributes made, then reused
        sensor.on_stream_event_out(tp, offset, _STREAM, event, sensor.on_stream_event_in(tp, offset, _STREAM, event))
    made = OpenTelemetrySensor()._span_attributes(_STREAM, event, tp, 8)  # type: ignore[arg-type]  # stand-ins: Faust reads these only
    made.pop(KEY_ATTRIBUTE)
    provider.get_tracer("faust").start_span("sdk", attributes=made).end()
    *_, mine, sdk = exporter.get_finished_spans()
    assert list((mine.attributes or {}).items()) == list((sdk.attributes or {}).items())


def test_the_current_span_is_the_apis_for_any_context_entry() -> None:
    from opentelemetry.trace.propagation import _SPAN_KEY

    provider = TracerProvider()
    spans = [
        NonRecordingSpan(SpanContext(1, 2, False)),
        LeanTracer(provider, "faust").start_span("lean"),
        provider.get_tracer("sdk").start_span("sdk"),
    ]
    for value in [None, "not a span", 3, *spans, "still not a span"]:  # spans' types known, then not one again
        context = Context() if value is None else otel_context.set_value(_SPAN_KEY, value, Context())
        assert span_parent.current_span(context) is trace.get_current_span(context)
        token = otel_context.attach(context)
        try:
            assert span_parent.current_span() is trace.get_current_span()
        finally:
            otel_context.detach(token)


_ENTRIES = st.dictionaries(st.sampled_from(["k", "another library's", "current-span"]), st.integers(0, 3), max_size=3)


@settings(max_examples=200, deadline=None)
@given(_ENTRIES, st.booleans(), st.booleans())
def test_a_span_attached_makes_the_context_the_apis_attach_makes(
    entries: dict[str, int], spanned: bool, other_runtime: bool
) -> None:
    from opentelemetry.context.context import _RuntimeContext

    class Recorded(_RuntimeContext):  # another runtime context (OTEL_PYTHON_CONTEXT): the API's calls go to it
        def __init__(self) -> None:
            self.current = Context()

        def attach(self, context: Context) -> Any:
            token, self.current = self.current, context
            return token

        def get_current(self) -> Context:
            return self.current

        def detach(self, token: Any) -> None:
            self.current = token

    outer, span = Context(entries), LeanTracer(TracerProvider(), "faust").start_span("lean")
    if spanned:  # a span current already (another's, in its place among the entries)
        outer = otel_context.set_value(
            "after", 1, trace.set_span_in_context(NonRecordingSpan(SpanContext(1, 2, False)), outer)
        )
    runtime = otel_context._RUNTIME_CONTEXT
    otel_context._RUNTIME_CONTEXT = Recorded() if other_runtime else runtime
    outside = otel_context.attach(outer)
    try:
        expected = trace.set_span_in_context(span)
        token = span_parent.attach_span(span)
        now = otel_context.get_current()
        assert (type(now), list(now.items())) == (Context, list(expected.items()))
        span_parent.detach(token)
        assert otel_context.get_current() is outer
    finally:
        otel_context.detach(outside)
        otel_context._RUNTIME_CONTEXT = runtime


def test_a_bad_token_is_logged_as_the_apis_detach_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    token = span_parent.attach_span(trace.INVALID_SPAN)
    span_parent.detach(token)
    span_parent.detach(token)  # used twice: the API logs it and goes on; never raises
    assert [r.getMessage() for r in caplog.records] == ["Failed to detach context"]
