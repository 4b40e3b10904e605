"""Our OTLP bytes decode to exactly the request the SDK's own encoder builds, for generated spans."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from referral_bus import span_encoding
from referral_bus.span_encoding import encode_request

TEXT = st.text(max_size=12)
SCALAR = st.one_of(
    TEXT,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
VALUE = st.one_of(SCALAR, st.lists(TEXT, max_size=3), st.lists(st.integers(-5, 2**40), max_size=3))
ATTRIBUTES = st.dictionaries(TEXT, VALUE, max_size=6)
SPAN = st.fixed_dictionaries(
    {
        "name": TEXT,
        "kind": st.sampled_from(list(SpanKind)),
        "attributes": ATTRIBUTES,
        "parent": st.sampled_from(["none", "remote", "local"]),
        "status": st.sampled_from([None, Status(StatusCode.OK), Status(StatusCode.ERROR, "InvalidFieldError")]),
        "event": st.booleans(),
        "link": st.booleans(),
        "scope": st.sampled_from(["referral_bus", "faust", "referral_bus.kafka"]),
    }
)


def _spans(specs: list[dict[str, Any]], service: str = "referral-bus-probe") -> list[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    state = TraceState([("vendor", "v1")])  # a remote parent's trace state: its children carry it
    for spec in specs:
        remote = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, TraceFlags(1), state)
        local = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1))
        parent = {"none": None, "remote": remote, "local": local}[spec["parent"]]
        context = set_span_in_context(NonRecordingSpan(parent)) if parent else None
        tracer = provider.get_tracer(spec["scope"], "1.0" if spec["scope"] == "faust" else None)
        links = [Link(local, {"k": 1})] if spec["link"] else []
        span = tracer.start_span(
            spec["name"], context=context, kind=spec["kind"], attributes=spec["attributes"], links=links
        )
        if spec["event"]:
            span.add_event("e", {"n": 2})
        if spec["status"] is not None:
            span.set_status(spec["status"])
        span.end()
    return list(exporter.get_finished_spans())


@settings(max_examples=150, deadline=None)
@given(st.lists(SPAN, min_size=1, max_size=6))
def test_our_bytes_are_the_sdks_request(specs: list[dict[str, Any]]) -> None:
    spans = _spans(specs)
    ours = ExportTraceServiceRequest.FromString(encode_request(spans))
    assert ours == encode_spans(spans)


_WORKER_SPAN: dict[str, Any] = {
    "name": "ns.referrals.cases.v1 process",
    "kind": SpanKind.CONSUMER,
    "attributes": {"messaging.system": "kafka", "messaging.kafka.message.offset": 12, "x.ids": ["a", "b"]},
    "parent": "remote",
    "status": None,
    "event": False,
    "link": False,
    "scope": "faust",
}


def test_a_worker_like_span_encodes_identically_byte_for_byte() -> None:
    spans = _spans([_WORKER_SPAN])
    assert encode_request(spans) == encode_spans(spans).SerializeToString()


# Each batch of spans has a resource object of its own: equal objects (the same service twice) must share one
# ResourceSpans, as in the SDK's encoder, and different ones must not.
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["svc-a", "svc-b"]), st.lists(SPAN, min_size=1, max_size=3)), max_size=4))
def test_spans_of_equal_and_different_resource_objects_group_as_the_sdk_groups(
    batches: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    spans = [span for service, specs in batches for span in _spans(specs, service)]
    assert ExportTraceServiceRequest.FromString(encode_request(spans)) == encode_spans(spans)


def test_a_request_never_hashes_a_resource(monkeypatch: Any) -> None:
    """A Resource hashes by JSON-dumping its attributes: once per span was most of an export's cost."""
    spans = _spans([dict(_WORKER_SPAN, parent="local")] * 50)
    hashed = []

    def counting_hash(resource: Resource) -> int:
        hashed.append(resource)
        return id(resource)

    monkeypatch.setattr(Resource, "__hash__", counting_hash)
    encode_request(spans)
    assert hashed == []


# The memo of encoded attribute fields: recurring values looked up, a key whose values never recur encoded directly,
# the memo emptied when full. Small bounds, so a few spans take every path; the bytes are the SDK's on each.
RECURRING = st.fixed_dictionaries(
    {
        "referral_bus.case_id": st.text(min_size=1, max_size=12),
        "referral_bus.stage": st.sampled_from(["routing decide", "intake validate"]),  # recurs
        "referral_bus.rule_ids": st.sampled_from([("r1", "r2"), ("r1",), ()]),
        "flag": st.sampled_from([True, False, 1, 0]),  # equal, of different types: never confused
        "n": st.sampled_from([0.0, -0.0, 1]),
    }
)


@settings(max_examples=40, deadline=None)
@given(st.lists(RECURRING, min_size=1, max_size=40))
def test_memoised_and_churning_attributes_encode_as_the_sdk_does(values: list[Any]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(span_encoding, "_SEEN_MAX", 7)
        patch.setattr(span_encoding, "_CHURN", 3)
        for name, empty in (("_seen", {}), ("_misses", {}), ("_churning", set()), ("_keys", {}), ("_last", {})):
            patch.setattr(span_encoding, name, empty)
        offsets = [{"messaging.kafka.message.offset": 2**33 + n, **attributes} for n, attributes in enumerate(values)]
        spans = _spans([dict(_WORKER_SPAN, attributes=attributes) for attributes in offsets])  # offsets never recur
        for part in (spans[: len(spans) // 2], spans[len(spans) // 2 :], spans):  # a cold memo, then a warm one
            assert encode_request(part) == encode_spans(part).SerializeToString()
        assert len(span_encoding._seen) <= 7


def test_a_key_whose_values_never_recur_leaves_the_memo_and_recurring_ones_stay() -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name, empty in (("_seen", {}), ("_misses", {}), ("_churning", set()), ("_keys", {}), ("_last", {})):
            patch.setattr(span_encoding, name, empty)
        attributes = [
            {
                "messaging.kafka.message.offset": n,
                "referral_bus.stage": "routing decide",
                "referral_bus.rule_ids": ("a",),
            }
            for n in range(span_encoding._CHURN + 2)
        ]
        spans = _spans([dict(_WORKER_SPAN, attributes=a) for a in attributes])
        assert encode_request(spans) == encode_spans(spans).SerializeToString()
        assert span_encoding._churning == {(9, "messaging.kafka.message.offset")}
        kept = [memo[1] for memo in span_encoding._seen if memo[0] == 9]
        assert kept.count("messaging.kafka.message.offset") == span_encoding._CHURN + 1  # until it churned
        assert kept.count("referral_bus.stage") == kept.count("referral_bus.rule_ids") == 1
        assert encode_request(spans) == encode_spans(spans).SerializeToString()  # again, from the memo


def test_a_value_found_by_identity_is_written_in_its_own_field() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(span_encoding, "_last", {})
        name = "referral-bus-probe"  # the same object as the resource's service name and as a span's attribute
        spans = _spans([dict(_WORKER_SPAN, attributes={"service.name": name, "k": name})] * 2, service=name)
        assert spans[0].resource.attributes["service.name"] is (spans[0].attributes or {})["service.name"]
        for _ in range(2):  # cold, then found by identity
            assert encode_request(spans) == encode_spans(spans).SerializeToString()


# Each length a varint can take, at both its ends, and negative (ten bytes): the integers a span carries (an offset,
# a status code, a length) are written as the SDK writes them.
_EDGES = [0, 1, -1, -(2**63), 2**63 - 1] + [
    2 ** (7 * n) + d for n in range(1, 10) for d in (-1, 0) if 2 ** (7 * n) + d < 2**63
]


@pytest.mark.parametrize("churning", [False, True], ids=["memoised", "written directly"])
@pytest.mark.parametrize("value", _EDGES)
def test_an_integer_at_each_varint_length_encodes_as_the_sdk_does(value: int, churning: bool) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(span_encoding, "_churning", {(9, "messaging.kafka.message.offset")} if churning else set())
        patch.setattr(span_encoding, "_last", {})
        patch.setattr(span_encoding, "_seen", {})
        attributes = {"messaging.kafka.message.offset": value, "n": [value, 5]}
        spans = _spans([dict(_WORKER_SPAN, attributes=attributes)] * 2)  # the second: from the memo, or churning
        assert encode_request(spans) == encode_spans(spans).SerializeToString()


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16383, 16384])
def test_a_text_that_never_recurs_encodes_as_the_sdk_does_at_any_length(size: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(span_encoding, "_churning", {(9, "referral_bus.case_id")})  # written directly, not memoised
        patch.setattr(span_encoding, "_last", {})
        attributes = {"referral_bus.case_id": "c" * size, "referral_bus.report_id": "r" * size}
        spans = _spans([dict(_WORKER_SPAN, attributes=attributes)] * 2)  # the second: known to churn
        assert encode_request(spans) == encode_spans(spans).SerializeToString()
